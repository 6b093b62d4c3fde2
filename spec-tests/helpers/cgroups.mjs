// Helpers for the cgroup tests: what the host mounts, a container's cgroup directories,
// and cleanup of cgroup directories a test asked tsrt to create outside the container's
// own leaf (parents of an absolute cgroupsPath). Not a test file.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { collectJsonLines, sleep, TSRT } from './tsrt.mjs';

/** The host's cgroup mounts: [{version, mountpoint, controllers}]. */
export function cgroupMounts() {
  const out = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const [fstype, , opts] = post.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mp = pre.split(' ')[4];
    if (!mp.startsWith('/sys/fs/cgroup')) continue;
    if (fstype === 'cgroup2') {
      let ctrls = [];
      try { ctrls = fs.readFileSync(path.join(mp, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean); } catch { /* empty */ }
      out.push({ version: 2, mountpoint: mp, controllers: ctrls });
    } else {
      out.push({ version: 1, mountpoint: mp, controllers: opts.split(',').filter((o) => !['rw', 'ro', 'relatime', 'xattr', 'clone_children', 'noprefix'].includes(o) && !o.startsWith('release_agent')) });
    }
  }
  return out;
}

export const V1 = () => cgroupMounts().filter((m) => m.version === 1);
export const V2 = () => cgroupMounts().find((m) => m.version === 2);

/** Controllers that cgroup v2 owns here (listed by the v2 root and not taken by a v1 hierarchy). */
export function v2Controllers() {
  const v2 = V2();
  if (!v2) return new Set();
  const onV1 = new Set(V1().flatMap((m) => m.controllers));
  return new Set(v2.controllers.filter((c) => !onV1.has(c)));
}

/** Our own cgroup path in the hierarchy mounted at mountpoint. */
export function ownCgroup(mount) {
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, ctrls, p] = line.split(/:(.*?):/);
    const list = ctrls.split(',').filter(Boolean);
    if (mount.version === 2 ? list.length === 0 : list.length && list.every((c) => mount.controllers.includes(c)) && list.length === mount.controllers.length) return p;
  }
  return '/';
}

/** No v1 hierarchy, only cgroup2 (Debian 12, Fedora, current Kubernetes nodes). */
export const unifiedOnly = () => !V1().length && !!V2();

/**
 * Where a relative cgroupsPath starts in mount m: our own cgroup, except on a v2-only
 * host, where it is its parent (runc's fs2 rule: our own cgroup holds processes, and v2
 * enables no controller below a cgroup that does).
 */
export function relativeBase(m, { v2Only = unifiedOnly() } = {}) {
  const own = ownCgroup(m);
  return m.version === 2 && v2Only ? path.posix.dirname(own) : own;
}

/**
 * The whole disk (sysfs "major:minor") behind the file system of dir, or undefined when
 * it is not on a block device (tmpfs, overlay, 9p): io.max takes whole disks only.
 */
export function wholeDiskOf(dir) {
  const dev = fs.statSync(dir).dev;
  const [major, minor] = [Math.floor(dev / 256) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00)];
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (!fs.existsSync(sys)) return undefined;
  const disk = fs.existsSync(path.join(sys, 'partition')) ? path.join(sys, '..') : sys;
  const [ma, mi] = fs.readFileSync(path.join(disk, 'dev'), 'utf8').trim().split(':').map(Number);
  return { major: ma, minor: mi };
}

const V2_NAME = { blkio: 'io', cpuacct: 'cpu' };

/**
 * The directory with controller ctrl's files (v1 name) for a container: its v1
 * directory, else its v2 one when v2 gives it that controller; undefined otherwise.
 */
export function ctrlDir(paths, ctrl) {
  if (paths[ctrl]) return paths[ctrl];
  const u = paths.unified;
  if (u && (readCg(u, 'cgroup.controllers') ?? '').split(/\s+/).includes(V2_NAME[ctrl] ?? ctrl)) return u;
  return undefined;
}

/**
 * A container's limits and counters, read from whichever cgroup version holds each
 * controller here (v1 file names differ from v2's: memory.limit_in_bytes / memory.max).
 */
