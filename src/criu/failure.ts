// What checkpoint and restore say when CRIU fails: an unsupported kernel when
// `criu check` fails too (kernel-support.ts), else CRIU's answer and the Error lines of
// its log (runc quotes them the same way).
import { constants as fsc, openSync, readFileSync } from 'node:fs';
import { TsrtError } from '../util/errors';
import { criuErrorLines, probeCriu } from './kernel-support';

/** Opens a directory for CRIU (it reads /proc/<tsrt>/fd/N); the fd is added to `fds`. */
export function openDir(path: string, flag: string, fds: number[]): number {
  try {
    const fd = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
    fds.push(fd);
    return fd;
  } catch (e) {
    throw new TsrtError('EBADPATH', `${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function explainCriuFailure(e: unknown, action: string, logFile?: string): Error {
  if (!(e instanceof TsrtError) || e.code !== 'ECRIU') return e as Error;
  const unsupported = probeCriu(action);
  if (unsupported) return unsupported;
  let lines: string[] = [];
  if (logFile) {
    try {
      lines = criuErrorLines(readFileSync(logFile, 'utf8'), 5);
    } catch {
      // no log: CRIU stopped before writing one
    }
  }
  return new TsrtError('ECRIU', `${action}: ${e.message}${lines.length ? `; ${logFile}: ${lines.join('; ')}` : logFile ? ` (see ${logFile})` : ''}`);
}
