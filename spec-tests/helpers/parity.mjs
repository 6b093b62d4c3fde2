// The differential test's machinery (spec-tests/parity.test.mjs): runs one bundle under
// runc and under tsrt, the same way, and turns what a user can observe into comparable
// text. Not a test file; docs/parity.md explains the table.
//
// One run of a bundle ("observe") is:
//   lifecycle  create, state, start, (the probe prints and waits), state, kill TERM,
//              state, delete, state: each step's success and the state's keys and status
//   run        run in the foreground: the exit code, then state (gone)
//   terminal   the lifecycle with process.terminal and a console socket
// The container runs /probe.sh (PROBE below, copied into a private copy of the rootfs),
// which prints sections ("== name"); each section is normalised (pids, ids, inode numbers,
// temp paths) and compared section by section.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, ROOTFS, TSRT, isAlive, procStat, waitUntil } from './tsrt.mjs';
import { ConsoleReceiver } from './terminal.mjs';

export const RUNC = process.env.PARITY_RUNC || '/usr/sbin/runc';
export const HAVE_RUNC = spawnSync(RUNC, ['--version'], { stdio: 'ignore' }).status === 0;
export const RUNTIMES = { runc: RUNC, tsrt: TSRT };

/** The uid (no passwd entry needed) that runs both runtimes in the rootless rows. */
export const ROOTLESS_UID = 43210;

const STEP_LIMIT_MS = 30_000;
const FIXTURES = path.join(REPO, 'spec-tests', 'fixtures', 'parity');

// The probe (fixtures/parity/probe.sh): everything a process in the container can see
// about itself, one section per "== name" header; `/probe.sh wait` then waits for SIGTERM.
export const PROBE = fs.readFileSync(path.join(FIXTURES, 'probe.sh'), 'utf8');
// --- the base config ------------------------------------------------------------------

let defaultSpecCache;
/** The default spec as `runc spec` writes it (the reference's own default bundle). */
export function runcSpec(rootless = false) {
  defaultSpecCache ??= {};
  if (!defaultSpecCache[rootless]) {
    const dir = fs.mkdtempSync('/tmp/tsrt-parity-spec-');
    try {
      const r = spawnSync(RUNC, ['spec', ...(rootless ? ['--rootless'] : []), '--bundle', dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`runc spec: ${r.stderr}`);
      defaultSpecCache[rootless] = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return structuredClone(defaultSpecCache[rootless]);
}

/** Whether the config asks for a new namespace of this type (not a path to join). */
export function newNs(config, type) {
  return (config.linux?.namespaces ?? []).some((n) => n.type === type && !n.path);
}

// --- running one runtime --------------------------------------------------------------

/** Spawns a command with stdout and stderr in files; resolves with {status, signal, stdout, stderr}. */
function runTo(bin, args, { out, err, cwd, uid, gid, env, timeout = STEP_LIMIT_MS }) {
  return new Promise((resolve, reject) => {
    const outFd = fs.openSync(out, 'w');
    const errFd = fs.openSync(err, 'w');
    const child = spawn(bin, args, { cwd, uid, gid, env: env ?? process.env, stdio: ['ignore', outFd, errFd] });
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status, signal,
        get stdout() { return fs.readFileSync(out, 'utf8'); },
        get stderr() { return fs.readFileSync(err, 'utf8'); },
      });
    });
  });
}

/**
 * One runtime's side of a row: a bundle dir of its own (a private copy of the rootfs with
 * /probe.sh), a state root, a container id, and a cleanup that removes the container
 * whatever happened.
 */
