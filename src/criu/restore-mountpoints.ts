// The mount points a restore needs in the rootfs, made as `create` would make them (a new
// bundle or a fresh copy of the image may lack them), as runc's restore does: not below a
// tmpfs (CRIU restores a tmpfs with its content), and for a mount nested in a bind mount
// (destination /a/b under the bind /a) inside the bind's source, which is why each bind
// source is mounted on its destination while the later mount points are made. These
// temporary mounts live only as long as this step: all are detached before it returns,
// whether it succeeds or fails, so CRIU and the host see none of them.
//
// Every path is resolved inside the rootfs (mkdirAllInRoot/ensureFileInRoot: a symlink in
// the image cannot point a mount point outside). A bind is mounted through an O_PATH fd of
// the resolved point whose /proc/self/fd link is checked to still be that path (a component
// swapped for a symlink after the walk is refused), and detached through an fd of the
// mount's own root, so a later swap cannot make tsrt detach anything else.
import { closeSync, openSync, readlinkSync, statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { isBindMount } from '../linux/mount-options';
import { libc } from '../libc/libc';
import { MNT_DETACH, MS } from '../libc/constants';
import { TsrtError } from '../util/errors';
import { ensureFileInRoot, mkdirAllInRoot } from '../util/secure-join';

const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;

/** An O_PATH fd of hostPath, refused unless the kernel resolved it to exactly hostPath. */
function openChecked(hostPath: string, dest: string): number {
  const fd = openSync(hostPath, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  const real = readlinkSync(`/proc/self/fd/${fd}`);
  if (real !== hostPath) {
    closeSync(fd);
    throw new TsrtError('EMOUNTPOINT', `mounts: the mount point ${dest} moved while restore prepared it (${hostPath} is now ${real})`);
  }
  return fd;
}

/** Makes the config's mount points in rootfs; bind sources are mounted meanwhile and detached before it returns. */
export function makeRestoreMountPoints(spec: Spec, bundle: string, rootfs: string): void {
  const mounts = spec.mounts ?? [];
  const tmpfs = mounts.filter((m) => m.type === 'tmpfs').map((m) => posix.normalize(m.destination));
  const temporary: { fd: number; dest: string }[] = []; // O_PATH fds of the roots of the temporary binds
  let done = false;
  try {
    for (const [i, m] of mounts.entries()) {
      const dest = posix.normalize(m.destination);
      if (m.type === 'cgroup' || m.type === 'cgroup2' || tmpfs.some((t) => dest.startsWith(`${t}/`))) continue;
      const bind = isBindMount(m) && !!m.source;
      const source = bind ? resolve(bundle, m.source!) : '';
      let fileSource = false;
      if (bind) {
        try { fileSource = !statSync(source).isDirectory(); } catch { /* the restore reports a missing source */ }
      }
      let hostPath: string;
      try {
        hostPath = fileSource ? ensureFileInRoot(rootfs, dest) : mkdirAllInRoot(rootfs, dest);
      } catch (e) {
        throw new TsrtError('EMOUNTPOINT', `mounts: creating the mount point ${dest} in ${rootfs}: ${(e as TsrtError).code ?? (e as Error).message}`);
      }
      if (!bind || !mounts.slice(i + 1).some((n) => posix.normalize(n.destination).startsWith(`${dest}/`))) continue;
      // a later mount lies inside this bind: its mount point belongs in the bind's source
      const target = openChecked(hostPath, dest);
      try {
        libc.mount(source, `/proc/self/fd/${target}`, null, MS.BIND | MS.REC, `bind ${source} on ${dest} in ${rootfs} while the mount points inside it are made`);
      } finally {
        closeSync(target);
      }
      try {
        temporary.push({ fd: openChecked(hostPath, dest), dest });
      } catch (e) {
        // no handle on the bind any more: say where it was mounted rather than detach by a path that moved
        throw new TsrtError('EMOUNTPOINT', `${(e as Error).message}; the temporary bind of ${source} at ${hostPath} may remain`);
      }
    }
    done = true;
  } finally {
    const failure = detachAll(temporary);
    // eslint-disable-next-line no-unsafe-finally -- only when no error of the loop is in flight
    if (failure && done) throw failure;
  }
}

/** Detaches the temporary binds, innermost first; returns the first failure once all were tried. */
function detachAll(temporary: { fd: number; dest: string }[]): Error | undefined {
  let failure: Error | undefined;
  for (const { fd, dest } of temporary.reverse()) {
    try {
      libc.umount2(`/proc/self/fd/${fd}`, MNT_DETACH);
    } catch (e) {
      failure ??= new TsrtError('EMOUNTPOINT', `mounts: detaching the temporary bind on ${dest}: ${(e as Error).message}`);
    } finally {
      closeSync(fd);
    }
  }
  return failure;
}
