// Resource usage in the shape `runc events --stats` prints (the "data" of a stats event):
// {cpu, cpuset, memory, pids, blkio, hugetlb, intel_rdt, network_interfaces}, with runc's
// field names and its omit-when-zero rules (checked against runc 1.1 on this project's
// machine). Counters are bigints: memory limits such as 9223372036854771712 do not fit a
// double; toJson() prints them as plain integers.
import { readdirSync } from 'node:fs';
import { readBig, readCg, readKeyValues } from './cgfs';
import type { CgroupManager } from './manager';

type Obj = Record<string, unknown>;
const MAX_U64 = 18446744073709551615n;
const USER_HZ = 100n; // clock ticks per second of cpuacct.stat (USER_HZ is 100 on Linux)

/** Drops keys whose value is 0n / 0 / empty (Go's omitempty). */
function omitEmpty(o: Obj, keys: string[]): Obj {
  for (const k of keys) {
    const v = o[k];
    if (v === undefined || v === 0n || v === 0 || v === '' || (Array.isArray(v) && v.length === 0)) delete o[k];
  }
  return o;
}

function numberList(s: string | undefined): bigint[] {
  return (s ?? '').trim().split(/\s+/).filter(Boolean).map((x) => BigInt(x));
}

/** "0-2,4" -> [0, 1, 2, 4] */
function cpuList(s: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (s ?? '').trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.push(i);
  }
  return out;
}

function cpuStats(m: CgroupManager): Obj {
  const usage: Obj = { total: 0n, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 0n, user: 0n };
  const throttling: Obj = { periods: 0n, throttledPeriods: 0n, throttledTime: 0n };
  const acct = m.locate('cpuacct');
  if (acct?.version === 1) {
    usage.total = readBig(acct.dir, 'cpuacct.usage') ?? 0n;
    usage.percpu = numberList(readCg(acct.dir, 'cpuacct.usage_percpu'));
    const all = (readCg(acct.dir, 'cpuacct.usage_all') ?? '').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    usage.percpu_user = all.filter((f) => f.length === 3).map((f) => BigInt(f[1]!));
    usage.percpu_kernel = all.filter((f) => f.length === 3).map((f) => BigInt(f[2]!));
    const st = readKeyValues(acct.dir, 'cpuacct.stat');
    usage.user = ((st.get('user') ?? 0n) * 1_000_000_000n) / USER_HZ;
    usage.kernel = ((st.get('system') ?? 0n) * 1_000_000_000n) / USER_HZ;
  }
  // v2's cpu.stat has the usage lines even where the cpu controller is not enabled.
  const cpu = m.locate('cpu') ?? (m.unified && !acct ? { version: 2 as const, dir: m.unified } : undefined);
  if (cpu) {
    const st = readKeyValues(cpu.dir, 'cpu.stat');
    throttling.periods = st.get('nr_periods') ?? 0n;
    throttling.throttledPeriods = st.get('nr_throttled') ?? 0n;
    if (cpu.version === 1) {
      throttling.throttledTime = st.get('throttled_time') ?? 0n;
    } else {
      throttling.throttledTime = (st.get('throttled_usec') ?? 0n) * 1000n;
      usage.total = (st.get('usage_usec') ?? 0n) * 1000n;
      usage.user = (st.get('user_usec') ?? 0n) * 1000n;
      usage.kernel = (st.get('system_usec') ?? 0n) * 1000n;
    }
  }
  return { usage: omitEmpty(usage, ['total', 'percpu', 'percpu_kernel', 'percpu_user']), throttling: omitEmpty(throttling, ['periods', 'throttledPeriods', 'throttledTime']) };
}

