// Writes to /proc files from a plan (sysctls, LSM exec labels, time namespace offsets),
// made so that nothing in the rootfs, an image or a volume can redirect them
// (CVE-2019-19921, CVE-2025-52881): a volume mounted over /proc/sys/net whose
// ipv4/ip_forward is a symlink to another /proc file must not receive the write.
//
//   1. /proc is opened without following symlinks and verified to be the root of a procfs
//      mount (fstatfs f_type, root inode): a tmpfs or a directory bound there fails.
//   2. The file is opened beneath that fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV |
//      RESOLVE_NO_SYMLINKS): no symlink and no mount point (a volume over /proc/sys/net)
//      may be crossed, so the file is the procfs's own. Only the procfs's "self" and
//      "thread-self" links are followed, in a step of their own (RESOLVE_NO_MAGICLINKS).
import { AT_FDCWD, O, RESOLVE } from '../libc/constants';
import type { Blob, Plan } from '../plan/plan';
import { checkProcRoot } from './file-checks';

export interface ProcWrite {
  /** path under /proc: "sys/net/ipv4/ip_forward", "thread-self/attr/exec" */
  file: string;
  value: string;
  /** what is written, for messages: "linux.sysctl.net.ipv4.ip_forward" */
  field: string;
}

const SELF_LINKS = new Set(['self', 'thread-self']);

/** struct open_how { u64 flags, mode, resolve } as a plan blob. */
export function openHow(plan: Plan, flags: number, resolve: number, label: string): Blob {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return plan.blob(how, label);
}

/** An O_PATH fd (slot) of /proc, opened without following symlinks and verified. */
export function openProcRoot(plan: Plan, why: string): Blob {
  const fd = plan.slot('procfs root fd');
  const how = openHow(plan, O.PATH | O.DIRECTORY | O.CLOEXEC, RESOLVE.NO_SYMLINKS, 'open_how (/proc)');
  plan.add('openat2', [AT_FDCWD, plan.cstr('/proc'), how, 24], `${why}: open /proc without following symlinks`, { store: fd });
  checkProcRoot(plan, fd, `${why}: /proc`);
  return fd;
}

/**
 * Opens `file` (under the verified /proc fd `root`) for writing, or with `flags`, and
 * returns its fd slot; `why` prefixes every step's sentence (it names the field).
 */
export function openProcFile(plan: Plan, root: Blob, file: string, why: string, flags: number = O.WRONLY | O.NOFOLLOW | O.CLOEXEC): Blob {
  const beneath = RESOLVE.BENEATH | RESOLVE.NO_XDEV;
  let dir = root;
  let rest = file;
  const [first, ...tail] = file.split('/');
  const selfDir = SELF_LINKS.has(first!) ? plan.slot(`fd of /proc/${first}`) : undefined;
  if (selfDir) {
    // /proc/self is procfs's own symlink to the pid's directory: followed, beneath /proc.
    const how = openHow(plan, O.PATH | O.DIRECTORY | O.CLOEXEC, beneath | RESOLVE.NO_MAGICLINKS, `open_how (/proc/${first})`);
    plan.add('openat2', [{ load: root }, plan.cstr(first!), how, 24], `${why}: open /proc/${first} inside /proc`, { store: selfDir });
    dir = selfDir;
    rest = tail.join('/');
  }
  const fd = plan.slot(`fd of /proc/${file}`);
  const how = openHow(plan, flags, beneath | RESOLVE.NO_SYMLINKS, `open_how (/proc/${file})`);
  plan.add('openat2', [{ load: dir }, plan.cstr(rest), how, 24],
    `${why}: open /proc/${file} on the container's procfs (a symlink there is refused with ELOOP, a mount over part of /proc with EXDEV)`, { store: fd });
  if (selfDir) plan.add('close', [{ load: selfDir }], `close /proc/${first}`);
  return fd;
}

/** Writes each value to its /proc file through one verified /proc fd; `purpose` names the config section. */
export function buildProcWriteSteps(plan: Plan, writes: ProcWrite[], purpose: string): void {
  if (!writes.length) return;
  const root = openProcRoot(plan, purpose);
  for (const w of writes) {
    const fd = openProcFile(plan, root, w.file, w.field);
    plan.add('write', [{ load: fd }, plan.cstr(w.value), Buffer.byteLength(w.value)], `${w.field}: write ${JSON.stringify(w.value)} to /proc/${w.file}`);
    plan.add('close', [{ load: fd }], `close /proc/${w.file}`);
  }
  plan.add('close', [{ load: root }], 'close /proc');
}
