// A container without a mount namespace of its own (no "mount" in linux.namespaces) makes
// its mounts in tsrt's: the rootfs bound onto itself, with /proc, /dev and the config's
// mounts below it. runc leaves them behind; tsrt records which mounts were on the rootfs
// before create and detaches the ones stacked on it since (each with everything below
// it) when the container is removed or its create fails.
import { readFileSync, readlinkSync } from 'node:fs';
import type { Spec } from '../oci/spec-types';
import { MNT_DETACH } from '../libc/constants';
import { libc } from '../libc/libc';

export function sharesMountNamespace(spec: Spec): boolean {
  return !(spec.linux?.namespaces ?? []).some((n) => n.type === 'mount');
}

/** What was on the rootfs before create, in which mount namespace. */
export interface RootfsMounts {
  ns: string;
  before: number[];
}

/** Mount ids on `path` in tsrt's mount namespace, bottom to top. */
function mountIdsAt(path: string): number[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 4 && unescape(f[4]!) === path)
    .map((f) => Number(f[0]));
}

export function rootfsMountsNow(rootfs: string): RootfsMounts {
  return { ns: readlinkSync('/proc/self/ns/mnt'), before: mountIdsAt(rootfs) };
}

/**
 * Detaches the mounts on `rootfs` that were not there before create, top first. Only
 * from the mount namespace create ran in: elsewhere the ids mean other mounts.
 */
export function detachContainerMounts(rootfs: string, m: RootfsMounts, warn: (msg: string) => void): void {
  if (readlinkSync('/proc/self/ns/mnt') !== m.ns) {
    warn(`the container's mounts on ${rootfs} are in another mount namespace (${m.ns}): left there`);
    return;
  }
  for (let i = 0; i < 64; i++) {
    const top = mountIdsAt(rootfs).at(-1);
    if (top === undefined || m.before.includes(top)) return;
    try {
      libc.umount2(rootfs, MNT_DETACH);
    } catch (e) {
      warn(`detaching the container's mounts on ${rootfs}: ${(e as Error).message}`);
      return;
    }
  }
}
