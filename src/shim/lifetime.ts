// When the shim daemon exits. containerd calls Shutdown after it deleted a task; once the
// daemon serves no task it lingers TSRT_SHIM_LINGER seconds, so that the next `start` of
// its group (the next container without a pod, mostly) finds it warm, then exits
// (docs/shim.md, "Lifetime").
//
// The start script (scripts/shim-start.sh) and the daemon agree through files beside the
// daemon's socket S:
//   S.pid     "PID STARTTIME": the script reuses S only if that process lives (and is the
//             same process: the start time of a reused pid differs).
//   S.claims/ one empty file per task whose `start` printed S, written by the script
//             BEFORE it checks S.pid; the daemon removes it at the task's Create. The daemon
//             commits to exiting by rmdir(S.claims): that fails while a claim is in it, and
//             once it is gone no script can claim (its write fails, so it starts a new
//             daemon). An address that `start` printed therefore always has a daemon behind
//             it, however the linger's end and a new task meet.
//   S.lock    flock()ed by a script while it starts a daemon and by an exiting daemon while
//             it removes S and S.pid (if still its own); the holder unlinks it before
//             unlocking, and a waiter whose file is no longer at that path takes it again.
// And, for a pod's daemon, the script's memo of the socket's name (TSRT_SHIM_MEMO,
// "HASH KEY"), removed with the socket: its pod is over.
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { flockExclusive } from '../image/sys';

/** The linger when TSRT_SHIM_LINGER is not set (docs/shim.md says why). */
export const DEFAULT_LINGER_S = 30;
/** A claim this old belongs to a `start` whose Create never came (containerd died between). */
const CLAIM_TTL_MS = 60_000;
/** How soon an idle daemon held back by a claim looks again. */
const RECHECK_MS = 1000;

/** TSRT_SHIM_LINGER's value in ms: seconds >= 0, else the default (and a warning). */
export function lingerMs(value: string | undefined, warn: (msg: string) => void): number {
  if (value === undefined || value.trim() === '') return DEFAULT_LINGER_S * 1000;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  warn(`TSRT_SHIM_LINGER=${JSON.stringify(value.slice(0, 40))} is not a number of seconds >= 0: lingering ${DEFAULT_LINGER_S} s`);
  return DEFAULT_LINGER_S * 1000;
}

/** This process's start time in clock ticks since boot (/proc/PID/stat field 22). */
function startTime(): string {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

export interface LifetimeOptions {
  /** the daemon's socket ('' when it listens on an inherited fd: no files to agree through) */
  socket: string;
  /** the start script's memo of this socket's name, removed at exit (a pod's; '' for none) */
  memo?: string;
  lingerMs: number;
  /** no task served and none being created */
  idle(): boolean;
  log(msg: string): void;
  /** the process exit, once nothing refers to this daemon any more */
  exit(): void;
}

export class Lifetime {
  private timer?: NodeJS.Timeout;
  private readonly pidLine = `${process.pid} ${startTime()}`;

  constructor(private readonly o: LifetimeOptions) {}

  private get claims(): string {
    return `${this.o.socket}.claims`;
  }

  /**
   * Listening: the start scripts of the group may find this daemon now. Its first task's
   * claim keeps it until that Create; with none (containerd gave up after `start`) it goes.
   */
  listening(): void {
    if (this.o.socket) writeFileSync(`${this.o.socket}.pid`, `${this.pidLine}\n`);
    this.timer = setTimeout(() => this.tryExit(), this.o.lingerMs);
  }

  /** A task's Create came (done or failed): its `start`'s claim is served. */
  claimed(id: string): void {
    this.cancel();
    if (this.o.socket) rmSync(join(this.claims, id), { force: true });
  }

  /** A task came: no exit planned. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** containerd's Shutdown: with nothing left to serve, exit after the linger (now: at once). */
  shutdown(now: boolean): void {
    this.cancel();
    if (now) {
      if (this.o.socket) rmSync(this.claims, { recursive: true, force: true });
      this.leave();
      return;
    }
    if (!this.o.idle()) return;
    // even with no linger, after Shutdown's answer went out
    this.timer = setTimeout(() => this.tryExit(), this.o.lingerMs);
  }

  private tryExit(): void {
    this.timer = undefined;
    if (!this.o.idle()) return;
    if (this.o.socket) {
      this.dropStaleClaims();
      try {
        rmdirSync(this.claims);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          // a `start` printed this daemon's address: its Create comes next
          this.timer = setTimeout(() => this.tryExit(), RECHECK_MS);
          return;
        }
        // ENOENT: gone already (a start script found this daemon dead? never while it lives)
      }
    }
    this.leave();
  }

  private dropStaleClaims(): void {
    let names: string[];
    try {
      names = readdirSync(this.claims);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(this.claims, n);
      try {
        if (Date.now() - statSync(p).mtimeMs > CLAIM_TTL_MS) {
          this.o.log(`the claim of task ${n} is ${CLAIM_TTL_MS / 1000} s old and its Create never came: dropped`);
          rmSync(p, { force: true });
        }
      } catch {
        // removed meanwhile (its Create came)
      }
    }
  }

  /** Removes the socket and pid file if still this daemon's (a script may be replacing them), then exits. */
  private leave(): void {
    if (this.o.socket) {
      const lock = `${this.o.socket}.lock`;
      let fd: number;
      try {
        fd = lockPath(lock);
      } catch (e) {
        // the socket's directory is gone (a test's temp dir): nothing to remove
        this.o.log(`exit: ${(e as Error).message}`);
        this.o.exit();
        return;
      }
      try {
        if (readFileSync(`${this.o.socket}.pid`, 'latin1').trim() === this.pidLine) {
          rmSync(this.o.socket, { force: true });
          rmSync(`${this.o.socket}.pid`, { force: true });
          if (this.o.memo) removeMemo(this.o.memo, this.o.socket);
        }
      } catch {
        // no pid file: nothing of this daemon's to remove
      } finally {
        rmSync(lock, { force: true });
        closeSync(fd);
      }
    }
    this.o.exit();
  }
}

/** Removes the memo if it still names this socket (under the socket's lock: a script may be starting the pod's next daemon). */
function removeMemo(memo: string, socket: string): void {
  try {
    if (readFileSync(memo, 'latin1').split(' ')[0] === basename(socket)) rmSync(memo, { force: true });
  } catch {
    // none (a memo is only a cache)
  }
}

/** Opens and flock()s a lock file that holders unlink before unlocking: until the locked file is the one at the path. */
function lockPath(path: string): number {
  for (;;) {
    const fd = openSync(path, 'a', 0o600);
    flockExclusive(fd, path);
    try {
      const at = statSync(path);
      const held = fstatSync(fd);
      if (at.ino === held.ino && at.dev === held.dev) return fd;
    } catch {
      // unlinked by the previous holder: take the new one
    }
    closeSync(fd);
  }
}
