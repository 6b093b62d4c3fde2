// Security-related plan steps that are not identity (user, caps: process-setup.ts):
// process attributes, LSM labels and seccomp. init-plan.ts and exec-plan.ts call these
// at fixed points; docs/security.md explains the order.
import { closeSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Process, Spec } from '../oci/spec-types';
import { libc } from '../libc/libc';
import { AT_FDCWD, O, RESOLVE } from '../libc/constants';
import { Plan } from '../plan/plan';
import { ConfigError, TsrtError } from '../util/errors';
import { CAPABILITY_NUMBERS } from './capabilities';
import { buildFinalCapSteps, buildUserAndCapSteps } from './process-setup';
import { buildIoPrioritySteps, buildMemoryPolicySteps, buildPersonalitySteps, buildSchedulerSteps } from './process-attributes';
import { buildLsmAttrSteps, checkLsmSupport } from './lsm';
import { seccompUsesNotify, type CompiledSeccomp } from './seccomp';
import { checkSysctl } from './sysctl';
import { checkNetDevices } from './net-devices';
import { selfStatusMask } from './proc-status';
import type { NamespacePlan } from './namespaces';
import { quote } from '../util/quote';

export { buildCpuAffinitySteps } from './process-attributes';
export { checkLsmSupport, withMountLabel } from './lsm';

/** personality, scheduler, ioPriority, memoryPolicy: before the uid switch and cap drop. */
export function buildProcessAttributeSteps(plan: Plan, spec: Spec): void {
  buildPersonalitySteps(plan, spec.linux?.personality);
  buildSchedulerSteps(plan, spec.process?.scheduler);
  buildIoPrioritySteps(plan, spec.process?.ioPriority);
  buildMemoryPolicySteps(plan, spec.linux?.memoryPolicy);
}

const EEXIST = 17;

/**
 * mkdir -p of process.cwd, as runc (0755 less the umask, owned by the container's root;
 * runc's MkdirAll runs right after pivot_root, before the read-only remounts). After
 * pivot_root, each parent is opened inside the container's root with /proc magic links
 * refused and the next directory made relative to that fd: a symlink in the image stays in
 * the root, and no /proc/self/fd/N path reaches a directory open in this process.
 * An existing entry (EEXIST) is left as it is; the chdir then decides about it.
 */
export function buildCwdCreateSteps(plan: Plan, cwd: string): void {
  const parts = posix.normalize(cwd).split('/').filter(Boolean);
  if (!parts.length) return;
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O.PATH | O.DIRECTORY | O.CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS), 16);
  const howBlob = plan.blob(how, 'open_how (a parent of the cwd)');
  const parent = plan.slot('fd of a parent of the cwd');
  parts.forEach((name, i) => {
    const dir = `/${parts.slice(0, i).join('/')}`;
    plan.add('openat2', [AT_FDCWD, plan.cstr(dir), howBlob, 24], `process.cwd ${cwd}: open ${dir} inside the container`, { store: parent });
    plan.add('mkdirat', [{ load: parent }, plan.cstr(name), 0o755], `process.cwd ${cwd}: create ${posix.join(dir, name)} if missing (as runc)`, { okErrno: EEXIST });
    plan.add('close', [{ load: parent }], `close the fd of ${dir}`);
  });
}

/**
 * chdir to process.cwd, resolved inside the container's root with /proc magic links
 * refused: a cwd of /proc/self/fd/N would otherwise land on whatever directory fd N is
 * in this process, possibly a host directory (CVE-2024-21626). Runs after pivot_root,
 * with "/" as the current directory.
 */
export function buildSafeChdirSteps(plan: Plan, cwd: string): void {
  // struct open_how { u64 flags, mode, resolve }
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O.PATH | O.DIRECTORY | O.CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS), 16);
  const fd = plan.slot(`fd of ${cwd}`);
  plan.add('openat2', [AT_FDCWD, plan.cstr(cwd), plan.blob(how, 'open_how (cwd)'), 24],
    `process.cwd ${cwd}: open it inside the container (symlinks stay in the root, /proc magic links are refused)`, { store: fd });
  plan.add('fchdir', [{ load: fd }], `chdir to process.cwd ${cwd}`);
  plan.add('close', [{ load: fd }], `close the fd of ${cwd}`);
}

/** apparmorProfile / selinuxLabel for the exec: before waiting for start. */
export function buildLsmSteps(plan: Plan, spec: Spec): void {
  buildLsmAttrSteps(plan, spec);
}

/**
 * Without no_new_privs, loading a seccomp filter needs CAP_SYS_ADMIN (in the container's
 * user namespace). The user switch and capability drop come earlier in the plan, so
 * buildUserAndCapSteps keeps CAP_SYS_ADMIN in the permitted and effective sets until
 * the filter is loaded, and buildSeccompSteps applies the configured sets right after.
 */
