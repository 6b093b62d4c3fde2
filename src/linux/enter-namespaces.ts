// Stage 1 of a two-stage plan, shared by create and exec: this process enters the
// namespaces to join (user first, mount last), then clones the real process so it is
// born inside them (a PID or time namespace only applies to children). CLONE_PARENT
// makes tsrt its parent; the intermediate reports its pid and exits.
import { CLONE, PR, SIGCHLD } from '../libc/constants';
import type { Blob, Label, Plan } from '../plan/plan';
import { MSG } from '../plan/run-plan';
import { NS_FLAG, type JoinedNamespace } from './namespaces';

export interface TwoStage {
  intermediate: Label;
  pidMessage: Blob;
}

export function buildEnterAndCloneSteps(plan: Plan, joined: JoinedNamespace[], cloneFlags: number, between: () => void, what: string): TwoStage {
  const intermediate = plan.label('intermediate');
  const msg = Buffer.alloc(16);
  msg.writeBigUInt64LE(MSG.PID, 0);
  const pidMessage = plan.blob(msg, 'pid message');
  for (const j of joined) {
    plan.add('setns', [j.fd, NS_FLAG[j.type]], `join the ${j.type} namespace ${j.path}`);
  }
  if (joined.some((j) => j.type === 'user')) {
    // Still the host's ids, unmapped in the joined namespace (files we create would
    // fail with EOVERFLOW): become its root, as after writing the maps of a new one.
    plan.add('setresgid', [0, 0, 0], 'become gid 0 of the joined user namespace');
    plan.add('setresuid', [0, 0, 0], 'become uid 0 of the joined user namespace');
  }
  between();
  plan.add('clone', [CLONE.PARENT | cloneFlags | SIGCHLD, 0, 0, 0, 0], `clone the ${what} inside the joined namespaces`,
    { store: pidMessage, storeOffset: 8, jumpIfNonzero: intermediate });
  plan.add('prctl', [PR.SET_PDEATHSIG, 9, 0, 0, 0], 'die with the parent while it sets up');
  return { intermediate, pidMessage };
}

/** Placed after the last step of the real process (execve never returns). */
export function buildIntermediateExitSteps(plan: Plan, reportFd: number, t: TwoStage): void {
  plan.place(t.intermediate);
  plan.add('write', [reportFd, t.pidMessage, 16], 'report the pid to the parent');
  plan.add('exit_group', [0], 'intermediate process done');
}
