// The shim is the parent of every container process it starts (create and exec clone
// from it) and, as a child subreaper (prctl PR_SET_CHILD_SUBREAPER), of what those leave
// behind. On SIGCHLD it reaps the processes it watches, by pid (waitpid(-1) would also
// take node's own children, the publish binary and hooks, from libuv, which then never
// reports their exit); an orphan it does not watch is reaped a little later, once libuv
// had its chance to reap what it spawned.
import { readdirSync, readFileSync } from 'node:fs';
import { libc } from '../libc/libc';

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const ORPHAN_DELAY_MS = 500;

/** waitpid's status as a process exit code (128 + signal when killed), as containerd reports it. */
export function exitStatusOf(status: number): number {
  const sig = status & 0x7f;
  return sig === 0 ? (status >> 8) & 0xff : 128 + sig;
}

export class Reaper {
  private readonly watched = new Map<number, (status: number) => void>();
  private sweep?: NodeJS.Timeout;

  constructor() {
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1);
    process.on('SIGCHLD', () => this.reap());
  }

  /** Calls onExit with the exit code once pid exits (at once if it already has). */
  watch(pid: number, onExit: (status: number) => void): void {
    this.watched.set(pid, onExit);
    this.reap();
  }

  private reap(): void {
    for (const [pid, onExit] of this.watched) {
      let r: [number, number];
      try {
        r = libc.waitpid(pid, WNOHANG);
      } catch {
        r = [pid, 255 << 8]; // ECHILD: reaped elsewhere; its status is lost
      }
      if (r[0] !== pid) continue;
      this.watched.delete(pid);
      onExit(exitStatusOf(r[1]));
    }
    this.sweep ??= setTimeout(() => {
      this.sweep = undefined;
      this.reapOrphans();
    }, ORPHAN_DELAY_MS).unref();
  }

  /** Zombie children nobody watches: re-parented orphans of the containers. */
  private reapOrphans(): void {
    for (const pid of childrenOf(process.pid)) {
      if (this.watched.has(pid)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      } catch {
        continue;
      }
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') continue;
      try {
        libc.waitpid(pid, WNOHANG);
      } catch {
        // gone meanwhile
      }
    }
  }
}

/** The children of a process, from /proc/PID/task/TID/children of each of its threads. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim().split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      // thread gone
    }
  }
  return out;
}