export function seccompNeedsCapSysAdmin(spec: Spec): boolean {
  return !!spec.linux?.seccomp && !spec.process?.noNewPrivileges;
}

export interface SeccompNotifyFds {
  /** AF_UNIX SOCK_STREAM socket connected to linux.seccomp.listenerPath (parent's fd, inherited) */
  socketFd: number;
  /** read end of the pipe that carries the container process state JSON */
  stateReadFd: number;
  /** write end (parent only) */
  stateWriteFd: number;
}

/** The largest container process state JSON the plan has room for (and a pipe holds). */
const STATE_MAX = 60 * 1024;
const SECCOMP_SET_MODE_FILTER = 1;
const MSG_NOSIGNAL = 0x4000;

/**
 * SCMP_ACT_NOTIFY: connects to listenerPath before any process exists (a bad path is a
 * create-time error) and makes the pipe the state JSON travels in. The caller closes
 * the fds once the init has been started and the state written.
 */
export function openSeccompListener(spec: Spec): SeccompNotifyFds | undefined {
  const sc = spec.linux?.seccomp;
  if (!seccompUsesNotify(sc)) return undefined;
  // A profile tsrt refuses is refused before anything is connected to (compileSeccomp
  // also requires listenerPath with SCMP_ACT_NOTIFY).
  compiledSeccomp(sc!);
  let socketFd: number;
  try {
    socketFd = libc.unixConnect(sc!.listenerPath!);
  } catch (e) {
    const code = (e as TsrtError).code ?? '';
    throw new TsrtError(code || 'ECONNREFUSED', `linux.seccomp.listenerPath: cannot connect to ${sc!.listenerPath}: ${code}`);
  }
  try {
    const [r, w] = libc.pipe2(O.CLOEXEC);
    return { socketFd, stateReadFd: r, stateWriteFd: w };
  } catch (e) {
    closeSync(socketFd);
    throw e;
  }
}

/**
 * The container process state sent with the listener fd (config-linux.md). For the init
 * (sent before `create` returns) the container is "created"; for an exec process, as
 * runc: "running", `pid` the exec'd process and `state.pid` the container's init.
 */
export function seccompProcessState(spec: Spec, s: { id: string; pid: number; bundle: string; annotations?: Record<string, string> }, exec?: { pid: number }): string {
  const ociVersion = spec.ociVersion;
  const json = JSON.stringify({
    ociVersion,
    fds: ['seccompFd'],
    pid: exec?.pid ?? s.pid,
    metadata: spec.linux?.seccomp?.listenerMetadata ?? '',
    state: { ociVersion, id: s.id, status: exec ? 'running' : 'created', pid: s.pid, bundle: s.bundle, annotations: s.annotations ?? {} },
  });
  if (Buffer.byteLength(json) > STATE_MAX) {
    throw new ConfigError(`linux.seccomp.listenerPath: the container process state is larger than ${STATE_MAX} bytes (annotations too large)`);
  }
  return json;
}

/**
 * The seccomp filter. The init loads it before telling `create` it is ready (as runc:
 * `create` returns with the filter in place and the agent holding the listener), so the
 * wait for `start`, the startContainer hooks and execve run under it; an exec process
 * loads it last before execve. With
 * SCMP_ACT_NOTIFY the listener fd is stored straight into the SCM_RIGHTS message (the
 * step's result slot is the cmsg's data) and sent with the state JSON in one sendmsg.
 */