function cpusetStats(m: CgroupManager): Obj {
  const p = m.locate('cpuset');
  // runc prints the zero values when it has no cpuset statistics (cgroup v2).
  const n = (f: string) => (p?.version === 1 ? readBig(p.dir, `cpuset.${f}`) ?? 0n : 0n);
  if (!p || p.version !== 1) {
    return {
      cpu_exclusive: 0n, mem_hardwall: 0n, mem_exclusive: 0n, memory_migrate: 0n, memory_spread_page: 0n,
      memory_spread_slab: 0n, memory_pressure: 0n, sched_load_balance: 0n, sched_relax_domain_level: 0n,
    };
  }
  const o: Obj = {
    cpus: cpuList(readCg(p.dir, 'cpuset.cpus')),
    cpu_exclusive: n('cpu_exclusive'),
    mems: cpuList(readCg(p.dir, 'cpuset.mems')),
    mem_hardwall: n('mem_hardwall'),
    mem_exclusive: n('mem_exclusive'),
    memory_migrate: n('memory_migrate'),
    memory_spread_page: n('memory_spread_page'),
    memory_spread_slab: n('memory_spread_slab'),
    memory_pressure: n('memory_pressure'),
    sched_load_balance: n('sched_load_balance'),
    sched_relax_domain_level: BigInt((readCg(p.dir, 'cpuset.sched_relax_domain_level') ?? '0').trim() || '0'),
  };
  return omitEmpty(o, ['cpus', 'mems']);
}

function memEntry(limit: bigint | undefined, usage: bigint | undefined, max: bigint | undefined, failcnt: bigint | undefined): Obj {
  return omitEmpty({ limit: limit ?? MAX_U64, usage: usage ?? 0n, max: max ?? 0n, failcnt: failcnt ?? 0n }, ['usage', 'max']);
}

function memoryStats(m: CgroupManager): Obj {
  const p = m.locate('memory');
  if (!p) {
    const zero = () => ({ limit: 0n, failcnt: 0n });
    return { usage: zero(), swap: zero(), kernel: zero(), kernelTCP: zero() };
  }
  // Sorted, as Go prints a map.
  const raw = Object.fromEntries([...readKeyValues(p.dir, 'memory.stat')].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const d = p.dir;
  if (p.version === 1) {
    const entry = (prefix: string) => memEntry(readBig(d, `${prefix}limit_in_bytes`), readBig(d, `${prefix}usage_in_bytes`), readBig(d, `${prefix}max_usage_in_bytes`), readBig(d, `${prefix}failcnt`));
    return omitEmpty({
      cache: raw.cache ?? 0n,
      usage: entry('memory.'),
      swap: entry('memory.memsw.'),
      kernel: entry('memory.kmem.'),
      kernelTCP: entry('memory.kmem.tcp.'),
      raw,
    }, ['cache', 'raw']);
  }
  const events = readKeyValues(d, 'memory.events');
  const usage = readBig(d, 'memory.current');
  const limit = readBig(d, 'memory.max');
  const swapUsage = readBig(d, 'memory.swap.current');
  const swapLimit = readBig(d, 'memory.swap.max');
  // v1 reports memory+swap as "swap"; runc keeps that meaning on v2.
  return omitEmpty({
    cache: raw.file ?? 0n,
    usage: memEntry(limit, usage, readBig(d, 'memory.peak'), events.get('max')),
    swap: memEntry(swapLimit === undefined || limit === undefined ? undefined : swapLimit + limit, swapUsage === undefined ? undefined : swapUsage + (usage ?? 0n), undefined, events.get('max')),
    kernel: memEntry(undefined, undefined, undefined, undefined),
    kernelTCP: memEntry(undefined, undefined, undefined, undefined),
    raw,
  }, ['cache', 'raw']);
}

function pidsStats(m: CgroupManager): Obj {
  const p = m.locate('pids');
  if (!p) return {};
  return omitEmpty({ current: readBig(p.dir, 'pids.current') ?? 0n, limit: readBig(p.dir, 'pids.max') ?? 0n }, ['current', 'limit']);
}

type BlkioEntry = { major: bigint; minor: bigint; op: string; value: bigint };

function blkioEntries(text: string | undefined): Obj[] {
  const out: Obj[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3 || !f[0]!.includes(':')) continue; // "Total N" lines
    const [maj, min] = f[0]!.split(':');
    const e: BlkioEntry = { major: BigInt(maj!), minor: BigInt(min!), op: f[1]!, value: BigInt(f[2]!) };
    out.push(omitEmpty(e as unknown as Obj, ['major', 'minor', 'op', 'value']));
  }
  return out;
}

