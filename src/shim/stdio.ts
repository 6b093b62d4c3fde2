// A process's stdio from the fifos containerd names (or /dev/null for an empty path).
// Without a terminal the process gets the fifos themselves: no copy through the shim, so
// a container's output costs the shim nothing. stdout/stderr are opened read-write (never
// blocks, and a reader that goes away does not SIGPIPE the process); stdin is a pipe the
// shim copies the fifo into (below). With a terminal the shim receives the pty master over a
// socketpair (the console socket) and copies between it and the fifos.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { ReadStream } from 'node:tty';
import { libc } from '../libc/libc';

const { O_RDONLY, O_RDWR, O_WRONLY, O_NONBLOCK, O_CLOEXEC } = constants as typeof constants & { O_CLOEXEC: number };
const CLOEXEC = O_CLOEXEC ?? 0o2000000;

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export class ProcessIo {
  /** fds the process gets as 0-2 (closed in the shim once it runs) */
  readonly given: [number, number, number];
  /** the console socket's shim end and the end the plan sends the master over */
  readonly console?: [number, number];
  private stdinFifo?: number;
  private stdinPipe?: number;
  private stdinCopy?: { src: Socket; dst: Socket };
  private master?: number;
  private copies: { destroy(): void }[] = [];
  /** the process exited: a late ResizePty finds no terminal to resize */
  private closed = false;

  constructor(readonly paths: StdioPaths) {
    const opened: number[] = [];
    try {
      const open = (p: string, flags: number) => {
        const fd = openSync(p, flags | CLOEXEC);
        opened.push(fd);
        return fd;
      };
      if (paths.terminal) {
        const null0 = open('/dev/null', O_RDWR);
        this.given = [null0, null0, null0];
        this.console = libc.socketpair();
        opened.push(...this.console);
      } else {
        let stdin: number;
        if (paths.stdin) {
          // ctr opens its end of the fifo after the shim opened this one, maybe after the
          // process first read: the process reads a pipe the shim copies the fifo into,
          // which ends when the fifo's last writer is gone (epoll reports no hang-up
          // before a writer came) or at CloseIO.
          this.stdinFifo = open(paths.stdin, O_RDONLY | O_NONBLOCK);
          const [r, w] = libc.pipe2(CLOEXEC);
          opened.push(r, w);
          stdin = r;
          this.stdinPipe = w;
        } else {
          stdin = open('/dev/null', O_RDONLY);
        }
        const out = (p: string) => (p ? open(p, O_RDWR) : open('/dev/null', O_WRONLY));
        this.given = [stdin, out(paths.stdout), out(paths.stderr)];
      }
    } catch (e) {
      for (const fd of opened) closeSync(fd);
      throw e;
    }
  }

  /** After the process started: the shim keeps only what it copies or holds. */
  started(): void {
    for (const fd of new Set(this.given)) closeSync(fd);
    if (this.console) closeSync(this.console[1]);
    if (this.stdinFifo !== undefined && this.stdinPipe !== undefined) {
      const src = new Socket({ fd: this.stdinFifo, readable: true, writable: false });
      const dst = new Socket({ fd: this.stdinPipe, readable: false, writable: true });
      src.on('error', () => dst.end());
      dst.on('error', () => src.destroy()); // EPIPE: the process closed its stdin
      src.pipe(dst);
      this.stdinCopy = { src, dst };
      this.stdinFifo = this.stdinPipe = undefined;
    }
  }

  /** Terminal: receives the master the process sent and copies between it and the fifos. */
  attachTerminal(): void {
    if (!this.console) return;
    this.master = libc.recvFd(this.console[0]).fd;
    closeSync(this.console[0]);
    const master = this.master;
    const out = new ReadStream(master);
    if (this.paths.stdout) {
      // fifos as libuv pipes (epoll), never a blocking read on a pool thread: exit would wait for it
      const sink = new Socket({ fd: openSync(this.paths.stdout, O_RDWR | CLOEXEC), readable: false, writable: true });
      out.pipe(sink);
      out.on('error', () => sink.end()); // EIO: the slave side closed
      this.copies.push(sink);
    } else {
      out.resume();
      out.on('error', () => {});
    }
    this.copies.push(out);
    if (this.paths.stdin) {
      const src = new Socket({ fd: openSync(this.paths.stdin, O_RDWR | CLOEXEC), readable: true, writable: false });
      src.on('data', (d: string | Buffer) => {
        try { writeSync(master, d as Buffer); } catch { /* the process is gone */ }
      });
      src.on('error', () => {});
      this.copies.push(src);
    }
  }

  resize(width: number, height: number): void {
    if (this.master !== undefined && !this.closed) libc.setWinsize(this.master, height, width);
  }

  /** CloseIO: the process reads EOF on stdin once ctr closed its end too. */
  closeStdin(): void {
    if (this.stdinCopy) {
      this.stdinCopy.src.destroy();
      this.stdinCopy.dst.end();
      this.stdinCopy = undefined;
    }
    for (const fd of [this.stdinFifo, this.stdinPipe]) if (fd !== undefined) closeSync(fd);
    this.stdinFifo = this.stdinPipe = undefined;
  }

  /** After the process exited (its output already in the fifos or still in the pty). */
  close(): void {
    this.closed = true;
    this.closeStdin();
    // the pty's last output is read before the streams close (they end on EIO)
    setTimeout(() => {
      for (const c of this.copies) c.destroy();
      this.copies = [];
    }, this.master === undefined ? 0 : 200).unref();
  }

  /** A create that failed: nothing of this stays open. */
  abandon(): void {
    for (const fd of new Set([...this.given, ...(this.console ?? [])])) {
      try { closeSync(fd); } catch { /* closed */ }
    }
    this.closeStdin();
  }
}
