// The container process's identity and environment, as plan steps: signals, rlimits,
// user and groups, capabilities, umask, no_new_privs, file descriptors, execve.
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Process, Spec } from '../oci/spec-types';
import { AT_FDCWD, CLOSE_RANGE_CLOEXEC, F_SETFD, PR, PR_CAP_AMBIENT_RAISE, RLIMIT, SIG_SETMASK } from '../libc/constants';
import type { Plan } from '../plan/plan';
import { CAPABILITY_NUMBERS, capMask, hostLastCap } from './capabilities';
import { secureJoin } from '../util/secure-join';
import { readImageFile } from './image-file';
import { selfStatusMask } from './proc-status';
import { ConfigError } from '../util/errors';
import { strerror } from '../libc/errno';
import { buildExecFailureSteps, execFailureSentence, type ReportPipe } from './exec-failure';
import { quote } from '../util/quote';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The signals this process does not leave at their default: with a handler (SigCgt) or
 * ignored (SigIgn), read from /proc/self/status. node sets a handful (SIGINT, SIGUSR1,
 * SIGSEGV, SIGTERM, ...; SIGPIPE and SIGXFSZ ignored), always from its main thread, which
 * is building this plan: none can change before the clone. All of 1-64 if unreadable.
 */
function nonDefaultSignals(): number[] {
  const mask = selfStatusMask('SigCgt', 'SigIgn') ?? (1n << 64n) - 1n;
  const out: number[] = [];
  for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) out.push(sig);
  return out;
}

/** First steps of every plan: node's signal handlers and mask must not survive. */
export function buildSignalResetSteps(plan: Plan): void {
  // struct kernel_sigaction { handler, flags, restorer, mask } with handler SIG_DFL.
  const dfl = plan.blob(Buffer.alloc(32), 'sigaction SIG_DFL');
  for (const sig of nonDefaultSignals()) {
    if (sig === 9 || sig === 19) continue;
    plan.add('rt_sigaction', [sig, dfl, 0, 8], `reset the disposition of signal ${sig}`, { ignoreError: true });
  }
  plan.add('rt_sigprocmask', [SIG_SETMASK, plan.blob(Buffer.alloc(8), 'empty sigset'), 0, 8], 'unblock all signals');
}

/**
 * A session and process group of its own, as runc gives every init and exec process:
 * conmon and shells kill -getpgid(pid), which must not reach tsrt or its caller. A
 * terminal then becomes this session's controlling terminal (console-steps.ts).
 */
export function buildNewSessionStep(plan: Plan): void {
  plan.add('setsid', [], 'start a new session (the process leads its own process group)');
}

export function buildRlimitSteps(plan: Plan, proc: Process): void {
  (proc.rlimits ?? []).forEach((r, i) => {
    const res = RLIMIT[r.type];
    if (res === undefined) throw new ConfigError(`process.rlimits[${i}].type: unknown rlimit ${quote(r.type)}`);
    const buf = Buffer.alloc(16);
    buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(r.soft)), 0);
    buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(r.hard)), 8);
    plan.add('prlimit64', [0, res, plan.blob(buf, r.type), 0], `set ${r.type} to soft ${r.soft} hard ${r.hard}`);
  });
}

type CapMasks = Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', bigint>;
const CAP_SYS_ADMIN = 1n << 21n;

