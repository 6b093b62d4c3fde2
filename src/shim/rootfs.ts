// The task's rootfs: containerd hands the shim the mounts (an overlay of the snapshot, or
// a bind) that make bundle/rootfs; the shim mounts them at Create and unmounts at Delete.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, koffi, libc } from '../libc/libc';
import { parseMountOptions } from '../linux/mount-options';

export interface TaskMount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

type MountFn = (source: string, target: string, type: string, flags: number, data: string | null) => number;
let mountFn: MountFn | undefined;

const MNT_DETACH = 2;

export function rootfsOf(bundle: string): string {
  return join(bundle, 'rootfs');
}

/** Mounts each of `mounts` on bundle/rootfs, in order; on a failure unmounts what it mounted. */
export function mountRootfs(bundle: string, mounts: TaskMount[]): void {
  if (!mounts.length) return;
  const target = rootfsOf(bundle);
  mkdirSync(target, { recursive: true, mode: 0o711 });
  mountFn ??= koffi().load('libc.so.6').func('int mount(const char *source, const char *target, const char *type, unsigned long flags, const char *data)') as MountFn;
  let done = 0;
  try {
    for (const m of mounts) {
      const o = parseMountOptions(m.options);
      check(mountFn(m.source, target, m.type === 'bind' ? '' : m.type, o.flags, o.data || null), `mount ${m.type} ${m.source} on ${target} (options ${m.options.join(',')})`);
      done++;
    }
  } catch (e) {
    for (; done > 0; done--) unmountRootfs(bundle);
    throw e;
  }
}

/** Unmounts bundle/rootfs (lazily: a process of the container may still hold it); nothing mounted is fine. */
export function unmountRootfs(bundle: string): void {
  try {
    libc.umount2(rootfsOf(bundle), MNT_DETACH);
  } catch {
    // EINVAL: not a mount point
  }
}
