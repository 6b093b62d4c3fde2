// Foreground `run` without a terminal: the container's fds 0-2 are pipes tsrt copies to
// and from its own stdio, as runc's (setupProcessPipes), not the caller's files themselves.
import type { Plan } from '../plan/plan';

/**
 * Steps that make the pipe ends fds 0, 1 and 2 (dup3 without O_CLOEXEC) and close the
 * originals, so none stays open in the container as an extra fd (they could fall in the
 * --preserve-fds range). First thing after clone, before the inherited fds are closed.
 */
export function buildStdioPipeSteps(plan: Plan, pipeEnds: readonly [number, number, number]): void {
  const names = ['stdin', 'stdout', 'stderr'];
  pipeEnds.forEach((fd, target) => plan.add('dup3', [fd, target, 0], `make fd ${target} the ${names[target]} pipe tsrt copies`));
  for (const fd of new Set(pipeEnds)) plan.add('close', [fd], `close the original ${fd} of a stdio pipe`);
}
