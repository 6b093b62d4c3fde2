// The parent's writes to a container process's /proc/PID files (uid_map, setgroups,
// gid_map, oom_score_adj), made with the same rule as the plan's (linux/proc-files.ts):
// /proc opened without following symlinks and verified to be the root of a procfs, the
// file opened beneath it with openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV |
// RESOLVE_NO_SYMLINKS). A failure names the config field, the file and the errno.
import { closeSync, writeSync } from 'node:fs';
import { libc } from './libc';
import { describeErrno } from './errno';
import { O, RESOLVE } from './constants';
import { TsrtError } from '../util/errors';
import { syscallTable } from './syscalls';

const PROC_SUPER_MAGIC = 0x9fa0n;
const PROC_ROOT_INO = 1n;

/** openat2(2) with struct open_how { flags, mode 0, resolve }; throws naming `what`. */
function openat2(dirfd: number, path: string, flags: number, resolve: number, what: string): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return libc.syscall(syscallTable().openat2, ['int', dirfd, 'const char *', path, 'uint8_t *', how, 'size_t', 24], what);
}

/** An O_PATH fd of /proc, checked to be the root of a procfs mount. */
function openProcRoot(field: string): number {
  const fd = openat2(-100, '/proc', O.PATH | O.DIRECTORY | O.CLOEXEC, RESOLVE.NO_SYMLINKS, `${field}: open /proc`);
  try {
    const sfs = Buffer.alloc(128);
    const st = Buffer.alloc(144);
    libc.fstatfs(fd, sfs, `${field}: fstatfs /proc`);
    libc.fstat(fd, st, `${field}: fstat /proc`);
    if (sfs.readBigUInt64LE(0) !== PROC_SUPER_MAGIC || st.readBigUInt64LE(8) !== PROC_ROOT_INO) {
      throw new TsrtError('EPROCWRITE', `${field}: /proc is not the root of a procfs mount, refusing to write through it`);
    }
    return fd;
  } catch (e) {
    libc.closeFd(fd);
    throw e;
  }
}

/** The value for a message: quoted, cut when long (an id map can have many lines). */
function shortValue(value: string): string {
  const v = value.trim();
  return v.length <= 64 ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, 64))}... (${v.length} characters)`;
}

/**
 * Writes `value` to /proc/`file` ("1234/uid_map") in one write(2), as the kernel wants
 * for id maps; `field` names what is written ("linux.uidMappings").
 */
export function writeProcFile(file: string, value: string, field: string): void {
  const root = openProcRoot(field);
  let fd = -1;
  try {
    fd = openat2(root, file, O.WRONLY | O.NOFOLLOW | O.CLOEXEC, RESOLVE.BENEATH | RESOLVE.NO_XDEV | RESOLVE.NO_SYMLINKS,
      `${field}: opening /proc/${file}`);
    try {
      writeSync(fd, value);
    } catch (e) {
      const errno = -((e as NodeJS.ErrnoException).errno ?? 0);
      throw new TsrtError('EPROCWRITE', `${field}: writing /proc/${file}: ${describeErrno(errno)}, the value was ${shortValue(value)}`);
    }
  } finally {
    if (fd >= 0) closeSync(fd);
    libc.closeFd(root);
  }
}
