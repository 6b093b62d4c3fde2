// runc beside tsrt on the same bundle, for the parity tests: a runc with its own --root
// under the sandbox's temp dir, every id it created deleted (--force) by the test's
// cleanup. Not a test file.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { procStat, runToFiles } from './tsrt.mjs';

export const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'].find((p) => fs.existsSync(p));

/**
 * runc driven like Sandbox.tsrt (stdout and stderr in files of the sandbox), or undefined
 * when runc is not installed (the test then checks tsrt alone).
 */
export function runcFor(sb) {
  if (!RUNC) return undefined;
  const root = path.join(sb.dir, 'runc-state');
  const ids = new Set();
  sb.beforeCleanup(() => {
    for (const id of ids) spawnSync(RUNC, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 60_000 });
  });
  return {
    name: 'runc',
    root,
    id(prefix) {
      const id = sb.id(`runc-${prefix}`);
      ids.add(id);
      return id;
    },
    run(args, opts = {}) {
      return runToFiles(RUNC, ['--root', root, ...args], { ...sb.ioFiles(), cwd: opts.cwd ?? sb.dir, input: opts.input, timeout: opts.timeout });
    },
  };
}

/** tsrt with the same interface as runcFor's. */
export function tsrtFor(sb) {
  return {
    name: 'tsrt',
    root: sb.root,
    id: (prefix) => sb.id(prefix),
    run: (args, opts = {}) => sb.tsrt(args, opts),
  };
}

/** The runtimes to compare: tsrt, and runc when installed. */
export function runtimes(sb) {
  return [tsrtFor(sb), runcFor(sb)].filter(Boolean);
}

/** The exit code a zombie left in /proc/PID/stat (field 52), or undefined once reaped. */
export function zombieExitCode(pid) {
  const st = procStat(pid);
  if (!st || st[0] !== 'Z') return undefined;
  return (Number(st[49]) >> 8) & 0xff;
}
