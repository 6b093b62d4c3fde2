// `create`: validate the bundle, claim the id, start the init plan, feed it what only
// the parent can do (id maps, hooks), and record the state. Any failure undoes every
// step taken so far: no state dir, no process, no fifo is left behind.
import { chmodSync, closeSync, openSync, readFileSync, realpathSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { validateConfig, requireProcess, checkTerminalSocket } from '../oci/validate-config';
import { O } from '../libc/constants';
import { libc } from '../libc/libc';
import { writeProcFile } from '../libc/proc-write';
import { readReport, startPlan } from '../plan/run-plan';
import type { Plan } from '../plan/plan';
import { planNamespaces } from '../linux/namespaces';
import { buildInitPlan } from '../linux/init-plan';
import { runHooks } from '../hooks/run-hooks';
import { runHookInMountNs } from '../hooks/hook-in-container';
import { StateStore, hookState, writePidFile, type SavedState } from './state-store';
import { procStat } from './status';
import { ConfigError, TsrtError } from '../util/errors';
import { describePlan } from '../plan/describe-plan';
import { plannedCgroupPaths, setupCgroups } from '../cgroups/setup';
import { openSeccompListener, seccompProcessState } from '../linux/security';
import { seccompUsesNotify } from '../linux/seccomp';
import { detachContainerMounts, rootfsMountsNow, sharesMountNamespace } from './shared-mounts';
import { moveNetDevices } from '../linux/net-devices';
import { hostSideBindSources, sendHostSources } from '../linux/mount-sources';
import { checkExecutable } from '../linux/process-setup';
import { warmCgroupAttach } from '../cgroups/warm-attach';
import { logDebug } from '../cli/log';

export interface CreateOptions {
  root: string;
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  /** an already connected console socket (foreground run hosting the terminal itself) */
  consoleFd?: number;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** keep the report pipe open (run: to learn whether execve succeeded) */
  keepReport?: boolean;
  /** cgroupsPath is slice:prefix:name (--systemd-cgroup) */
  systemdCgroup?: boolean;
  /** print the plan instead of running it */
  printPlan?: boolean;
}

export interface Created {
  store: StateStore;
  state: SavedState;
  plan: Plan;
  /** read end of the report pipe when keepReport was asked for */
  reportFd?: number;
}

export function loadBundleConfig(bundle: string): Spec {
  const file = resolve(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  const spec = validateConfig(raw);
  requireProcess(spec);
  return spec;
}

/** Host uid/gid that container id 0 maps to (fifo ownership). */
function hostIdOf(maps: { containerID: number; hostID: number; size: number }[] | undefined, id: number): number {
  for (const m of maps ?? []) if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + id - m.containerID;
  return id;
}

function writeIdMaps(pid: number, spec: Spec): void {
  const fmt = (maps: { containerID: number; hostID: number; size: number }[]) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
  writeProcFile(`${pid}/uid_map`, fmt(spec.linux?.uidMappings ?? []), 'linux.uidMappings');
  // Unprivileged, the kernel takes a gid_map only once setgroups is denied.
  if (process.geteuid?.() !== 0) writeProcFile(`${pid}/setgroups`, 'deny', 'linux.gidMappings (setgroups)');
  writeProcFile(`${pid}/gid_map`, fmt(spec.linux?.gidMappings ?? []), 'linux.gidMappings');
}


export async function createContainer(o: CreateOptions): Promise<Created> {
  // First thing: the kernel's grace period runs while the config is read and the plan
  // built, and is over before the cgroups are made (cgroups/warm-attach.ts).
  if (!o.printPlan) warmCgroupAttach();
  const bundle = resolve(o.bundle || '.');
  const spec = loadBundleConfig(bundle);
  checkTerminalSocket(spec, o.consoleSocket, { interactive: o.consoleFd !== undefined });
  const rootfs = resolve(bundle, spec.root?.path ?? 'rootfs');
  try {
    if (!statSync(rootfs).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new ConfigError(`root.path: ${rootfs}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const execPath = checkExecutable(spec, rootfs, spec.process?.env ?? []);
  logDebug(`create ${o.id}: bundle ${bundle}, rootfs ${rootfs}, process ${JSON.stringify(execPath ?? spec.process?.args?.[0])}`);
  const store = new StateStore(o.root);
  const undo: (() => void)[] = [];
  // fds the parent opened for the child; each closed exactly once (numbers get reused).
  const closeLater = new Set<number>();
  const safeClose = (fd: number) => {
    if (!closeLater.delete(fd)) return;
    try { closeSync(fd); } catch { /* already closed */ }
  };
  const closeAll = () => [...closeLater].forEach(safeClose);
  let lockFd: number | undefined;
  if (!o.printPlan) {
    store.claim(o.id);
    undo.push(() => store.remove(o.id));
    // Hold the container's lock for the whole create, so a concurrent delete/kill/start
    // waits for a complete state instead of seeing a half-made directory.
    lockFd = openSync(store.dir(o.id), 'r');
    closeLater.add(lockFd);
    libc.flock(lockFd, 2 /* LOCK_EX */);
  }
  try {
    const fifo = store.fifoPath(o.id);
    let fifoFd = 999;
    if (!o.printPlan) {
      libc.mkfifo(fifo, 0o622);
      const { chownSync } = require('node:fs') as typeof import('node:fs');
      const [fifoUid, fifoGid] = [hostIdOf(spec.linux?.uidMappings, 0), hostIdOf(spec.linux?.gidMappings, 0)];
      try {
        chownSync(fifo, fifoUid, fifoGid);
      } catch (e) {
        // Unprivileged (rootless), only the caller's own ids can be mapped.
        throw new TsrtError('EIDMAP', `linux.uidMappings: container root maps to host ${fifoUid}:${fifoGid}, which uid ${process.geteuid?.()} cannot use: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      // mkfifo applied tsrt's umask (0600 left): the init may run as a non-root
      // process.user or as an unmapped id and must still open the fifo for writing.
      chmodSync(fifo, 0o622);
      fifoFd = openSync(fifo, O.PATH | O.CLOEXEC);
      closeLater.add(fifoFd);
    }
    let consoleSocketFd = o.consoleFd;
    if (spec.process?.terminal && consoleSocketFd === undefined && o.consoleSocket && !o.printPlan) {
      consoleSocketFd = libc.unixConnect(resolve(o.consoleSocket));
      closeLater.add(consoleSocketFd);
    }
    // SCMP_ACT_NOTIFY: the agent's socket is connected now, so a bad listenerPath fails here.
    const notify = o.printPlan ? undefined : openSeccompListener(spec);
    if (notify) [notify.socketFd, notify.stateReadFd, notify.stateWriteFd].forEach((fd) => closeLater.add(fd));
    const ns = planNamespaces(spec);
    ns.joined.forEach((j) => closeLater.add(j.fd));
    const [reportR, reportW] = libc.pipe2(O.CLOEXEC);
    const [syncR, syncW] = libc.pipe2(O.CLOEXEC);
    [reportR, reportW, syncR, syncW].forEach((fd) => closeLater.add(fd));
    const startHooks = spec.hooks?.startContainer ?? [];
    const hookPipes = startHooks.map(() => libc.pipe2(O.CLOEXEC));
    for (const [r, w] of hookPipes) { closeLater.add(r); closeLater.add(w); }
    const createHooks = ['prestart', 'createRuntime', 'createContainer'] as const;
    const hooksPause = createHooks.some((k) => (spec.hooks?.[k]?.length ?? 0) > 0);
    // Bind sources the container's user namespace cannot reach come from the host side.
    const sources = hostSideBindSources(spec, bundle, ns.newUser);
    const sourceSocket = sources.length && !o.printPlan ? libc.socketpair() : undefined;
    sourceSocket?.forEach((fd) => closeLater.add(fd));
    const cgroupPaths = plannedCgroupPaths(spec, o.id, { systemdCgroup: !!o.systemdCgroup });
    const { plan, cloneFlags } = buildInitPlan({
      spec, bundle, rootfs, ns, reportFd: reportW, reportReadFd: reportR, syncFd: syncR, fifoFd, noPivot: !!o.noPivot,
      keepFds: preservedFdCount(o.preserveFds ?? 0), hooksPause, id: o.id, noNewKeyring: !!o.noNewKeyring, startHookStdin: hookPipes.map(([r]) => r),
      consoleSocketFd: spec.process?.terminal ? consoleSocketFd ?? 998 : undefined,
      seccompNotify: notify ?? (seccompUsesNotify(spec.linux?.seccomp) ? { socketFd: 997, stateReadFd: 996 } : undefined),
      cgroupPaths,
      hostSources: sources.length ? { socketFd: sourceSocket?.[0] ?? 995, sources } : undefined,
      execPath,
      foreground: !!o.keepReport,
    });
    logDebug(`create ${o.id}: init plan of ${plan.steps.length} steps, clone flags 0x${cloneFlags.toString(16)}${ns.twoStage ? ', two stages' : ''}`);
    if (o.printPlan) {
      process.stdout.write(describePlan(plan, cloneFlags));
      closeAll();
      return { store, plan, state: undefined as unknown as SavedState };
    }

    // Sharing tsrt's mount namespace, the init's mounts stay there: note what was on the
    // rootfs before, so a failed create and delete detach the rest (shared-mounts.ts).
    const mountsBefore = sharesMountNamespace(spec) ? rootfsMountsNow(realpathSync(rootfs)) : undefined;
    if (mountsBefore) undo.splice(1, 0, () => detachContainerMounts(realpathSync(rootfs), mountsBefore, () => {}));
    // On disk before the first process or cgroup exists: a create killed from here on
    // leaves a state that `delete --force` reads (recovery.json first: state-store.ts).
    const state: SavedState = {
      ociVersion: spec.ociVersion, id: o.id, pid: 0, pidStartTime: '',
      bundle, rootfs, created: new Date().toISOString(), owner: '',
      annotations: spec.annotations, creating: true, cgroupPaths, config: spec, rootfsMounts: mountsBefore,
    };
    store.save(state);

    warmCgroupAttach(); // keeps the lock's writer mode until the join below
    const first = startPlan(plan, cloneFlags, reportW);
    undo.push(() => { try { process.kill(first, 'SIGKILL'); libc.waitpid(first, 0); } catch { /* gone */ } });
    safeClose(reportW);
    safeClose(syncR);
    if (consoleSocketFd !== undefined && o.consoleFd === undefined) safeClose(consoleSocketFd);
    for (const [r] of hookPipes) safeClose(r);
    if (notify) { safeClose(notify.socketFd); safeClose(notify.stateReadFd); }
    if (sourceSocket) safeClose(sourceSocket[0]);
    let pid = first;
    const fail = (r: ReturnType<typeof readReport>): never => {
      if (r.kind === 'error') throw new TsrtError('ESETUP', r.message);
      throw new TsrtError('ESETUP', 'container init exited before it was ready');
    };
    if (ns.twoStage) {
      const r = readReport(plan, reportR);
      if (r.kind !== 'pid') fail(r);
      pid = (r as { pid: number }).pid;
      libc.waitpid(first, 0);
      undo.push(() => { try { process.kill(pid, 'SIGKILL'); libc.waitpid(pid, 0); } catch { /* gone */ } });
    }
    // Saved before the init is released (it waits on the sync pipe, and exits if we die).
    state.pid = pid;
    state.pidStartTime = procStat(pid)?.startTime ?? '';
    store.save(state);
    logDebug(`create ${o.id}: init started, pid ${pid}`);

    if (ns.newUser) writeIdMaps(pid, spec);
    const cgroups = setupCgroups(spec, o.id, pid, { systemdCgroup: !!o.systemdCgroup });
    // Runs after the init is killed (undo runs in reverse; index 0 removes the state dir).
    undo.splice(1, 0, () => cgroups.rollback());
    if (JSON.stringify(cgroups.paths) !== JSON.stringify(state.cgroupPaths)) {
      state.cgroupPaths = cgroups.paths;
      store.save(state);
    }
    logDebug(`create ${o.id}: ${ns.newUser ? 'id maps written, ' : ''}cgroups ${JSON.stringify(cgroups.paths)}`);
    moveNetDevices(spec, pid);
    if (sourceSocket) sendHostSources(pid, sourceSocket[1], sources);
    if (notify) {
      writeSync(notify.stateWriteFd, seccompProcessState(spec, state));
      safeClose(notify.stateWriteFd);
    }
    if (spec.process?.oomScoreAdj !== undefined) writeProcFile(`${pid}/oom_score_adj`, String(spec.process.oomScoreAdj), 'process.oomScoreAdj');
    for (const [, w] of hookPipes) {
      writeSync(w, hookState(state, 'created'));
      safeClose(w);
    }
    writeSync(syncW, '1');
    for (;;) {
      const r = readReport(plan, reportR);
      if (r.kind === 'ready') break;
      if (r.kind !== 'hooks') fail(r);
      const st = hookState(state, 'creating');
      logDebug(`create ${o.id}: running the prestart, createRuntime and createContainer hooks`);
      await runHooks(spec.hooks?.prestart, st, 'prestart', bundle);
      await runHooks(spec.hooks?.createRuntime, st, 'createRuntime', bundle);
      (spec.hooks?.createContainer ?? []).forEach((h, i) => runHookInMountNs(h, st, 'createContainer', i, pid, rootfs));
      writeSync(syncW, '1');
    }
    delete state.creating;
    store.save(state);
    logDebug(`create ${o.id}: created (the init waits on ${store.fifoPath(o.id)})`);
    if (o.pidFile) writePidFile(resolve(o.pidFile), pid);
    if (o.keepReport) closeLater.delete(reportR);
    closeAll();
    return { store, state, plan, reportFd: o.keepReport ? reportR : undefined };
  } catch (e) {
    for (const u of undo.reverse()) u();
    closeAll();
    throw e;
  }
}

/** --preserve-fds plus systemd socket activation fds (LISTEN_FDS), as runc counts them. */
function preservedFdCount(preserve: number): number {
  const listen = Number(process.env.LISTEN_FDS ?? 0);
  return preserve + (Number.isInteger(listen) && listen > 0 ? listen : 0);
}
