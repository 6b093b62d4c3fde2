// Why CRIU failed, when the reason is CRIU itself: `criu check` runs CRIU's kernel
// feature detection, which every dump and restore needs. When it fails, the installed
// CRIU cannot run on this kernel at all (Debian 12's CRIU 3.17 on kernel 6.18 stops at
// the vDSO layout); tsrt says so with CRIU's own words instead of a bare "criu failed".
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { TsrtError } from '../util/errors';
import { criuBinary } from './binary';

export class CriuUnsupportedError extends TsrtError {
  constructor(message: string) {
    super('ECRIUKERNEL', message);
  }
}

/** The CRIU version line ("3.17.1"), or "" when criu cannot say. */
function criuVersion(): string {
  const r = spawnSync(criuBinary(), ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return /Version:\s*(\S+)/.exec(r.stdout ?? '')?.[1] ?? '';
}

function kernelRelease(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return release();
  }
}

/** The "Error (file:line): what" lines of CRIU's output, without the location, at most `max`. */
export function criuErrorLines(text: string, max = 3): string[] {
  return text.split('\n').map((l) => /^\s*(?:\(\s*[\d.]+\)\s*)?Error \([^)]*\):\s*(.*)$/.exec(l)?.[1]?.trim()).filter((l): l is string => !!l).slice(0, max);
}

/**
 * Runs `criu check`; returns undefined when it passes, else the error to report: an
 * unsupported kernel when CRIU's kernel feature detection itself fails.
 */
export function probeCriu(action: string): TsrtError | undefined {
  const r = spawnSync(criuBinary(), ['check'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return undefined; // not runnable: the swrk attempt reported that already
  if (r.status === 0) return undefined;
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const errors = criuErrorLines(out);
  const why = errors.length ? errors.join('; ') : out.trim().split('\n').slice(-2).join('; ');
  const version = criuVersion();
  if (/kernel features detection|kerndat/i.test(out)) {
    return new CriuUnsupportedError(`${action}: the installed CRIU${version ? ` ${version}` : ''} does not support this kernel (${kernelRelease()}): its kernel feature detection fails (criu check: ${why})`);
  }
  return new CriuUnsupportedError(`${action}: CRIU${version ? ` ${version}` : ''} cannot checkpoint on this host (criu check: ${why})`);
}
