// `exec`: start a new process inside a running container. tsrt stays its parent
// (CLONE_PARENT in the plan) in the foreground: signals are forwarded and the process's
// exit code is returned. The setup is a list of stages (pipeline.ts), several of them
// shared with create (launch-stages.ts).
import { openSync, writeSync } from 'node:fs';
import type { LinuxNamespace, Process, Spec } from '../oci/spec-types';
import { libc } from '../libc/libc';
import { readReport } from '../plan/run-plan';
import { NS_PROC_NAME, sortForJoining, type JoinedNamespace } from '../linux/namespaces';
import { buildExecPlan } from '../linux/exec-plan';
import { processEnv } from '../linux/process-setup';
import { buildExecProcess, type ExecFlags } from '../oci/exec-process';
import { joinCgroups } from '../cgroups/join';
import { ContainerError, TsrtError } from '../util/errors';
import { OwnedFds } from '../util/owned-fds';
import type { SavedState, StateStore } from './state-store';
import { callerWindowSize, proxyTerminal, type TerminalProxy } from '../console/proxy';
import { statusOf } from './status';
import { exitCodeOf, forwardSignals } from './foreground';
import { StdioPipes, hostRootOf } from './stdio-copy';
import { logDebug } from '../cli/log';
import { seccompProcessState } from '../linux/security';
import { runStages, type Stage } from './pipeline';
import type { GivenStdio } from '../linux/given-stdio';
import { killAndReap, pidFileStage, pipesStage, seccompListenerStage, seccompStateStage, startChild, unexpectedReport, warmCgroupsStage, type LaunchCtx } from './launch-stages';

export interface ExecOptions extends ExecFlags {
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: number;
  /** --cgroup: [CONTROLLER[,CONTROLLER]:]PATH sub-cgroups to join (cgroups/join.ts) */
  cgroup?: string[];
  ignorePaused: boolean;
  /** the process's stdio: these fds instead of this process's 0-2 (the shim; linux/given-stdio.ts) */
  stdio?: GivenStdio;
  /** an already connected console socket the pty master is sent over (the caller keeps it) */
  consoleFd?: number;
}

interface ExecCtx extends LaunchCtx {
  o: ExecOptions;
  store: StateStore;
  id: string;
  /** load-state: the container's state and the process to start */
  s: SavedState;
  proc: Process;
  spec: Spec & { process: Process };
  /** namespaces: the container's, opened through /proc/PID/ns */
  joined: JoinedNamespace[];
  /** console: the socket the process sends its terminal on; hostEnd when tsrt hosts the terminal itself */
  consoleFd?: number;
  hostEnd?: number;
  /** foreground without a terminal: the pipes tsrt copies (stdio-copy.ts), as runc's */
  pipes?: StdioPipes;
}

const loadState: Stage<ExecCtx> = {
  name: 'load-state',
  run(c) {
    const { o, id } = c;
    const s = (c.s = c.store.load(id));
    const status = statusOf(c.store, s);
    if (status === 'paused' && !o.ignorePaused) throw new ContainerError('ESTATE', `cannot exec in a paused container ${id} (use --ignore-paused)`);
    if (status !== 'running' && status !== 'created' && status !== 'paused') throw new ContainerError('ESTATE', 'container not running');
    c.proc = buildExecProcess(s.config, o);
    c.spec = { ...s.config, process: c.proc };
  },
};

const namespaces: Stage<ExecCtx> = {
  name: 'namespaces',
  run(c) {
    c.joined = (c.s.config.linux?.namespaces ?? []).map((n: LinuxNamespace) => {
      const path = `/proc/${c.s.pid}/ns/${NS_PROC_NAME[n.type]}`;
      const fd = openSync(path, 'r');
      c.fds.add(fd);
      return { type: n.type, path, fd };
    });
    sortForJoining(c.joined);
  },
};

const consoleStage: Stage<ExecCtx> = {
  name: 'console',
  run(c) {
    const { o, proc } = c;
    if (!proc.terminal) {
      if (o.consoleSocket) throw new TsrtError('EUSAGE', '--console-socket given but the process has no terminal (use --tty)');
      return;
    }
    if (o.consoleFd !== undefined) {
      c.consoleFd = o.consoleFd;
      return;
    }
    if (o.consoleSocket) {
      c.consoleFd = libc.unixConnect(o.consoleSocket);
    } else {
      if (o.detach) throw new TsrtError('EUSAGE', 'exec --tty --detach needs --console-socket');
      // The size of the caller's window from the start: the process may ask for it
      // before tsrt holds the master (the master arrives after the cgroup join).
      // (The container's own consoleSize is the init's: a --process file's is kept.)
      const ws = o.processFile && proc.consoleSize ? undefined : callerWindowSize();
      if (ws) proc.consoleSize = { height: ws.rows, width: ws.cols };
      [c.hostEnd, c.consoleFd] = libc.socketpair();
      c.fds.add(c.hostEnd);
    }
    c.fds.add(c.consoleFd);
    c.childEnds.push(c.consoleFd);
  },
};

