// `kill`: send a signal to the init (or to every process of the container with --all).
import { existsSync, readFileSync } from 'node:fs';
import { ContainerError } from '../util/errors';
import type { StateStore } from './state-store';
import { statusOf } from './status';
import { logDebug } from '../cli/log';

export function killContainer(store: StateStore, id: string, signal: number, all: boolean): void {
  store.withLock(id, () => {
    const s = store.load(id);
    const status = statusOf(store, s);
    if (status === 'stopped' && !all) throw new ContainerError('ESTATE', 'container not running');
    logDebug(`kill ${id}: signal ${signal} to ${all ? 'every process' : `the init (pid ${s.pid})`}, status ${status}`);
    const cgroups = s.cgroupPaths && Object.keys(s.cgroupPaths).length ? s.cgroupPaths : undefined;
    // kill --all after the init died (containerd's shims send it for what an init leaves in a
    // pid namespace it did not own): as runc, the cgroup's processes while the cgroup exists;
    // never the init's pid, which may be another process's by now
    if (status === 'stopped' && !(cgroups && Object.values(cgroups).some((dir) => existsSync(dir)))) return;
    if (all && cgroups) {
      const { signalAllProcesses } = require('../cgroups/signal-all') as typeof import('../cgroups/signal-all');
      signalAllProcesses(cgroups, signal);
      return;
    }
    const pids = all ? containerPids(s.cgroupPaths, s.pid) : [s.pid];
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
        if (!all) throw new ContainerError('ESTATE', 'container not running: no such process');
      }
    }
  });
}

/** Every pid in the container's cgroup, or just the init when it has none of its own. */
export function containerPids(cgroupPaths: Record<string, string> | undefined, initPid: number): number[] {
  for (const dir of Object.values(cgroupPaths ?? {})) {
    try {
      const pids = readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
      if (pids.length) return pids;
    } catch {
      // try the next hierarchy
    }
  }
  return [initPid];
}
