// Moving a process into a container's existing cgroups (exec, and anything else that
// must enter a container after create).
import { writeFileSync } from 'node:fs';
import { TsrtError } from '../util/errors';

export function joinCgroups(paths: Record<string, string> | undefined, pid: number, sub?: string): void {
  for (const dir of new Set(Object.values(paths ?? {}))) {
    const target = sub ? `${dir}/${sub.replace(/^\/+/, '')}` : dir;
    try {
      writeFileSync(`${target}/cgroup.procs`, String(pid));
    } catch (e) {
      throw new TsrtError('ECGROUP', `joining cgroup ${target}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
}
