// linux.maskedPaths, linux.readonlyPaths and root.readonly, as plan steps after pivot_root.
//
// Everything is decided inside the container's mount namespace, by the plan, on file
// descriptors:
// - whether a path exists (a path under a volume exists only there, not in the host's
//   view of the rootfs): openat2(RESOLVE_IN_ROOT) from the container's root, ENOENT and
//   only ENOENT skips the path (as runc); any other failure to mask is an error;
// - a masked file gets a copy of the *host's* /dev/null, opened before pivot_root (where
//   no container process can swap it), checked with fstat to be the 1:3 character device
//   and cloned with open_tree into one detached mount per masked path. Binding the
//   container's /dev/null by path let a container sharing the rootfs unlink it or replace
//   it with a symlink to a file of its own (the CVE-2025-31133 class): the mask was then
//   skipped, or that file bound read-write over the masked path;
// - a masked directory gets an empty read-only tmpfs;
// - a read-only path is cloned (open_tree, recursive), made read-only on the detached
//   copy (mount_setattr) and moved over itself: no second lookup of the path after the
//   bind, which another process could have redirected meanwhile. Only MOUNT_ATTR_RDONLY
//   is set: the path keeps its mount's other flags (runc's behaviour).
import { lockedMountFlags } from './locked-mount-flags';
import { describeMountFlags } from './mount-options';
import { posix } from 'node:path';
import type { Spec } from '../oci/spec-types';
import {
  AT_EMPTY_PATH, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR, MOVE_MOUNT, MS, O, OPEN_TREE, RESOLVE, S_IFCHR, S_IFMT,
} from '../libc/constants';
import { encodeDev, statLayout } from '../libc/stat-layout';
import { Plan, type Blob } from '../plan/plan';
import { withMountLabel } from './lsm';

const ENOENT = 2;
const EBADF = 9;
const ENOTDIR = 20;

/** The fd a masked directory's target is dup'ed to, so mount(2) can name it by path. */
const MASK_TARGET_FD = 991;

/** Detached copies of the host's /dev/null, one per masked path (made before pivot_root). */
export interface MaskSources {
  nulls: Blob[];
}

function maskedPaths(spec: Spec): string[] {
  return [...new Set((spec.linux?.maskedPaths ?? []).map((p) => posix.normalize(p)))];
}

/**
 * Before pivot_root: opens the host's /dev/null, checks it is the 1:3 character device
 * and clones it into one detached mount per masked path (a detached mount can only be
 * cloned while it is still in our mount namespace, and the old root leaves it at pivot).
 */
export function buildMaskSourceSteps(plan: Plan, spec: Spec): MaskSources {
  const paths = maskedPaths(spec);
  if (!paths.length) return { nulls: [] };
  const layout = statLayout();
  const nullFd = plan.slot('fd of the host /dev/null');
  const st = plan.blob(Buffer.alloc(layout.size), 'struct stat of /dev/null');
  plan.add('openat', [AT_FDCWD, plan.cstr('/dev/null'), O.PATH | O.NOFOLLOW | O.CLOEXEC, 0], 'maskedPaths: open the host\'s /dev/null (before pivot_root, out of the container\'s reach)', { store: nullFd });
  plan.add('fstat', [{ load: nullFd }, st], 'maskedPaths: fstat the host\'s /dev/null');
  plan.checkEquals(st, layout.mode, BigInt(S_IFMT), BigInt(S_IFCHR), 'maskedPaths: the host\'s /dev/null is a character device',
    () => 'maskedPaths: the host\'s /dev/null is not a character device: refusing to mask with it');
  plan.checkEquals(st, layout.rdev, 0xffffffffffffffffn, encodeDev(1, 3), 'maskedPaths: the host\'s /dev/null is device 1:3',
    () => 'maskedPaths: the host\'s /dev/null is not device 1:3: refusing to mask with it');
  const nulls = paths.map((p) => {
    const tree = plan.slot(`/dev/null copy for ${p}`);
    plan.add('open_tree', [{ load: nullFd }, plan.cstr(''), OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | AT_EMPTY_PATH], `maskedPaths: a detached copy of /dev/null for ${p}`, { store: tree });
    return tree;
  });
  plan.add('close', [{ load: nullFd }], 'maskedPaths: close the host\'s /dev/null');
  return { nulls };
}

/** struct open_how { u64 flags, mode, resolve }: a path inside the container's root. */
function howInRoot(plan: Plan): Blob {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O.PATH | O.CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS), 16);
  return plan.blob(how, 'open_how (in the container root)');
}

/**
 * Opens `path` inside the container's root into a slot, then jumps to `skip` when it does
 * not exist (ENOENT): the open's tolerated errno leaves -ENOENT in the slot, and fstat of
 * that is EBADF, the one failure of a step that may jump. Other failures are errors.
 */
