// The status of a container is derived from the live process, never trusted from disk.
import { existsSync, readFileSync } from 'node:fs';
import type { SavedState, StateStore } from './state-store';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** Field 22 (starttime) of /proc/PID/stat and the state letter, or undefined if gone. */
export function procStat(pid: number): { startTime: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', startTime: rest[19] ?? '' };
}

export function isAlive(s: Pick<SavedState, 'pid' | 'pidStartTime'>): boolean {
  if (!s.pid) return false;
  const st = procStat(s.pid);
  return !!st && st.startTime === s.pidStartTime && st.state !== 'Z' && st.state !== 'X';
}

export function statusOf(store: StateStore, s: SavedState): Status {
  if (!isAlive(s)) return 'stopped';
  if (s.creating) return 'creating';
  // Frozen first, as runc: a created container can be paused too.
  if (isFrozen(s)) return 'paused';
  if (existsSync(store.fifoPath(s.id))) return 'created';
  return 'running';
}

function isFrozen(s: SavedState): boolean {
  const dir = s.cgroupPaths?.freezer;
  if (dir) {
    try {
      return readFileSync(`${dir}/freezer.state`, 'utf8').trim() !== 'THAWED';
    } catch {
      return false;
    }
  }
  const unified = s.cgroupPaths?.unified;
  if (unified) {
    try {
      return readFileSync(`${unified}/cgroup.freeze`, 'utf8').trim() === '1';
    } catch {
      return false;
    }
  }
  return false;
}

/** The OCI state JSON (runtime.md "State"), as `tsrt state` prints it. */
export function ociState(store: StateStore, s: SavedState): Record<string, unknown> {
  const status = statusOf(store, s);
  return {
    ociVersion: s.ociVersion,
    id: s.id,
    pid: status === 'stopped' ? 0 : s.pid,
    status,
    bundle: s.bundle,
    rootfs: s.rootfs,
    created: s.created,
    owner: s.owner,
    annotations: s.annotations ?? {},
  };
}
