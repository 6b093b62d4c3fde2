// linux.resources on cgroup v2 (Documentation/admin-guide/cgroup-v2.rst), converted the
// way runc converts the v1-shaped OCI fields:
//   cpu.shares 2..262144     -> cpu.weight 1 + (shares - 2) * 9999 / 262142 (1..10000)
//   blockIO.weight 10..1000  -> io.bfq.weight as is when BFQ offers it, else
//                               io.weight 1 + (weight - 10) * 9999 / 990
//   memory.swap (mem+swap)   -> memory.swap.max = swap - limit
//   quota/period             -> cpu.max "QUOTA|max PERIOD"
import type { LinuxBlockIO, LinuxCPU, LinuxHugepageLimit, LinuxMemory } from '../oci/spec-types';
import { CgroupError, hasFile, readBig, writeCg } from './cgfs';
import { checkPageSize, hugePageSizes, warnKernelMemory, type Warn } from './resources-v1';

const MEM = 'linux.resources.memory';
const CPU = 'linux.resources.cpu';
const BLKIO = 'linux.resources.blockIO';

const given = (v: number | undefined | null): v is number => v !== undefined && v !== null && v !== 0;
const limitStr = (v: number) => (v < 0 ? 'max' : String(v));

export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** memory.swap.max from the OCI memory+swap value; undefined = leave alone. */
export function swapMax(limit: number | undefined, swap: number | undefined): string | undefined {
  if (!given(swap)) return undefined;
  if (swap === -1) return 'max';
  if (!given(limit) || limit === -1) {
    throw new CgroupError(`${MEM}.swap: a swap limit needs a memory limit on cgroup v2 (swap is memory+swap; memory.swap.max = swap - limit)`);
  }
  if (swap < limit) throw new CgroupError(`${MEM}.swap: ${swap} is below ${MEM}.limit ${limit} (swap is the memory+swap limit)`);
  return String(swap - limit);
}

export function setMemoryV2(dir: string, m: LinuxMemory, warn: Warn): void {
  warnKernelMemory(m, warn);
  // As runc (and v1): an unlimited memory limit with no swap setting lifts swap too.
  const implied = m.limit === -1 && !given(m.swap);
  const swap = implied ? 'max' : swapMax(m.limit, m.swap);
  if (swap !== undefined) {
    if (hasFile(dir, 'memory.swap.max')) writeCg(dir, 'memory.swap.max', swap, `${MEM}.swap`);
    else if (!implied) warn(`${MEM}.swap is ignored: swap accounting is off in this kernel (no memory.swap.max)`);
  }
  if (given(m.limit)) {
    if (m.checkBeforeUpdate && m.limit > 0) {
      // v2 would OOM-kill to get under a lower limit; v1 refuses instead. Mimic v1.
      const current = readBig(dir, 'memory.current');
      if (current !== undefined && current > BigInt(m.limit)) {
        throw new CgroupError(`${MEM}.limit: ${m.limit} is below the current usage ${current} (checkBeforeUpdate)`);
      }
    }
    writeCg(dir, 'memory.max', limitStr(m.limit), `${MEM}.limit`);
  }
  if (given(m.reservation)) writeCg(dir, 'memory.low', limitStr(m.reservation), `${MEM}.reservation`);
  if (m.swappiness !== undefined && m.swappiness !== null && m.swappiness !== -1) warn(`${MEM}.swappiness is ignored: cgroup v2 has no per-cgroup swappiness`);
  if (m.disableOOMKiller) warn(`${MEM}.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer`);
  if (m.useHierarchy === false) warn(`${MEM}.useHierarchy false is ignored: cgroup v2 is always hierarchical`);
}

