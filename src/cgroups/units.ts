// Value syntaxes of runc's update and events flags.
import { UsageError } from '../util/errors';

const RAM_RE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const RAM_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A memory size as runc's update flags take it (go-units RAMInBytes): a number with an
 * optional binary unit k/m/g/t/p, optionally followed by "i" and/or "b", any case
 * ("32m", "1.5g", "100KiB", "512 MB"); "-1" is unlimited. Checked against runc 1.1 here:
 * --memory 32m -> 33554432, 1.5g -> 1610612736, 100kb -> 102400.
 */
export function parseMemory(s: string, flag: string): number {
  const t = s.trim();
  if (t === '-1') return -1;
  const m = RAM_RE.exec(t);
  if (!m) throw new UsageError(`${flag}: invalid size ${JSON.stringify(s)} (use bytes or a number with k, m, g, t or p)`);
  const n = Number.parseFloat(m[1]!);
  const mult = m[2] ? RAM_UNITS[m[2].toLowerCase()]! : 1;
  return Math.trunc(n * mult);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("5s", "500ms", "1m30s", "1.5h") in milliseconds. */
export function parseDuration(s: string, flag: string): number {
  const bad = () => new UsageError(`${flag}: invalid duration ${JSON.stringify(s)} (examples: 5s, 500ms, 1m30s)`);
  let rest = s.trim();
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (!rest) throw bad();
  let total = 0;
  while (rest) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m) throw bad();
    total += Number.parseFloat(m[1]!) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}
