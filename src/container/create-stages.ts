// The stages of `create` (create.ts composes them). Their order is a security property:
// the state is on disk, with the planned cgroup paths, before the first clone() or
// mkdir; the seccomp agent is connected before the clone; the container's lock is held
// from claim to ready. Undos run in reverse: kill the processes, detach host mounts,
// remove cgroups, remove the state dir.
import { chmodSync, openSync, readFileSync, realpathSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { validateConfig, requireProcess, checkTerminalSocket } from '../oci/validate-config';
import { O } from '../libc/constants';
import { libc } from '../libc/libc';
import { writeProcFile } from '../libc/proc-write';
import { readReport } from '../plan/run-plan';
import { planNamespaces, type NamespacePlan } from '../linux/namespaces';
import { buildInitPlan } from '../linux/init-plan';
import { runHook, runHooks } from '../hooks/run-hooks';
import { runHookInMountNs } from '../hooks/hook-in-container';
import { StateStore, hookState, type SavedState } from './state-store';
import { procStat } from './status';
import { ConfigError, TsrtError } from '../util/errors';
import { describePlan } from '../plan/describe-plan';
import { plannedCgroupPaths, setupCgroups, type CgroupSetup } from '../cgroups/setup';
import { seccompProcessState } from '../linux/security';
import { seccompUsesNotify } from '../linux/seccomp';
import { detachContainerMounts, rootfsMountsNow, sharesMountNamespace } from './shared-mounts';
import { moveNetDevices } from '../linux/net-devices';
import { hostSideBindSources, sendHostSources } from '../linux/mount-sources';
import { checkExecutable } from '../linux/process-setup';
import { warmCgroupAttach } from '../cgroups/warm-attach';
import { logDebug, logWarn } from '../cli/log';
import type { Stage } from './pipeline';
import { killAndReap, pidFileStage, pipesStage, seccompListenerStage, seccompStateStage, startChild, unexpectedReport, warmCgroupsStage, type LaunchCtx } from './launch-stages';
import type { CreateOptions } from './create';

type IdMap = { containerID: number; hostID: number; size: number };

export interface CreateCtx extends LaunchCtx {
  o: CreateOptions;
  /** load-config */
  bundle: string;
  rootfs: string;
  execPath: string | undefined;
  store: StateStore;
  /** exec-fifo: an O_PATH fd of the fifo (999 in a printed plan) */
  fifoFd: number;
  /** the console socket: run's own (o.consoleFd), or connected by console-socket */
  consoleSocketFd?: number;
  /** namespaces */
  ns: NamespacePlan;
  /** hook-pipes: the stdin of each startContainer hook ([read, write]) */
  hookPipes: [number, number][];
  /** host-sources: bind sources the container's user namespace cannot reach */
  sources: ReturnType<typeof hostSideBindSources>;
  sourceSocket?: [number, number];
  /** plan-cgroups; cgroups once they are made */
  cgroupPaths: Record<string, string>;
  cgroups?: CgroupSetup;
  /** note-mounts: what was mounted on the rootfs before (init sharing tsrt's mount namespace) */
  mountsBefore?: ReturnType<typeof rootfsMountsNow>;
  /** record-state */
  state: SavedState;
}

/** The bundle's path, its config (validated, the console socket checked against process.terminal) and the rootfs's path; create and restore share it. */
export function openBundle(bundleOpt: string | undefined, consoleSocket: string | undefined, interactive: boolean): { bundle: string; spec: Spec; rootfs: string } {
  const bundle = resolve(bundleOpt || '.');
  const spec = loadBundleConfig(bundle);
  checkTerminalSocket(spec, consoleSocket, { interactive });
  return { bundle, spec, rootfs: resolve(bundle, spec.root?.path ?? 'rootfs') };
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
function hostIdOf(maps: IdMap[] | undefined, id: number): number {
  for (const m of maps ?? []) if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + id - m.containerID;
  return id;
}

function writeIdMaps(pid: number, spec: Spec): void {
  const fmt = (maps: IdMap[]) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
  writeProcFile(`${pid}/uid_map`, fmt(spec.linux?.uidMappings ?? []), 'linux.uidMappings');
  // Unprivileged, the kernel takes a gid_map only once setgroups is denied.
  if (process.geteuid?.() !== 0) writeProcFile(`${pid}/setgroups`, 'deny', 'linux.gidMappings (setgroups)');
  writeProcFile(`${pid}/gid_map`, fmt(spec.linux?.gidMappings ?? []), 'linux.gidMappings');
}

/** --preserve-fds plus systemd socket activation fds (LISTEN_FDS), as runc counts them. */
function preservedFdCount(preserve: number): number {
  const listen = Number(process.env.LISTEN_FDS ?? 0);
  return preserve + (Number.isInteger(listen) && listen > 0 ? listen : 0);
}

const setupFailed = (r: ReturnType<typeof readReport>): never => unexpectedReport(r, 'ESETUP', 'container init exited before it was ready');

const loadConfig: Stage<CreateCtx> = {
  name: 'load-config',
  run(c) {
    const { o } = c;
    ({ bundle: c.bundle, spec: c.spec, rootfs: c.rootfs } = openBundle(o.bundle, o.consoleSocket, o.consoleFd !== undefined));
    try {
      if (!statSync(c.rootfs).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new ConfigError(`root.path: ${c.rootfs}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    c.execPath = checkExecutable(c.spec, c.rootfs, c.spec.process?.env ?? []);
    logDebug(`create ${o.id}: bundle ${c.bundle}, rootfs ${c.rootfs}, process ${JSON.stringify(c.execPath ?? c.spec.process?.args?.[0])}`);
    c.store = new StateStore(o.root);
  },
};

/** Claims the id (the state directory); create and restore share it. */
export const claimId: Stage<{ store: StateStore; o: { id: string } }> = {
  name: 'claim-id',
  run: (c) => c.store.claim(c.o.id),
  undo: (c) => c.store.remove(c.o.id),
};

/** Held for the whole create, so a concurrent delete/kill/start waits for a complete state instead of a half-made directory. */
const lock: Stage<CreateCtx> = {
  name: 'lock',
  run(c) {
    const fd = openSync(c.store.dir(c.o.id), 'r');
    c.fds.add(fd);
    libc.flock(fd, 2 /* LOCK_EX */);
  },
};

const execFifo: Stage<CreateCtx> = {
  name: 'exec-fifo',
  run(c) {
    const fifo = c.store.fifoPath(c.o.id);
    libc.mkfifo(fifo, 0o622);
    const { chownSync } = require('node:fs') as typeof import('node:fs');
    const [fifoUid, fifoGid] = [hostIdOf(c.spec.linux?.uidMappings, 0), hostIdOf(c.spec.linux?.gidMappings, 0)];
    try {
      chownSync(fifo, fifoUid, fifoGid);
    } catch (e) {
      // Unprivileged (rootless), only the caller's own ids can be mapped.
      throw new TsrtError('EIDMAP', `linux.uidMappings: container root maps to host ${fifoUid}:${fifoGid}, which uid ${process.geteuid?.()} cannot use: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    // mkfifo applied tsrt's umask (0600 left): the init may run as a non-root
    // process.user or as an unmapped id and must still open the fifo for writing.
    chmodSync(fifo, 0o622);
    c.fifoFd = openSync(fifo, O.PATH | O.CLOEXEC);
    c.fds.add(c.fifoFd);
  },
};

const consoleSocket: Stage<CreateCtx> = {
  name: 'console-socket',
  when: (c) => !!c.spec.process?.terminal && c.consoleSocketFd === undefined && !!c.o.consoleSocket,
  run(c) {
    c.consoleSocketFd = libc.unixConnect(resolve(c.o.consoleSocket!));
    c.fds.add(c.consoleSocketFd);
    c.childEnds.push(c.consoleSocketFd);
  },
};

const namespaces: Stage<CreateCtx> = {
  name: 'namespaces',
  run(c) {
    c.ns = planNamespaces(c.spec);
    c.ns.joined.forEach((j) => c.fds.add(j.fd));
  },
};

const hookPipes: Stage<CreateCtx> = {
  name: 'hook-pipes',
  run(c) {
    c.hookPipes = (c.spec.hooks?.startContainer ?? []).map(() => libc.pipe2(O.CLOEXEC));
    for (const [r, w] of c.hookPipes) { c.fds.add(r, w); c.childEnds.push(r); }
  },
};

const hostSources: Stage<CreateCtx> = {
  name: 'host-sources',
  run(c) {
    c.sources = hostSideBindSources(c.spec, c.bundle, c.ns.newUser);
    c.sourceSocket = c.sources.length && !c.o.printPlan ? libc.socketpair() : undefined;
    if (c.sourceSocket) { c.fds.add(...c.sourceSocket); c.childEnds.push(c.sourceSocket[0]); }
  },
};

/** The paths are decided here; the undo removes the cgroups the cgroups stage made (after the processes are killed). */
const planCgroups: Stage<CreateCtx> = {
  name: 'plan-cgroups',
  run(c) { c.cgroupPaths = plannedCgroupPaths(c.spec, c.o.id, { systemdCgroup: !!c.o.systemdCgroup }); },
  undo: (c) => c.cgroups?.rollback(),
};

type SystemdDriver = typeof import('../cgroups/systemd/driver');
const systemdDriver = () => require('../cgroups/systemd/driver') as SystemdDriver;

/** --systemd-cgroup: systemd must answer before anything is made (a clear error naming what was tried, nothing left). */
const systemdCheck: Stage<CreateCtx> = {
  name: 'systemd-check',
  when: (c) => !!c.o.systemdCgroup,
  run: () => systemdDriver().checkSystemd(),
};

/**
 * --systemd-cgroup: systemd makes the container's cgroup, a transient scope holding the
 * init, before the cgroups stage writes the rest of the limits into it. The unit goes on
 * disk only once systemd made it for us: a name that was taken (another container's, or
 * a slice such as system.slice that a config names) is never stopped by our delete. A
 * kill -9 in between leaves a scope holding only the init, which `delete --force` kills:
 * systemd then removes the empty scope itself.
 */
const systemdScope: Stage<CreateCtx> = {
  name: 'systemd-scope',
  when: (c) => !!c.o.systemdCgroup,
  async run(c) {
    c.state.systemdUnit = await systemdDriver().startContainerScope(c.spec, c.o.id, c.pid);
    c.store.save(c.state);
    logDebug(`create ${c.o.id}: systemd started ${c.state.systemdUnit}`);
  },
  async undo(c) {
    // The scope stops once it is empty; the stages before reap the init. A pid already
    // reaped (a failed create hook did) may be another process now: its start time tells.
    if (procStat(c.pid)?.startTime === c.state.pidStartTime) {
      try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await systemdDriver().stopContainerUnit(c.state.systemdUnit!).catch((e: Error) => logWarn(e.message));
  },
};

const buildPlan: Stage<CreateCtx> = {
  name: 'build-plan',
  run(c) {
    const { o, spec } = c;
    const hooksPause = (['prestart', 'createRuntime', 'createContainer'] as const).some((k) => (spec.hooks?.[k]?.length ?? 0) > 0);
    const { plan, cloneFlags } = buildInitPlan({
      spec, bundle: c.bundle, rootfs: c.rootfs, ns: c.ns, reportFd: c.reportW, reportReadFd: c.reportR, syncFd: c.syncR, fifoFd: c.fifoFd, noPivot: !!o.noPivot,
      keepFds: preservedFdCount(o.preserveFds ?? 0), hooksPause, id: o.id, noNewKeyring: !!o.noNewKeyring, startHookStdin: c.hookPipes.map(([r]) => r),
      consoleSocketFd: spec.process?.terminal ? c.consoleSocketFd ?? 998 : undefined,
      seccompNotify: c.notify ?? (seccompUsesNotify(spec.linux?.seccomp) ? { socketFd: 997, stateReadFd: 996 } : undefined),
      cgroupPaths: c.cgroupPaths,
      hostSources: c.sources.length ? { socketFd: c.sourceSocket?.[0] ?? 995, sources: c.sources } : undefined,
      execPath: c.execPath,
      stdioPipes: o.stdioPipes,
      stdio: o.stdio,
    });
    c.plan = plan;
    c.cloneFlags = cloneFlags;
    logDebug(`create ${o.id}: init plan of ${plan.steps.length} steps, clone flags 0x${cloneFlags.toString(16)}${c.ns.twoStage ? ', two stages' : ''}`);
  },
};

const printPlan: Stage<CreateCtx> = {
  name: 'print-plan',
  run: (c) => { process.stdout.write(describePlan(c.plan, c.cloneFlags)); },
};

/** Sharing tsrt's mount namespace, the init's mounts stay there: a failed create (and delete) detach what was not there before (shared-mounts.ts). */
const noteMounts: Stage<CreateCtx> = {
  name: 'note-mounts',
  when: (c) => sharesMountNamespace(c.spec),
  run(c) { c.mountsBefore = rootfsMountsNow(realpathSync(c.rootfs)); },
  undo(c) { detachContainerMounts(realpathSync(c.rootfs), c.mountsBefore!, () => {}); },
};

/** On disk before the first process or cgroup exists: a create killed from here on leaves a state that `delete --force` reads (recovery.json first: state-store.ts). */
const recordState: Stage<CreateCtx> = {
  name: 'record-state',
  run(c) {
    const { o, spec } = c;
    c.state = {
      ociVersion: spec.ociVersion, id: o.id, pid: 0, pidStartTime: '',
      bundle: c.bundle, rootfs: c.rootfs, created: new Date().toISOString(), owner: '',
      annotations: spec.annotations, creating: true, cgroupPaths: c.cgroupPaths, config: spec, rootfsMounts: c.mountsBefore,
    };
    c.store.save(c.state);
  },
};

const startInit: Stage<CreateCtx> = {
  name: 'start-init',
  run(c) {
    warmCgroupAttach(); // keeps the lock's writer mode until the cgroups stage
    startChild(c);
  },
  // Once reaped (two stages, below) its pid may belong to another process: 0 then.
  undo: (c) => { if (c.first > 0) killAndReap(c.first); },
};

/** Two stages: the first process joined the namespaces and cloned the init inside them; it reports the init's pid and exits. */
const initPid: Stage<CreateCtx> = {
  name: 'join-namespaces',
  when: (c) => c.ns.twoStage,
  run(c) {
    const r = readReport(c.plan, c.reportR);
    if (r.kind !== 'pid') setupFailed(r);
    c.pid = (r as { pid: number }).pid;
    libc.waitpid(c.first, 0);
    c.first = 0;
  },
  undo: (c) => killAndReap(c.pid),
};

/** Saved before the init is released (it waits on the sync pipe, and exits if we die). */
const recordPid: Stage<CreateCtx> = {
  name: 'record-pid',
  run(c) {
    c.state.pid = c.pid;
    c.state.pidStartTime = procStat(c.pid)?.startTime ?? '';
    c.store.save(c.state);
    logDebug(`create ${c.o.id}: init started, pid ${c.pid}`);
  },
};

const idMaps: Stage<CreateCtx> = {
  name: 'write-id-maps',
  when: (c) => c.ns.newUser,
  run: (c) => writeIdMaps(c.pid, c.spec),
};

const cgroups: Stage<CreateCtx> = {
  name: 'cgroups',
  run(c) {
    const { state } = c;
    c.cgroups = setupCgroups(c.spec, c.o.id, c.pid, { systemdCgroup: !!c.o.systemdCgroup, scopeStarted: !!state.systemdUnit });
    if (JSON.stringify(c.cgroups.paths) !== JSON.stringify(state.cgroupPaths)) {
      state.cgroupPaths = c.cgroups.paths;
      c.store.save(state);
    }
    logDebug(`create ${c.o.id}: ${c.ns.newUser ? 'id maps written, ' : ''}cgroups ${JSON.stringify(c.cgroups.paths)}`);
  },
};

const netDevices: Stage<CreateCtx> = { name: 'net-devices', run: (c) => moveNetDevices(c.spec, c.pid) };

const sendSources: Stage<CreateCtx> = {
  name: 'send-host-sources',
  when: (c) => c.sourceSocket !== undefined,
  run: (c) => sendHostSources(c.pid, c.sourceSocket![1], c.sources),
};

const oomScore: Stage<CreateCtx> = {
  name: 'oom-score',
  when: (c) => c.spec.process?.oomScoreAdj !== undefined,
  run: (c) => writeProcFile(`${c.pid}/oom_score_adj`, String(c.spec.process!.oomScoreAdj), 'process.oomScoreAdj'),
};

const startHookState: Stage<CreateCtx> = {
  name: 'start-hook-state',
  run(c) {
    for (const [, w] of c.hookPipes) {
      writeSync(w, hookState(c.state, 'created'));
      c.fds.close(w);
    }
  },
};

const releaseInit: Stage<CreateCtx> = { name: 'release-init', run: (c) => { writeSync(c.syncW, '1'); } };

/** The init pauses after its mounts while the hooks run, as often as it reports HOOKS, until it reports READY. */
const createHooks: Stage<CreateCtx> = {
  name: 'create-hooks',
  async run(c) {
    const { spec, o } = c;
    for (;;) {
      const r = readReport(c.plan, c.reportR);
      if (r.kind === 'ready') break;
      if (r.kind !== 'hooks') setupFailed(r);
      const st = hookState(c.state, 'creating');
      logDebug(`create ${o.id}: running the prestart, createRuntime and createContainer hooks`);
      try {
        await runHooks(spec.hooks?.prestart, st, 'prestart', c.bundle);
        await runHooks(spec.hooks?.createRuntime, st, 'createRuntime', c.bundle);
        (spec.hooks?.createContainer ?? []).forEach((h, i) => runHookInMountNs(h, st, 'createContainer', i, c.pid, c.rootfs, spec.process?.env ?? [])); // as runc: the config's env, before HOME is added
      } catch (e) {
        // runtime.md, Lifecycle: a failing create hook stops the container and the
        // lifecycle continues at the poststop hooks (each failure only a warning), as runc.
        killAndReap(c.pid);
        await runPoststopAfterFailure(c, hookState({ ...c.state, pid: 0 }, 'stopped'));
        throw e;
      }
      writeSync(c.syncW, '1');
    }
  },
};

async function runPoststopAfterFailure(c: CreateCtx, st: string): Promise<void> {
  for (const [i, h] of (c.spec.hooks?.poststop ?? []).entries()) {
    try {
      await runHook(h, st, 'poststop', i, c.bundle);
    } catch (e) {
      logWarn((e as Error).message);
    }
  }
}

const ready: Stage<CreateCtx> = {
  name: 'ready',
  run(c) {
    delete c.state.creating;
    c.store.save(c.state);
    logDebug(`create ${c.o.id}: created (the init waits on ${c.store.fifoPath(c.o.id)})`);
  },
};

/** `create --print-plan`: the plan as it would run, with placeholder fds for what only a real create opens. */
export const printPlanStages: Stage<CreateCtx>[] = [loadConfig, namespaces, pipesStage, hookPipes, hostSources, planCgroups, buildPlan, printPlan];

export const createStages: Stage<CreateCtx>[] = [
  warmCgroupsStage, loadConfig, claimId, lock, execFifo, consoleSocket, seccompListenerStage, namespaces, pipesStage, hookPipes, hostSources, planCgroups, systemdCheck, buildPlan,
  noteMounts, recordState, startInit, initPid, recordPid, idMaps, systemdScope, cgroups, netDevices, sendSources,
  seccompStateStage<CreateCtx>((c) => seccompProcessState(c.spec, c.state)),
  oomScore, startHookState, releaseInit, createHooks, ready, pidFileStage,
];