export function setCpuV2(dir: string, c: LinuxCPU): void {
  if (given(c.shares)) {
    if (c.shares < 2 || c.shares > 262144) throw new CgroupError(`${CPU}.shares: ${c.shares} is outside 2..262144`);
    writeCg(dir, 'cpu.weight', cpuSharesToWeight(c.shares), `${CPU}.shares (as cpu.weight)`);
  }
  if (given(c.quota) || given(c.period)) {
    let v = given(c.quota) && c.quota > 0 ? String(c.quota) : 'max';
    if (given(c.period)) v += ` ${c.period}`;
    writeCg(dir, 'cpu.max', v, given(c.quota) ? `${CPU}.quota` : `${CPU}.period`);
  }
  if (c.burst !== undefined && c.burst !== null) writeCg(dir, 'cpu.max.burst', c.burst, `${CPU}.burst`);
  if (given(c.realtimePeriod) || given(c.realtimeRuntime)) {
    throw new CgroupError(`${CPU}.${given(c.realtimeRuntime) ? 'realtimeRuntime' : 'realtimePeriod'}: cgroup v2 has no real-time bandwidth control`);
  }
  if (c.idle !== undefined && c.idle !== null && (c.idle !== 0 || hasFile(dir, 'cpu.idle'))) writeCg(dir, 'cpu.idle', c.idle, `${CPU}.idle`);
}

export function setIoV2(dir: string, b: LinuxBlockIO, warn: Warn): void {
  const bfq = hasFile(dir, 'io.bfq.weight');
  if (given(b.weight)) {
    if (bfq) writeCg(dir, 'io.bfq.weight', b.weight, `${BLKIO}.weight`);
    else writeCg(dir, 'io.weight', blkioWeightToIoWeight(b.weight), `${BLKIO}.weight (as io.weight)`);
  }
  if (given(b.leafWeight)) warn(`${BLKIO}.leafWeight is ignored: cgroup v2 has no leaf weight`);
  (b.weightDevice ?? []).forEach((d, i) => {
    const f = `${BLKIO}.weightDevice[${i}]`;
    if (given(d.weight)) {
      if (bfq) writeCg(dir, 'io.bfq.weight', `${d.major}:${d.minor} ${d.weight}`, `${f}.weight`);
      else writeCg(dir, 'io.weight', `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}`, `${f}.weight (as io.weight)`);
    }
    if (given(d.leafWeight)) warn(`${f}.leafWeight is ignored: cgroup v2 has no leaf weight`);
  });
  const throttle = [
    ['throttleReadBpsDevice', 'rbps'],
    ['throttleWriteBpsDevice', 'wbps'],
    ['throttleReadIOPSDevice', 'riops'],
    ['throttleWriteIOPSDevice', 'wiops'],
  ] as const;
  for (const [key, name] of throttle) {
    (b[key] ?? []).forEach((d, i) => writeCg(dir, 'io.max', `${d.major}:${d.minor} ${name}=${d.rate === 0 ? 'max' : d.rate}`, `${BLKIO}.${key}[${i}]`));
  }
}

export function setHugetlbV2(dir: string, limits: LinuxHugepageLimit[]): void {
  limits.forEach((l, i) => {
    checkPageSize(l, i);
    const field = `linux.resources.hugepageLimits[${i}]`;
    const hint = (code: string) => (code === 'ENOENT' ? `page sizes here: ${hugePageSizes(dir, '.max').join(', ') || 'none'}` : undefined);
    writeCg(dir, `hugetlb.${l.pageSize}.max`, l.limit, field, hint);
    // Reservation accounting, where the kernel has it: enforced at mmap time, not at fault.
    if (hasFile(dir, `hugetlb.${l.pageSize}.rsvd.max`)) writeCg(dir, `hugetlb.${l.pageSize}.rsvd.max`, l.limit, field);
  });
}

/** linux.resources.unified: each key is a file of the container's v2 directory. */
export function setUnified(dir: string, unified: Record<string, string>, controllers: Set<string>, whereElse: (ctrl: string) => string | undefined): void {
  for (const [key, value] of Object.entries(unified)) {
    const field = `linux.resources.unified[${JSON.stringify(key)}]`;
    if (!/^[a-z_]+\.[\w.-]+$/.test(key) || key.includes('..')) throw new CgroupError(`${field}: not a cgroup v2 file name`);
    const ctrl = key.slice(0, key.indexOf('.'));
    if (ctrl !== 'cgroup' && !controllers.has(ctrl)) {
      const v1 = whereElse(ctrl);
      throw new CgroupError(v1
        ? `${field}: the ${ctrl} controller is a cgroup v1 controller on this host (this container's ${ctrl} cgroup is ${v1}), not a cgroup v2 one: set it through its linux.resources field instead`
        : `${field}: the ${ctrl} controller is not enabled for ${dir} (cgroup.controllers: ${[...controllers].join(' ') || 'none'})`);
    }
    writeCg(dir, key, value, field);
  }
}