/** Foreground without a terminal: pipes that tsrt copies, as runc's setupProcessPipes (with -d the process inherits tsrt's stdio). */
const stdioPipesStage: Stage<ExecCtx> = {
  name: 'stdio-pipes',
  when: (c) => !c.o.detach && !c.proc.terminal,
  run(c) { c.pipes = new StdioPipes(hostRootOf(c.s.config)); },
  undo: (c) => c.pipes?.abort(),
};

const buildPlan: Stage<ExecCtx> = {
  name: 'build-plan',
  run(c) {
    const { o, s, spec } = c;
    c.plan = buildExecPlan({ spec, joined: c.joined, reportFd: c.reportW, syncFd: c.syncR, keepFds: o.preserveFds, env: processEnv(spec, s.rootfs), consoleSocketFd: c.consoleFd, seccompNotify: c.notify, stdioPipes: c.pipes?.childEnds, stdio: o.stdio,
      chrootTo: (s.config.linux?.namespaces ?? []).some((n) => n.type === 'mount') ? undefined : s.rootfs });
    c.cloneFlags = 17; /* SIGCHLD */
    logDebug(`exec ${s.id}: plan of ${c.plan.steps.length} steps, joining ${c.joined.map((j) => j.type).join(',')} of pid ${s.pid}`);
  },
};

const startProcess: Stage<ExecCtx> = { name: 'start-process', run: startChild };

/** The first process joined the namespaces and cloned the process inside them; it reports its pid and exits. */
const processPid: Stage<ExecCtx> = {
  name: 'join-namespaces',
  run(c) {
    const r = readReport(c.plan, c.reportR);
    libc.waitpid(c.first, 0);
    if (r.kind !== 'pid') unexpectedReport(r, 'EEXEC', 'exec: the process exited before it was set up');
    c.pid = (r as { pid: number }).pid;
  },
  undo: (c) => killAndReap(c.pid),
};

const cgroups: Stage<ExecCtx> = { name: 'cgroups', run: (c) => joinCgroups(c.s.cgroupPaths, c.pid, c.o.cgroup) };

const release: Stage<ExecCtx> = {
  name: 'release-process',
  run(c) {
    writeSync(c.syncW, '1');
    c.fds.close(c.syncW);
  },
};

/** The process reports an error of its remaining setup, or nothing once it is ready to execve. */
const ready: Stage<ExecCtx> = {
  name: 'ready',
  run(c) {
    const done = readReport(c.plan, c.reportR);
    if (done.kind === 'error') throw new TsrtError('EEXEC', done.message);
    logDebug(`exec ${c.s.id}: process ${c.pid} started`);
  },
};

const execStages: Stage<ExecCtx>[] = [
  warmCgroupsStage, loadState, namespaces, pipesStage, consoleStage, stdioPipesStage, seccompListenerStage, buildPlan, startProcess, processPid,
  cgroups, seccompStateStage<ExecCtx>((c) => seccompProcessState(c.spec, c.s, { pid: c.pid })), release, ready,
];

/** Starts the process detached and returns its pid (the shim: it is the process's parent and reaps it). */
export async function startExecProcess(store: StateStore, id: string, o: ExecOptions): Promise<number> {
  const c = { o: { ...o, detach: true }, store, id, fds: new OwnedFds(), childEnds: [] } as unknown as ExecCtx;
  try {
    await runStages(`exec ${id}`, execStages, c);
    return c.pid;
  } finally {
    c.fds.closeAll();
  }
}

export async function execInContainer(store: StateStore, id: string, o: ExecOptions): Promise<number> {
  // The fields are filled in by the stages that name them (ExecCtx).
  const c = { o, store, id, fds: new OwnedFds(), childEnds: [] } as unknown as ExecCtx;
  try {
    await runStages(`exec ${id}`, execStages, c);
    c.pipes?.startCopying();
    // After the stages: a pid file that cannot be written leaves the process running.
    await runStages(`exec ${id}`, [pidFileStage], c);
    if (o.detach) return 0;
    let terminal: TerminalProxy | undefined;
    if (c.hostEnd !== undefined) {
      terminal = proxyTerminal(libc.recvFd(c.hostEnd).fd);
      c.fds.close(c.hostEnd);
    }
    const stopForwarding = forwardSignals(c.pid, { terminal: terminal !== undefined });
    const st = await libc.waitpidAsync(c.pid);
    await terminal?.finish();
    stopForwarding();
    // As runc: until every process holding the output (the process's children too) closed it.
    await c.pipes?.finish();
    return exitCodeOf(st);
  } finally {
    c.fds.closeAll();
  }
}
