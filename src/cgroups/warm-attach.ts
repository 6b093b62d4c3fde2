// Moving a process into a cgroup (a write to cgroup.procs, in any hierarchy, v1 or v2)
// takes one kernel-wide lock for writing, cgroup_threadgroup_rwsem. When no one has taken
// it for a while, the first writer waits for an RCU grace period while the kernel
// switches the lock to its writer mode: 5 to 14 ms here, which is most of the time the
// init's cgroup join takes (runc's first write waits as long). The mode lasts about a
// grace period after the last writer.
//
// So create and exec start the switch early: tsrt writes its own pid to the cgroup.procs
// of a cgroup it is already in, a move the kernel skips (the task stays where it is, no
// controller sees it), on a libuv thread, and builds the plan meanwhile. When the init's
// pid is written 10 to 20 ms later, the grace period is over. docs/performance.md has the
// measurements.
import { closeSync, openSync, write } from 'node:fs';
import { cgroupOf, dirIn, hostCgroupMounts, procCgroups, type Hierarchy } from './layout';

/** A hierarchy where a no-op move is surely a no-op: v2, else v1 pids/freezer, never cpuset. */
function quietHierarchy(mounts: Hierarchy[]): Hierarchy | undefined {
  return mounts.find((h) => h.version === 2)
    ?? mounts.find((h) => h.controllers.includes('pids') || h.controllers.includes('freezer'))
    ?? mounts.find((h) => h.version === 1 && !h.controllers.includes('cpuset') && !h.controllers.some((c) => c.startsWith('name=')));
}

let fd: number | undefined;
let pending = 0;

/**
 * Starts the kernel's switch of the cgroup lock to writer mode, or keeps it there (a
 * second call shortly before the join covers a slow plan build); never fails, never waits.
 */
export function warmCgroupAttach(): void {
  // Rootless tsrt cannot write its own cgroup's procs file, as a rule: nothing to gain.
  if (process.geteuid?.() !== 0) return;
  try {
    if (fd === undefined) {
      const h = quietHierarchy(hostCgroupMounts());
      if (!h) return;
      fd = openSync(`${dirIn(h, cgroupOf(h, procCgroups('self')))}/cgroup.procs`, 'r+');
    }
    pending++;
    write(fd, String(process.pid), () => {
      if (--pending || fd === undefined) return;
      closeSync(fd);
      fd = undefined;
    });
  } catch {
    // only an optimisation
  }
}
