// A plan's process is a clone of node: until its execve it holds every fd node had open
// (epoll, eventfds, libuv's pipes, the cgroup.procs fd of cgroups/warm-attach.ts, other
// containers' pipes opened meanwhile). O_CLOEXEC only drops them at execve; a created
// init waits for `start` long before that, and a process of the container that may
// ptrace it (CAP_SYS_PTRACE, same pid namespace) could reach them through /proc/1/fd.
// So the first step closes every fd the plan was not given on purpose.
import type { Plan } from '../plan/plan';

/** Ranges [first, last] of fds not in `keep` (last 0xffffffff: up to the end). */
export function fdGaps(keep: Iterable<number>): [number, number][] {
  const sorted = [...new Set(keep)].filter((fd) => fd >= 0).sort((a, b) => a - b);
  const gaps: [number, number][] = [];
  let next = 0;
  for (const fd of sorted) {
    if (fd > next) gaps.push([next, fd - 1]);
    next = fd + 1;
  }
  gaps.push([next, 0xffffffff]);
  return gaps;
}

/**
 * Closes every fd but stdio, the preserved fds (3 .. 3+preserved-1) and `planFds` (the
 * report and sync pipes, the fifo, sockets and namespace fds the later steps use).
 * `what` names the fds closed ("inherited fds", "setup fds").
 */
export function buildCloseFdsSteps(plan: Plan, preserved: number, planFds: number[], what: string): void {
  const keep = [0, 1, 2, ...Array.from({ length: preserved }, (_, i) => 3 + i), ...planFds];
  for (const [first, last] of fdGaps(keep)) {
    const which = last === 0xffffffff ? `from ${first} up` : first === last ? `${first}` : `${first}-${last}`;
    plan.add('close_range', [first, last, 0], `close ${what} ${which} (keep only those the plan needs)`);
  }
}
