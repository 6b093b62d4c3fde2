// Error and warning output, shaped like runc's: logrus text lines on stderr, or with
// --log FILE --log-format json one JSON object per line (podman reads a failing
// command's file as ONE object, so the fatal error is the only line written then).
import { appendFileSync } from 'node:fs';

export interface LogOptions {
  log?: string;
  logFormat?: string;
  debug?: boolean;
}

let opts: LogOptions = {};

export function configureLog(o: LogOptions): void {
  opts = o;
}

function line(level: string, msg: string): string {
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (opts.logFormat === 'json') return JSON.stringify({ level, msg, time }) + '\n';
  return `time=${JSON.stringify(time)} level=${level} msg=${JSON.stringify(msg)}\n`;
}

function emit(level: string, msg: string): void {
  if (opts.log) {
    try {
      appendFileSync(opts.log, line(level, msg));
    } catch {
      process.stderr.write(line(level, msg));
    }
    if (level === 'error') process.stderr.write(`${msg}\n`);
  } else {
    process.stderr.write(line(level, msg));
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
