// `update`: change the resource limits of a created, running or paused container.
// The new values are merged into the saved linux.resources (a field not given keeps its
// value; a list given replaces the list), the changed sections are written to the
// cgroups, and the merged resources are saved, so the next update starts from them. If
// the kernel refuses a value, the sections are set back to what they were (as runc does).
import { readFileSync } from 'node:fs';
import type { LinuxResources } from '../oci/spec-types';
import { ContainerError, UsageError } from '../util/errors';
import type { StateStore } from './state-store';
import { statusOf } from './status';

/** runc's single-value flags, as given on the command line (strings). */
export interface UpdateFlags {
  memory?: string;
  'memory-swap'?: string;
  'memory-reservation'?: string;
  'kernel-memory'?: string;
  'kernel-memory-tcp'?: string;
  'cpu-share'?: string;
  'cpu-quota'?: string;
  'cpu-period'?: string;
  'cpu-burst'?: string;
  'cpu-idle'?: string;
  'cpu-rt-runtime'?: string;
  'cpu-rt-period'?: string;
  'cpuset-cpus'?: string;
  'cpuset-mems'?: string;
  'pids-limit'?: string;
  'blkio-weight'?: string;
}

function int(v: string, flag: string, min = -Infinity): number {
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`--${flag}: ${JSON.stringify(v)} is not an integer`);
  const n = Number(v);
  if (n < min) throw new UsageError(`--${flag}: ${v} is below ${min}`);
  return n;
}

/** LinuxResources from the single-value flags (only those given). */
export function resourcesFromFlags(f: UpdateFlags): LinuxResources {
  const { parseMemory } = require('../cgroups/units') as typeof import('../cgroups/units');
  const r: LinuxResources = {};
  const mem = (k: keyof UpdateFlags) => (f[k] !== undefined ? parseMemory(String(f[k]), `--${k}`) : undefined);
  const memory = {
    limit: mem('memory'), swap: mem('memory-swap'), reservation: mem('memory-reservation'),
    kernel: mem('kernel-memory'), kernelTCP: mem('kernel-memory-tcp'),
  };
  const n = (k: keyof UpdateFlags, min?: number) => (f[k] !== undefined ? int(String(f[k]), k, min) : undefined);
  const cpu = {
    shares: n('cpu-share', 0), quota: n('cpu-quota'), period: n('cpu-period', 0), burst: n('cpu-burst', 0),
    idle: n('cpu-idle'), realtimeRuntime: n('cpu-rt-runtime'), realtimePeriod: n('cpu-rt-period', 0),
    cpus: f['cpuset-cpus'], mems: f['cpuset-mems'],
  };
  const drop = <T extends object>(o: T): T | undefined => {
    const e = Object.entries(o).filter(([, v]) => v !== undefined);
    return e.length ? (Object.fromEntries(e) as T) : undefined;
  };
  r.memory = drop(memory);
  r.cpu = drop(cpu);
  if (f['pids-limit'] !== undefined) r.pids = { limit: int(String(f['pids-limit']), 'pids-limit') };
  if (f['blkio-weight'] !== undefined) {
    const w = int(String(f['blkio-weight']), 'blkio-weight', 0);
    if (w !== 0 && (w < 10 || w > 1000)) throw new UsageError(`--blkio-weight: ${w} is outside 10..1000`);
    r.blockIO = { weight: w };
  }
  for (const k of Object.keys(r) as (keyof LinuxResources)[]) if (r[k] === undefined) delete r[k];
  return r;
}

/** LinuxResources from --resources FILE (or - for stdin), checked against the schema. */
export function resourcesFromFile(file: string): LinuxResources {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`--resources: cannot read ${file === '-' ? 'stdin' : file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--resources: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError('--resources: must be a JSON object (linux.resources of config.json)');
  const { collectConfigProblems } = require('../oci/validate-config') as typeof import('../oci/validate-config');
  const problems = collectConfigProblems({ ociVersion: '1.0.0', root: { path: 'rootfs' }, linux: { resources: raw } })
    .filter((p) => p.startsWith('linux.resources'));
  if (problems.length) throw new UsageError(`--resources: ${problems.slice(0, 3).map((p) => p.slice('linux.resources.'.length)).join('; ')}`);
  return raw as LinuxResources;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** cur with upd laid over it: objects merge key by key, anything else replaces. */
export function mergeResources(cur: LinuxResources, upd: LinuxResources): LinuxResources {
  const out: Record<string, unknown> = structuredClone(cur) as Record<string, unknown>;
  for (const [k, v] of Object.entries(upd)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = isPlain(v) && isPlain(prev) ? { ...prev, ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) } : structuredClone(v);
  }
  return out as LinuxResources;
}

export async function updateContainer(store: StateStore, id: string, upd: LinuxResources, warn: (msg: string) => void): Promise<void> {
  await store.withLock(id, async () => {
    const s = store.load(id);
    const status = statusOf(store, s);
    if (status !== 'created' && status !== 'running' && status !== 'paused') throw new ContainerError('ESTATE', 'container not running');
    const only = new Set(Object.keys(upd).filter((k) => (upd as Record<string, unknown>)[k] !== undefined));
    if (!only.size) return;
    const { managerFor } = require('../cgroups/manager') as typeof import('../cgroups/manager');
    const m = managerFor(s.cgroupPaths);
    const before = s.config.linux?.resources ?? {};
    const merged = mergeResources(before, upd);
    // runc's rule for unlimited memory: --memory -1 without --memory-swap means no swap
    // limit either (runc's update leaves unset fields 0, "not set"), not the old one,
    // which the kernel would refuse as below the new memory limit.
    if (upd.memory?.limit === -1 && upd.memory.swap === undefined && merged.memory) delete merged.memory.swap;
    const devices = s.config.linux?.devices;
    if (s.systemdUnit) {
      // As runc's systemd driver: the unit's properties first, then the cgroup files.
      const { setUnitResources } = require('../cgroups/systemd/driver') as typeof import('../cgroups/systemd/driver');
      await setUnitResources(s.systemdUnit, merged, devices);
    }
    try {
      m.apply(merged, { warn, devices, only });
    } catch (e) {
      try {
        m.apply(before, { warn: () => {}, devices, only });
      } catch (back) {
        warn(`setting the previous limits back failed too: ${(back as Error).message}`);
      }
      throw e;
    }
    s.config.linux = { ...s.config.linux, resources: merged };
    store.save(s);
  });
}
