// kill --all: freeze the container so that no process can fork a new one between the
// listing and the signals, signal every process of its cgroup tree, thaw. SIGKILL on
// cgroup v2 goes through cgroup.kill instead (the kernel kills the tree at once).
import { managerFor } from './manager';

export function signalAllProcesses(paths: Record<string, string>, signal: number): void {
  const m = managerFor(paths);
  if (signal === 9 && m.killAll()) return;
  const canFreeze = m.canFreeze();
  const wasFrozen = canFreeze && m.isFrozen();
  let froze = false;
  if (canFreeze && !wasFrozen) {
    try {
      m.freeze();
      froze = true;
    } catch {
      // a freeze that does not complete still leaves the signals to send
    }
  }
  try {
    for (const pid of m.pids()) {
      try {
        process.kill(pid, signal);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
    }
  } finally {
    // Thaw what we froze. A paused container stays paused, except for SIGKILL: a task
    // frozen by the v1 freezer cannot die until it is thawed.
    if (froze || (wasFrozen && signal === 9)) m.thaw();
  }
}
