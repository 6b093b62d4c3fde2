// linux.resources -> the unit properties systemd understands (systemd.resource-control(5)),
// converted as runc's systemd driver converts them (its v1.go / v2.go / common.go and
// devices/systemd.go, read for this). What systemd has no property for is written to the
// scope's cgroup files afterwards by the cgroupfs code (manager.ts), as runc's driver does.
//
// A property is [name, D-Bus signature, value]; 64-bit values are bigints, and
// 2^64-1 is systemd's "infinity".
import type { LinuxDevice, LinuxResources } from '../../oci/spec-types';
import { ConfigError } from '../../util/errors';
import { accessString, deviceState } from '../devices';
import { blkioWeightToIoWeight, cpuSharesToWeight, swapMax } from '../resources-v2';

export type UnitProperty = [name: string, signature: string, value: unknown];

export const INFINITY = 0xffff_ffff_ffff_ffffn;
const DEFAULT_CPU_PERIOD = 100_000;

const u64 = (v: number): bigint => (v < 0 ? INFINITY : BigInt(v));
const given = (v: number | undefined | null): v is number => v !== undefined && v !== null && v !== 0;

/**
 * CPUQuotaPerSecUSec (and CPUQuotaPeriodUSec): systemd keeps the quota as a whole percent
 * of a CPU, so the per-second value is rounded up to 10 ms for the cgroup to get at least
 * the quota asked for (runc's rule); a period without a quota, or a negative quota, is
 * "no limit".
 */
export function cpuQuotaProperties(quota: number | undefined, period: number | undefined): UnitProperty[] {
  const props: UnitProperty[] = [];
  if (given(period)) props.push(['CPUQuotaPeriodUSec', 't', BigInt(period)]);
  if (!given(quota) && !given(period)) return props;
  let perSec = INFINITY;
  if (given(quota) && quota > 0) {
    const p = given(period) ? period : DEFAULT_CPU_PERIOD;
    let usec = Math.floor((quota * 1_000_000) / p);
    if (usec % 10_000 !== 0) usec = (Math.floor(usec / 10_000) + 1) * 10_000;
    perSec = BigInt(usec);
  }
  props.push(['CPUQuotaPerSecUSec', 't', perSec]);
  return props;
}

/** "0-2,7" -> the little-endian bit mask systemd's AllowedCPUs/AllowedMemoryNodes take. */
export function rangeToBits(list: string, field: string): Buffer {
  const bits: number[] = [];
  for (const part of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || hi < lo || hi > 8191) throw new ConfigError(`${field}: ${JSON.stringify(list)} is not a list of numbers and ranges (like 0-2,7)`);
    for (let i = lo; i <= hi; i++) bits.push(i);
  }
  if (!bits.length) throw new ConfigError(`${field}: ${JSON.stringify(list)} names no CPU or node`);
  const buf = Buffer.alloc(Math.floor(Math.max(...bits) / 8) + 1);
  for (const b of bits) buf[b >> 3]! |= 1 << (b & 7);
  return buf;
}

/**
 * DevicePolicy=strict and a DeviceAllow list from the container's device rules (the same
 * reduced state the cgroupfs code enforces). A rule list that ends as "allow all but ..."
 * cannot be said to systemd: it gets "allow all" only when nothing is denied, otherwise
 * deny-all here, and tsrt's own rules (written next) decide, as in runc.
 */
export function deviceProperties(rules: LinuxResources['devices'], devices: LinuxDevice[] | undefined): UnitProperty[] {
  const st = deviceState(rules, devices);
  if (st.defaultAllow) {
    return st.exceptions.length ? [['DevicePolicy', 's', 'strict'], ['DeviceAllow', 'a(ss)', []]] : [['DevicePolicy', 's', 'auto'], ['DeviceAllow', 'a(ss)', []]];
  }
  const allow: [string, string][] = [];
  for (const e of st.exceptions) {
    const kind = e.type === 'c' ? 'char' : 'block';
    if (e.major === -1 && e.minor !== -1) continue; // "*:n" has no systemd spelling: left to tsrt's own rules
    const path = e.major === -1 ? `${kind}-*` : e.minor === -1 ? `${kind}-${e.major}` : `/dev/${kind}/${e.major}:${e.minor}`;
    allow.push([path, accessString(e.access)]);
  }
  return [['DevicePolicy', 's', 'strict'], ['DeviceAllow', 'a(ss)', allow]];
}

