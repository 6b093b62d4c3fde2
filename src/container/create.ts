// `create`: validate the bundle, claim the id, start the init plan, feed it what only
// the parent can do (id maps, hooks), and record the state: the stages of
// create-stages.ts, run in order (pipeline.ts). Any failure undoes every stage taken so
// far: no state dir, no process, no fifo is left behind.
import type { Plan } from '../plan/plan';
import type { GivenStdio } from '../linux/given-stdio';
import type { StateStore, SavedState } from './state-store';
import { OwnedFds } from '../util/owned-fds';
import { runStages } from './pipeline';
import { createStages, printPlanStages, type CreateCtx } from './create-stages';

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
  /** foreground run without a terminal: the pipe ends that become the init's fds 0-2 */
  stdioPipes?: readonly [number, number, number];
  /** keep the report pipe open (run: to learn whether execve succeeded) */
  keepReport?: boolean;
  /** cgroupsPath is slice:prefix:name (--systemd-cgroup) */
  systemdCgroup?: boolean;
  /** the init's stdio: these fds instead of this process's 0-2 (the shim; linux/given-stdio.ts) */
  stdio?: GivenStdio;
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

export async function createContainer(o: CreateOptions): Promise<Created> {
  // The fields are filled in by the stages that name them (CreateCtx).
  const ctx = { o, fds: new OwnedFds(), childEnds: [], consoleSocketFd: o.consoleFd, fifoFd: 999 } as unknown as CreateCtx;
  try {
    await runStages(`create ${o.id}`, o.printPlan ? printPlanStages : createStages, ctx);
    if (o.printPlan) return { store: ctx.store, plan: ctx.plan, state: undefined as unknown as SavedState };
    if (o.keepReport) ctx.fds.keep(ctx.reportR);
    return { store: ctx.store, state: ctx.state, plan: ctx.plan, reportFd: o.keepReport ? ctx.reportR : undefined };
  } finally {
    ctx.fds.closeAll();
  }
}