class Side {
  constructor(sb, row, runtime) {
    this.sb = sb;
    this.row = row;
    this.runtime = runtime;
    this.bin = RUNTIMES[runtime];
    this.dir = sb.mkdir(`${runtime}-bundle`);
    this.root = sb.mkdir(`${runtime}-state`);
    this.id = `parity-${runtime}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.rootfs = path.join(this.dir, 'rootfs');
    this.n = 0;
    this.pid = undefined;
    this.receiver = undefined;
    this.rootless = row.mode === 'rootless';
  }

  /** The bundle: rootfs copy with the probe, the row's setup, then its config patch. */
  async prepare() {
    const cp = spawnSync('cp', ['-a', ROOTFS, this.rootfs]);
    if (cp.status !== 0) throw new Error(`cp -a ${ROOTFS} ${this.rootfs}: ${cp.stderr}`);
    fs.writeFileSync(path.join(this.rootfs, 'probe.sh'), PROBE, { mode: 0o755 });
    if (this.row.extra) fs.writeFileSync(path.join(this.rootfs, 'extra.sh'), `#!/bin/sh\n${this.row.extra}\n`, { mode: 0o755 });
    await this.row.setup?.(this);
    let config = runcSpec(this.rootless || !!this.row.rootlessSpec);
    config.process.terminal = this.row.mode === 'terminal';
    config.process.args = ['/probe.sh', ...(this.row.mode === 'run' ? [] : ['wait'])];
    config.root = { path: 'rootfs', readonly: true };
    if (this.rootless || this.row.rootlessSpec) {
      for (const m of [...config.linux.uidMappings, ...config.linux.gidMappings]) m.hostID = ROOTLESS_UID;
    }
    config = this.row.patch?.(config, this) ?? config;
    fs.writeFileSync(path.join(this.dir, 'config.json'), JSON.stringify(config, null, 2));
    this.config = config;
    // A user namespace's root (or the rootless uid) must reach the bundle.
    fs.chmodSync(this.sb.dir, 0o755);
    if (this.rootless) {
      spawnSync('chown', ['-R', `${ROOTLESS_UID}:${ROOTLESS_UID}`, this.dir, this.root]);
    }
  }

  io(name) {
    const base = path.join(this.sb.ioDir, `${this.runtime}-${name}-${++this.n}`);
    return { out: `${base}.out`, err: `${base}.err` };
  }

  /** Runs `<runtime> --root R ...args` (as the rootless uid in rootless rows). */
  cmd(args, io = this.io(args[0])) {
    const opts = { ...io, cwd: this.dir };
    if (this.rootless) {
      Object.assign(opts, { uid: ROOTLESS_UID, gid: ROOTLESS_UID, env: { PATH: process.env.PATH, HOME: '/nonexistent', XDG_RUNTIME_DIR: this.root } });
    }
    return runTo(this.bin, ['--root', this.root, ...args], opts);
  }

