// Stats: the container's cgroup statistics (cgroups/stats.ts, what `tsrt events --stats`
// prints) as containerd's metrics message for its cgroup version, in an Any:
// io.containerd.cgroups.v1.Metrics or io.containerd.cgroups.v2.Metrics, what
// `ctr task metrics` and the CRI plugin decode.
import { collectStats } from '../cgroups/stats';
import { managerFor } from '../cgroups/manager';
import { V2_MEMORY_STAT_KEYS, any } from './proto';

type Obj = Record<string, any>;
const n = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0);
const entry = (e: Obj | undefined) => ({ limit: n(e?.limit), usage: n(e?.usage), max: n(e?.max), failcnt: n(e?.failcnt) });

export function metricsOf(cgroupPaths: Record<string, string> | undefined): { typeUrl: string; value: Uint8Array } {
  const m = managerFor(cgroupPaths);
  const s = collectStats(m) as Obj;
  const usage = s.cpu?.usage ?? {};
  const raw = s.memory?.raw ?? {};
  if (m.locate('memory')?.version === 2 || (!m.locate('memory') && m.unified)) {
    const throttling = s.cpu?.throttling ?? {};
    const mem = s.memory ?? {};
    return any('io.containerd.cgroups.v2.Metrics', {
      pids: { current: n(s.pids?.current), limit: n(s.pids?.limit) },
      cpu: {
        usageUsec: n(usage.total) / 1000, userUsec: n(usage.user) / 1000, systemUsec: n(usage.kernel) / 1000,
        nrPeriods: n(throttling.periods), nrThrottled: n(throttling.throttledPeriods), throttledUsec: n(throttling.throttledTime) / 1000,
      },
      memory: {
        ...Object.fromEntries(V2_MEMORY_STAT_KEYS.map((k) => [k, n(raw[k])])),
        usage: n(mem.usage?.usage), usageLimit: n(mem.usage?.limit),
      },
    });
  }
  return any('io.containerd.cgroups.v1.Metrics', {
    pids: { current: n(s.pids?.current), limit: n(s.pids?.limit) },
    cpu: {
      usage: { total: n(usage.total), kernel: n(usage.kernel), user: n(usage.user), perCpu: (usage.percpu ?? []).map(n) },
      throttling: { periods: n(s.cpu?.throttling?.periods), throttledPeriods: n(s.cpu?.throttling?.throttledPeriods), throttledTime: n(s.cpu?.throttling?.throttledTime) },
    },
    memory: {
      cache: n(raw.cache), rss: n(raw.rss), mappedFile: n(raw.mapped_file), pgFault: n(raw.pgfault), pgMajFault: n(raw.pgmajfault),
      inactiveAnon: n(raw.inactive_anon), activeAnon: n(raw.active_anon), inactiveFile: n(raw.inactive_file), activeFile: n(raw.active_file),
      unevictable: n(raw.unevictable), usage: entry(s.memory?.usage), swap: entry(s.memory?.swap), kernel: entry(s.memory?.kernel),
    },
  });
}
