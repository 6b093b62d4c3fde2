// Shared helpers for the integration tests: they start real containers with dist/tsrt (as
// root) and look at what happened inside the container and on the host. Not a test file.
//
// Every test gets a Sandbox: its own temp dir (bundles, --root state dir, captured output)
// and a cleanup registered with t.after() that runs even when the test fails: `delete
// --force` of every id the test used, SIGKILL of every pid it learned (only if that pid
// still is the same process), lazy unmount of anything left mounted under the temp dir,
// and rm -rf --one-file-system of the temp dir.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// TSRT_TEST_RUNTIME=/usr/sbin/runc runs the same tests against another runtime (to check
// a test, not tsrt: where runc behaves differently the test says so).
export const TSRT = process.env.TSRT_TEST_RUNTIME || path.join(REPO, 'dist', 'tsrt');
export const OTHER_RUNTIME = !!process.env.TSRT_TEST_RUNTIME;
export const ROOTFS = path.join(REPO, 'bundle', 'rootfs');
export const DEMO_CONFIG = path.join(REPO, 'bundle', 'config.json');
export const TMP_PREFIX = path.join(os.tmpdir(), 'tsrt-test-');

/**
 * How much slower than the host this machine runs the tests: the limits of the waits
 * below are multiplied by it (the VM lane, emulated, sets 10: docs/vm-lane.md). A limit
 * only bounds a wait for something that must happen; no test asserts how fast.
 */
export const SLOWDOWN = Math.max(1, Number(process.env.TSRT_TEST_SLOWDOWN) || 1);

/** Safety net for one tsrt command: a hung command fails the test instead of the suite. */
const COMMAND_LIMIT_MS = 60_000 * SLOWDOWN;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- host-side observations -----------------------------------------------------------

/** /proc/PID/stat fields after the command name: [state, ppid, ..., starttime at 19]. */
export function procStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Whether pid is a live process. A zombie counts as dead: this machine's pid 1 does not
 * reap orphans, so a container init whose `tsrt create` has exited stays a zombie.
 */
export function isAlive(pid) {
  const st = procStat(pid);
  return !!st && st[0] !== 'Z' && st[0] !== 'X';
}

/** Host mount table, one line per mount. */
export function hostMounts() {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
}

/** Mount point (field 5) of a mountinfo line, with octal escapes decoded. */
export function mountPoint(line) {
  return line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Host mounts whose line mentions `text` (mount point, root or source). */
export function mountsMentioning(text) {
  return hostMounts().filter((l) => l.includes(text));
}

/** Where other tests and tools running on this machine at the same time mount things. */
const FOREIGN_MOUNT_DIRS = [os.tmpdir(), '/run/containerd', '/run/netns', '/run/containers', '/var/lib/containers', '/var/lib/containerd'];

/**
 * Mounts added to or removed from the host since `before`, ignoring mounts of others:
 * under temp dirs other than ownDir and under container tools' state dirs (other test
 * files, checkouts and tools may mount and unmount there while a test runs).
 */
export function mountChanges(before, ownDir) {
  const after = hostMounts();
  const b = new Set(before);
  const a = new Set(after);
  const inside = (p, dir) => p === dir || p.startsWith(dir + '/');
  const foreign = (l) => {
    const mp = mountPoint(l);
    if (ownDir && inside(mp, ownDir)) return false;
    return FOREIGN_MOUNT_DIRS.some((d) => inside(mp, d));
  };
  return {
    added: after.filter((l) => !b.has(l) && !foreign(l)),
    removed: before.filter((l) => !a.has(l) && !foreign(l)),
  };
}

/** Live processes whose root, cwd or executable is inside dir. */
export function processesUsing(dir) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    for (const link of ['root', 'cwd', 'exe']) {
      let target;
      try {
        target = fs.readlinkSync(`/proc/${name}/${link}`);
      } catch {
        continue;
      }
      if (target === dir || target.startsWith(dir + '/')) {
        out.push(Number(name));
        break;
      }
    }
  }
  return out.filter(isAlive);
}

