// Removing a container's cgroups once its processes are gone. (The cgroup manager
// proper lives beside this file; delete only needs these two.)
import { rmdirSync, writeFileSync } from 'node:fs';

export function removeCgroups(paths: Record<string, string> | undefined, warn: (msg: string) => void): void {
  for (const dir of new Set(Object.values(paths ?? {}))) {
    for (let i = 0; i < 100; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || i === 99) {
          warn(`cannot remove cgroup ${dir}: ${code}`);
          break;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
  }
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
