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

/** cgroupPaths of a container, from its state.json. */
export function cgroupPaths(sb, id) {
  return JSON.parse(fs.readFileSync(path.join(sb.stateDir(id), 'state.json'), 'utf8')).cgroupPaths ?? {};
}

export function readCg(dir, file) {
  return fs.readFileSync(path.join(dir, file), 'utf8').trim();
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
