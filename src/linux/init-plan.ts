// The container's init, top to bottom: the one place that decides the order of setup.
// Each block names why it is where it is; the blocks build their steps in their modules.
import type { Hook, Spec } from '../oci/spec-types';
import { CLONE, O, PR, S_IFIFO, SIGCHLD } from '../libc/constants';
import { Plan } from '../plan/plan';
import { MSG } from '../plan/run-plan';
import type { NamespacePlan } from './namespaces';
import { buildFinalMountSteps, buildMountSteps, buildPivotSteps, hasProcOnProc, type RootfsInput } from './rootfs';
import { buildMaskSourceSteps, buildPathProtectionSteps } from './path-protection';
import { buildExecCheckStep, buildInitExecSteps, buildFdSteps, buildNewSessionStep, buildRlimitSteps, buildSignalResetSteps, buildUserAndCapSteps, processEnv } from './process-setup';
import { buildLoopbackUpSteps } from './loopback';
import { ConfigError } from '../util/errors';
import { buildEnterAndCloneSteps, buildIntermediateExitSteps, type TwoStage } from './enter-namespaces';
import { buildConsoleSteps } from '../console/console-steps';
import { buildLsmSteps, buildProcessAttributeSteps, buildSeccompSteps, buildCwdCreateSteps, buildSafeChdirSteps, checkSecurityConfig, seccompNeedsCapSysAdmin } from './security';
import { buildSysctlSteps } from './sysctl';
import { buildProcWriteSteps, openProcFile, openProcRoot } from './proc-files';
import { checkFileType } from './file-checks';
import { buildCloseFdsSteps } from './inherited-fds';
import { buildWaitForParentSteps } from './parent-sync';
import { quote } from '../util/quote';
import { buildStdioOwnerSteps } from './stdio-owner';
import { buildGivenStdioSteps, type GivenStdio } from './given-stdio';

export interface InitPlanInput {
  spec: Spec;
  bundle: string;
  rootfs: string;
  ns: NamespacePlan;
  /** child's write end of the report pipe (errors, READY, PID, HOOKS messages) */
  reportFd: number;
  /** the parent's read end of that pipe, which the clone inherits */
  reportReadFd?: number;
  /** child's read end of the sync pipe (the parent writes one byte per release) */
  syncFd: number;
  /** O_PATH fd of exec.fifo: the init blocks opening it for writing until `start` */
  fifoFd: number;
  /** whether /proc is mounted in the container (the fifo is reopened through it) */
  noPivot: boolean;
  keepFds: number;
  id: string;
  /** --no-new-keyring: keep the caller's session keyring */
  noNewKeyring: boolean;
  /** pause after the mounts so the parent can run prestart/createRuntime/createContainer */
  hooksPause: boolean;
  /** per startContainer hook, the read end of a pipe that holds the state JSON */
  startHookStdin: number[];
  /** process.terminal: the connected console socket the pty master is sent over */
  consoleSocketFd?: number;
  /** SCMP_ACT_NOTIFY: socket connected to listenerPath, pipe with the process state */
  seccompNotify?: { socketFd: number; stateReadFd: number };
  /** bind sources the user namespace cannot reach, received over this socket (mount-sources.ts) */
  hostSources?: RootfsInput['hostSources'];
  /** `run` in the foreground without a terminal: the pipe ends that become fds 0-2 (given-stdio.ts) */
  stdioPipes?: GivenStdio;
  /** the init's stdio: these fds of the caller (given-stdio.ts, the shim); default the caller's own 0-2 */
  stdio?: GivenStdio;
  /** the container's cgroup directories, for a cgroup mount without a cgroup namespace */
  cgroupPaths?: Record<string, string>;
  /** process.args[0] as resolved in the rootfs at create (checkExecutable), if it could be */
  execPath?: string;
}

export interface InitPlan {
  plan: Plan;
  cloneFlags: number;
}

function message(plan: Plan, word: bigint, label: string): { blob: ReturnType<Plan['blob']> } {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(word, 0);
  return { blob: plan.blob(b, label) };
}

