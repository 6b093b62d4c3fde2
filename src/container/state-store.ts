// A container's state on disk: <root>/<id>/state.json (written atomically), the exec
// fifo, a lock taken with flock on the container directory, and recovery.json: the init's
// pid and the cgroups, written before state.json and before anything they name exists,
// so that `delete --force` finds a half-made container's processes and cgroups even
// when state.json is missing (a create killed early) or damaged (a crash, a hand edit).
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { ContainerError, TsrtError } from '../util/errors';
import { quote } from '../util/quote';

/**
 * --root when none is given: /run/tsrt for root; an unprivileged user (rootless) keeps
 * state in $XDG_RUNTIME_DIR/tsrt (runc uses $XDG_RUNTIME_DIR/runc), or /tmp/tsrt-<uid>
 * when that is unset.
 */
export const DEFAULT_ROOT = defaultRoot();

function defaultRoot(): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return '/run/tsrt';
  const xdg = process.env.XDG_RUNTIME_DIR;
  return xdg ? join(xdg, 'tsrt') : `/tmp/tsrt-${uid}`;
}

export interface SavedState {
  ociVersion: string;
  id: string;
  /** host pid of the init; 0 once known to be stopped */
  pid: number;
  /** field 22 of /proc/PID/stat at create time: tells a reused pid from ours */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** set while create runs; cleared when the init is ready */
  creating?: boolean;
  /** cgroup directories the container owns (removed on delete) */
  cgroupPaths?: Record<string, string>;
  /** --systemd-cgroup: the unit systemd made for it (stopped on delete) */
  systemdUnit?: string;
  /** no mount namespace of its own: what was mounted on the rootfs before create (shared-mounts.ts) */
  rootfsMounts?: { ns: string; before: number[] };
  config: Spec;
}

/** What delete --force needs to find a container's processes and cgroups. */
export interface Recovery {
  pid: number;
  pidStartTime: string;
  cgroupPaths?: Record<string, string>;
  systemdUnit?: string;
}

/** state.json exists but cannot be used: `state` and `kill` say so, `delete --force` cleans. */
export class DamagedStateError extends ContainerError {
  /** "state file F is damaged (why)" */
  readonly damage: string;
  constructor(readonly file: string, why: string) {
    const damage = `container state file ${file} is damaged (${why})`;
    super('EDAMAGED', `${damage}: \`delete --force\` removes the container`);
    this.damage = damage;
  }
}

const ID_RE = /^[\w+.-]+$/;

export function checkId(id: string): void {
  if (!id) throw new ContainerError('ESTATE', 'container id cannot be empty');
  if (!ID_RE.test(id) || id === '.' || id === '..') {
    throw new ContainerError('ESTATE', `invalid container id ${quote(id)}: use letters, digits, '_', '+', '-' and '.'`);
  }
}

export class StateStore {
  /** recovery.json as this process last wrote it, per id (rewritten only on a change) */
  private readonly recoveryWritten = new Map<string, string>();

  constructor(readonly root: string) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  fifoPath(id: string): string {
    return join(this.dir(id), 'exec.fifo');
  }

