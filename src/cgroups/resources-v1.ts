// linux.resources on cgroup v1 hierarchies (Documentation/admin-guide/cgroup-v1/*.rst).
// Each function gets the directory of the hierarchy holding its controller. As in runc,
// a 0 for limit/reservation/swap/shares/quota/period/rt/weight means "not set".
import type { LinuxBlockIO, LinuxCPU, LinuxHugepageLimit, LinuxMemory, LinuxNetwork } from '../oci/spec-types';
import { CgroupError, hasFile, readBig, readCg, writeCg } from './cgfs';

export type Warn = (msg: string) => void;

const MEM = 'linux.resources.memory';

const given = (v: number | undefined | null): v is number => v !== undefined && v !== null && v !== 0;

export function warnKernelMemory(m: LinuxMemory, warn: Warn): void {
  // runc 1.1 prints the same warning and ignores both: the kernel deprecated kmem limits.
  if (given(m.kernel) || given(m.kernelTCP)) warn(`${MEM}.kernel and ${MEM}.kernelTCP are ignored: kernel memory limits are deprecated by the kernel`);
}

function usageHint(dir: string, usageFile: string, maxFile: string): (code: string) => string | undefined {
  return (code) => {
    if (code !== 'EBUSY' && code !== 'EINVAL') return undefined;
    const usage = readBig(dir, usageFile);
    const max = readBig(dir, maxFile);
    const memsw = readBig(dir, 'memory.memsw.limit_in_bytes');
    if (code === 'EBUSY') return `current usage ${usage}, peak ${max}: the new limit is below what is in use`;
    return memsw !== undefined ? `memory+swap limit is ${memsw}: memory.limit must not exceed linux.resources.memory.swap` : undefined;
  };
}

export function setMemoryV1(dir: string, m: LinuxMemory, warn: Warn): void {
  warnKernelMemory(m, warn);
  const limit = given(m.limit) ? m.limit : undefined;
  let swap = given(m.swap) ? m.swap : undefined;
  const memsw = hasFile(dir, 'memory.memsw.limit_in_bytes');
  // An unlimited memory limit with no swap setting lifts the memory+swap limit too.
  if (limit === -1 && swap === undefined && memsw) swap = -1;
  if (swap !== undefined && !memsw) {
    warn(`${MEM}.swap is ignored: swap accounting is off in this kernel (no memory.memsw.limit_in_bytes)`);
    swap = undefined;
  }
  const writeLimit = () => writeCg(dir, 'memory.limit_in_bytes', limit!, `${MEM}.limit`, usageHint(dir, 'memory.usage_in_bytes', 'memory.max_usage_in_bytes'));
  const writeSwap = () => writeCg(dir, 'memory.memsw.limit_in_bytes', swap!, `${MEM}.swap`, usageHint(dir, 'memory.memsw.usage_in_bytes', 'memory.memsw.max_usage_in_bytes'));
  if (limit !== undefined && swap !== undefined) {
    // The kernel keeps memory <= memory+swap at every step: raise the bigger one first.
    const current = readBig(dir, 'memory.limit_in_bytes');
    if (swap === -1 || (current !== undefined && current < BigInt(swap))) {
      writeSwap();
      writeLimit();
    } else {
      writeLimit();
      writeSwap();
    }
  } else if (limit !== undefined) {
    writeLimit();
  } else if (swap !== undefined) {
    writeSwap();
  }
  if (given(m.reservation)) writeCg(dir, 'memory.soft_limit_in_bytes', m.reservation, `${MEM}.reservation`);
  if (m.swappiness !== undefined && m.swappiness !== null) {
    const s = Number(m.swappiness);
    if (s > 100 || s < -1 || !Number.isInteger(s)) throw new CgroupError(`${MEM}.swappiness: ${m.swappiness} is not between 0 and 100`);
    // -1 (what some callers send for "unset", as a uint64 it wraps) is left alone.
    if (s >= 0) writeCg(dir, 'memory.swappiness', s, `${MEM}.swappiness`);
  }
  if (m.disableOOMKiller !== undefined && m.disableOOMKiller !== null) {
    writeCg(dir, 'memory.oom_control', m.disableOOMKiller ? 1 : 0, `${MEM}.disableOOMKiller`);
  }
  setUseHierarchy(dir, m, warn);
}

