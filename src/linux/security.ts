// Security-related plan steps that are not identity (user, caps: process-setup.ts):
// process attributes, LSM labels and seccomp. init-plan.ts calls these at fixed points.
import type { Spec } from '../oci/spec-types';
import type { Plan } from '../plan/plan';

/** personality, scheduler, ioPriority, execCPUAffinity, memoryPolicy: before the uid switch. */
export function buildProcessAttributeSteps(_plan: Plan, _spec: Spec): void {
  // not yet implemented
}

/** apparmorProfile / selinuxLabel for the exec: before waiting for start. */
export function buildLsmSteps(_plan: Plan, _spec: Spec): void {
  // not yet implemented
}

/** The seccomp filter: the last step before execve. */
export function buildSeccompSteps(_plan: Plan, _spec: Spec): void {
  // not yet implemented
}
