// `ps`: the container's processes. json: the host pids of its cgroup tree, as a JSON
// array. table: what runc prints, the output of `ps` (with the given options, `-ef` by
// default) reduced to the header and the lines whose PID column is one of those pids.
import { spawnSync } from 'node:child_process';
import { TsrtError, UsageError } from '../util/errors';
import type { StateStore } from './state-store';
import { isAlive } from './status';

export function containerProcesses(store: StateStore, id: string): number[] {
  const s = store.load(id);
  if (s.cgroupPaths && Object.keys(s.cgroupPaths).length) {
    const { managerFor } = require('../cgroups/manager') as typeof import('../cgroups/manager');
    return managerFor(s.cgroupPaths).pids();
  }
  return isAlive(s) ? [s.pid] : [];
}

export function psContainer(store: StateStore, id: string, format: string, psArgs: string[]): string {
  const pids = containerProcesses(store, id);
  if (format === 'json') return `${JSON.stringify(pids)}\n`;
  if (format !== 'table') throw new UsageError(`invalid format ${JSON.stringify(format)}: use table or json`);
  const r = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new TsrtError('EPS', `running ps: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
  if (r.status !== 0) throw new TsrtError('EPS', `ps ${psArgs.join(' ')} failed: ${r.stderr.trim()}`);
  const lines = r.stdout.split('\n');
  const header = lines[0] ?? '';
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw new TsrtError('EPS', 'could not find the PID field in the output of ps');
  const wanted = new Set(pids);
  const rows = lines.slice(1).filter((l) => l.trim() && wanted.has(Number(l.trim().split(/\s+/)[col])));
  return [header, ...rows].join('\n') + '\n';
}