function setUseHierarchy(dir: string, m: LinuxMemory, warn: Warn): void {
  if (m.useHierarchy === undefined || m.useHierarchy === null) return;
  if (m.useHierarchy === false) {
    warn(`${MEM}.useHierarchy false is ignored: this kernel always accounts memory hierarchically`);
    return;
  }
  if (readCg(dir, 'memory.use_hierarchy')?.trim() !== '1') writeCg(dir, 'memory.use_hierarchy', 1, `${MEM}.useHierarchy`);
}

const CPU = 'linux.resources.cpu';

/** cpu controller fields (shares, CFS and RT bandwidth, idle). */
export function setCpuV1(dir: string, c: LinuxCPU): void {
  if (given(c.shares)) {
    writeCg(dir, 'cpu.shares', c.shares, `${CPU}.shares`);
    // The kernel clamps out-of-range shares silently: say so instead.
    const got = readBig(dir, 'cpu.shares');
    if (got !== undefined && got !== BigInt(c.shares)) {
      throw new CgroupError(`${CPU}.shares: ${c.shares} is out of range: the kernel set ${got} (${got > BigInt(c.shares) ? 'minimum' : 'maximum'} allowed)`);
    }
  }
  const period = given(c.period) ? c.period : undefined;
  const quota = given(c.quota) ? c.quota : undefined;
  if (period !== undefined) {
    try {
      writeCg(dir, 'cpu.cfs_period_us', period, `${CPU}.period`);
    } catch (e) {
      // A shorter period can be refused while the old quota does not fit it: quota first.
      if (quota === undefined) throw e;
      writeCg(dir, 'cpu.cfs_quota_us', quota, `${CPU}.quota`);
      writeCg(dir, 'cpu.cfs_period_us', period, `${CPU}.period`);
    }
  }
  if (quota !== undefined) writeCg(dir, 'cpu.cfs_quota_us', quota, `${CPU}.quota`);
  if (c.burst !== undefined && c.burst !== null) writeCg(dir, 'cpu.cfs_burst_us', c.burst, `${CPU}.burst`);
  if (given(c.realtimePeriod)) writeCg(dir, 'cpu.rt_period_us', c.realtimePeriod, `${CPU}.realtimePeriod`);
  if (given(c.realtimeRuntime)) writeCg(dir, 'cpu.rt_runtime_us', c.realtimeRuntime, `${CPU}.realtimeRuntime`);
  if (c.idle !== undefined && c.idle !== null && (c.idle !== 0 || hasFile(dir, 'cpu.idle'))) writeCg(dir, 'cpu.idle', c.idle, `${CPU}.idle`);
}

/** cpuset.cpus / cpuset.mems (same file names on v1 and v2). */
export function setCpuset(dir: string, c: LinuxCPU): void {
  if (c.cpus) writeCg(dir, 'cpuset.cpus', c.cpus, `${CPU}.cpus`);
  if (c.mems) writeCg(dir, 'cpuset.mems', c.mems, `${CPU}.mems`);
}

/** pids.max (same on v1 and v2); 0 is a real limit (config-linux.md), negative is "max". */
export function setPids(dir: string, limit: number | undefined): void {
  if (limit === undefined || limit === null) return;
  writeCg(dir, 'pids.max', limit < 0 ? 'max' : limit, 'linux.resources.pids.limit');
}

const BLKIO = 'linux.resources.blockIO';

