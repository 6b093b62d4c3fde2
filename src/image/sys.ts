// The few libc calls the image code needs that Node.js lacks: extended attributes on a
// path without following a final symlink, mknod for device nodes and whiteouts, and a
// blocking flock for the layer store's lock file.
import { koffi, check, libc } from '../libc/libc';
import { errnoName, strerror } from '../libc/errno';
import { SyscallError } from '../util/errors';

type Fn = (...args: unknown[]) => any;
let fns: Record<string, Fn> | undefined;

const SIGNATURES: Record<string, string> = {
  lsetxattr: 'int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)',
  lgetxattr: 'long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
  llistxattr: 'long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)',
  mknod: 'int mknod(const char *path, uint32_t mode, uint64_t dev)',
};

function fn(name: string): Fn {
  if (!fns) {
    const lib = koffi().load('libc.so.6');
    fns = {};
    for (const [k, sig] of Object.entries(SIGNATURES)) fns[k] = lib.func(sig) as Fn;
  }
  return fns[name]!;
}

const ENODATA = 61;
const ERANGE = 34;

export const S_IFMT = 0o170000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** glibc's makedev(3). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0), mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** glibc's major(3) / minor(3) of a st_rdev. */
export function splitDev(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
  const minor = Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
  return { major, minor };
}

export function mknod(path: string, mode: number, dev: bigint = 0n): void {
  check(fn('mknod')(path, mode, dev), `mknod ${path}`);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  check(fn('lsetxattr')(path, name, value, value.length, 0), `setxattr ${name} on ${path}`);
}

/** The value of one xattr, or undefined when the file has none of that name. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  for (let size = 256; ; size *= 4) {
    const buf = Buffer.alloc(size);
    const r = Number(fn('lgetxattr')(path, name, buf, size));
    if (r >= 0) return buf.subarray(0, r);
    const e = koffi().errno();
    if (e === ENODATA || e === 95 /* EOPNOTSUPP */) return undefined;
    if (e !== ERANGE || size > 1 << 20) throw new SyscallError(`getxattr ${name} on ${path}`, e, errnoName(e), strerror(e));
  }
}

/** The names of a file's xattrs (empty when the file system has none). */
export function llistxattr(path: string): string[] {
  for (let size = 1024; ; size *= 4) {
    const buf = Buffer.alloc(size);
    const r = Number(fn('llistxattr')(path, buf, size));
    if (r >= 0) return buf.subarray(0, r).toString('latin1').split('\0').filter(Boolean);
    const e = koffi().errno();
    if (e === 95) return [];
    if (e !== ERANGE || size > 1 << 20) throw new SyscallError(`listxattr ${path}`, e, errnoName(e), strerror(e));
  }
}

const LOCK_EX = 2, LOCK_UN = 8;

/** Blocks until the exclusive flock on fd is held. */
export function flockExclusive(fd: number, what: string): void {
  for (;;) {
    if (libc.flock(fd, LOCK_EX) === 0) return;
    const e = koffi().errno();
    if (e === 4 /* EINTR */) continue;
    throw new SyscallError(`flock ${what}`, e, errnoName(e), strerror(e));
  }
}

export function funlock(fd: number): void {
  libc.flock(fd, LOCK_UN);
}