/** The five sets as masks; undefined when process.capabilities is absent. */
function capabilityMasks(proc: Process): CapMasks | undefined {
  const caps = proc.capabilities;
  if (!caps) return undefined;
  let masks: CapMasks;
  try {
    masks = {
      bounding: capMask(caps.bounding, 'process.capabilities.bounding'),
      effective: capMask(caps.effective, 'process.capabilities.effective'),
      permitted: capMask(caps.permitted, 'process.capabilities.permitted'),
      inheritable: capMask(caps.inheritable, 'process.capabilities.inheritable'),
      ambient: capMask(caps.ambient, 'process.capabilities.ambient'),
    };
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  // capset(2) refuses both of these with EPERM; name the field instead.
  const outside = (set: 'effective' | 'inheritable', within: 'permitted' | 'bounding') => {
    const extra = masks[set] & ~masks[within];
    if (!extra) return;
    const name = Object.keys(CAPABILITY_NUMBERS).find((n) => extra & (1n << BigInt(CAPABILITY_NUMBERS[n]!)));
    throw new ConfigError(`process.capabilities.${set}: ${name} is not in process.capabilities.${within} (the kernel requires ${set} to be a subset of ${within})`);
  };
  outside('effective', 'permitted');
  outside('inheritable', 'bounding');
  return masks;
}

/**
 * setgroups/setresgid/setresuid with the configured capabilities kept across it.
 * holdCapSysAdmin: a seccomp filter is loaded later without no_new_privs, which needs
 * CAP_SYS_ADMIN; it stays permitted and effective until buildFinalCapSteps runs right
 * after the filter is loaded (security.ts).
 */
export function buildUserAndCapSteps(plan: Plan, proc: Process, opts: { setgroupsAllowed: boolean; holdCapSysAdmin?: boolean }): void {
  const { uid, gid } = proc.user;
  const gids = proc.user.additionalGids ?? [];
  const configured = capabilityMasks(proc);
  // Without process.capabilities a non-root user loses every capability at setresuid;
  // holding CAP_SYS_ADMIN then means keeping it explicitly (and dropping it later).
  const hold = !!opts.holdCapSysAdmin && (configured !== undefined || uid !== 0);
  const masks = configured ?? (hold ? { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n } : undefined);
  if (configured) {
    for (let cap = 0; cap <= hostLastCap(); cap++) {
      if (!(configured.bounding & (1n << BigInt(cap)))) {
        plan.add('prctl', [PR.CAPBSET_DROP, cap, 0, 0, 0], `drop capability ${cap} from the bounding set`);
      }
    }
  }
  if (masks) plan.add('prctl', [PR.SET_KEEPCAPS, 1, 0, 0, 0], 'keep capabilities across the uid change');
  if (!opts.setgroupsAllowed && gids.length) {
    throw new ConfigError('process.user.additionalGids: cannot set supplementary groups here (setgroups is denied in this user namespace, as for rootless containers)');
  }
  if (opts.setgroupsAllowed) {
    const buf = Buffer.alloc(4 * Math.max(gids.length, 1));
    gids.forEach((g, i) => buf.writeUInt32LE(g, 4 * i));
    plan.add('setgroups', [gids.length, plan.blob(buf, 'gids')], `set additional groups [${gids.join(', ')}]`);
  }
  plan.add('setresgid', [gid, gid, gid], `set gid ${gid}`);
  plan.add('setresuid', [uid, uid, uid], `set uid ${uid}`);
  if (masks) {
    plan.add('prctl', [PR.SET_KEEPCAPS, 0, 0, 0, 0], 'stop keeping capabilities');
    if (hold) {
      addCapset(plan, { ...masks, effective: masks.effective | CAP_SYS_ADMIN, permitted: masks.permitted | CAP_SYS_ADMIN },
        'keep CAP_SYS_ADMIN until the seccomp filter is loaded (linux.seccomp without process.noNewPrivileges)');
    } else {
      addCapsetAndAmbient(plan, masks);
    }
  }
}

/** The configured sets after a held CAP_SYS_ADMIN is no longer needed (after seccomp). */
export function buildFinalCapSteps(plan: Plan, proc: Process): void {
  const masks = capabilityMasks(proc) ?? (proc.user.uid !== 0 ? { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n } : undefined);
  if (masks) addCapsetAndAmbient(plan, masks);
}

function addCapset(plan: Plan, masks: CapMasks, describe: string): void {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(0x20080522, 0); // _LINUX_CAPABILITY_VERSION_3
  const data = Buffer.alloc(24);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  data.writeUInt32LE(lo(masks.effective), 0);
  data.writeUInt32LE(lo(masks.permitted), 4);
  data.writeUInt32LE(lo(masks.inheritable), 8);
  data.writeUInt32LE(hi(masks.effective), 12);
  data.writeUInt32LE(hi(masks.permitted), 16);
  data.writeUInt32LE(hi(masks.inheritable), 20);
  plan.add('capset', [plan.blob(hdr, 'cap header'), plan.blob(data, 'cap data')], describe);
}

function addCapsetAndAmbient(plan: Plan, masks: CapMasks): void {
  addCapset(plan, masks, 'set the effective, permitted and inheritable capabilities');
  for (let cap = 0; cap <= hostLastCap(); cap++) {
    if (masks.ambient & (1n << BigInt(cap))) {
      // The kernel refuses (EPERM) an ambient cap not also permitted and inheritable;
      // runc and crun skip those silently, so configs written for them rely on it.
      plan.add('prctl', [PR.CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0], `raise ambient capability ${cap}`, { okErrno: 1 });
    }
  }
}

/**
 * stdio passed through (node set FD_CLOEXEC on 0-2), preserved fds kept, every other
 * fd marked close-on-exec (the plan's own fds stay usable until execve).
 */
export function buildFdSteps(plan: Plan, keepFds: number): void {
  for (let fd = 0; fd < 3 + keepFds; fd++) {
    plan.add('fcntl', [fd, F_SETFD, 0], `keep fd ${fd} open across exec`, { okErrno: 9 });
  }
  plan.add('close_range', [3 + keepFds, 0xffffffff, CLOSE_RANGE_CLOEXEC], `mark fds from ${3 + keepFds} up close-on-exec`);
}

/** The environment, with HOME added from the rootfs's /etc/passwd as runc does. */
export function processEnv(spec: Spec, rootfs: string): string[] {
  const env = [...(spec.process?.env ?? [])];
  if (!env.some((e) => e.startsWith('HOME='))) {
    env.push(`HOME=${homeOf(rootfs, spec.process?.user.uid ?? 0)}`);
  }
  return env;
}

function homeOf(rootfs: string, uid: number): string {
  // no passwd file: runc falls back to /; a FIFO or a device there is refused
  const passwd = readImageFile(secureJoin(rootfs, '/etc/passwd'), `/etc/passwd (the HOME of uid ${uid})`) ?? '';
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && Number(f[2]) === uid) return f[5] || '/';
  }
  return '/';
}