  /** Removes the container (as root) and kills its init if it is still the same process. */
  async cleanup() {
    this.receiver?.stop();
    if (fs.existsSync(path.join(this.root, this.id))) {
      spawnSync(this.bin, ['--root', this.root, 'delete', '--force', this.id], { stdio: 'ignore', timeout: STEP_LIMIT_MS, killSignal: 'SIGKILL' });
    }
    if (this.pid > 1 && this.startTime && procStat(this.pid)?.[19] === this.startTime && isAlive(this.pid)) {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }

  /** The probe's output so far (from the console socket in terminal rows). */
  output() {
    if (this.receiver) return this.receiver.output().replace(/\r\n/g, '\n');
    return this.containerOut ? fs.readFileSync(this.containerOut.out, 'utf8') : '';
  }
}

/** `state ID` as {ok, keys, status, pid, ...} with what legitimately differs normalised. */
async function stateStep(side, label) {
  const r = await side.cmd(['state', side.id]);
  if (r.status !== 0) return `${label}: fails`;
  let s;
  try {
    s = JSON.parse(r.stdout);
  } catch {
    return `${label}: not JSON: ${r.stdout.slice(0, 200)}`;
  }
  // runtime.md, State: "If no annotations were provided then this property MAY either be absent or an empty map."
  if (s.annotations && Object.keys(s.annotations).length === 0) delete s.annotations;
  const norm = {
    keys: Object.keys(s).sort().join(','),
    status: s.status,
    id: s.id === side.id ? '<ID>' : s.id,
    pid: s.pid > 0 && s.pid === side.pid ? '<PID>' : s.pid,
    bundle: s.bundle === side.dir ? '<BUNDLE>' : s.bundle,
    rootfs: s.rootfs === undefined ? undefined : normaliseText(side, s.rootfs),
    created: typeof s.created === 'string' && !Number.isNaN(Date.parse(s.created)) ? '<TIME>' : s.created,
    owner: s.owner,
    annotations: s.annotations,
  };
  return `${label}: ${JSON.stringify(norm)}`;
}

/** create's pid file (waiting briefly: it is written before create exits). */
function readPid(side, pidFile) {
  try {
    return Number(fs.readFileSync(pidFile, 'utf8'));
  } catch {
    return undefined;
  }
}

async function lifecycle(side) {
  const steps = [];
  const pidFile = path.join(side.dir, 'init.pid');
  const consoleArgs = [];
  if (side.row.mode === 'terminal' && !side.row.noConsoleSocket) {
    side.receiver = await ConsoleReceiver.start(side.sb, STEP_LIMIT_MS);
    consoleArgs.push('--console-socket', side.receiver.path);
  }
  side.containerOut = side.io('container');
  const create = await side.cmd(['create', '--bundle', side.dir, '--pid-file', pidFile, ...consoleArgs, side.id], side.containerOut);
  steps.push(`create: ${create.status === 0 ? 'ok' : 'fails'}`);
  side.createStderr = create.stderr;
  side.pid = readPid(side, pidFile);
  if (side.pid > 1) side.startTime = procStat(side.pid)?.[19];
  if (create.status !== 0) {
    steps.push(await stateStep(side, 'state after failed create'));
    return steps;
  }
  steps.push(await stateStep(side, 'state after create'));
  const start = await side.cmd(['start', side.id]);
  steps.push(`start: ${start.status === 0 ? 'ok' : 'fails'}`);
  side.startStderr = start.stderr;
  // The probe has printed everything, or the process is gone.
  await waitUntil(() => side.output().includes('== end\n') || !isAlive(side.pid), 20_000, `${side.runtime}: the probe did not finish: ${side.output().slice(-300)}`);
  const running = await stateStep(side, 'state after start');
  steps.push(running);
  if (running.includes('"status":"running"')) {
    const kill = await side.cmd(['kill', side.id, 'TERM']);
    steps.push(`kill TERM: ${kill.status === 0 ? 'ok' : 'fails'}`);
    await waitUntil(() => !isAlive(side.pid), 10_000, `${side.runtime}: the init survived SIGTERM`);
    let stopped;
    await waitUntil(async () => (stopped = await stateStep(side, 'state after kill')).includes('"status":"stopped"'), 10_000, () => `${side.runtime}: never stopped: ${stopped}`);
    steps.push(stopped);
  }
  const del = await side.cmd(['delete', side.id]);
  steps.push(`delete: ${del.status === 0 ? 'ok' : 'fails'}`);
  steps.push(await stateStep(side, 'state after delete'));
  return steps;
}

async function foreground(side) {
  side.containerOut = side.io('run');
  const r = await side.cmd(['run', '--bundle', side.dir, side.id], side.containerOut);
  const steps = [`run: exit ${r.status}${r.signal ? ` signal ${r.signal}` : ''}`];
  side.createStderr = r.stderr;
  steps.push(await stateStep(side, 'state after run'));
  return steps;
}

/**
 * Runs a row under one runtime and returns its observations: {steps, sections, stderr}.
 * The container is removed before this returns, whatever happened.
 */
export async function observe(sb, row, runtime) {
  const side = new Side(sb, row, runtime);
  try {
    await side.prepare();
    const steps = row.mode === 'run' ? await foreground(side) : await lifecycle(side);
    const sections = { steps: steps.join('\n'), ...probeSections(side, side.output()) };
    if (row.hooks) sections.hooks = hookLog(side);
    return { sections, stderr: `${side.createStderr ?? ''}${side.startStderr ?? ''}`, side };
  } finally {
    await side.cleanup();
    await row.teardown?.(side);
  }
}

// --- normalisation ----------------------------------------------------------------------

const HOST_NS = Object.fromEntries(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']
  .map((n) => [n, fs.readlinkSync(`/proc/self/ns/${n}`)]));

/** Temp paths, ids and inode numbers: the same for both runtimes after this. */
export function normaliseText(side, text) {
  return text
    .split(side.dir).join('<BUNDLE>')
    .split(side.sb.ioDir).join('<IO>')
    .split(side.sb.dir).join('<TMP>')
    .split(side.id).join('<ID>')
    .replace(/<IO>\/(runc|tsrt)-(\w+)-\d+\.(out|err)/g, '<IO>/$2.$3')
    .replace(/(pipe|socket|anon_inode:\[?[\w-]*\]?):\[\d+\]/g, '$1:[*]')
    .replace(/\b(pipe|socket):\[\d+\]/g, '$1:[*]');
}

/** Splits the probe's output into sections and normalises each. */
function probeSections(side, raw) {
  const out = {};
  let name;
  for (const line of raw.split('\n')) {
    const m = /^== (\S+)$/.exec(line);
    if (m) {
      name = m[1];
      out[name] = [];
    } else if (name) {
      out[name].push(line);
    }
  }
  if (!name) return { probe: normaliseText(side, raw).slice(0, 2000) };
  const cfg = side.config;
  const sections = {};
  for (const [k, lines] of Object.entries(out)) {
    if (k === 'end') continue;
    let text = normaliseText(side, lines.join('\n').replace(/\n+$/, ''));
    if (k === 'ns') text = text.replace(/^(\w+) \w+:\[\d+\]$/gm, (l, n) => `${n} ${l.endsWith(HOST_NS[n]) ? 'host' : 'new'}`);
    if (k === 'stat') text = normaliseStat(text);
    // Run by an unprivileged uid, neither runtime can make a cgroup: the container stays in
    // its caller's, the hierarchies' roots here, whose subdirectories are the cgroups of
    // whatever else runs on the host (other rows, other tests) at that moment.
    if (k === 'cgroupfs' && side.rootless) text = text.replace(/ dirs=\d+$/gm, ' dirs=<host>');
    if ((k === 'link' || k === 'addr') && !newNs(cfg, 'network')) {
      // The host's interfaces come and go with other tests: keep the loopback only.
      text = text.split('\n').filter((l) => /^1: lo\b/.test(l)).join('\n');
    }
    if (k === 'mountinfo') {
      Object.assign(sections, splitMounts(text, cfg));
      continue;
    }
    sections[k] = text;
  }
  return sections;
}

/** "pid ppid pgrp sid tty tpgid": pids other than 0 and 1 as "pid" (the shell's own) or "other". */
function normaliseStat(text) {
  const f = text.trim().split(/\s+/);
  if (f.length !== 6) return text;
  const pid = f[0];
  const tok = (v) => (['0', '1', '-1'].includes(v) ? v : v === pid ? 'pid' : 'other');
  return `pid=${tok(f[0])} ppid=${tok(f[1])} pgrp=${tok(f[2])} sid=${tok(f[3])} tty=${f[4]} tpgid=${tok(f[5])}`;
}

/**
 * mountinfo lines as "mountpoint root opts propagation - fstype source superopts", ids and
 * device numbers dropped, sorted by mount point (stacked mounts keep their order): split
 * into the cgroup mounts, the masked and read-only paths, and the rest.
 */
function splitMounts(text, cfg) {
  const paths = new Set([...(cfg.linux?.maskedPaths ?? []), ...(cfg.linux?.readonlyPaths ?? [])]);
  const lines = text.split('\n').filter(Boolean).map((l) => {
    const [left, right] = l.split(' - ');
    const f = left.split(' ');
    const prop = f.slice(6).map((o) => o.replace(/:\d+$/, '')).join(',') || 'private';
    const [fstype, source, superopts] = (right ?? '').split(' ');
    // A masked file: tsrt binds the host's /dev/null (devtmpfs), runc the container's
    // (on its /dev tmpfs): the source mount and its flags differ by design (docs/parity.md).
    if (paths.has(f[4]) && f[3] === '/null' && /^(dev)?tmpfs$/.test(fstype)) return { mp: f[4], line: `${f[4]} root=/null ${prop} - a /dev/null` };
    return { mp: f[4], line: `${f[4]} root=${f[3]} ${f[5]} ${prop} - ${fstype} ${source} ${superopts}` };
  });
  lines.sort((a, b) => (a.mp < b.mp ? -1 : a.mp > b.mp ? 1 : 0));
  const pick = (fn) => lines.filter(fn).map((x) => x.line).join('\n');
  const isCgroup = (x) => x.mp === '/sys/fs/cgroup' || x.mp.startsWith('/sys/fs/cgroup/');
  return {
    mounts: pick((x) => !isCgroup(x) && !paths.has(x.mp)),
    'mounts-paths': pick((x) => paths.has(x.mp)),
    'mounts-cgroup': pick(isCgroup),
  };
}

// --- hooks --------------------------------------------------------------------------------

/**
 * fixtures/parity/hook.sh: a hook that logs its name, args, cwd, env and the state on its stdin (normalised later)
 * to LOG, then exits with EXIT (default 0). Host hooks use <bundle>/hook.sh and
 * <bundle>/hooks.log; startContainer hooks the copy in the rootfs and /tmp/hooks.log.
 */
export const HOOK_SCRIPT = fs.readFileSync(path.join(FIXTURES, 'hook.sh'), 'utf8');
export function installHooks(side) {
  fs.writeFileSync(path.join(side.dir, 'hook.sh'), HOOK_SCRIPT, { mode: 0o755 });
  fs.writeFileSync(path.join(side.rootfs, 'hook.sh'), HOOK_SCRIPT, { mode: 0o755 });
  return {
    host: (name, exit) => ({ path: path.join(side.dir, 'hook.sh'), args: ['hook.sh', path.join(side.dir, 'hooks.log'), name, ...(exit ? [String(exit)] : [])] }),
    inside: (name, exit) => ({ path: '/hook.sh', args: ['hook.sh', '/tmp/hooks.log', name, ...(exit ? [String(exit)] : [])] }),
  };
}

/** The hooks' log (host side and in the container's /tmp), state JSON normalised. */
function hookLog(side) {
  const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
  const text = read(path.join(side.dir, 'hooks.log')) + read(path.join(side.rootfs, 'tmp', 'hooks.log'));
  return text.split('\n').filter(Boolean).map((l) => {
    // tsrt's launcher drops these two from its own environment (scripts/launcher.cjs: node
    // start-up), so a host hook without env cannot inherit them: docs/parity.md.
    if (l.startsWith('env: ')) l = l.split(' ').filter((e) => !/^NODE_(OPTIONS|EXTRA_CA_CERTS)=/.test(e)).join(' ');
    if (!l.startsWith('stdin: ')) return normaliseText(side, l);
    let s;
    try { s = JSON.parse(l.slice(7)); } catch { return normaliseText(side, l); }
    // runtime.md, State: annotations "MAY either be absent or an empty map"; pid is
    // "REQUIRED when status is created or running": absent or 0 otherwise.
    if (s.annotations && Object.keys(s.annotations).length === 0) delete s.annotations;
    if (s.pid === 0 && s.status !== 'created' && s.status !== 'running') delete s.pid;
    // A refused create never told us its init's pid: any pid in a hook's state is it.
    const norm = { ...s, ociVersion: '<VERSION>', ...(s.pid > 0 && (s.pid === side.pid || !side.pid) ? { pid: '<PID>' } : {}) };
    return `stdin: ${normaliseText(side, JSON.stringify(norm, Object.keys(norm).sort()))}`;
  }).join('\n');
}

// --- known differences ------------------------------------------------------------------

/**
 * Open tsrt defects that make a section differ from runc: the section's comparison is a
 * node:test `todo` (the suite stays green; the integrator removes the entry once fixed).
 * `applies(config, row)` says for which bundles.
 */
export const KNOWN_DEFECTS = [];

/**
 * Where runc is wrong by the spec: runc's normalised section is rewritten to what the spec
 * requires before the comparison, so tsrt is held to the spec there and to runc
 * everywhere else. Each entry quotes the spec.
 */
export const RUNC_DEVIATIONS = [
  {
    section: 'mounts-cgroup',
    spec: 'config.md, Linux mount options: "`ro` | MUST" (options: "Mount options of the filesystem to be used"). runc mounts the tmpfs it puts at a cgroup mount\'s destination read-write even when the mount\'s options say "ro".',
    applies: (c) => (c.mounts ?? []).some((m) => m.type === 'cgroup' && (m.options ?? []).includes('ro')),
    // The runtime's own tmpfs is the last one stacked on /sys/fs/cgroup: under an rbind of
    // the host's /sys (rootless bundles) the host's tmpfs lies below it and keeps its flags.
    fix: (text) => {
      const lines = text.split('\n');
      const i = lines.findLastIndex((l) => /^\/sys\/fs\/cgroup root=\/ \S+ \S+ - tmpfs /.test(l));
      if (i >= 0) lines[i] = lines[i].replace(/^(\/sys\/fs\/cgroup root=\/ )rw,(.* - tmpfs \S+ )rw,/, '$1ro,$2ro,');
      return lines.join('\n');
    },
  },
  {
    section: 'hostname',
    spec: 'config.md, Domainname: "domainname (string, OPTIONAL) specifies the container\'s domainname as seen by processes running inside the container." runc 1.1 (spec 1.0.2) ignores it.',
    applies: (c) => typeof c.domainname === 'string',
    fix: (text, c) => text.replace(/\n\(none\)$/, `\n${c.domainname}`),
  },
  {
    section: 'hooks',
    spec: 'config.md, Poststart: "The poststart hooks MUST be called after the user-specified process is executed but before the start operation returns." runc 1.1 runs them in create, so their state says "created".',
    applies: (c) => (c.hooks?.poststart ?? []).length > 0,
    fix: (text) => text.replace(/(-- poststart\n(?:.*\n)*?stdin: .*)"status":"created"/, '$1"status":"running"'),
  },
  {
    section: 'hooks',
    spec: 'runtime.md, State: "pid (int, REQUIRED when status is created or running on Linux ...) is the ID of the container process, as seen by the host." runc 1.1 gives createContainer hooks the pid as seen in the container (1).',
    applies: (c) => (c.hooks?.createContainer ?? []).length > 0 && newNs(c, 'pid'),
    fix: (text) => text.replace(/(-- createContainer\n(?:.*\n)*?stdin: .*)"pid":1,/, '$1"pid":"<PID>",'),
  },
  {
    section: 'hooks',
    spec: 'runtime.md, State: "pid (int, REQUIRED when status is created or running on Linux ...) is the ID of the container process, as seen by the host." runc 1.1 gives startContainer hooks the pid as seen in the container (1).',
    applies: (c) => (c.hooks?.startContainer ?? []).length > 0 && newNs(c, 'pid'),
    fix: (text) => text.replace(/(-- startContainer\n(?:.*\n)*?stdin: .*)"pid":1,/, '$1"pid":"<PID>",'),
  },
];

/** Section name -> todo reason for a row (its own `todo` entries win). */
export function todosFor(row, config) {
  const out = {};
  for (const k of KNOWN_DEFECTS) {
    if (k.applies(config, row)) for (const s of k.sections) out[s] = k.todo;
  }
  return { ...out, ...(row.todo ?? {}) };
}

/** runc's sections with the spec deviations above corrected. */
export function runcAsSpecified(sections, config, row) {
  const out = { ...sections };
  for (const d of [...RUNC_DEVIATIONS, ...(row.runcDeviations ?? [])]) {
    if (out[d.section] !== undefined && (d.applies?.(config) ?? true)) out[d.section] = d.fix(out[d.section], config);
  }
  return out;
}

// --- reporting ------------------------------------------------------------------------------

/** A line diff of two texts ("-" runc's line, "+" tsrt's), common lines left out. */
export function lineDiff(want = '', got = '') {
  const a = String(want).split('\n');
  const b = String(got).split('\n');
  // Longest common subsequence, from the end (the texts are a few hundred lines at most).
  const lcs = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) { i++; j++; } else if (i < a.length && (j >= b.length || lcs[i + 1][j] >= lcs[i][j + 1])) out.push(`- ${a[i++]}`); else out.push(`+ ${b[j++]}`);
  }
  return out.join('\n');
}

/** The sections (of `keys`) where tsrt's observation differs from runc's, as line diffs; '' when none. */
export function sectionDiffs(want, got, keys) {
  // When only one side's container ran, its probe output is all difference: show the steps.
  if (keys.includes('steps') && (want.exe === undefined) !== (got.exe === undefined)) keys = ['steps'];
  return keys.filter((k) => want[k] !== got[k])
    .map((k) => `[${k}] (- runc, + tsrt)\n${lineDiff(want[k], got[k])}`)
    .join('\n');
}
