// A container's state on disk: <root>/<id>/state.json (written atomically), the exec
// fifo, and a lock taken with flock on the container directory.
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { ContainerError } from '../util/errors';

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
  /** no mount namespace of its own: what was mounted on the rootfs before create (shared-mounts.ts) */
  rootfsMounts?: { ns: string; before: number[] };
  config: Spec;
}

const ID_RE = /^[\w+.-]+$/;

export function checkId(id: string): void {
  if (!id) throw new ContainerError('ESTATE', 'container id cannot be empty');
  if (!ID_RE.test(id) || id === '.' || id === '..') {
    throw new ContainerError('ESTATE', `invalid container id ${JSON.stringify(id)}: use letters, digits, '_', '+', '-' and '.'`);
  }
}

export class StateStore {
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
    let text: string;
    try {
      text = readFileSync(join(this.dir(id), 'state.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ContainerError('ENOTEXIST', `container ${id} does not exist`);
      throw e;
    }
    return JSON.parse(text) as SavedState;
  }

  exists(id: string): boolean {
    try {
      readFileSync(join(this.dir(id), 'state.json'));
      return true;
    } catch {
      return false;
    }
  }

  save(state: SavedState): void {
    const file = join(this.dir(state.id), 'state.json');
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    renameSync(tmp, file);
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

/** Writes a pid file atomically, with no trailing newline (containerd parses it strictly). */
export function writePidFile(path: string, pid: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, String(pid));
  renameSync(tmp, path);
}
