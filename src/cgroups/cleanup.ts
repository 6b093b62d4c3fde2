// Removing a container's cgroups once its processes are gone. (The cgroup manager
// proper lives beside this file; delete only needs these two.)
import { readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** The sub-cgroups of dir (exec --cgroup, nested containers), which must go first. */
function subCgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return []; // gone already, or unreadable: rmdir says which
  }
}

/** rmdir of dir, after its sub-cgroups when it has some (looked for only then: the common case is none). */
function removeTree(dir: string, warn: (msg: string) => void): void {
  let subsRemoved = false;
  for (let i = 0; i < 200; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY: sub-cgroups, or the last processes still leaving (a killed init's children exit after it).
      if (code === 'EBUSY' && !subsRemoved) {
        subsRemoved = true;
        const subs = subCgroups(dir);
        for (const s of subs) removeTree(`${dir}/${s}`, warn);
        if (subs.length) continue;
      }
      if (code !== 'EBUSY' || i === 199) {
        warn(`cannot remove cgroup ${dir}: ${code}`);
        return;
      }
      Atomics.wait(sleeper, 0, 0, 5);
    }
  }
}

export function removeCgroups(paths: Record<string, string> | undefined, warn: (msg: string) => void): void {
  for (const dir of new Set(Object.values(paths ?? {}))) removeTree(dir, warn);
}

/** A frozen container cannot die: thaw it so the SIGKILL already sent is delivered. */
export function thawForKill(paths: Record<string, string> | undefined): void {
  try {
    if (paths?.freezer) writeFileSync(`${paths.freezer}/freezer.state`, 'THAWED');
    else if (paths?.unified) writeFileSync(`${paths.unified}/cgroup.freeze`, '0');
  } catch {
    // not frozen or already gone
  }
}

/**
 * SIGKILL whatever still lives in the container's cgroups once its init is gone (or was
 * never recorded: a create killed half-way), as runc's destroy does: with a shared PID
 * namespace the init's death ends nothing else. Reads one cgroup.procs when there is none.
 */
export function killRemaining(paths: Record<string, string> | undefined): void {
  const dirs = [...new Set(Object.values(paths ?? {}))];
  const populated = dirs.some((d) => {
    try {
      return readFileSync(`${d}/cgroup.procs`, 'utf8').trim() !== '';
    } catch {
      return false; // never made, or gone
    }
  });
  if (!populated) return;
  const { signalAllProcesses } = require('./signal-all') as typeof import('./signal-all');
  try {
    signalAllProcesses(paths!, 9);
  } catch {
    // rmdir reports what is left
  }
}
