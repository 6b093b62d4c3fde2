// A long-lived caller (the containerd shim, src/shim/) starts many processes and cannot
// lend them its own fds 0-2: it hands each process the fds of its stdio (fifos, /dev/null)
// and the plan's first steps make them fds 0, 1 and 2 of the new process.
import type { Plan } from '../plan/plan';

/** fds of the caller that become the process's stdin, stdout and stderr */
export type GivenStdio = readonly [number, number, number];

/** dup3 each given fd onto 0, 1, 2 (no O_CLOEXEC: they outlive execve). The given fds must be > 2. */
export function buildGivenStdioSteps(plan: Plan, stdio: GivenStdio | undefined): void {
  if (!stdio) return;
  const names = ['stdin', 'stdout', 'stderr'];
  stdio.forEach((fd, i) => plan.add('dup3', [fd, i, 0], `make fd ${fd} the process's ${names[i]}`));
}