/** unified (cgroup v2 file -> value) entries systemd has a property for. */
function unifiedProperties(unified: Record<string, string>): UnitProperty[] {
  const props: UnitProperty[] = [];
  const num = (k: string, v: string) => {
    if (v === 'max') return INFINITY;
    if (!/^\d+$/.test(v)) throw new ConfigError(`linux.resources.unified.${k}: ${JSON.stringify(v)} is not a number or "max"`);
    return BigInt(v);
  };
  const memory: Record<string, string> = { 'memory.high': 'MemoryHigh', 'memory.low': 'MemoryLow', 'memory.min': 'MemoryMin', 'memory.max': 'MemoryMax', 'memory.swap.max': 'MemorySwapMax' };
  for (const [k, raw] of Object.entries(unified)) {
    const v = raw.trim();
    if (memory[k]) props.push([memory[k], 't', num(k, v)]);
    else if (k === 'pids.max') props.push(['TasksMax', 't', num(k, v)]);
    else if (k === 'cpu.weight') props.push(['CPUWeight', 't', num(k, v)]);
    else if (k === 'io.weight' && /^\d+$/.test(v)) props.push(['IOWeight', 't', BigInt(v)]);
    else if (k === 'cpuset.cpus') props.push(['AllowedCPUs', 'ay', rangeToBits(v, `linux.resources.unified.${k}`)]);
    else if (k === 'cpuset.mems') props.push(['AllowedMemoryNodes', 'ay', rangeToBits(v, `linux.resources.unified.${k}`)]);
    else if (k === 'cpu.max') {
      const [q, p] = v.split(/\s+/);
      props.push(...cpuQuotaProperties(q === 'max' || q === undefined ? 0 : Number(q), p === undefined ? DEFAULT_CPU_PERIOD : Number(p)));
    }
    // anything else: only the cgroup file (manager.ts)
  }
  return props;
}

/**
 * The resource properties of a container's unit. `v2`: the unified hierarchy (MemoryMax,
 * CPUWeight, ...); else the v1 names (MemoryLimit, CPUShares, BlockIOWeight).
 */
export function resourceProperties(r: LinuxResources, devices: LinuxDevice[] | undefined, v2: boolean): UnitProperty[] {
  const props = deviceProperties(r.devices, devices);
  const mem = r.memory ?? {};
  const cpu = r.cpu ?? {};
  if (v2) {
    if (given(mem.limit)) props.push(['MemoryMax', 't', u64(mem.limit)]);
    if (given(mem.reservation)) props.push(['MemoryLow', 't', u64(mem.reservation)]);
    const swap = swapMax(mem.limit ?? undefined, mem.swap ?? undefined);
    if (swap !== undefined) props.push(['MemorySwapMax', 't', swap === 'max' ? INFINITY : BigInt(swap)]);
    if (given(cpu.shares)) props.push(['CPUWeight', 't', BigInt(cpuSharesToWeight(cpu.shares))]);
    // runc leaves the weight to the cgroup file; crun also tells systemd (IOWeight), so that
    // a daemon-reload does not set the unit's io.weight back to the default.
    if (given(r.blockIO?.weight)) props.push(['IOWeight', 't', BigInt(blkioWeightToIoWeight(r.blockIO!.weight!))]);
  } else {
    if (given(mem.limit)) props.push(['MemoryLimit', 't', u64(mem.limit)]);
    if (given(cpu.shares)) props.push(['CPUShares', 't', BigInt(cpu.shares)]);
    if (given(r.blockIO?.weight)) props.push(['BlockIOWeight', 't', BigInt(r.blockIO!.weight!)]);
  }
  props.push(...cpuQuotaProperties(cpu.quota ?? undefined, cpu.period ?? undefined));
  const pids = r.pids?.limit;
  if (pids !== undefined && pids !== null && (pids > 0 || pids === -1)) props.push(['TasksMax', 't', u64(pids)]);
  if (cpu.cpus) props.push(['AllowedCPUs', 'ay', rangeToBits(cpu.cpus, 'linux.resources.cpu.cpus')]);
  if (cpu.mems) props.push(['AllowedMemoryNodes', 'ay', rangeToBits(cpu.mems, 'linux.resources.cpu.mems')]);
  if (v2 && r.unified) props.push(...unifiedProperties(r.unified));
  return props;
}

/** What a new scope gets besides its resources: runc's set (Delegate, accounting, no default dependencies). */
export function scopeProperties(unit: string, slice: string, pid: number, v2: boolean): UnitProperty[] {
  const isSlice = unit.endsWith('.slice');
  const props: UnitProperty[] = [
    ['Description', 's', `tsrt container ${unit}`],
    isSlice ? ['Wants', 'as', [slice]] : ['Slice', 's', slice],
    ['PIDs', 'au', [pid]],
  ];
  if (!isSlice) props.push(['Delegate', 'b', true]);
  props.push(['MemoryAccounting', 'b', true], ['CPUAccounting', 'b', true], [v2 ? 'IOAccounting' : 'BlockIOAccounting', 'b', true], ['TasksAccounting', 'b', true]);
  props.push(['DefaultDependencies', 'b', false]);
  return props;
}