/**
 * execve of args[0]: a name without '/' is tried in each $PATH directory in turn (the
 * failures are tolerated), the last candidate's failure is the error.
 */
export function buildExecSteps(plan: Plan, args: string[], env: string[]): void {
  const argv = plan.strArray(args, 'argv');
  const envp = plan.strArray(env, 'envp');
  const name = args[0]!;
  if (name.includes('/')) {
    // One candidate: its own errno is the error ("ENOENT (No such file or directory)",
    // EACCES, ENOEXEC...), which podman maps to exit codes 127 and 126 as runc's.
    plan.add('execve', [plan.cstr(name), argv, envp], `exec ${quote(name)} in the container`);
    return;
  }
  for (const c of pathCandidates(name, env)) {
    plan.add('execve', [plan.cstr(c), argv, envp], `exec ${c}`, { ignoreError: true });
  }
  const notFound = plan.slot('ENOENT', 2n);
  plan.check(notFound, 0xffffn, `exec ${name}`, () => notInPath(name));
}

/**
 * The init's execve, after `start`: of `resolved` (checkExecutable's answer) or else of
 * each $PATH candidate; a failure goes to whoever reads the report pipe, or to the
 * container's stderr when nobody does (exec-failure.ts).
 */
export function buildInitExecSteps(plan: Plan, args: string[], env: string[], report: ReportPipe, resolved: string | undefined): void {
  const argv = plan.strArray(args, 'argv');
  const envp = plan.strArray(env, 'envp');
  const name = resolved ?? args[0]!;
  const record = plan.blob(Buffer.alloc(16), 'exec failure record');
  const candidates = name.includes('/') ? [name] : pathCandidates(name, env);
  for (const c of candidates) {
    record.bytes.writeBigUInt64LE(BigInt(plan.steps.length), 0); // the last one's index
    plan.add('execve', [plan.cstr(c), argv, envp], `exec ${JSON.stringify(c)} in the container`, { ignoreError: true, store: record, storeOffset: 8 });
  }
  buildExecFailureSteps(plan, report, record, execFailureSentence(name), name.includes('/') ? undefined : notInPath(name));
}

/**
 * Before `start`, as runc's init (Go's LookPath: access(X_OK)): the command can be
 * executed as the process's user in the container as it now is, mounts included (a
 * noexec mount, a file a mount brings or hides), so that `create` fails, not the start.
 */
export function buildExecCheckStep(plan: Plan, path: string | undefined): void {
  if (!path?.includes('/')) return; // looked up in $PATH at exec time (mounts decide)
  plan.add('faccessat', [AT_FDCWD, plan.cstr(path), 1 /* X_OK */], `exec: ${JSON.stringify(path)}`);
}

function pathCandidates(name: string, env: string[]): string[] {
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  return pathVar.split(':').filter(Boolean).map((d) => posix.join(d, name));
}

const notInPath = (name: string) => `exec: ${quote(name)}: executable file not found in $PATH`;

/**
 * Fails `create` early, as runc does (its init looks the command up before it waits for
 * `start`), when args[0] cannot run from the rootfs, with runc's words: podman and
 * docker map "no such file or directory" and "not found" to exit code 127, "permission
 * denied" (not executable, a directory) to 126. Returns what execve will be given:
 * args[0] when it has a '/', else the first executable $PATH candidate (Go's LookPath,
 * as runc), or undefined when a config mount decides (it may bring the file).
 */
export function checkExecutable(spec: Spec, rootfs: string, env: string[]): string | undefined {
  const name = spec.process?.args?.[0];
  if (!name) return undefined;
  const mounts = (spec.mounts ?? []).map((m) => posix.normalize(m.destination));
  // A file system mounted on / (an image's overlay) replaces what the host sees there.
  if (mounts.includes('/')) return name.includes('/') ? name : undefined;
  const coveredByMount = (p: string) => mounts.some((d) => d !== '/' && (p === d || p.startsWith(d + '/')));
  if (name.includes('/')) {
    const p = posix.resolve(spec.process?.cwd ?? '/', name);
    const why = coveredByMount(p) ? undefined : whyNotExecutable(rootfs, p);
    if (why) throw new ConfigError(`exec: ${quote(name)}: ${why}`);
    return name;
  }
  for (const p of pathCandidates(name, env)) {
    if (coveredByMount(p)) return undefined;
    if (!whyNotExecutable(rootfs, p)) return p;
  }
  throw new ConfigError(notInPath(name));
}

/** Why execve of p (a path in the container) would fail, in runc's words; undefined if it would not. */
function whyNotExecutable(rootfs: string, p: string): string | undefined {
  let st;
  try {
    st = statSync(secureJoin(rootfs, p));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const errno = code ? (osConstants.errno as Record<string, number | undefined>)[code] : undefined;
    return `stat ${p}: ${errno ? strerror(errno) : (e as Error).message}`;
  }
  if (st.isDirectory()) return 'permission denied (is a directory)';
  if (!st.isFile() || (st.mode & 0o111) === 0) return 'permission denied';
  return undefined;
}
