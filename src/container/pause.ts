// `pause` / `resume`: freeze and thaw every process of a container through its cgroup
// (v1 freezer.state, or v2 cgroup.freeze). `state` then reports "paused" (status.ts reads
// the same files). Messages as runc's.
import { ContainerError } from '../util/errors';
import type { StateStore } from './state-store';
import { statusOf } from './status';

function manager(paths: Record<string, string> | undefined) {
  const { managerFor } = require('../cgroups/manager') as typeof import('../cgroups/manager');
  return managerFor(paths);
}

export function pauseContainer(store: StateStore, id: string): void {
  store.withLock(id, () => {
    const s = store.load(id);
    const status = statusOf(store, s);
    if (status !== 'running' && status !== 'created') throw new ContainerError('ESTATE', 'container not running');
    const m = manager(s.cgroupPaths);
    if (!m.canFreeze()) throw new ContainerError('ESTATE', `cannot pause container ${id}: it has no freezer cgroup`);
    m.freeze();
  });
}

export function resumeContainer(store: StateStore, id: string): void {
  store.withLock(id, () => {
    const s = store.load(id);
    if (statusOf(store, s) !== 'paused') throw new ContainerError('ESTATE', 'container not paused');
    manager(s.cgroupPaths).thaw();
  });
}