/** Every live process whose command line contains `text`. */
export function processesWithCmdline(text) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text) && isAlive(Number(name))) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Cgroup directories named after a container id: in every hierarchy, at the root and
 * under this process's own cgroup (where tsrt, its child, puts relative cgroupsPaths).
 */
export function cgroupDirsOf(id) {
  const own = new Set(['/']);
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean)) {
    own.add(line.split(':').slice(2).join(':'));
  }
  let hierarchies = [''];
  try {
    hierarchies = ['', ...fs.readdirSync('/sys/fs/cgroup')];
  } catch {
    // no cgroupfs
  }
  const out = new Set();
  for (const h of hierarchies) {
    for (const p of own) {
      const d = path.join('/sys/fs/cgroup', h, p, id);
      if (fs.existsSync(d)) out.add(d);
    }
  }
  return [...out];
}

/** "net:[4026531833]" for a pid (or 'self'). */
export function nsLink(pid, ns) {
  return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
}

/** Open fds of a process: [{fd, target, flags}] (flags: octal from fdinfo, as a number). */
export function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).map(Number).sort((x, y) => x - y).map((fd) => {
    let target = '?';
    let flags = 0;
    try { target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { /* closed meanwhile */ }
    try {
      const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) flags = parseInt(m[1], 8);
    } catch { /* closed meanwhile */ }
    return { fd, target, flags };
  });
}

export const O_CLOEXEC = 0o2000000;

// --- the sandbox ------------------------------------------------------------------------

let counter = 0;

export class Sandbox {
  /** @param t the node:test context (cleanup is registered with t.after) */
  constructor(t) {
    this.dir = fs.mkdtempSync(TMP_PREFIX);
    this.root = path.join(this.dir, 'state');
    this.ioDir = path.join(this.dir, 'io');
    fs.mkdirSync(this.ioDir);
    this.ids = new Set();
    this.pids = new Map(); // pid -> starttime
    this.n = 0;
    this.beforeCleanups = [];
    if (t) t.after(() => this.cleanup());
  }

  /**
   * Runs fn at the start of cleanup, before the temp dir goes: for what lives under it, as
   * another runtime's --root (a t.after() registered later would run after the removal,
   * and `runc delete` would then find no state and recreate its root dir).
   */
  beforeCleanup(fn) {
    this.beforeCleanups.push(fn);
  }