export function buildInitPlan(input: InitPlanInput): InitPlan {
  const { spec, ns } = input;
  const proc = spec.process;
  if (!proc) throw new ConfigError('config.json: process: required to create a container');
  // Without a mount namespace of its own (new or joined) the container's mounts are made
  // in tsrt's, as runc does; masking paths there would mask them for everyone, which
  // runc refuses in these words.
  if (!ns.has('mount') && ((spec.linux?.maskedPaths?.length ?? 0) > 0 || (spec.linux?.readonlyPaths?.length ?? 0) > 0)) {
    const field = spec.linux?.maskedPaths?.length ? 'linux.maskedPaths' : 'linux.readonlyPaths';
    throw new ConfigError(`${field}: unable to restrict sys entries without a private MNT namespace (add {"type": "mount"} to linux.namespaces)`);
  }
  if ((spec.hostname || spec.domainname) && !ns.has('uts')) {
    throw new ConfigError('hostname: setting the hostname needs a private UTS namespace (add {"type": "uts"} to linux.namespaces)');
  }
  checkSecurityConfig(spec, ns);
  // The init reaches the exec fifo through the container's /proc after pivot_root.
  if (!hasProcOnProc(spec, input.bundle)) {
    throw new ConfigError('mounts: tsrt needs /proc mounted in the container (a mount of type proc on /proc, or a bind of a procfs)');
  }
  const plan = new Plan();
  const report = input.reportFd;
  // An unprivileged parent writes our id maps itself: it needs setgroups denied first
  // (no setgroups in the plan then) and us dumpable while it writes (files under
  // /proc/PID of a non-dumpable process belong to root).
  const unprivilegedMaps = ns.newUser && process.geteuid?.() !== 0;

  // CVE-2019-5736: until execve this process is a copy of node; non-dumpable, nothing in
  // the container can open its /proc/PID/exe, environ, mem or fds. (A root parent is
  // already non-dumpable before clone: run-plan.ts.)
  const nonDumpable = () => plan.add('prctl', [PR.SET_DUMPABLE, 0, 0, 0, 0], 'become non-dumpable: no container process may open our /proc/PID/exe (CVE-2019-5736)');
  if (!unprivilegedMaps) nonDumpable();
  // node's signal handlers are addresses in a heap the child does not have.
  buildSignalResetSteps(plan);
  buildGivenStdioSteps(plan, input.stdioPipes ?? input.stdio);
  // Only the fds named here survive: not `tsrt create`'s flock (the init must not hold
  // the lock while it waits for `start`), not the write ends of the startContainer hooks'
  // stdin pipes (the hooks would never see EOF), nothing of node's.
  buildCloseFdsSteps(plan, input.keepFds, [
    report, input.syncFd, input.fifoFd, ...input.startHookStdin, ...ns.joined.map((j) => j.fd),
    ...(input.consoleSocketFd === undefined ? [] : [input.consoleSocketFd]),
    ...(input.seccompNotify ? [input.seccompNotify.socketFd, input.seccompNotify.stateReadFd] : []),
    ...(input.hostSources ? [input.hostSources.socketFd] : []),
  ], 'inherited fds');
  plan.add('prctl', [PR.SET_PDEATHSIG, 9, 0, 0, 0], 'die with the parent while it sets the container up');

  let cloneFlags = ns.cloneFlags | SIGCHLD;
  let twoStage: TwoStage | undefined;
  if (ns.twoStage) {
    cloneFlags = SIGCHLD;
    twoStage = buildEnterAndCloneSteps(plan, ns.joined, ns.cloneFlags, () => {
      if (ns.newTime) buildTimeNamespaceSteps(plan, spec);
    }, 'container init');
  }

  // The parent writes uid/gid maps and moves us into our cgroups meanwhile.
  const byte = plan.blob(Buffer.alloc(8), 'sync byte');
  buildWaitForParentSteps(plan, input.syncFd, byte, 'wait for the parent to set up ids and cgroups');
  if (ns.newUser) {
    // Our credentials are still the host's ids, unmapped in the new namespace: become
    // its root (mapped now) so files we create get an owner the namespace knows.
    // The ipc namespace comes between the two, where runc makes it (its nsexec sets the
    // uid, unshares, and its init sets the gid later): /dev/mqueue gets the mqueue root's
    // owner from our fsuid/fsgid then, uid 0 of the namespace and the (unmapped) host gid.
    plan.add('setresuid', [0, 0, 0], 'become uid 0 of the new user namespace');
    if (ns.unshareIpc) plan.add('unshare', [CLONE.NEWIPC], 'create the ipc namespace (as uid 0 of the user namespace: /dev/mqueue is its root\'s, as under runc)');
    plan.add('setresgid', [0, 0, 0], 'become gid 0 of the new user namespace');
  }
  if (unprivilegedMaps) nonDumpable();
  buildNewSessionStep(plan);
  if (ns.cloneFlags & CLONE.NEWNET) buildLoopbackUpSteps(plan);
  if (ns.unshareCgroup) {
    // After the cgroup join, so the namespace's root is the container's cgroup.
    plan.add('unshare', [CLONE.NEWCGROUP], 'create the cgroup namespace');
  }
  if (spec.hostname) plan.add('sethostname', [plan.cstr(spec.hostname), Buffer.byteLength(spec.hostname)], `set hostname ${quote(spec.hostname)}`);
  if (spec.domainname) plan.add('setdomainname', [plan.cstr(spec.domainname), Buffer.byteLength(spec.domainname)], `set domainname ${quote(spec.domainname)}`);
  plan.add('umask', [0], 'clear the umask so devices and dirs get their exact modes');
  if (!input.noNewKeyring) {
    // A session keyring of its own, so the container cannot reach the host's keys.
    plan.add('keyctl', [1 /* KEYCTL_JOIN_SESSION_KEYRING */, plan.cstr(`_ses.${input.id}`)], 'join a new session keyring', { okErrno: 38 });
  }

  const rootfsInput: RootfsInput = {
    spec, bundle: input.bundle, rootfs: input.rootfs, noPivot: input.noPivot,
    // a joined user namespace forbids mknod just as a new one does
    newUserNs: ns.has('user'), newMountNs: ns.has('mount'), newCgroupNs: ns.has('cgroup'), cgroupPaths: input.cgroupPaths, hostSources: input.hostSources,
  };
  buildMountSteps(plan, rootfsInput);

  if (input.hooksPause) {
    // prestart, createRuntime (host) and createContainer (our mount namespace) hooks.
    plan.add('write', [report, message(plan, MSG.HOOKS, 'hooks message').blob, 16], 'ask the parent to run the create hooks');
    buildWaitForParentSteps(plan, input.syncFd, byte, 'wait for the create hooks');
  }

  // What masks files must be taken from the host, before pivot_root leaves it behind.
  const maskSources = buildMaskSourceSteps(plan, spec);
  buildPivotSteps(plan, rootfsInput);
  if (input.consoleSocketFd !== undefined) {
    // After pivot_root: the pty must come from the container's own devpts.
    buildConsoleSteps(plan, { socketFd: input.consoleSocketFd, consoleSize: proc.consoleSize, bindDevConsole: true });
  }
  // A missing cwd is made now, before anything is read-only (runc's order).
  buildCwdCreateSteps(plan, proc.cwd);
  // sysctls go through /proc/sys, before readonlyPaths makes it read-only.
  buildSysctlSteps(plan, spec, ns);
  buildPathProtectionSteps(plan, spec, maskSources, input.rootfs);
  buildFinalMountSteps(plan, rootfsInput);
  buildRlimitSteps(plan, proc);
  buildSafeChdirSteps(plan, proc.cwd);
  buildProcessAttributeSteps(plan, spec);
  buildStdioOwnerSteps(plan, spec, input.consoleSocketFd !== undefined ? 'terminal' : input.stdioPipes ? 'pipes' : 'inherited', input.stdio);
  buildUserAndCapSteps(plan, proc, { setgroupsAllowed: !unprivilegedMaps, holdCapSysAdmin: seccompNeedsCapSysAdmin(spec) });
  plan.add('umask', [proc.user.umask ?? 0o022], `set umask ${(proc.user.umask ?? 0o022).toString(8)}`);
  if (proc.noNewPrivileges) plan.add('prctl', [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0], 'set no_new_privs');
  buildFdSteps(plan, input.keepFds);
  buildLsmSteps(plan, spec);
  buildExecCheckStep(plan, input.execPath ?? proc.args?.[0]);
  // Wait for `start`: the exec fifo is reopened (for writing) through the container's
  // /proc, the O_PATH fd the parent opened being the only way to reach it after pivot_root.
  // Checked before READY: tsrt's own FIFO, and a /proc/self/fd that is the kernel's (a
  // file the rootfs put there could be another FIFO, or a write target).
  const fifo = plan.slot('exec fifo fd');
  // The created init may wait for `start` a long time: it keeps only what the steps
  // after `start` use (not the rootfs fd or the mount targets of the setup).
  buildCloseFdsSteps(plan, input.keepFds, [
    report, input.fifoFd, ...input.startHookStdin,
    ...(input.seccompNotify ? [input.seccompNotify.socketFd, input.seccompNotify.stateReadFd] : []),
  ], 'setup fds');
  // Opened after the close above, which would take them too.
  checkFileType(plan, input.fifoFd, S_IFIFO, 'the exec fifo');
  const procRoot = openProcRoot(plan, 'exec fifo');
  const fdDir = openProcFile(plan, procRoot, 'self/fd', 'exec fifo', O.PATH | O.DIRECTORY | O.CLOEXEC);
  plan.add('close', [{ load: procRoot }], 'close /proc');
  // As runc: the filter is in place before `create` returns (the agent has its listener
  // then), so the wait for `start`, the startContainer hooks and execve run under it.
  // After the fd and fifo checks above, whose syscalls a profile need not allow.
  buildSeccompSteps(plan, spec, input.seccompNotify);
  plan.add('prctl', [PR.SET_PDEATHSIG, 0, 0, 0, 0], 'outlive `tsrt create`');
  plan.add('write', [report, message(plan, MSG.READY, 'ready message').blob, 16], 'tell the parent the container is created');
  plan.add('openat', [{ load: fdDir }, plan.cstr(String(input.fifoFd)), O.WRONLY | O.CLOEXEC, 0], 'wait for `tsrt start` (open the exec fifo)', { store: fifo });
  plan.add('close', [{ load: fdDir }], 'close /proc/self/fd');
  plan.add('write', [{ load: fifo }, plan.cstr('0'), 1], 'signal `tsrt start` through the exec fifo');
  plan.add('close', [{ load: fifo }], 'close the exec fifo');
  const env = processEnv(spec, input.rootfs);
  buildStartContainerHookSteps(plan, spec.hooks?.startContainer ?? [], input.startHookStdin, env);
  buildInitExecSteps(plan, proc.args ?? [], env, { writeFd: report, readFd: input.reportReadFd }, input.execPath);

  if (twoStage) buildIntermediateExitSteps(plan, report, twoStage);
  return { plan, cloneFlags };
}

