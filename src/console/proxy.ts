// Interactive terminal for foreground `run`/`exec` without --console-socket: tsrt holds
// the pty master, puts the caller's terminal in raw mode, copies both ways and keeps
// the pty's size in step with the caller's window. restore() undoes it on every path.
import { closeSync, writeSync } from 'node:fs';
import { libc } from '../libc/libc';

export interface TerminalProxy {
  /** resolves once the container side closed (all output copied) or after a grace period */
  finish(): Promise<void>;
  restore(): void;
}

/**
 * The caller's window size: from stdin's terminal, as runc takes it (stdout may be
 * redirected: `tsrt exec -t ID cmd > file`), else from stdout's.
 */
export function callerWindowSize(): { rows: number; cols: number } | undefined {
  for (const fd of [0, 1]) {
    const ws = libc.getWinsize(fd);
    if (ws && ws.rows > 0 && ws.cols > 0) return ws;
  }
  return undefined;
}

export function proxyTerminal(master: number): TerminalProxy {
  const tty = require('node:tty') as typeof import('node:tty');
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const resize = () => {
    const ws = callerWindowSize();
    if (ws) {
      try { libc.setWinsize(master, ws.rows, ws.cols); } catch { /* closed */ }
    }
  };
  resize();
  process.on('SIGWINCH', resize);
  let atLineStart = true;
  const onInput = (d: Buffer) => {
    if (d.length) atLineStart = d[d.length - 1] === 0x0a;
    try { writeSync(master, d); } catch { /* container side closed */ }
  };
  // Input from a pipe or file (no raw mode): its end is the terminal's end-of-file, ^D at
  // the start of a line (a second one after a partial line), or `echo x | tsrt exec -t
  // ID cat` would wait for ever.
  const onEnd = () => {
    try { writeSync(master, atLineStart ? '\x04' : '\x04\x04'); } catch { /* container side closed */ }
  };
  stdin.on('data', onInput);
  if (!raw) stdin.on('end', onEnd);
  stdin.resume();
  const out = new tty.ReadStream(master);
  let closed = false;
  const done = new Promise<void>((resolve) => {
    const end = () => { closed = true; resolve(); };
    out.on('end', end);
    out.on('close', end);
    out.on('error', end); // EIO once the slave side is gone
  });
  out.on('data', (d: Buffer) => process.stdout.write(d));
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off('SIGWINCH', resize);
    stdin.off('data', onInput);
    stdin.off('end', onEnd);
    stdin.pause();
    if (raw) {
      try { stdin.setRawMode(false); } catch { /* stdin gone */ }
    }
  };
  process.on('exit', restore);
  return {
    async finish() {
      await Promise.race([done, new Promise((r) => setTimeout(r, 300))]);
      if (!closed) out.destroy();
      try { closeSync(master); } catch { /* closed by the stream */ }
      restore();
    },
    restore,
  };
}