  /** Makes the container directory; fails if the id is taken. */
  claim(id: string): void {
    checkId(id);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ContainerError('EEXIST', `container with id ${id} already exists`);
      throw e;
    }
  }

  load(id: string): SavedState {
    checkId(id);
    const file = join(this.dir(id), 'state.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ContainerError('ENOTEXIST', `container ${id} does not exist`);
      throw new DamagedStateError(file, `cannot be read: ${code ?? (e as Error).message}`);
    }
    const why = stateProblem(text, id);
    if (why) throw new DamagedStateError(file, why);
    return JSON.parse(text) as SavedState;
  }

  /** recovery.json, or undefined when it is missing or damaged too. */
  loadRecovery(id: string): Recovery | undefined {
    try {
      const r = JSON.parse(readFileSync(join(this.dir(id), 'recovery.json'), 'utf8')) as Recovery;
      if (typeof r?.pid !== 'number' || typeof r.pidStartTime !== 'string') return undefined;
      if (r.systemdUnit !== undefined && !/^[\w:.@\\-]+\.(scope|slice)$/.test(String(r.systemdUnit))) return undefined;
      if (r.cgroupPaths !== undefined && (typeof r.cgroupPaths !== 'object' || !Object.values(r.cgroupPaths).every((p) => typeof p === 'string' && p.startsWith('/sys/fs/cgroup/')))) return undefined;
      return r;
    } catch {
      return undefined;
    }
  }

  exists(id: string): boolean {
    try {
      readFileSync(join(this.dir(id), 'state.json'));
      return true;
    } catch {
      return false;
    }
  }

  /** Writes recovery.json (when pid or cgroups changed), then state.json; both atomically. */
  save(state: SavedState): void {
    const recovery = JSON.stringify({ pid: state.pid, pidStartTime: state.pidStartTime, cgroupPaths: state.cgroupPaths, systemdUnit: state.systemdUnit } satisfies Recovery);
    if (this.recoveryWritten.get(state.id) !== recovery) {
      writeFileAtomic(join(this.dir(state.id), 'recovery.json'), recovery, 0o600);
      this.recoveryWritten.set(state.id, recovery);
    }
    writeFileAtomic(join(this.dir(state.id), 'state.json'), JSON.stringify(state), 0o600);
  }

  /**
   * Removes the container's directory. It holds files only (state.json, exec.fifo): an
   * unlink of each is 1 ms cheaper than rmSync's first use; rmSync is the fallback for
   * anything else (a sub-directory, a concurrent remover).
   */
  remove(id: string): void {
    const dir = this.dir(id);
    try {
      for (const name of readdirSync(dir)) unlinkSync(join(dir, name));
      rmdirSync(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  ids(): string[] {
    try {
      return readdirSync(this.root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    } catch {
      return [];
    }
  }

  /**
   * Holds an exclusive flock on the container directory while fn runs, so concurrent
   * commands on one id are serialized. Released by closing the fd (also on crash).
   */
  withLock<T>(id: string, fn: () => T): T {
    const { libc } = require('../libc/libc') as typeof import('../libc/libc');
    let fd: number;
    try {
      fd = openSync(this.dir(id), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ContainerError('ENOTEXIST', `container ${id} does not exist`);
      throw e;
    }
    libc.flock(fd, 2 /* LOCK_EX */);
    let async = false;
    try {
      const r = fn();
      if (r instanceof Promise) {
        async = true;
        return r.finally(() => closeSync(fd)) as T;
      }
      return r;
    } finally {
      if (!async) closeSync(fd);
    }
  }
}

/** The state JSON a hook reads on its stdin (runtime.md "State"). */
export function hookState(s: SavedState, status: string): string {
  return JSON.stringify({ ociVersion: s.ociVersion, id: s.id, status, pid: s.pid, bundle: s.bundle, annotations: s.annotations ?? {} });
}

/** Why a state.json text cannot be used, or undefined when it can. */
function stateProblem(text: string, id: string): string | undefined {
  if (text.trim() === '') return 'empty';
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch (e) {
    return `not valid JSON: ${(e as Error).message}`;
  }
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return 'not a JSON object';
  const o = s as Record<string, unknown>;
  if (o.id !== id) return `its id ${quote(o.id)} is not the directory's`;
  if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid < 0) return 'no valid pid';
  if (o.config === null || typeof o.config !== 'object') return 'no config';
  return undefined;
}

/**
 * Writes a file through a temporary one and rename, so a reader sees the old or the new
 * content, never a part. A failure (ENOSPC, EDQUOT, EROFS) names the file and leaves no
 * temporary file.
 */
export function writeFileAtomic(path: string, data: string, mode = 0o666): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data, { mode });
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* not made */ }
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new TsrtError(code, `writing ${path}: ${code}${code === 'ENOSPC' ? ' (no space left on device)' : ''}`);
  }
}

/** Writes a pid file atomically, with no trailing newline (containerd parses it strictly). */
export function writePidFile(path: string, pid: number): void {
  writeFileAtomic(path, String(pid));
}
