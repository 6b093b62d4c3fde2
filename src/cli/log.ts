// Error and warning output, shaped like runc's: logrus text lines on stderr, or with
// --log FILE --log-format json one JSON object per line (podman reads a failing
// command's file as ONE object, so the fatal error is the only line written then).
import { appendFileSync, closeSync, openSync, writeSync } from 'node:fs';
import { safeMessage } from '../util/quote';

let sleeper: Int32Array | undefined;

/**
 * Writes all of text to fd 1 or 2 synchronously. process.stdout / process.stderr would
 * load node's stream modules first (about 3 ms of start-up, docs/performance.md); a
 * non-blocking pipe (EAGAIN) is waited for.
 */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
    }
  }
}

/** What a command prints on stdout. */
export function writeStdout(text: string): void {
  writeAll(1, text);
}

export interface LogOptions {
  log?: string;
  logFormat?: string;
  debug?: boolean;
}

let opts: LogOptions = {};

export function configureLog(o: LogOptions): void {
  opts = o;
  // As runc, --log FILE exists once tsrt ran, even when nothing was logged (callers read it).
  if (o.log) {
    try {
      closeSync(openSync(o.log, 'a', 0o600));
    } catch {
      // unwritable: each line then falls back to stderr (emit)
    }
  }
}

function line(level: string, msg: string): string {
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (opts.logFormat === 'json') return JSON.stringify({ level, msg, time }) + '\n';
  return `time=${JSON.stringify(time)} level=${level} msg=${JSON.stringify(msg)}\n`;
}

function writeStderr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // stderr closed: nowhere left to report to
  }
}

function emit(level: string, raw: string): void {
  const msg = safeMessage(raw);
  if (opts.log) {
    try {
      appendFileSync(opts.log, line(level, msg));
    } catch {
      writeStderr(line(level, msg));
    }
    if (level === 'error') writeStderr(`${msg}\n`);
  } else {
    writeStderr(line(level, msg));
  }
}

export function logError(msg: string): void {
  emit('error', msg);
}

export function logWarn(msg: string): void {
  emit('warning', msg);
}

export function logDebug(msg: string): void {
  if (opts.debug) emit('debug', msg);
}
