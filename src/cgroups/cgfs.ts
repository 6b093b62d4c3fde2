// Reading and writing cgroup files, with errors that name the config field, the file and
// the errno: "linux.resources.memory.limit: writing /sys/fs/cgroup/memory/x/memory.limit_in_bytes: EBUSY".
import { closeSync, constants, existsSync, openSync, readFileSync, readdirSync, writeSync, type Dirent } from 'node:fs';
import { TsrtError } from '../util/errors';

export class CgroupError extends TsrtError {
  constructor(message: string) {
    super('ECGROUP', message);
  }
}

export function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String((e as Error).message ?? e);
}

/**
 * One write(2) of value to dir/file (cgroup files take one setting per write). Opened
 * O_WRONLY without O_CREAT: some files are write-only, and none can be created.
 */
export function writeCg(dir: string, file: string, value: string | number | bigint, field: string, hint?: (code: string) => string | undefined): void {
  const path = `${dir}/${file}`;
  try {
    const fd = openSync(path, constants.O_WRONLY);
    try {
      writeSync(fd, String(value));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = errCode(e);
    const extra = hint?.(code);
    throw new CgroupError(`${field}: writing ${path}: ${code}${extra ? ` (${extra})` : ''}`);
  }
}

export function readCg(dir: string, file: string): string | undefined {
  try {
    return readFileSync(`${dir}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

export function hasFile(dir: string, file: string): boolean {
  return existsSync(`${dir}/${file}`);
}

/** An unsigned value as a bigint ("max" -> undefined); undefined when unreadable. */
export function readBig(dir: string, file: string): bigint | undefined {
  const t = readCg(dir, file)?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  try {
    return BigInt(t.split(/\s+/)[0]!);
  } catch {
    return undefined;
  }
}

/** "key value" lines (memory.stat, cpu.stat, memory.events) as a map of bigints. */
export function readKeyValues(dir: string, file: string): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const line of (readCg(dir, file) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (!k || v === undefined) continue;
    try {
      m.set(k, BigInt(v));
    } catch {
      // not a number
    }
  }
  return m;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps the whole process (cgroup commands are short and synchronous). */
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** The pids in a cgroup and every cgroup below it (runc's GetAllPids), each counted once. */
export function pidsBelow(dir: string): Set<number> {
  const pids = new Set<number>();
  const walk = (d: string) => {
    for (const p of (readCg(d, 'cgroup.procs') ?? '').split('\n')) if (p) pids.add(Number(p));
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of entries) if (e.isDirectory()) walk(`${d}/${e.name}`);
  };
  walk(dir);
  return pids;
}