function blkioStats(m: CgroupManager): Obj {
  const p = m.locate('blkio');
  if (!p) return {};
  if (p.version === 1) {
    const d = p.dir;
    // CFQ files when the kernel has them, else BFQ's, else the throttling layer's counters.
    const has = (f: string) => readCg(d, f) !== undefined;
    const prefix = has('blkio.io_serviced_recursive') ? 'blkio.' : has('blkio.bfq.io_serviced_recursive') ? 'blkio.bfq.' : 'blkio.throttle.';
    const o: Obj = {
      ioServiceBytesRecursive: blkioEntries(readCg(d, `${prefix}io_service_bytes_recursive`)),
      ioServicedRecursive: blkioEntries(readCg(d, `${prefix}io_serviced_recursive`)),
      ioQueueRecursive: blkioEntries(readCg(d, `${prefix}io_queued_recursive`)),
      ioServiceTimeRecursive: blkioEntries(readCg(d, `${prefix}io_service_time_recursive`)),
      ioWaitTimeRecursive: blkioEntries(readCg(d, `${prefix}io_wait_time_recursive`)),
      ioMergedRecursive: blkioEntries(readCg(d, `${prefix}io_merged_recursive`)),
      ioTimeRecursive: blkioEntries(readCg(d, `${prefix}time_recursive`)),
      sectorsRecursive: blkioEntries(readCg(d, `${prefix}sectors_recursive`)),
    };
    return omitEmpty(o, Object.keys(o));
  }
  // io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N"
  const bytes: Obj[] = [];
  const ios: Obj[] = [];
  for (const line of (readCg(p.dir, 'io.stat') ?? '').split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    if (!dev || !dev.includes(':')) continue;
    const [maj, min] = dev.split(':').map((x) => BigInt(x));
    const v = Object.fromEntries(kv.map((x) => x.split('=')).map(([k, n]) => [k, BigInt(n ?? '0')]));
    const add = (list: Obj[], op: string, value: bigint | undefined) => list.push(omitEmpty({ major: maj, minor: min, op, value: value ?? 0n }, ['major', 'minor', 'op', 'value']));
    add(bytes, 'Read', v.rbytes);
    add(bytes, 'Write', v.wbytes);
    add(ios, 'Read', v.rios);
    add(ios, 'Write', v.wios);
  }
  return omitEmpty({ ioServiceBytesRecursive: bytes, ioServicedRecursive: ios }, ['ioServiceBytesRecursive', 'ioServicedRecursive']);
}

function hugetlbStats(m: CgroupManager): Obj {
  const p = m.locate('hugetlb');
  if (!p) return {};
  const sizes = new Set<string>();
  try {
    for (const f of readdirSync(p.dir)) if (f.startsWith('hugetlb.') && !f.includes('.rsvd.')) sizes.add(f.split('.')[1]!);
  } catch {
    return {};
  }
  const out: Obj = {};
  for (const size of [...sizes].sort()) {
    if (p.version === 1) {
      out[size] = omitEmpty({
        usage: readBig(p.dir, `hugetlb.${size}.usage_in_bytes`) ?? 0n,
        max: readBig(p.dir, `hugetlb.${size}.max_usage_in_bytes`) ?? 0n,
        failcnt: readBig(p.dir, `hugetlb.${size}.failcnt`) ?? 0n,
      }, ['usage', 'max']);
    } else {
      out[size] = omitEmpty({
        usage: readBig(p.dir, `hugetlb.${size}.current`) ?? 0n,
        failcnt: readKeyValues(p.dir, `hugetlb.${size}.events`).get('max') ?? 0n,
      }, ['usage']);
    }
  }
  return out;
}

/** The data of a stats event. */
export function collectStats(m: CgroupManager): Obj {
  return {
    cpu: cpuStats(m),
    cpuset: cpusetStats(m),
    memory: memoryStats(m),
    pids: pidsStats(m),
    blkio: blkioStats(m),
    hugetlb: hugetlbStats(m),
    intel_rdt: {},
    network_interfaces: null,
  };
}

/** JSON with bigints written as integers (JSON.stringify refuses them). */
export function toJson(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Obj).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