export function setBlkioV1(dir: string, b: LinuxBlockIO, warn: Warn): void {
  // CFQ's blkio.weight is gone from current kernels; BFQ offers blkio.bfq.weight.
  const weightFile = hasFile(dir, 'blkio.weight') ? 'blkio.weight' : 'blkio.bfq.weight';
  const deviceFile = hasFile(dir, 'blkio.weight_device') ? 'blkio.weight_device' : 'blkio.bfq.weight_device';
  if (given(b.weight)) writeCg(dir, weightFile, b.weight, `${BLKIO}.weight`);
  if (given(b.leafWeight)) {
    if (hasFile(dir, 'blkio.leaf_weight')) writeCg(dir, 'blkio.leaf_weight', b.leafWeight, `${BLKIO}.leafWeight`);
    else warn(`${BLKIO}.leafWeight is ignored: this kernel has no blkio.leaf_weight (the CFQ scheduler was removed)`);
  }
  (b.weightDevice ?? []).forEach((d, i) => {
    const f = `${BLKIO}.weightDevice[${i}]`;
    if (given(d.weight)) writeCg(dir, deviceFile, `${d.major}:${d.minor} ${d.weight}`, `${f}.weight`);
    if (given(d.leafWeight)) {
      if (hasFile(dir, 'blkio.leaf_weight_device')) writeCg(dir, 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`, `${f}.leafWeight`);
      else warn(`${f}.leafWeight is ignored: this kernel has no blkio.leaf_weight_device`);
    }
  });
  const throttle = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ] as const;
  for (const [key, file] of throttle) {
    (b[key] ?? []).forEach((d, i) => writeCg(dir, file, `${d.major}:${d.minor} ${d.rate}`, `${BLKIO}.${key}[${i}]`));
  }
}

const PAGE_SIZE_RE = /^\d+[KMGTP]B$/;

export function checkPageSize(l: LinuxHugepageLimit, i: number): void {
  if (!PAGE_SIZE_RE.test(l.pageSize)) throw new CgroupError(`linux.resources.hugepageLimits[${i}].pageSize: ${JSON.stringify(l.pageSize)} is not a size such as 2MB or 1GB`);
}

/** Page sizes the hierarchy offers ("2MB", "1GB"), from its file names. */
export function hugePageSizes(dir: string, suffix: string): string[] {
  const { readdirSync } = require('node:fs') as typeof import('node:fs');
  try {
    return readdirSync(dir).filter((f) => f.startsWith('hugetlb.') && f.endsWith(suffix) && !f.includes('.rsvd.')).map((f) => f.split('.')[1]!);
  } catch {
    return [];
  }
}

export function setHugetlbV1(dir: string, limits: LinuxHugepageLimit[]): void {
  limits.forEach((l, i) => {
    checkPageSize(l, i);
    const field = `linux.resources.hugepageLimits[${i}]`;
    const hint = (code: string) => (code === 'ENOENT' ? `page sizes here: ${hugePageSizes(dir, '.limit_in_bytes').join(', ') || 'none'}` : undefined);
    writeCg(dir, `hugetlb.${l.pageSize}.limit_in_bytes`, l.limit, field, hint);
    if (hasFile(dir, `hugetlb.${l.pageSize}.rsvd.limit_in_bytes`)) writeCg(dir, `hugetlb.${l.pageSize}.rsvd.limit_in_bytes`, l.limit, field);
  });
}

export function setNetClsV1(dir: string, n: LinuxNetwork): void {
  if (n.classID !== undefined && n.classID !== null) writeCg(dir, 'net_cls.classid', n.classID, 'linux.resources.network.classID');
}

export function setNetPrioV1(dir: string, n: LinuxNetwork): void {
  (n.priorities ?? []).forEach((p, i) => writeCg(dir, 'net_prio.ifpriomap', `${p.name} ${p.priority}`, `linux.resources.network.priorities[${i}]`));
}

/** rdma.max lines (same format on v1 and v2). */
export function setRdma(dir: string, rdma: Record<string, { hcaHandles?: number; hcaObjects?: number }>): void {
  for (const [dev, l] of Object.entries(rdma)) {
    const parts = [dev];
    if (l.hcaHandles !== undefined && l.hcaHandles !== null) parts.push(`hca_handle=${l.hcaHandles}`);
    if (l.hcaObjects !== undefined && l.hcaObjects !== null) parts.push(`hca_object=${l.hcaObjects}`);
    if (parts.length === 1) throw new CgroupError(`linux.resources.rdma.${dev}: set hcaHandles or hcaObjects`);
    writeCg(dir, 'rdma.max', parts.join(' '), `linux.resources.rdma.${dev}`);
  }
}
