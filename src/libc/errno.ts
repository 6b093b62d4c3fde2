// errno numbers to names (ENOENT) and messages, without loading koffi: names come from
// node's own table; messages from a short table of the common ones, libc for the rest.
import { constants } from 'node:os';

let byNumber: Map<number, string> | undefined;

export function errnoName(e: number): string {
  if (!byNumber) {
    byNumber = new Map();
    for (const [name, num] of Object.entries(constants.errno)) {
      if (!byNumber.has(num)) byNumber.set(num, name);
    }
    byNumber.set(11, 'EAGAIN');
    byNumber.set(95, 'EOPNOTSUPP');
  }
  return byNumber.get(e) ?? `errno ${e}`;
}

const MESSAGES: Record<number, string> = {
  1: 'operation not permitted', 2: 'no such file or directory', 3: 'no such process',
  4: 'interrupted system call', 5: 'input/output error', 9: 'bad file descriptor',
  11: 'resource temporarily unavailable', 12: 'cannot allocate memory',
  13: 'permission denied', 14: 'bad address', 16: 'device or resource busy',
  17: 'file exists', 18: 'invalid cross-device link', 19: 'no such device',
  20: 'not a directory', 21: 'is a directory', 22: 'invalid argument',
  24: 'too many open files', 28: 'no space left on device', 30: 'read-only file system',
  36: 'file name too long', 38: 'function not implemented', 39: 'directory not empty',
  40: 'too many levels of symbolic links', 95: 'operation not supported',
  110: 'connection timed out', 111: 'connection refused', 8: 'exec format error',
  7: 'argument list too long', 10: 'no child processes', 6: 'no such device or address',
  26: 'text file busy', 80: 'accessing a corrupted shared library',
};

export function strerror(e: number): string {
  const m = MESSAGES[e];
  if (m) return m;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./libc') as typeof import('./libc')).libc.strerror(e).toLowerCase();
}

export function describeErrno(e: number): string {
  return `${errnoName(e)} (${strerror(e)})`;
}
