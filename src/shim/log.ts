// The shim's log lines reach containerd's log through the `log` fifo of a task's bundle:
// containerd reads it (and copies it to its own log) while it talks to that task's shim,
// from before `start` until the task is deleted. One daemon serves several tasks over its
// life (a pod, or every container without one: docs/shim.md), so a line goes to the fifo
// of the newest task it serves, the first task's until a second came.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class ShimLog {
  private readonly fifos: { id: string; fd: number }[] = [];

  constructor(private readonly debug: boolean) {}

  /** A task's bundle, whose fifo has a reader now (containerd opened it before `start`). */
  attach(id: string, bundle: string): void {
    const k = this.fifos.findIndex((f) => f.id === id);
    if (k >= 0) {
      this.fifos.push(...this.fifos.splice(k, 1));
      return;
    }
    try {
      this.fifos.push({ id, fd: openSync(join(bundle, 'log'), constants.O_WRONLY | constants.O_NONBLOCK) });
    } catch {
      // no reader (containerd restarted) or no fifo: nowhere to log for this task
    }
  }

  /** containerd is done with the task (its Shutdown): it stops reading the fifo. */
  detach(id: string): void {
    const k = this.fifos.findIndex((f) => f.id === id);
    if (k < 0) return;
    closeSync(this.fifos[k]!.fd);
    this.fifos.splice(k, 1);
  }

  readonly line = (msg: string): void => {
    const f = this.fifos[this.fifos.length - 1];
    if (!f) return;
    try {
      writeSync(f.fd, `time="${new Date().toISOString()}" level=${this.debug ? 'debug' : 'info'} msg=${JSON.stringify(msg)} runtime=io.containerd.tsrt.v2\n`);
    } catch {
      // EAGAIN (containerd is slow to read) or EPIPE (it stopped reading): the line is dropped
    }
  };
}
