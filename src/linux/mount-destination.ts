// Which mount destinations are refused, and how the plan opens each kind, so that no
// mount lands where the config did not name (runc's checkProcMount and its "must be
// mounted on ordinary directory" rule, kept closed against symlinks):
// - nothing may be mounted inside /proc (a bind over /proc/sys/... or a symlink in the
//   image or in a volume leading there turns a volume into host kernel settings, the
//   CVE-2019-19921 / CVE-2025-52881 class), except the files lxcfs emulates, by their
//   literal path; on /proc itself only proc (or a bind of a procfs);
// - proc and sysfs go on an ordinary directory: a rootfs whose /proc or /sys is a
//   symlink is refused, not followed.
// The parent checks what it can see (the rootfs as the destination resolves in it);
// the plan checks again what only the container's namespace shows (a symlink inside a
// volume): a destination opened there must not be on procfs.
import { lstatSync, statfsSync } from 'node:fs';
import { posix, relative } from 'node:path';
import type { Mount } from '../oci/spec-types';
import { O, PROC_SUPER_MAGIC, RESOLVE } from '../libc/constants';
import { failIfEqual } from '../plan/fail-if-equal';
import { Plan, type Blob } from '../plan/plan';
import { secureJoin } from '../util/secure-join';
import { ConfigError } from '../util/errors';

/** Files under /proc a bind mount may cover (what lxcfs provides), as runc allows. */
const PROC_FILE_BINDS = new Set([
  '/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime',
  '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev', '/proc/sys/kernel/ns_last_pid',
]);

/** How the plan opens and checks a destination. */
export type DestinationKind =
  /** proc or sysfs: the last component must be a real directory (no symlink followed) */
  | 'special-fs'
  /** an allowed file under /proc: opened with no symlink anywhere in the path */
  | 'proc-file'
  /** anything else: symlinks resolve inside the rootfs, and the result must not be procfs */
  | 'ordinary';

function insideProc(p: string): boolean {
  return p === '/proc' || p.startsWith('/proc/');
}

function allowedProcFile(p: string): boolean {
  return PROC_FILE_BINDS.has(p) || /^\/proc\/pressure\/[^/]+$/.test(p);
}

function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** The container path `dest` resolves to in the rootfs on disk (symlinks followed inside it). */
function resolvedInRootfs(rootfs: string, dest: string, field: string): string {
  try {
    return '/' + relative(rootfs, secureJoin(rootfs, dest));
  } catch (e) {
    throw new ConfigError(`${field}: destination ${dest}: ${(e as Error).message}`);
  }
}

function isProcfs(hostPath: string): boolean {
  try {
    return statfsSync(hostPath).type === PROC_SUPER_MAGIC;
  } catch {
    return false; // the mount step reports a missing source with its errno
  }
}

/**
 * Refuses a destination inside /proc (or a symlink to a special filesystem's mount point)
 * before anything is made. `visible`: the destination's path lies in the rootfs on disk,
 * not under a mount the plan makes first (whose content the parent cannot see).
 */
export function checkMountDestination(rootfs: string, m: Mount, destIn: string, source: string, field: string, visible: boolean): DestinationKind {
  const dest = destIn.replace(/(.)\/+$/, '$1');
  const type = m.type ?? '';
  const bind = type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
  if (!bind && (type === 'proc' || type === 'sysfs')) {
    const parent = visible ? resolvedInRootfs(rootfs, posix.dirname(dest), field) : posix.dirname(dest);
    const st = visible ? lstatOrUndefined(posix.join(rootfs, parent, posix.basename(dest))) : undefined;
    if (st && !st.isDirectory()) {
      const what = st.isSymbolicLink() ? 'a symlink' : 'not a directory';
      throw new ConfigError(`${field}: ${type} must be mounted on an ordinary directory: ${dest} in the rootfs is ${what}`);
    }
    const at = posix.join(parent, posix.basename(dest));
    if (type === 'proc' && at === '/proc') return 'special-fs';
    if (insideProc(at)) throw new ConfigError(`${field}: ${dest} cannot be mounted because it is inside /proc`);
    return 'special-fs';
  }
  const at = visible ? resolvedInRootfs(rootfs, dest, field) : dest;
  const via = at === dest ? '' : ` (it resolves to ${at} in the rootfs)`;
  if (at === '/proc') {
    if (bind && isProcfs(source)) return 'special-fs';
    throw new ConfigError(`${field}: ${dest} cannot be mounted because it is not of type proc${via}`);
  }
  if (insideProc(at)) {
    if (bind && at === dest && allowedProcFile(dest)) return 'proc-file';
    throw new ConfigError(`${field}: ${dest} cannot be mounted because it is inside /proc${via}; only proc on /proc and binds on ${[...PROC_FILE_BINDS].join(', ')}, /proc/pressure/* are allowed`);
  }
  return 'ordinary';
}

const howCache = new WeakMap<Plan, Map<DestinationKind, Blob>>();

/** The open_how the plan opens a destination of this kind with (O_PATH, inside the rootfs). */
export function destinationHow(plan: Plan, kind: DestinationKind): Blob | undefined {
  if (kind === 'ordinary') return undefined;
  let byKind = howCache.get(plan);
  if (!byKind) howCache.set(plan, (byKind = new Map()));
  let how = byKind.get(kind);
  if (!how) {
    const buf = Buffer.alloc(24);
    const flags = kind === 'special-fs' ? O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC : O.PATH | O.CLOEXEC;
    const resolve = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS | (kind === 'proc-file' ? RESOLVE.NO_SYMLINKS : 0);
    buf.writeBigUInt64LE(BigInt(flags), 0);
    buf.writeBigUInt64LE(BigInt(resolve), 16);
    how = plan.blob(buf, kind === 'special-fs' ? 'open_how (a directory, not a symlink)' : 'open_how (no symlinks)');
    byKind.set(kind, how);
  }
  return how;
}

/**
 * After the destination was opened (and dup'ed to `fd`): an ordinary destination that
 * the container's namespace resolves onto procfs (through a symlink the parent could not
 * see, in a volume) fails the plan.
 */
export function refuseProcfsTarget(plan: Plan, fd: number, dest: string, field: string): void {
  const buf = plan.blob(Buffer.alloc(128), `struct statfs of ${dest}`);
  plan.add('fstatfs', [fd, buf], `${field}: find the filesystem of the destination ${dest}`);
  failIfEqual(plan, buf, 0, PROC_SUPER_MAGIC, `${field}: the destination ${dest} must not be on procfs`,
    () => `${field}: ${dest} cannot be mounted because it is inside /proc (reached through a symlink in the container's filesystem)`);
}
