// `events`: resource usage as JSON lines, shaped like runc's:
//   {"type":"stats","id":ID,"data":{cpu,cpuset,memory,pids,blkio,hugetlb,intel_rdt,network_interfaces}}
//   {"type":"oom","id":ID}
// --stats prints one stats event and exits; otherwise a stats event every --interval and
// an oom event whenever the kernel reports one, until the container stops.
import { ContainerError, UsageError } from '../util/errors';
import type { StateStore } from './state-store';
import { statusOf } from './status';

export interface EventsOptions {
  stats: boolean;
  /** milliseconds between stats events */
  intervalMs: number;
  write?: (line: string) => void;
}

export async function containerEvents(store: StateStore, id: string, o: EventsOptions): Promise<number> {
  const s = store.load(id);
  if (statusOf(store, s) === 'stopped') throw new ContainerError('ESTATE', `container with id ${id} is not running`);
  if (!o.stats && !(o.intervalMs > 0)) throw new UsageError('--interval: the duration must be greater than 0');
  const { managerFor } = require('../cgroups/manager') as typeof import('../cgroups/manager');
  const { collectStats, toJson } = require('../cgroups/stats') as typeof import('../cgroups/stats');
  const m = managerFor(s.cgroupPaths);
  const write = o.write ?? ((line: string) => process.stdout.write(line));
  const emit = (type: string, data?: unknown) => write(`${toJson(data === undefined ? { type, id } : { type, id, data })}\n`);
  if (o.stats) {
    emit('stats', collectStats(m));
    return 0;
  }
  const { watchOom } = require('../cgroups/oom') as typeof import('../cgroups/oom');
  return new Promise<number>((resolve) => {
    const stopped = () => {
      try {
        return statusOf(store, store.load(id)) === 'stopped';
      } catch {
        return true; // deleted
      }
    };
    const watch = watchOom(m, () => emit('oom'));
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearInterval(poll);
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, finish);
      // An OOM that killed the init is counted before the death is seen: read it now.
      watch?.check();
      watch?.close();
      resolve(0);
    };
    const timer = setInterval(() => {
      if (stopped()) return finish();
      emit('stats', collectStats(m));
    }, o.intervalMs);
    // Notice a stopped container sooner than a long interval would.
    const poll = setInterval(() => { if (stopped()) finish(); }, Math.min(o.intervalMs, 1000));
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, finish);
  });
}
