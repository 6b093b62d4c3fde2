// The new process's fds 0-2 are not always the caller's own: a foreground `run` or `exec`
// gives it pipes tsrt copies (stdio-copy.ts, as runc's setupProcessPipes), and a
// long-lived caller (the containerd shim, src/shim/) cannot lend its own fds 0-2 and
// hands each process the fds of its stdio (fifos, /dev/null). The plan's first steps make
// those fds 0, 1 and 2.
import type { Plan } from '../plan/plan';

/** fds of the caller that become the process's stdin, stdout and stderr */
export type GivenStdio = readonly [number, number, number];

/**
 * dup3 each given fd onto 0, 1, 2 (no O_CLOEXEC: they outlive execve), then close the
 * originals so none stays open in the container as an extra fd (they could fall in the
 * --preserve-fds range). The given fds must be > 2. First thing after clone.
 */
export function buildGivenStdioSteps(plan: Plan, stdio: GivenStdio | undefined): void {
  if (!stdio) return;
  const names = ['stdin', 'stdout', 'stderr'];
  stdio.forEach((fd, i) => plan.add('dup3', [fd, i, 0], `make fd ${fd} the process's ${names[i]}`));
  for (const fd of new Set(stdio)) plan.add('close', [fd], `close the original fd ${fd} of the process's stdio`);
}
