// Moving a process into a container's existing cgroups (exec, and anything else that
// must enter a container after create).
import { writeFileSync } from 'node:fs';
import { TsrtError, UsageError } from '../util/errors';

/**
 * exec --cgroup, as runc takes it: "[CONTROLLER[,CONTROLLER...]:]PATH", repeatable. A bare
 * PATH is for every controller, a named one overrides it for that controller; "unified"
 * (or an empty controller list, ":PATH") names the cgroup v2 directory. PATH is below
 * the container's cgroup, "/" (or nothing) being the container's cgroup itself, as in
 * runc; ".." is refused. Returns controller -> PATH ("" for all; PATH "" for the top).
 */
export function parseSubCgroups(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of args) {
    const colon = arg.lastIndexOf(':');
    const controllers = colon < 0 ? [''] : arg.slice(0, colon).split(',').map((c) => c || 'unified');
    const path = (colon < 0 ? arg : arg.slice(colon + 1)).replace(/^\/+|\/+$/g, '');
    if (path.split('/').some((p) => p === '..' || p === '.')) {
      throw new UsageError(`--cgroup ${JSON.stringify(arg)}: expected [CONTROLLER[,CONTROLLER]:]PATH with PATH below the container's cgroup`);
    }
    for (const c of controllers) out.set(c, path);
  }
  return out;
}

export function joinCgroups(paths: Record<string, string> | undefined, pid: number, sub: string[] = []): void {
  const subs = parseSubCgroups(sub);
  const known = Object.keys(paths ?? {});
  for (const c of subs.keys()) {
    if (c && !known.includes(c)) throw new UsageError(`--cgroup: the container has no ${c} cgroup (it has: ${known.join(', ') || 'none'})`);
  }
  const targets = new Set(Object.entries(paths ?? {}).map(([c, dir]) => {
    const s = subs.get(c) ?? subs.get('');
    return s ? `${dir}/${s}` : dir;
  }));
  for (const target of targets) {
    try {
      writeFileSync(`${target}/cgroup.procs`, String(pid));
    } catch (e) {
      throw new TsrtError('ECGROUP', `joining cgroup ${target}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
}
