// Stages create and exec share: both start a plan in a new process that reports on one
// pipe and waits on another, may hand a seccomp agent its listener, and write a pid file.
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { O } from '../libc/constants';
import { libc } from '../libc/libc';
import { startPlan, type Report } from '../plan/run-plan';
import type { Plan } from '../plan/plan';
import { openSeccompListener, type SeccompNotifyFds } from '../linux/security';
import { warmCgroupAttach } from '../cgroups/warm-attach';
import { TsrtError } from '../util/errors';
import type { OwnedFds } from '../util/owned-fds';
import { writePidFile } from './state-store';
import type { Stage } from './pipeline';

/** What the shared stages read and fill; a field is set by the stage named beside it. */
export interface LaunchCtx {
  o: { pidFile?: string };
  spec: Spec;
  fds: OwnedFds;
  /** fds the child inherits, closed in the parent once the child runs (start) */
  childEnds: number[];
  /** pipes: the child reports on reportW; it waits on syncR until the parent writes syncW */
  reportR: number;
  reportW: number;
  syncR: number;
  syncW: number;
  /** seccomp-listener */
  notify?: SeccompNotifyFds;
  /** build-plan */
  plan: Plan;
  cloneFlags: number;
  /** start: the process clone() made; pid: the container's (or exec's) process */
  first: number;
  pid: number;
}

/** The kernel's cgroup-attach grace period runs while the plan is built (cgroups/warm-attach.ts). */
export const warmCgroupsStage: Stage<unknown> = { name: 'warm-cgroup-attach', run: () => warmCgroupAttach() };

export const pipesStage: Stage<LaunchCtx> = {
  name: 'pipes',
  run(c) {
    [c.reportR, c.reportW] = libc.pipe2(O.CLOEXEC);
    [c.syncR, c.syncW] = libc.pipe2(O.CLOEXEC);
    c.fds.add(c.reportR, c.reportW, c.syncR, c.syncW);
    c.childEnds.push(c.reportW, c.syncR);
  },
};

/** SCMP_ACT_NOTIFY: the agent's socket is connected before anything starts, so a bad listenerPath fails here. */
export const seccompListenerStage: Stage<LaunchCtx> = {
  name: 'seccomp-listener',
  run(c) {
    c.notify = openSeccompListener(c.spec);
    if (!c.notify) return;
    c.fds.add(c.notify.socketFd, c.notify.stateReadFd, c.notify.stateWriteFd);
    c.childEnds.push(c.notify.socketFd, c.notify.stateReadFd);
  },
};

/** Starts the plan and closes the parent's copies of the fds the child now holds. */
export function startChild(c: LaunchCtx): void {
  c.first = c.pid = startPlan(c.plan, c.cloneFlags, c.reportW);
  for (const fd of c.childEnds) c.fds.close(fd);
}

/** Sends the seccomp agent the container's state, once the process's pid is known. */
export function seccompStateStage<C extends LaunchCtx>(stateOf: (c: C) => string): Stage<C> {
  return {
    name: 'seccomp-state',
    when: (c) => c.notify !== undefined,
    run(c) {
      writeSync(c.notify!.stateWriteFd, stateOf(c));
      c.fds.close(c.notify!.stateWriteFd);
    },
  };
}

export const pidFileStage: Stage<LaunchCtx> = {
  name: 'pid-file',
  when: (c) => !!c.o.pidFile,
  run: (c) => writePidFile(resolve(c.o.pidFile!), c.pid),
};

/** Throws the error for a report that is not the one awaited: the child's own, or `exited`. */
export function unexpectedReport(r: Report, code: string, exited: string): never {
  throw new TsrtError(code, r.kind === 'error' ? r.message : exited);
}

export function killAndReap(pid: number): void {
  try { process.kill(pid, 'SIGKILL'); libc.waitpid(pid, 0); } catch { /* gone */ }
}
