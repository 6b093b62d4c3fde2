// Plan steps that verify what an fd really is before the plan trusts it: the file type
// of something opened inside the rootfs (an image may put a FIFO, a symlink or a
// directory where a device or a file is expected), and the filesystem of /proc.
// The structs are the kernel's (struct stat, struct statfs) as the syscalls fill them.
import type { Arg, Blob, Plan } from '../plan/plan';
import { PROC_SUPER_MAGIC as PROC_MAGIC, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../libc/constants';
export { S_IFMT };

/** f_type of procfs (linux/magic.h). */
export const PROC_SUPER_MAGIC = BigInt(PROC_MAGIC);
/** The inode number of every procfs mount's root directory (fs/proc/internal.h). */
export const PROC_ROOT_INO = 1n;

/** Byte offset of st_mode in struct stat: x86-64 has a u64 st_nlink before it. */
export function statModeOffset(arch: string = process.arch): number {
  return arch === 'arm64' ? 16 : 24;
}
/** st_ino is the second u64 on both architectures. */
const ST_INO_OFFSET = 8;
/** struct stat is 144 bytes on x86-64, 128 on aarch64; struct statfs 120 on both. */
const STAT_BYTES = 144;
const STATFS_BYTES = 128;

const TYPE_NAMES: Record<number, string> = {
  [S_IFREG]: 'a regular file', [S_IFDIR]: 'a directory', [S_IFCHR]: 'a character device',
  [S_IFBLK]: 'a block device', [S_IFIFO]: 'a FIFO', [S_IFLNK]: 'a symlink', [S_IFSOCK]: 'a socket',
};

/** "a FIFO", "a directory", ... for a file type (st_mode & S_IFMT). */
export function fileTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `a file of type 0${type.toString(8)}`;
}

/** fstat of `fd` (a slot, or a fixed fd number) into a new struct stat blob. */
export function fstatSteps(plan: Plan, fd: Blob | number, what: string): Blob {
  const st = plan.blob(Buffer.alloc(STAT_BYTES), `struct stat of ${what}`);
  const fdArg: Arg = typeof fd === 'number' ? fd : { load: fd };
  plan.add('fstat', [fdArg, st], `fstat ${what}`);
  return st;
}

/**
 * Fails the plan unless the file behind `fd` (a slot, or a fixed fd number) has type
 * `type`: `what` names the path and the reason, e.g. "/dev/ptmx in the container".
 */
export function checkFileType(plan: Plan, fd: Blob | number, type: number, what: string): void {
  const st = fstatSteps(plan, fd, what);
  plan.checkEquals(st, statModeOffset(), BigInt(S_IFMT), BigInt(type), `${what} must be ${fileTypeName(type)}`,
    (diff) => `${what} is ${fileTypeName((diff ^ type) & S_IFMT)}, it must be ${fileTypeName(type)}`);
}

/**
 * Fails the plan unless `fd` (a slot) is the root directory of a procfs mount: its
 * filesystem's magic number (fstatfs f_type, the first word) is procfs's, and its inode
 * is procfs's root. A tmpfs, a bind of a directory from a volume, or a subdirectory of
 * another procfs mounted on /proc fails here.
 */
export function checkProcRoot(plan: Plan, fd: Blob, what: string): void {
  const sfs = plan.blob(Buffer.alloc(STATFS_BYTES), `struct statfs of ${what}`);
  plan.add('fstatfs', [{ load: fd }, sfs], `fstatfs ${what}`);
  plan.checkEquals(sfs, 0, 0xffffffffffffffffn, PROC_SUPER_MAGIC, `${what} must be a procfs`,
    (diff) => `${what} is not a procfs (filesystem magic 0x${(BigInt(diff) ^ PROC_SUPER_MAGIC).toString(16)}, procfs is 0x9fa0)`);
  const st = fstatSteps(plan, fd, what);
  plan.checkEquals(st, ST_INO_OFFSET, 0xffffffffffffffffn, PROC_ROOT_INO, `${what} must be the root of a procfs mount`,
    () => `${what} is a procfs but not the root of a procfs mount (something is mounted over /proc)`);
}