  /** A container id unique to this test run (and recorded for cleanup). */
  id(prefix = 'c') {
    const id = `${prefix}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
    this.ids.add(id);
    return id;
  }

  /** Records a pid this test learned, so cleanup can kill it if it is still that process. */
  track(pid) {
    pid = Number(pid);
    if (!(pid > 1)) return pid;
    const st = procStat(pid);
    if (st) this.pids.set(pid, st[19]);
    return pid;
  }

  /** A fresh directory under the temp dir. */
  mkdir(name, mode) {
    const p = path.join(this.dir, `${name}-${++this.n}`);
    fs.mkdirSync(p, { recursive: true });
    if (mode !== undefined) fs.chmodSync(p, mode);
    return p;
  }

  /**
   * A bundle dir with the demo config.json. root.path is the repo's bundle/rootfs
   * (absolute, read-only), or a private copy (cp -a) when copyRootfs is true. patch(config,
   * bundle) may change the config (or return a new one); the result is written and returned.
   */
  bundle({ copyRootfs = false, patch } = {}) {
    const dir = this.mkdir('bundle');
    let config = JSON.parse(fs.readFileSync(DEMO_CONFIG, 'utf8'));
    let rootfs = ROOTFS;
    if (copyRootfs) {
      rootfs = path.join(dir, 'rootfs');
      const r = spawnSync('cp', ['-a', ROOTFS, rootfs]);
      if (r.status !== 0) throw new Error(`cp -a ${ROOTFS} ${rootfs}: ${r.stderr}`);
      config.root = { path: rootfs, readonly: false };
    } else {
      config.root = { path: ROOTFS, readonly: true };
    }
    if (patch) config = patch(config, { dir, rootfs }) ?? config;
    if (!copyRootfs) {
      // The shared rootfs is never written: a mount point the runtime would have to
      // create in it (outside /dev, /proc and /sys) needs a copied rootfs.
      for (const m of config.mounts ?? []) {
        const dest = path.posix.normalize(m.destination);
        if (/^\/(dev|proc|sys)(\/|$)/.test(dest)) continue;
        if (!fs.existsSync(path.join(ROOTFS, dest))) {
          throw new Error(`test bug: mount destination ${dest} does not exist in the shared rootfs; use bundle({ copyRootfs: true })`);
        }
      }
    }
    const configPath = path.join(dir, 'config.json');
    fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
    return { dir, rootfs, config, configPath };
  }

  /** Files for one command's stdout and stderr (they stay: a created container writes later). */
  ioFiles() {
    const base = path.join(this.ioDir, String(++this.n));
    return { out: `${base}.out`, err: `${base}.err` };
  }

  _stdio(opts) {
    const { out, err } = this.ioFiles();
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    const stdin = opts.input !== undefined ? 'pipe' : (opts.stdin ?? 'ignore');
    const stdio = [stdin, outFd, errFd, ...(opts.extraFds ?? [])];
    return { out, err, outFd, errFd, stdio };
  }

  /**
   * Runs `tsrt --root <this.root> ...args` and waits for it (runToFiles: stdout and stderr
   * in files of this sandbox, read when asked for: a created container writes later).
   */
  tsrt(args, opts = {}) {
    const full = [...(opts.noRoot ? [] : ['--root', this.root]), ...args];
    return runToFiles(TSRT, full, {
      ...this.ioFiles(), label: `tsrt ${full.join(' ')}`, input: opts.input, stdin: opts.stdin, extraFds: opts.extraFds,
      cwd: opts.cwd ?? this.dir, env: opts.env, timeout: opts.timeout,
    });
  }

  /** Like tsrt() but asynchronous (for running several commands at once). */
  tsrtAsync(args, opts = {}) {
    const { out, err, outFd, errFd, stdio } = this._stdio(opts);
    const full = [...(opts.noRoot ? [] : ['--root', this.root]), ...args];
    return new Promise((resolve, reject) => {
      const child = spawn(TSRT, full, { cwd: opts.cwd ?? this.dir, stdio, env: opts.env ?? process.env });
      fs.closeSync(outFd);
      fs.closeSync(errFd);
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeout ?? COMMAND_LIMIT_MS);
      if (opts.input !== undefined) child.stdin.end(opts.input);
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(result(`tsrt ${full.join(' ')}`, code, signal, out, err, timedOut));
      });
    });
  }

  /** Runs a tsrt command that must succeed; returns its result. */
  ok(args, opts) {
    const r = this.tsrt(args, opts);
    if (r.status !== 0) throw new Error(`${r.cmd} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}${r.stdout}`);
    return r;
  }

  /** `tsrt state ID` parsed. */
  state(id) {
    return JSON.parse(this.ok(['state', id]).stdout);
  }

  /** create (+ --pid-file) and record id and pid; returns {pid, pidFile, create}. */
  create(id, bundleDir, opts = {}) {
    this.ids.add(id);
    const pidFile = path.join(this.dir, `${id}.pid`);
    const create = this.ok(['create', '--bundle', bundleDir, '--pid-file', pidFile, ...(opts.args ?? []), id], opts);
    const pid = this.track(Number(fs.readFileSync(pidFile, 'utf8')));
    return { pid, pidFile, create };
  }

  /** Polls `tsrt state` until the status is `want` (fails after limitMs). */
  async waitStatus(id, want, limitMs = 20_000) {
    const end = Date.now() + limitMs * SLOWDOWN;
    let last;
    for (;;) {
      last = this.state(id);
      if (last.status === want) return last;
      if (Date.now() > end) throw new Error(`container ${id} did not become ${want}: last state ${JSON.stringify(last)}`);
      await sleep(20);
    }
  }

  /** Waits (up to limitMs) until pid is dead (gone or a zombie); returns whether it is. */
  async waitDead(pid, limitMs = 20_000) {
    const end = Date.now() + limitMs * SLOWDOWN;
    while (isAlive(pid) && Date.now() < end) await sleep(20);
    return !isAlive(pid);
  }

  /** The state dir of a container id under --root. */
  stateDir(id) {
    return path.join(this.root, id);
  }

  cleanup() {
    for (const fn of this.beforeCleanups.reverse()) {
      try {
        fn();
      } catch {
        // best effort: the rest of the cleanup still runs
      }
    }
    for (const id of this.ids) {
      if (!fs.existsSync(this.stateDir(id))) continue;
      try {
        spawnSync(TSRT, ['--root', this.root, 'delete', '--force', id], { stdio: 'ignore', timeout: COMMAND_LIMIT_MS, killSignal: 'SIGKILL' });
      } catch {
        // best effort
      }
    }
    for (const [pid, start] of this.pids) {
      const st = procStat(pid);
      if (st && st[19] === start && isAlive(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    // Anything a broken runtime left mounted under our dir: detach before removing, so
    // rm never walks into a mount.
    const mine = hostMounts().map(mountPoint).filter((mp) => mp === this.dir || mp.startsWith(this.dir + '/'));
    for (const mp of mine.reverse()) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
    spawnSync('rm', ['-rf', '--one-file-system', this.dir], { stdio: 'ignore' });
  }
}

/**
 * Runs a command and waits for it, with stdout and stderr in the files `out` and `err`:
 * never pipes, which a created container or a daemon the command starts would keep open.
 * Returns {cmd, status, signal, timedOut, out, err, stdout, stderr}; stdout and stderr
 * read the files when asked for.
 */
export function runToFiles(cmd, args, { out, err, label = `${cmd} ${args.join(' ')}`, input, stdin = 'ignore', extraFds = [], cwd, env = process.env, timeout = COMMAND_LIMIT_MS }) {
  const outFd = fs.openSync(out, 'w');
  const errFd = fs.openSync(err, 'w');
  let r;
  try {
    r = spawnSync(cmd, args, {
      cwd,
      stdio: [input !== undefined ? 'pipe' : stdin, outFd, errFd, ...extraFds],
      input,
      env,
      timeout,
      killSignal: 'SIGKILL',
    });
  } finally {
    fs.closeSync(outFd);
    fs.closeSync(errFd);
  }
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
  return result(label, r.status, r.signal, out, err, r.error?.code === 'ETIMEDOUT');
}

function result(label, status, signal, out, err, timedOut) {
  return {
    cmd: label,
    status,
    signal,
    timedOut,
    out,
    err,
    get stdout() { return fs.readFileSync(out, 'utf8'); },
    get stderr() { return fs.readFileSync(err, 'utf8'); },
  };
}

/** Polls fn() (a value or a promise) until it is truthy and returns it; throws, naming `describe` (a string or a function giving one), after limitMs. */
export async function waitUntil(fn, limitMs, describe, everyMs = 25) {
  const end = Date.now() + limitMs * SLOWDOWN;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${limitMs * SLOWDOWN} ms: ${typeof describe === 'function' ? describe() : describe}`);
    await sleep(everyMs);
  }
}

/** Describes a command result for assertion messages. */
export function show(r) {
  return `${r.cmd}\nstatus ${r.status} signal ${r.signal}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** The uid/gid mappings used by the user-namespace tests. */
export const USERNS_MAPPINGS = {
  uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
  gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
};

/** Adds a user namespace with the mappings above to a config (in place). */
export function withUserNs(config) {
  config.linux.namespaces.push({ type: 'user' });
  Object.assign(config.linux, structuredClone(USERNS_MAPPINGS));
  return config;
}

/** Writes an executable /bin/sh script. */
export function writeScript(file, body, shell = '/bin/sh') {
  fs.writeFileSync(file, `#!${shell}\n${body}\n`, { mode: 0o755 });
  return file;
}

/** Parses a child's stdout as JSON lines as they arrive; returns the (growing) array. */
export function collectJsonLines(stream) {
  const lines = [];
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  return lines;
}
