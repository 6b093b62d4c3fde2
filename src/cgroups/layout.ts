// What the host mounts: the cgroup v1 hierarchies (one per controller or co-mounted set,
// plus named ones such as name=systemd) and the cgroup v2 hierarchy, from
// /proc/self/mountinfo; and tsrt's own cgroup in each, from /proc/self/cgroup.
//
// legacy  = v1 only; unified = v2 only; hybrid = both (this project's machines: v1
// controllers under /sys/fs/cgroup/<ctrl>, cgroup2 at /sys/fs/cgroup/unified holding the
// controllers no v1 hierarchy took, e.g. hugetlb). A controller is used where it is
// mounted: a v1 hierarchy if one has it, else v2 if the v2 root lists it.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { TsrtError } from '../util/errors';

export interface Hierarchy {
  version: 1 | 2;
  mountpoint: string;
  /** the mount's root inside the hierarchy (field 4 of mountinfo; "/" normally) */
  mountRoot: string;
  /** v1: controllers (and "name=X") from the super options; v2: the root's cgroup.controllers */
  controllers: string[];
}

export type LayoutMode = 'legacy' | 'hybrid' | 'unified';

export interface Layout {
  mode: LayoutMode;
  v1: Hierarchy[];
  v2?: Hierarchy;
}

/** Every controller a v1 hierarchy can carry (from /proc/cgroups), plus name=X. */
function v1Controllers(): Set<string> {
  const known = new Set<string>();
  try {
    for (const line of readFileSync('/proc/cgroups', 'utf8').split('\n')) {
      if (line && !line.startsWith('#')) known.add(line.split(/\s+/)[0]!);
    }
  } catch {
    // no /proc/cgroups: fall back to the usual names
  }
  for (const c of ['cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'net_cls', 'perf_event', 'net_prio', 'hugetlb', 'pids', 'rdma', 'misc']) known.add(c);
  return known;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

let hostMounts: Hierarchy[] | undefined;

/**
 * Every cgroup hierarchy the host mounts (each once), in mountinfo order, read once per
 * process: create needs it for the cgroups, their planned paths and the container's
 * /sys/fs/cgroup. Callers get copies.
 */
export function hostCgroupMounts(): Hierarchy[] {
  hostMounts ??= readHostCgroupMounts();
  return hostMounts.map((h) => ({ ...h, controllers: [...h.controllers] }));
}

function readHostCgroupMounts(): Hierarchy[] {
  const known = v1Controllers();
  const byDev = new Map<string, Hierarchy>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(' ');
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const dev = f[2]!;
    const h: Hierarchy = {
      version: fstype === 'cgroup2' ? 2 : 1,
      mountpoint: unescape(f[4]!),
      mountRoot: unescape(f[3]!),
      controllers: [],
    };
    if (h.version === 1) {
      h.controllers = superOptions.split(',').filter((o) => known.has(o) || o.startsWith('name='));
      if (!h.controllers.length) continue;
    }
    // The same hierarchy may be mounted more than once: keep the mount of its root, under /sys/fs/cgroup if possible.
    const prev = byDev.get(dev);
    const score = (x: Hierarchy) => (x.mountRoot === '/' ? 2 : 0) + (x.mountpoint.startsWith('/sys/fs/cgroup') ? 1 : 0);
    if (!prev || score(h) > score(prev)) byDev.set(dev, h);
  }
  return [...byDev.values()];
}

/** Reads the host's cgroup mounts. TSRT_CGROUP_LAYOUT=unified|legacy narrows what is used (docs/cgroups.md). */
export function detectLayout(): Layout {
  const mounts = hostCgroupMounts();
  let v1 = mounts.filter((h) => h.version === 1);
  let v2 = mounts.find((h) => h.version === 2);
  const override = process.env.TSRT_CGROUP_LAYOUT;
  if (override === 'unified') {
    if (!v2) throw new TsrtError('ECGROUP', 'TSRT_CGROUP_LAYOUT=unified: no cgroup2 file system is mounted');
    v1 = [];
  } else if (override === 'legacy') {
    v2 = undefined;
  } else if (override && override !== 'auto') {
    throw new TsrtError('ECGROUP', `TSRT_CGROUP_LAYOUT=${override}: expected unified, legacy or auto`);
  }
  if (v2) {
    const onV1 = new Set(v1.flatMap((h) => h.controllers));
    let listed: string[] = [];
    try {
      listed = readFileSync(posix.join(v2.mountpoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      // an empty v2 hierarchy
    }
    v2.controllers = listed.filter((c) => !onV1.has(c));
  }
  if (!v1.length && !v2) throw new TsrtError('ECGROUP', 'no cgroup file system is mounted (looked in /proc/self/mountinfo)');
  return { mode: !v1.length ? 'unified' : v2 ? 'hybrid' : 'legacy', v1, v2 };
}

let ownCgroups: [string[], string][] | undefined;

/**
 * A process's cgroup in each hierarchy, from /proc/PID/cgroup: [controllers ([] for v2),
 * path]. tsrt's own ('self') is read once per process (create needed it four times):
 * tsrt never moves itself.
 */
export function procCgroups(pid: number | 'self' = 'self'): [string[], string][] {
  if (pid === 'self') {
    ownCgroups ??= readProcCgroups('self');
    return ownCgroups.map(([c, p]) => [[...c], p]);
  }
  return readProcCgroups(pid);
}

function readProcCgroups(pid: number | 'self'): [string[], string][] {
  const out: [string[], string][] = [];
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    out.push([line.slice(a + 1, b).split(',').filter(Boolean), line.slice(b + 1)]);
  }
  return out;
}

/** The path of hierarchy h in a /proc/PID/cgroup listing ("/" when it is not listed). */
export function cgroupOf(h: Hierarchy, listing: [string[], string][]): string {
  for (const [ctrls, path] of listing) {
    if (h.version === 2 ? ctrls.length === 0 : ctrls.length === h.controllers.length && h.controllers.every((c) => ctrls.includes(c))) return path;
  }
  return '/';
}

/** The directory of hierarchy h for a path that is relative to the hierarchy's root. */
export function dirIn(h: Hierarchy, pathFromRoot: string): string {
  // A mount of a sub-tree (mountRoot /a) shows /a/b as <mountpoint>/b.
  let p = posix.normalize('/' + pathFromRoot);
  if (h.mountRoot !== '/') {
    if (p === h.mountRoot || p.startsWith(h.mountRoot + '/')) p = p.slice(h.mountRoot.length) || '/';
  }
  return posix.join(h.mountpoint, p);
}
