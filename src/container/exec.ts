// `exec`: start a new process inside a running container. tsrt stays its parent
// (CLONE_PARENT in the plan) in the foreground: signals are forwarded and the process's
// exit code is returned.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { LinuxNamespace } from '../oci/spec-types';
import { O } from '../libc/constants';
import { libc } from '../libc/libc';
import { readReport, startPlan } from '../plan/run-plan';
import { NS_PROC_NAME, sortForJoining, type JoinedNamespace } from '../linux/namespaces';
import { buildExecPlan } from '../linux/exec-plan';
import { processEnv } from '../linux/process-setup';
import { buildExecProcess, type ExecFlags } from '../oci/exec-process';
import { joinCgroups } from '../cgroups/join';
import { warmCgroupAttach } from '../cgroups/warm-attach';
import { ContainerError, TsrtError } from '../util/errors';
import { writePidFile, type StateStore } from './state-store';
import { callerWindowSize, proxyTerminal, type TerminalProxy } from '../console/proxy';
import { statusOf } from './status';
import { exitCodeOf, forwardSignals } from './foreground';
import { logDebug } from '../cli/log';
import { openSeccompListener, seccompProcessState } from '../linux/security';

export interface ExecOptions extends ExecFlags {
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: number;
  /** --cgroup: [CONTROLLER[,CONTROLLER]:]PATH sub-cgroups to join (cgroups/join.ts) */
  cgroup?: string[];
  ignorePaused: boolean;
}


export async function execInContainer(store: StateStore, id: string, o: ExecOptions): Promise<number> {
  warmCgroupAttach(); // over by the cgroup join (cgroups/warm-attach.ts)
  const s = store.load(id);
  const status = statusOf(store, s);
  if (status === 'paused' && !o.ignorePaused) throw new ContainerError('ESTATE', `cannot exec in a paused container ${id} (use --ignore-paused)`);
  if (status !== 'running' && status !== 'created' && status !== 'paused') throw new ContainerError('ESTATE', 'container not running');
  const proc = buildExecProcess(s.config, o);
  const spec = { ...s.config, process: proc };
  const fds = new Set<number>();
  const close = (fd: number) => { if (fds.delete(fd)) closeSync(fd); };
  try {
    const joined: JoinedNamespace[] = (s.config.linux?.namespaces ?? []).map((n: LinuxNamespace) => {
      const path = `/proc/${s.pid}/ns/${NS_PROC_NAME[n.type]}`;
      const fd = openSync(path, 'r');
      fds.add(fd);
      return { type: n.type, path, fd };
    });
    sortForJoining(joined);
    const [reportR, reportW] = libc.pipe2(O.CLOEXEC);
    const [syncR, syncW] = libc.pipe2(O.CLOEXEC);
    [reportR, reportW, syncR, syncW].forEach((fd) => fds.add(fd));
    let consoleFd: number | undefined;
    let hostEnd: number | undefined;
    if (proc.terminal) {
      if (o.consoleSocket) {
        consoleFd = libc.unixConnect(o.consoleSocket);
      } else {
        if (o.detach) throw new TsrtError('EUSAGE', 'exec --tty --detach needs --console-socket');
        // The size of the caller's window from the start: the process may ask for it
        // before tsrt holds the master (the master arrives after the cgroup join).
        // (The container's own consoleSize is the init's: a --process file's is kept.)
        const ws = o.processFile && proc.consoleSize ? undefined : callerWindowSize();
        if (ws) proc.consoleSize = { height: ws.rows, width: ws.cols };
        [hostEnd, consoleFd] = libc.socketpair();
        fds.add(hostEnd);
      }
      fds.add(consoleFd);
    } else if (o.consoleSocket) {
      throw new TsrtError('EUSAGE', '--console-socket given but the process has no terminal (use --tty)');
    }
    // SCMP_ACT_NOTIFY: as for the init, the agent must be listening before anything starts.
    const notify = openSeccompListener(spec);
    if (notify) [notify.socketFd, notify.stateReadFd, notify.stateWriteFd].forEach((fd) => fds.add(fd));
    const plan = buildExecPlan({ spec, joined, reportFd: reportW, syncFd: syncR, keepFds: o.preserveFds, env: processEnv(spec, s.rootfs), consoleSocketFd: consoleFd, seccompNotify: notify, detach: o.detach,
      chrootTo: (s.config.linux?.namespaces ?? []).some((n) => n.type === 'mount') ? undefined : s.rootfs });
    logDebug(`exec ${s.id}: plan of ${plan.steps.length} steps, joining ${joined.map((j) => j.type).join(',')} of pid ${s.pid}`);
    const first = startPlan(plan, 17 /* SIGCHLD */, reportW);
    close(reportW);
    close(syncR);
    if (consoleFd !== undefined) close(consoleFd);
    if (notify) { close(notify.socketFd); close(notify.stateReadFd); }
    const r = readReport(plan, reportR);
    libc.waitpid(first, 0);
    if (r.kind !== 'pid') throw new TsrtError('EEXEC', r.kind === 'error' ? r.message : 'exec: the process exited before it was set up');
    const pid = r.pid;
    try {
      joinCgroups(s.cgroupPaths, pid, o.cgroup);
      if (notify) {
        writeSync(notify.stateWriteFd, seccompProcessState(spec, s, { pid }));
        close(notify.stateWriteFd);
      }
      writeSync(syncW, '1');
      close(syncW);
      const done = readReport(plan, reportR);
      if (done.kind === 'error') throw new TsrtError('EEXEC', done.message);
    } catch (e) {
      try { process.kill(pid, 'SIGKILL'); libc.waitpid(pid, 0); } catch { /* gone */ }
      throw e;
    }
    logDebug(`exec ${s.id}: process ${pid} started`);
    if (o.pidFile) writePidFile(o.pidFile, pid);
    if (o.detach) return 0;
    let terminal: TerminalProxy | undefined;
    if (hostEnd !== undefined) {
      terminal = proxyTerminal(libc.recvFd(hostEnd).fd);
      close(hostEnd);
    }
    const stopForwarding = forwardSignals(pid, { terminal: terminal !== undefined });
    const st = await libc.waitpidAsync(pid);
    await terminal?.finish();
    stopForwarding();
    return exitCodeOf(st);
  } finally {
    [...fds].forEach(close);
  }
}
