// `delete`: remove a stopped (or created) container; --force kills a running one first.
// poststop hooks run last and only warn on failure (runtime.md).
import { realpathSync } from 'node:fs';
import { runHook } from '../hooks/run-hooks';
import { ContainerError } from '../util/errors';
import { hookState, type SavedState, type StateStore } from './state-store';
import { procStat, statusOf } from './status';

export async function deleteContainer(store: StateStore, id: string, force: boolean, warn: (msg: string) => void): Promise<void> {
  try {
    await deleteLocked(store, id, force, warn);
  } catch (e) {
    // As runc: `delete --force` of an id that does not exist succeeds. podman and
    // containerd's shim send it after a failed create, which already removed everything.
    if (force && e instanceof ContainerError && e.code === 'ENOTEXIST') return;
    throw e;
  }
}

async function deleteLocked(store: StateStore, id: string, force: boolean, warn: (msg: string) => void): Promise<void> {
  await store.withLock(id, async () => {
    let s: SavedState;
    try {
      s = store.load(id);
    } catch (e) {
      // A directory without state: an interrupted create. Only --force removes it.
      if (e instanceof ContainerError && e.code === 'ENOTEXIST' && force) {
        store.remove(id);
        return;
      }
      throw e;
    }
    const status = statusOf(store, s);
    if (status === 'running' || status === 'paused') {
      if (!force) throw new ContainerError('ESTATE', `cannot delete container ${id} that is not stopped: ${status}`);
    }
    if (status !== 'stopped') {
      await killAndWait(s);
    }
    await removeContainer(store, s, warn);
  });
}

export async function removeContainer(store: StateStore, s: SavedState, warn: (msg: string) => void): Promise<void> {
  // Every poststop hook runs; a failing one is only a warning (runtime.md).
  const st = hookState({ ...s, pid: 0 }, 'stopped');
  const hooks = s.config.hooks?.poststop ?? [];
  for (let i = 0; i < hooks.length; i++) {
    try {
      await runHook(hooks[i]!, st, 'poststop', i);
    } catch (e) {
      warn((e as Error).message);
    }
  }
  const { removeCgroups } = require('../cgroups/cleanup') as typeof import('../cgroups/cleanup');
  removeCgroups(s.cgroupPaths, warn);
  if (s.rootfsMounts) {
    const { detachContainerMounts } = require('./shared-mounts') as typeof import('./shared-mounts');
    detachContainerMounts(realpathOr(s.rootfs), s.rootfsMounts, warn);
  }
  store.remove(s.id);
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** SIGKILL the init (thawing it if frozen) and wait until it is gone or a zombie. */
async function killAndWait(s: SavedState): Promise<void> {
  try {
    process.kill(s.pid, 'SIGKILL');
  } catch {
    return;
  }
  const { thawForKill } = require('../cgroups/cleanup') as typeof import('../cgroups/cleanup');
  thawForKill(s.cgroupPaths);
  for (let i = 0; i < 5000; i++) {
    const st = procStat(s.pid);
    if (!st || st.startTime !== s.pidStartTime || st.state === 'Z' || st.state === 'X') return;
    await new Promise((r) => setTimeout(r, i < 100 ? 1 : 10));
  }
}