function openOrSkip(plan: Plan, root: Blob, how: Blob, path: string, field: string, skip: ReturnType<Plan['label']>): Blob {
  const fd = plan.slot(`fd of ${path}`);
  const st = plan.blob(Buffer.alloc(statLayout().size), `struct stat of ${path}`);
  plan.add('openat2', [{ load: root }, plan.cstr(path.replace(/^\/+/, '') || '.'), how, 24], `${field}: open ${path} inside the container (a missing path is skipped)`, { store: fd, okErrno: ENOENT });
  plan.add('fstat', [{ load: fd }, st], `${field}: skip ${path} if it does not exist`, { okErrno: EBADF, jumpIfNonzero: skip });
  return fd;
}

/** maskedPaths, readonlyPaths and root.readonly, after pivot_root. */
export function buildPathProtectionSteps(plan: Plan, spec: Spec, sources: MaskSources, rootfs: string): void {
  const readonly = [...new Set((spec.linux?.readonlyPaths ?? []).map((p) => posix.normalize(p)))];
  const masked = maskedPaths(spec);
  if (readonly.length || masked.length) {
    const root = plan.slot('fd of the container root');
    plan.add('openat', [AT_FDCWD, plan.cstr('/'), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], 'open the container\'s root for maskedPaths and readonlyPaths', { store: root });
    const how = howInRoot(plan);
    readonly.forEach((p) => readonlySteps(plan, root, how, p));
    masked.forEach((p, i) => maskSteps(plan, root, how, p, sources.nulls[i]!, spec.linux?.mountLabel));
    plan.add('close', [{ load: root }], 'close the container\'s root fd');
  }
  if (spec.root?.readonly) {
    // The mount's own nosuid/nodev/noexec/atime flags go along: a remount without them
    // would clear them, which a user namespace refuses (EPERM) when they are locked.
    const keep = lockedMountFlags(rootfs);
    plan.add('mount', [0, plan.cstr('/'), 0, MS.BIND | MS.REMOUNT | MS.RDONLY | keep, 0],
      `make the root filesystem read-only (root.readonly${keep ? `, keeping ${describeMountFlags(keep)}` : ''})`);
  }
}

function readonlySteps(plan: Plan, root: Blob, how: Blob, p: string): void {
  const field = 'readonlyPaths';
  const skip = plan.label(`${p} is missing`);
  const fd = openOrSkip(plan, root, how, p, field, skip);
  const tree = plan.slot(`read-only copy of ${p}`);
  plan.add('open_tree', [{ load: fd }, plan.cstr(''), OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE], `${field}: a detached recursive copy of ${p}`, { store: tree });
  // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }: the top mount only.
  // Only read-only is added: the mount keeps its own nosuid/nodev/noexec/atime flags, as
  // runc's read-only remount (it passes the flags statfs reports for the path back in).
  const attr = Buffer.alloc(32);
  attr.writeBigUInt64LE(BigInt(MOUNT_ATTR.RDONLY), 0);
  plan.add('mount_setattr', [{ load: tree }, plan.cstr(''), AT_EMPTY_PATH, plan.blob(attr, 'mount_attr (ro)'), 32], `${field}: make the copy of ${p} read-only`);
  plan.add('move_mount', [{ load: tree }, plan.cstr(''), { load: fd }, plan.cstr(''), MOVE_MOUNT.F_EMPTY_PATH | MOVE_MOUNT.T_EMPTY_PATH], `${field}: mount the read-only copy over ${p}`);
  plan.add('close', [{ load: tree }], `${field}: close the copy of ${p}`);
  plan.add('close', [{ load: fd }], `${field}: close ${p}`);
  plan.place(skip);
}

function maskSteps(plan: Plan, root: Blob, how: Blob, p: string, devNull: Blob, mountLabel: string | undefined): void {
  const field = 'maskedPaths';
  const skip = plan.label(`${p} is missing`);
  const isFile = plan.label(`${p} is not a directory`);
  const done = plan.label(`${p} is masked`);
  const fd = openOrSkip(plan, root, how, p, field, skip);
  plan.add('dup3', [{ load: fd }, MASK_TARGET_FD, O.CLOEXEC], `${field}: dup the fd of ${p}`);
  // tmpfs on a non-directory fails with ENOTDIR, the branch to the /dev/null copy.
  const data = withMountLabel('', 'tmpfs', mountLabel);
  plan.add('mount', [plan.cstr('tmpfs'), plan.cstr(`/proc/self/fd/${MASK_TARGET_FD}`), plan.cstr('tmpfs'), MS.RDONLY, data ? plan.cstr(data) : 0],
    `${field}: mount an empty read-only tmpfs on ${p} if it is a directory`, { okErrno: ENOTDIR, jumpIfNonzero: isFile });
  plan.add('getpid', [], `${field}: ${p} is masked`, { jumpIfNonzero: done });
  plan.place(isFile);
  plan.add('move_mount', [{ load: devNull }, plan.cstr(''), { load: fd }, plan.cstr(''), MOVE_MOUNT.F_EMPTY_PATH | MOVE_MOUNT.T_EMPTY_PATH], `${field}: mount the host's /dev/null over ${p}`);
  plan.place(done);
  plan.add('close', [MASK_TARGET_FD], `${field}: close the dup of ${p}`);
  plan.add('close', [{ load: fd }], `${field}: close ${p}`);
  plan.place(skip);
  plan.add('close', [{ load: devNull }], `${field}: close the /dev/null copy for ${p}`);
}
