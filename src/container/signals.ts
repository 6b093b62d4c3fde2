// Signal names and numbers as runc accepts them: 9, KILL, SIGKILL (any case), and 0.
import { SIGNALS } from '../libc/constants';
import { UsageError } from '../util/errors';

export function parseSignal(text: string | undefined): number {
  if (text === undefined || text === '') return 15;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    // 0 sends nothing: it asks whether the container's init still exists (kill(2)).
    if (n >= 0 && n <= 64) return n;
    throw new UsageError(`invalid signal ${JSON.stringify(text)}: numbers go from 0 to 64`);
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) return name.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
  const n = SIGNALS[name];
  if (n === undefined) throw new UsageError(`unknown signal ${JSON.stringify(text)}`);
  return n;
}