export function buildSeccompSteps(plan: Plan, spec: Spec, notify?: { socketFd: number; stateReadFd: number }): void {
  const sc = spec.linux?.seccomp;
  if (!sc) return;
  const compiled = compiledSeccomp(sc);
  const n = compiled.program.length / 8;
  const prog = plan.blob(compiled.program, `seccomp BPF program (${n} instructions)`);
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
  const fprog = plan.blob(Buffer.alloc(16), 'sock_fprog');
  fprog.bytes.writeUInt16LE(n, 0);
  plan.pointerAt(fprog, 8, prog);
  const skipped = compiled.skipped.length ? `; unknown syscalls skipped: ${compiled.skipped.join(', ')}` : '';

  if (!compiled.notify) {
    plan.add('seccomp', [SECCOMP_SET_MODE_FILTER, compiled.flags, fprog], `load the seccomp filter of linux.seccomp (${n} instructions${skipped})`);
  } else {
    if (!notify) throw new ConfigError('linux.seccomp: SCMP_ACT_NOTIFY needs the connection to listenerPath (internal: none was given)');
    // msghdr { name, namelen, iov, iovlen, control, controllen, flags }, one iovec with
    // the state JSON, one cmsghdr { len 20, SOL_SOCKET, SCM_RIGHTS, int fd } (24 bytes).
    const json = plan.blob(Buffer.alloc(STATE_MAX), 'container process state');
    const iov = plan.blob(Buffer.alloc(16), 'iovec (state)');
    plan.pointerAt(iov, 0, json);
    const cmsg = Buffer.alloc(24);
    cmsg.writeBigUInt64LE(20n, 0);
    cmsg.writeInt32LE(1, 8);
    cmsg.writeInt32LE(1, 12);
    const cmsgBlob = plan.blob(cmsg, 'SCM_RIGHTS seccomp listener');
    const msg = plan.blob(Buffer.alloc(56), 'msghdr (seccomp agent)');
    plan.pointerAt(msg, 16, iov);
    msg.bytes.writeBigUInt64LE(1n, 24);
    plan.pointerAt(msg, 32, cmsgBlob);
    msg.bytes.writeBigUInt64LE(24n, 40);
    plan.add('read', [notify.stateReadFd, json, STATE_MAX], 'read the container process state for the seccomp agent', { store: iov, storeOffset: 8 });
    plan.add('close', [notify.stateReadFd], 'close the state pipe');
    plan.add('seccomp', [SECCOMP_SET_MODE_FILTER, compiled.flags, fprog],
      `load the seccomp filter of linux.seccomp with a notify listener (${n} instructions${skipped})`, { store: cmsgBlob, storeOffset: 16 });
    plan.add('sendmsg', [notify.socketFd, msg, MSG_NOSIGNAL], `linux.seccomp.listenerPath: send the listener fd and state to ${sc.listenerPath}`);
    plan.add('close', [notify.socketFd], 'close the connection to the seccomp agent', { ignoreError: true });
  }
  if (seccompNeedsCapSysAdmin(spec) && spec.process) buildFinalCapSteps(plan, spec.process);
}

// ---------------------------------------------------------------------------------------
// Checks that need no process: called while the plan is built, so a refusal leaves
// nothing behind.

const compiledCache = new WeakMap<object, CompiledSeccomp>();

/** linux.seccomp compiled once per config object (checked early, loaded late). */
function compiledSeccomp(sc: NonNullable<NonNullable<Spec['linux']>['seccomp']>): CompiledSeccomp {
  let c = compiledCache.get(sc);
  if (!c) {
    // libseccomp is loaded only here, for configs that have linux.seccomp.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    c = (require('./seccomp') as typeof import('./seccomp')).compileSeccomp(sc);
    compiledCache.set(sc, c);
  }
  return c;
}

/**
 * Every security field the container's init applies, checked before anything is made
 * (directories in the rootfs, state, processes): the refusal names the field and why.
 * The step builders are run on a scratch plan for the checks they contain.
 */
export function checkSecurityConfig(spec: Spec, ns: NamespacePlan): void {
  const proc = spec.process;
  if (proc) {
    checkCapabilitiesGrantable(proc, ns);
    // as init-plan.ts: an unprivileged parent denies setgroups in a new user namespace
    buildUserAndCapSteps(new Plan(), proc, { setgroupsAllowed: !(ns.newUser && process.geteuid?.() !== 0) });
  }
  checkLsmSupport(spec);
  checkSysctl(spec, ns);
  checkIntelRdt(spec);
  checkNetDevices(spec, ns);
  buildProcessAttributeSteps(new Plan(), spec);
  if (spec.linux?.seccomp) compiledSeccomp(spec.linux.seccomp);
}

/**
 * A capability tsrt does not hold itself cannot be given to the container. In a new (or
 * joined) user namespace the init gets a full bounding set of that namespace, so the
 * check only applies when the container uses tsrt's own user namespace.
 */
export function checkCapabilitiesGrantable(proc: Process, ns: NamespacePlan): void {
  const caps = proc.capabilities;
  if (!caps || ns.has('user')) return;
  const bnd = selfStatusMask('CapBnd');
  if (bnd === undefined) return;
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
    (caps[set] ?? []).forEach((name, i) => {
      const n = CAPABILITY_NUMBERS[name];
      if (n === undefined) throw new ConfigError(`process.capabilities.${set}[${i}]: unknown capability ${quote(name)}`);
      if (!(bnd & (1n << BigInt(n)))) {
        throw new ConfigError(`process.capabilities.${set}[${i}]: ${name} is not in the capability bounding set of this host (tsrt's CapBnd is ${bnd.toString(16).padStart(16, '0')}), so it cannot be granted`);
      }
    });
  }
}

/** linux.intelRdt needs a mounted resctrl filesystem (config-linux.md: otherwise an error). */
export function checkIntelRdt(spec: Spec): void {
  if (!spec.linux?.intelRdt) return;
  let mounted = false;
  try {
    mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' - ')[1]?.startsWith('resctrl '));
  } catch {
    mounted = false;
  }
  if (!mounted) throw new ConfigError('linux.intelRdt: Intel RDT is not available on this host (no resctrl filesystem is mounted at /sys/fs/resctrl)');
  throw new ConfigError('linux.intelRdt: not supported by tsrt yet (resctrl is mounted, but tsrt does not manage CLOS groups)');
}