export function cgFiles(paths) {
  const dir = (ctrl) => {
    const d = ctrlDir(paths, ctrl);
    if (!d) throw new Error(`no ${ctrl} cgroup for this container (cgroupPaths ${JSON.stringify(paths)})`);
    return d;
  };
  const onV1 = (ctrl) => !!paths[ctrl];
  const field = (text, key) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '')?.[1] ?? NaN);
  return {
    dir,
    v1: onV1,
    /** memory limit in bytes as the file says it ("max" on v2 when unlimited) */
    memoryLimit: () => readCg(dir('memory'), onV1('memory') ? 'memory.limit_in_bytes' : 'memory.max'),
    memoryReservation: () => readCg(dir('memory'), onV1('memory') ? 'memory.soft_limit_in_bytes' : 'memory.low'),
    memoryPeak: () => readCg(dir('memory'), onV1('memory') ? 'memory.max_usage_in_bytes' : 'memory.peak'),
    oomKills: () => field(readCg(dir('memory'), onV1('memory') ? 'memory.oom_control' : 'memory.events'), 'oom_kill'),
    pidsMax: () => readCg(dir('pids'), 'pids.max'),
    /** the CFS quota in microseconds, or "max" / "-1" when unlimited */
    cpuQuota: () => (onV1('cpu') ? readCg(dir('cpu'), 'cpu.cfs_quota_us') : readCg(dir('cpu'), 'cpu.max').split(' ')[0]),
    /** v1 cpu.shares, or v2 cpu.weight */
    cpuWeight: () => readCg(dir('cpu'), onV1('cpu') ? 'cpu.shares' : 'cpu.weight'),
    cpuUsageNs: () => (onV1('cpuacct') ? Number(readCg(dir('cpuacct'), 'cpuacct.usage')) : field(readCg(dir('cpu'), 'cpu.stat'), 'usage_usec') * 1000),
    cpuThrottled: () => field(readCg(dir('cpu'), 'cpu.stat'), 'nr_throttled'),
    cpusetCpus: () => readCg(dir('cpuset'), 'cpuset.cpus'),
    /** [dir, file, frozen value, thawed value] */
    freezer: () => (paths.freezer ? [paths.freezer, 'freezer.state', 'FROZEN', 'THAWED'] : [paths.unified, 'cgroup.freeze', '1', '0']),
  };
}

/**
 * Which of `wanted` ({controller (v1 name): [files]}) a container's own cgroup has here,
 * read from a created (never started) probe container that is deleted at once. Several
 * files depend on the kernel, the block devices and the placement (BFQ's weight,
 * iocost's io.weight, RT group scheduling, CFS burst; from a service's cgroup only the
 * container's level has the controllers tsrt enables), so only the container's cgroup
 * answers for the container. opts.env goes to tsrt.
 */
export function containerHasFiles(sb, wanted, opts = {}) {
  const { id, paths } = started(sb, ['true'], undefined, { env: opts.env, noStart: true });
  try {
    const have = new Set();
    for (const [ctrl, files] of Object.entries(wanted)) {
      const dir = ctrlDir(paths, ctrl);
      for (const f of files) if (dir && fs.existsSync(path.join(dir, f))) have.add(f);
    }
    return have;
  } finally {
    sb.ok(['delete', '--force', id], { env: opts.env });
  }
}

/** cgroupPaths of a container, from its state.json. */
export function cgroupPaths(sb, id) {
  return JSON.parse(fs.readFileSync(path.join(sb.stateDir(id), 'state.json'), 'utf8')).cgroupPaths ?? {};
}

/** A cgroup file's trimmed text; undefined when it does not exist. */
export function readCg(dir, file) {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Removes cgroup directories the test made tsrt create (deepest first), registered with
 * t.after so it runs even on failure. Only for paths under names the test chose.
 */
export function removeCgroupDirsLater(t, dirs) {
  t.after(async () => {
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
      for (let i = 0; i < 100; i++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch (e) {
          if (e.code !== 'EBUSY') break;
          await sleep(20);
        }
      }
    }
  });
}

/** Adds capabilities (bounding, effective, permitted) to a config. */
export function addCaps(c, ...caps) {
  for (const k of ['bounding', 'effective', 'permitted']) c.process.capabilities[k].push(...caps);
}

/** A bundle running args, with linux.resources (and more) from patch. */
export function bundle(sb, args, patch) {
  return sb.bundle({
    patch: (c) => {
      c.process.args = args;
      if (patch) patch(c);
    },
  });
}

/** create (+ start unless opts.noStart); returns {id, pid, paths, create, b}. opts.env goes to both commands. */
export function started(sb, args, patch, opts = {}) {
  const b = bundle(sb, args, patch);
  const id = opts.id ?? sb.id('cg');
  const { pid, create } = sb.create(id, b.dir, { args: opts.createArgs, env: opts.env });
  if (opts.noStart) return { id, pid, paths: cgroupPaths(sb, id), create, b };
  sb.ok(['start', id], { env: opts.env });
  return { id, pid, paths: cgroupPaths(sb, id), create, b };
}

/**
 * `tsrt events ARGS` with its stdout read line by line as it comes (a pipe: events is not
 * a container); killed at cleanup if it is still running.
 */
export function eventsStream(t, sb, args, env = process.env) {
  const child = spawn(TSRT, ['--root', sb.root, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines = collectJsonLines(child.stdout);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return { lines, done, stderr: () => err };
}