function buildTimeNamespaceSteps(plan: Plan, spec: Spec): void {
  plan.add('unshare', [CLONE.NEWTIME], 'create the time namespace');
  const offsets = spec.linux?.timeOffsets ?? {};
  const clockIds: Record<string, number> = { monotonic: 1, boottime: 7 };
  const lines = Object.entries(offsets).map(([clock, o]) => {
    const id = clockIds[clock];
    if (id === undefined) throw new ConfigError(`linux.timeOffsets.${clock}: unknown clock (expected monotonic or boottime)`);
    return `${id} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`;
  });
  if (!lines.length) return;
  const text = lines.join('');
  buildProcWriteSteps(plan, [{ file: 'self/timens_offsets', value: text, field: `linux.timeOffsets (${text.trim().replace(/\n/g, '; ')})` }], 'linux.timeOffsets');
}

/** startContainer hooks run inside the container: fork, exec the hook, wait, check. */
/** A hook without env gets the container process's (runc runs these hooks in its init, whose environment is process.env then). */
function buildStartContainerHookSteps(plan: Plan, hooks: Hook[], stdinFds: number[], env: string[]): void {
  hooks.forEach((h, i) => {
    const what = `startContainer hook #${i} (${h.path})`;
    const pid = plan.slot(`${what} pid`);
    const status = plan.slot(`${what} status`);
    const waitLabel = plan.label(`wait ${what}`);
    plan.add('clone', [SIGCHLD, 0, 0, 0, 0], `fork for ${what}`, { store: pid, jumpIfNonzero: waitLabel });
    plan.add('dup3', [stdinFds[i]!, 0, 0], `give ${what} the state on stdin`);
    if (h.timeout) {
      // struct itimerval { interval {0,0}, value {timeout,0} }: SIGALRM ends the hook.
      const t = Buffer.alloc(32);
      t.writeBigInt64LE(BigInt(h.timeout), 16);
      plan.add('setitimer', [0, plan.blob(t, 'hook timer'), 0], `arm the ${h.timeout}s timeout of ${what}`);
    }
    plan.add('execve', [plan.cstr(h.path), plan.strArray(h.args ?? [h.path], 'hook argv'), plan.strArray(h.env ?? env, 'hook envp')], `exec ${what}`);
    plan.place(waitLabel);
    plan.add('wait4', [{ load: pid }, status, 0, 0], `wait for ${what}`);
    plan.check(status, 0xffffn, what, (st) => {
      const sig = st & 0x7f;
      if (sig === 14 && h.timeout) return `${what}: timed out after ${h.timeout}s`;
      return sig ? `${what}: killed by signal ${sig}` : `${what}: exited with status ${(st >> 8) & 0xff}`;
    });
  });
}
