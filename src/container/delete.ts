// `delete`: remove a stopped (or created) container; --force kills a running one first.
// poststop hooks run last and only warn on failure (runtime.md).
import { realpathSync } from 'node:fs';
import { runHook } from '../hooks/run-hooks';
import { ContainerError } from '../util/errors';
import { DamagedStateError, hookState, type Recovery, type SavedState, type StateStore } from './state-store';
import { isAlive, procStat, statusOf } from './status';
import { logDebug } from '../cli/log';

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
      // A directory without a usable state: an interrupted create, a crash, a hand edit.
      // Only --force removes it, with what recovery.json names.
      if (force && e instanceof ContainerError && (e.code === 'ENOTEXIST' || e.code === 'EDAMAGED')) {
        await removeUnreadable(store, id, e, warn);
        return;
      }
      throw e;
    }
    const status = statusOf(store, s);
    logDebug(`delete ${id}: status ${status}${force ? ', --force' : ''}`);
    if (status === 'running' || status === 'paused') {
      if (!force) throw new ContainerError('ESTATE', `cannot delete container ${id} that is not stopped: ${status}`);
    }
    if (status !== 'stopped') {
      await killAndWait(s);
    }
    await removeContainer(store, s, warn);
  });
}

/**
 * Runs the poststop hooks and removes the cgroups and the state. `hookCwd`: `run` gives
 * the bundle, where runc (which works in the bundle directory) runs them; `delete` keeps
 * the caller's working directory, as runc's.
 */
export async function removeContainer(store: StateStore, s: SavedState, warn: (msg: string) => void, hookCwd?: string): Promise<void> {
  // Every poststop hook runs; a failing one is only a warning (runtime.md).
  const st = hookState({ ...s, pid: 0 }, 'stopped');
  const hooks = s.config.hooks?.poststop ?? [];
  for (let i = 0; i < hooks.length; i++) {
    try {
      await runHook(hooks[i]!, st, 'poststop', i, hookCwd);
    } catch (e) {
      warn((e as Error).message);
    }
  }
  await removeCgroupsOf(s, warn);
  if (s.rootfsMounts) {
    const { detachContainerMounts } = require('./shared-mounts') as typeof import('./shared-mounts');
    detachContainerMounts(realpathOr(s.rootfs), s.rootfsMounts, warn);
  }
  store.remove(s.id);
}

/** delete --force without a state.json to read: the init and cgroups recovery.json records. */
async function removeUnreadable(store: StateStore, id: string, e: ContainerError, warn: (msg: string) => void): Promise<void> {
  const r = store.loadRecovery(id);
  if (e instanceof DamagedStateError) {
    warn(r ? `${e.damage}: removing the process and cgroups recovery.json records`
      : `${e.damage}, and recovery.json is missing or damaged too: processes or cgroups of the container may be left`);
  }
  if (r) {
    await killAndWait(r);
    await removeCgroupsOf(r, warn);
  }
  store.remove(id);
}

/** Kills what is left in the cgroups, stops the systemd unit (--systemd-cgroup) and removes the cgroups. */
async function removeCgroupsOf(r: Recovery, warn: (msg: string) => void): Promise<void> {
  const { killRemaining, removeCgroups } = require('../cgroups/cleanup') as typeof import('../cgroups/cleanup');
  killRemaining(r.cgroupPaths);
  if (r.systemdUnit) {
    const { stopContainerUnit } = require('../cgroups/systemd/driver') as typeof import('../cgroups/systemd/driver');
    await stopContainerUnit(r.systemdUnit).catch((e: Error) => warn(`${e.message}: unit ${r.systemdUnit} may be left`));
  }
  removeCgroups(r.cgroupPaths, warn);
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** SIGKILL the init (thawing it if frozen) and wait until it is gone or a zombie. */
async function killAndWait(s: Recovery): Promise<void> {
  // pid 0 (a create killed before the init existed) would signal our own process group;
  // a start time that differs is another process that got the pid.
  if (!(s.pid > 0) || !isAlive(s)) return;
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
