// A process entering a running container (`exec`), as a plan: the same blocks as the
// init's (process-setup.ts, security.ts) after joining every namespace of the init.
// It is non-dumpable until execve, so nothing in the container can open its
// /proc/PID/exe (a copy of node) for writing (CVE-2019-5736).
import type { Process, Spec } from '../oci/spec-types';
import { PR } from '../libc/constants';
import { Plan } from '../plan/plan';
import type { JoinedNamespace } from './namespaces';
import { buildEnterAndCloneSteps, buildIntermediateExitSteps } from './enter-namespaces';
import { buildExecSteps, buildFdSteps, buildNewSessionStep, buildRlimitSteps, buildSignalResetSteps, buildUserAndCapSteps } from './process-setup';
import { buildConsoleSteps } from '../console/console-steps';
import { buildCloseFdsSteps } from './inherited-fds';
import { buildWaitForParentSteps } from './parent-sync';
import { buildStdioOwnerSteps } from './stdio-owner';
import { buildGivenStdioSteps, type GivenStdio } from './given-stdio';
import { buildCpuAffinitySteps, buildLsmSteps, buildProcessAttributeSteps, buildSafeChdirSteps, buildSeccompSteps, seccompNeedsCapSysAdmin } from './security';

export interface ExecPlanInput {
  /** the container's config, with process replaced by the exec'd process */
  spec: Spec & { process: Process };
  joined: JoinedNamespace[];
  reportFd: number;
  syncFd: number;
  keepFds: number;
  env: string[];
  consoleSocketFd?: number;
  /** SCMP_ACT_NOTIFY: socket connected to listenerPath, pipe with the process state */
  seccompNotify?: { socketFd: number; stateReadFd: number };
  /** no mount namespace of its own: the container's root directory (chroot, as its init) */
  chrootTo?: string;
  /** foreground exec without a terminal: the pipe ends that become fds 0-2 (given-stdio.ts); with --detach the caller's stdio is given to process.user (stdio-owner.ts) */
  stdioPipes?: GivenStdio;
  /** the process's stdio: these fds of the caller (given-stdio.ts, the shim); default the caller's own 0-2 */
  stdio?: GivenStdio;
}

export function buildExecPlan(input: ExecPlanInput): Plan {
  const { spec } = input;
  const proc = spec.process;
  const plan = new Plan();
  buildSignalResetSteps(plan);
  buildGivenStdioSteps(plan, input.stdioPipes ?? input.stdio);
  buildCloseFdsSteps(plan, input.keepFds, [
    input.reportFd, input.syncFd, ...input.joined.map((j) => j.fd), ...(input.consoleSocketFd === undefined ? [] : [input.consoleSocketFd]),
    // SCMP_ACT_NOTIFY: the agent's socket and the state pipe are used after the join
    ...(input.seccompNotify ? [input.seccompNotify.socketFd, input.seccompNotify.stateReadFd] : []),
  ], 'inherited fds');
  plan.add('prctl', [PR.SET_DUMPABLE, 0, 0, 0, 0], 'become non-dumpable before entering the container');
  plan.add('prctl', [PR.SET_PDEATHSIG, 9, 0, 0, 0], 'die with the parent while it sets up');
  buildCpuAffinitySteps(plan, proc.execCPUAffinity, 'initial');
  const twoStage = buildEnterAndCloneSteps(plan, input.joined, 0, () => {}, 'exec process');
  buildWaitForParentSteps(plan, input.syncFd, plan.blob(Buffer.alloc(8), 'sync byte'), 'wait for the parent to join the container\'s cgroups');
  plan.add('close', [input.syncFd], 'close the sync pipe');
  buildNewSessionStep(plan);
  if (input.chrootTo) {
    // The container shares tsrt's mount namespace: its root is the rootfs, as for the init.
    plan.add('chdir', [plan.cstr(input.chrootTo)], `chdir to the rootfs ${input.chrootTo}`);
    plan.add('chroot', [plan.cstr('.')], 'chroot into the rootfs (the container shares the runtime\'s mount namespace)');
  }
  if (input.consoleSocketFd !== undefined) {
    buildConsoleSteps(plan, { socketFd: input.consoleSocketFd, consoleSize: proc.consoleSize, bindDevConsole: false });
  }
  buildCpuAffinitySteps(plan, proc.execCPUAffinity, 'final');
  buildSafeChdirSteps(plan, proc.cwd);
  buildRlimitSteps(plan, proc);
  buildProcessAttributeSteps(plan, spec);
  buildStdioOwnerSteps(plan, spec, input.consoleSocketFd !== undefined ? 'terminal' : input.stdioPipes ? 'pipes' : 'inherited', input.stdio);
  buildUserAndCapSteps(plan, proc, { setgroupsAllowed: true, holdCapSysAdmin: seccompNeedsCapSysAdmin(spec) });
  plan.add('umask', [proc.user.umask ?? 0o022], `set umask ${(proc.user.umask ?? 0o022).toString(8)}`);
  if (proc.noNewPrivileges) plan.add('prctl', [PR.SET_NO_NEW_PRIVS, 1, 0, 0, 0], 'set no_new_privs');
  buildFdSteps(plan, input.keepFds);
  buildLsmSteps(plan, spec);
  plan.add('prctl', [PR.SET_PDEATHSIG, 0, 0, 0, 0], 'outlive tsrt (a parent-death signal survives execve)');
  buildSeccompSteps(plan, spec, input.seccompNotify);
  buildExecSteps(plan, proc.args ?? [], input.env);
  buildIntermediateExitSteps(plan, input.reportFd, twoStage);
  return plan;
}
