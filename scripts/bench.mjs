#!/usr/bin/env node
// Benchmarks tsrt against runc and crun on the same busybox bundle (npm run bench).
//
//   node scripts/bench.mjs [--n N] [--bulk-n K] [--only a,b,...] [--runtimes tsrt,runc,crun] [--json FILE]
//
// Sections (names or letters for --only):
//   run      (a) `run` of /bin/true, sequentially, N times per runtime; extra rows: bare
//                `node -e 0`, tsrt and `node -e 0` with NODE_EXTRA_CA_CERTS + NODE_OPTIONS set,
//                and the cost of crun's unshare wrapper alone.
//   split    (b) create / start / state / kill / delete, each timed separately, N times.
//   rss      (c) peak RSS of the runtime process during `run` (/usr/bin/time -f %M), N times.
//   parallel (d) 50 containers created+started in parallel, then killed+deleted in parallel,
//                K times per runtime (--bulk-n, default 5).
//   many     (e) 100 containers created (not started), held at once: `create` and `state`
//                and `list` timed with them in place, then each `delete --force` timed.
//   shim     (f) containerd through the runc shim (+ runc, + tsrt) and tsrt's own shim:
//                scripts/bench-shim.mjs, run after the others with --n N, its own table.
//
// Every measurement is interleaved round-robin (tsrt, runc, crun, tsrt, runc, crun, ...) so
// that drift in machine load hits all runtimes alike. Each command is timed with
// process.hrtime.bigint() around spawnSync, so process start-up is included, and runs with the
// same clean environment (PATH only). Each runtime gets its own bundle directory and its own
// --root under one temp dir; all bundles use the repository's bundle/rootfs by absolute path
// (runc refuses a symlinked rootfs). crun runs as DESIGN.md section 4 says: ociVersion 1.1.0,
// inside `unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified; exec crun ...'`
// (the wrapper's own cost is shown as the row "crun wrapper only").
//
// Everything created is deleted (delete --force by id, in our private --root dirs only) and the
// temp dir removed, also on failure and on Ctrl-C. Nothing is ever killed by name.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CLEAN_ENV = { PATH: CLEAN_PATH };
const CA_CERTS = '/etc/ssl/certs/ca-certificates.crt';
const ALL_RUNTIMES = ['tsrt', 'runc', 'crun'];
const SECTIONS = { a: 'run', b: 'split', c: 'rss', d: 'parallel', e: 'many', f: 'shim' };
const SECTION_TITLES = {
  run: '(a) run /bin/true, sequential',
  split: '(b) split lifecycle (container runs `sleep 1000`)',
  rss: '(c) peak RSS during run /bin/true',
  parallel: '(d) 50 containers in parallel',
  many: '(e) 100 created containers held at once',
  shim: '(f) containerd shims (scripts/bench-shim.mjs)',
};
const PARALLEL = 50;
const MANY = 100;

// ---------------------------------------------------------------------------------------------
// options

function usage(code) {
  (code ? process.stderr : process.stdout).write(
    'usage: node scripts/bench.mjs [--n N] [--bulk-n K] [--only run,split,rss,parallel,many,shim|a,b,c,d,e,f]\n' +
    '                              [--runtimes tsrt,runc,crun] [--json FILE]\n');
  process.exit(code);
}

function parseArgs(argv) {
  const o = { n: 30, bulkN: 5, only: Object.values(SECTIONS), runtimes: ALL_RUNTIMES, json: null };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const val = () => {
      if (v !== undefined) return v;
      if (i + 1 >= argv.length) { console.error(`${a} needs a value`); usage(2); }
      return argv[++i];
    };
    const int = (s) => {
      const x = Number(s);
      if (!Number.isInteger(x) || x < 1) { console.error(`${a}: not a positive integer: ${s}`); usage(2); }
      return x;
    };
    switch (a) {
      case '--n': o.n = int(val()); break;
      case '--bulk-n': o.bulkN = int(val()); break;
      case '--json': o.json = path.resolve(val()); break;
      case '--only': o.only = val().split(',').filter(Boolean).map((s) => {
        const name = SECTIONS[s] ?? s;
        if (!Object.values(SECTIONS).includes(name)) { console.error(`--only: unknown section ${s}`); usage(2); }
        return name;
      }); break;
      case '--runtimes': o.runtimes = val().split(',').filter(Boolean).map((s) => {
        if (!ALL_RUNTIMES.includes(s)) { console.error(`--runtimes: unknown runtime ${s}`); usage(2); }
        return s;
      }); break;
      case '-h': case '--help': usage(0); break;
      default: console.error(`unknown argument ${argv[i]}`); usage(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------
// small helpers

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms) => Atomics.wait(sleepBuf, 0, 0, ms);
const progress = (s) => process.stderr.write(`[bench] ${s}\n`);

function which(cmd) {
  for (const dir of CLEAN_PATH.split(':')) {
    const p = path.join(dir, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

function lastLines(s, n = 3) {
  return String(s ?? '').trim().split('\n').filter(Boolean).slice(-n).join(' | ').slice(0, 400);
}

let interrupted = null; // signal name once Ctrl-C / SIGTERM arrived
let cleaningUp = false;
class Interrupted extends Error {}
/** Yields to the event loop so that signal handlers can run between measurements. */
async function checkpoint() {
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new Interrupted(`interrupted by ${interrupted}`);
}

// ---------------------------------------------------------------------------------------------
// temp dirs, command execution

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-bench-'));
const LOGS = path.join(TMP, 'logs');
fs.mkdirSync(LOGS);
let logSeq = 0;

function openLogs() {
  const base = path.join(LOGS, String(++logSeq));
  return { outF: `${base}.out`, errF: `${base}.err`, out: fs.openSync(`${base}.out`, 'w'), err: fs.openSync(`${base}.err`, 'w') };
}
function collect(l, ms, status, signal, error) {
  fs.closeSync(l.out);
  fs.closeSync(l.err);
  const stdout = fs.readFileSync(l.outF, 'utf8');
  const stderr = fs.readFileSync(l.errF, 'utf8');
  fs.rmSync(l.outF, { force: true });
  fs.rmSync(l.errF, { force: true });
  const ok = !error && status === 0;
  const why = error ? String(error.message ?? error) : signal ? `killed by ${signal}` : `exit ${status}`;
  return { ms, ok, status, stdout, stderr, reason: ok ? '' : `${why}${stderr.trim() ? `: ${lastLines(stderr)}` : ''}` };
}

// stdio goes to files, never pipes: a created container inherits the runtime's stdio, and a
// pipe would keep spawnSync waiting for that container to exit.
function exec(argv, { env = CLEAN_ENV, timeoutMs = 60_000 } = {}) {
  const l = openLogs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', l.out, l.err], timeout: timeoutMs, killSignal: 'SIGKILL' });
  const t1 = process.hrtime.bigint();
  return collect(l, Number(t1 - t0) / 1e6, r.status, r.signal, r.error);
}

function execAsync(argv, { env = CLEAN_ENV, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    const l = openLogs();
    const t0 = process.hrtime.bigint();
    let done = false;
    let timer;
    const finish = (status, signal, error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(collect(l, Number(process.hrtime.bigint() - t0) / 1e6, status, signal, error));
    };
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', l.out, l.err] });
    timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.on('error', (e) => finish(null, null, e));
    child.on('exit', (code, sig) => finish(code, sig, null)); // 'exit', not 'close': see exec()
  });
}

async function pool(items, concurrency, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
  }));
  return out;
}

// ---------------------------------------------------------------------------------------------
// runtimes and bundles

const TSRT = path.join(REPO, 'dist', 'tsrt');
const ROOTFS = path.join(REPO, 'bundle', 'rootfs');
const NODE = which('node') ?? process.execPath;
const UNSHARE = which('unshare');
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const CRUN_WRAP = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"';
const ID_PREFIX = `bench${process.pid}`;

const baseConfig = JSON.parse(fs.readFileSync(path.join(REPO, 'bundle', 'config.json'), 'utf8'));

function makeBundle(dir, args, ociVersion) {
  const c = structuredClone(baseConfig);
  c.ociVersion = ociVersion ?? c.ociVersion;
  c.process.args = args;
  c.process.terminal = false;
  c.root = { ...c.root, path: ROOTFS };
  // the namespaces (network included) are kept as in bundle/config.json
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return dir;
}

/** @type {Record<string, any>} */
const RT = {};
for (const name of opts.runtimes) {
  const dir = path.join(TMP, name);
  const root = path.join(dir, 'root');
  fs.mkdirSync(root, { recursive: true });
  const rt = { name, root, available: true, reason: '', version: '', ids: new Set(), seq: 0 };
  const ociVersion = name === 'crun' ? '1.1.0' : undefined;
  rt.bundleTrue = makeBundle(path.join(dir, 'bundle-true'), ['/bin/true'], ociVersion);
  rt.bundleSleep = makeBundle(path.join(dir, 'bundle-sleep'), ['/bin/sleep', '1000'], ociVersion);
  if (name === 'tsrt') {
    rt.bin = fs.existsSync(TSRT) ? TSRT : null;
    rt.argv = (args) => [rt.bin, '--root', root, ...args];
    if (!rt.bin) rt.reason = 'dist/tsrt not found (run npm run build)';
  } else if (name === 'runc') {
    rt.bin = which('runc');
    rt.argv = (args) => [rt.bin, '--root', root, ...args];
    if (!rt.bin) rt.reason = 'runc not installed';
  } else {
    rt.bin = which('crun');
    rt.argv = (args) => [UNSHARE, '-m', '--propagation', 'private', 'sh', '-c', CRUN_WRAP, 'sh', rt.bin, '--root', root, ...args];
    if (!rt.bin) rt.reason = 'crun not installed';
    else if (!UNSHARE) { rt.bin = null; rt.reason = 'unshare not installed (needed to hide /sys/fs/cgroup/unified from crun)'; }
  }
  if (!rt.bin) rt.available = false;
  RT[name] = rt;
}
const avail = () => Object.values(RT).filter((r) => r.available);

function newId(rt, tag) { return `${ID_PREFIX}-${rt.name}-${tag}-${++rt.seq}`; }

/** Runs a runtime command (callers add ids to rt.ids before a create, for the clean-up). */
function rtExec(rt, args, o = {}) { return exec(rt.argv(args), o); }

function forceDelete(rt, id) {
  const r = exec(rt.argv(['delete', '--force', id]), { timeoutMs: 30_000 });
  if (r.ok || /does not exist|not exist|no such/i.test(r.stderr)) rt.ids.delete(id);
  return r;
}

// ---------------------------------------------------------------------------------------------
// results

const results = new Map();
function row(section, measure, runtime, unit = 'ms') {
  const key = `${section}\u0000${measure}\u0000${runtime}`;
  if (!results.has(key)) results.set(key, { section, measure, runtime, unit, samples: [], failures: 0, errors: [], notes: [] });
  return results.get(key);
}
function record(section, measure, runtime, r, unit) {
  const x = row(section, measure, runtime, unit);
  if (r.ok) x.samples.push(r.value ?? r.ms);
  else { x.failures++; if (x.errors.length < 3 && !x.errors.includes(r.reason)) x.errors.push(r.reason); }
  return r.ok;
}
function note(section, measure, runtime, s) {
  const x = row(section, measure, runtime);
  if (!x.notes.includes(s)) x.notes.push(s);
}

// ---------------------------------------------------------------------------------------------
// sections

/** The extra rows of section (a)/(c): what tsrt adds above node, and what crun's wrapper costs. */
function extraRows(section) {
  const rows = [];
  const nodeEnvVars = {
    ...CLEAN_ENV,
    NODE_EXTRA_CA_CERTS: CA_CERTS,
    NODE_OPTIONS: `--require ${PRELOAD}`,
  };
  rows.push({ name: 'node -e 0', argv: () => [NODE, '-e', '0'] });
  if (section === 'run') rows.push({ name: 'node -e 0 +NODE_*', env: nodeEnvVars, argv: () => [NODE, '-e', '0'] });
  if (RT.tsrt?.available) {
    rows.push({ name: 'tsrt +NODE_*', env: nodeEnvVars, rt: RT.tsrt, argv: (id) => RT.tsrt.argv(['run', '--bundle', RT.tsrt.bundleTrue, id]) });
  }
  if (section === 'run' && RT.crun?.available) {
    rows.push({ name: 'crun wrapper only', argv: () => [UNSHARE, '-m', '--propagation', 'private', 'sh', '-c', CRUN_WRAP, 'sh', '/bin/true'] });
  }
  return rows;
}

// NODE_OPTIONS for the "+NODE_*" rows: a preload that logs who loaded it, so the bench can tell
// whether tsrt's launcher really kept NODE_OPTIONS away from node.
const PRELOAD = path.join(TMP, 'preload.cjs');
const PRELOAD_LOG = path.join(TMP, 'preload.log');
fs.writeFileSync(PRELOAD, `require('fs').appendFileSync(${JSON.stringify(PRELOAD_LOG)}, (process.argv[1] || 'node -e') + '\\n');\n`);
function preloadHits() {
  try { return fs.readFileSync(PRELOAD_LOG, 'utf8').split('\n').filter(Boolean); } catch { return []; }
}

/** A `run` of /bin/true (optionally wrapped, e.g. in /usr/bin/time); the id is cleaned up on failure. */
function runTrue(rt, tag, { env, wrap = (a) => a } = {}) {
  const id = newId(rt, tag);
  rt.ids.add(id);
  const r = exec(wrap(rt.argv(['run', '--bundle', rt.bundleTrue, id])), { env });
  if (r.ok) rt.ids.delete(id); else forceDelete(rt, id);
  return r;
}

async function sectionRun() {
  const S = 'run';
  const extras = extraRows(S);
  const m = 'run /bin/true';
  for (let i = 0; i < opts.n; i++) {
    for (const rt of avail()) {
      await checkpoint();
      record(S, m, rt.name, runTrue(rt, 'run'));
    }
    for (const x of extras) {
      await checkpoint();
      if (x.rt) record(S, m, x.name, runTrue(x.rt, 'runenv', { env: x.env }));
      else record(S, m, x.name, exec(x.argv(), { env: x.env }));
    }
    if ((i + 1) % 10 === 0) progress(`run: ${i + 1}/${opts.n}`);
  }
  const hits = preloadHits();
  const tsrtHits = hits.filter((h) => h.includes('tsrt')).length;
  const nodeHits = hits.filter((h) => !h.includes('tsrt')).length;
  if (RT.tsrt?.available) {
    note(S, m, 'tsrt +NODE_*', tsrtHits ? `NODE_OPTIONS preload ran ${tsrtHits}x in tsrt!` : 'NODE_OPTIONS preload ran 0x in tsrt');
  }
  note(S, m, 'node -e 0 +NODE_*', `preload ran ${nodeHits}x`);
  if (RT.crun?.available) note(S, m, 'crun wrapper only', 'included in every crun row');
  fs.rmSync(PRELOAD_LOG, { force: true });
}

/** Polls `state` (untimed) until the container is stopped. */
function waitStopped(rt, id, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = rtExec(rt, ['state', id]);
    if (r.ok) {
      try { if (JSON.parse(r.stdout).status === 'stopped') return true; } catch { /* retry */ }
    }
    sleepMs(2);
  }
  return false;
}

// (b): the container runs `sleep 1000` so that every phase is meaningful and comparable:
// create leaves an init waiting for start; start is timed on its own (with /bin/true the
// process might finish during start and state would race it); state is taken while the
// container is running (the common case, which needs the pid liveness check); kill is SIGKILL;
// after an untimed wait for `stopped`, delete (no --force) times just the clean-up of a stopped
// container, not signal delivery and reaping.
async function sectionSplit() {
  const S = 'split';
  for (let i = 0; i < opts.n; i++) {
    for (const rt of avail()) {
      await checkpoint();
      const id = newId(rt, 'split');
      rt.ids.add(id);
      const c = rtExec(rt, ['create', '--bundle', rt.bundleSleep, id]);
      let ok = record(S, 'create', rt.name, c);
      if (ok) ok = record(S, 'start', rt.name, rtExec(rt, ['start', id]));
      if (ok) {
        const st = rtExec(rt, ['state', id]);
        if (st.ok) {
          try {
            const s = JSON.parse(st.stdout).status;
            if (s !== 'running') note(S, 'state (running)', rt.name, `status was ${s}, not running`);
          } catch { st.ok = false; st.reason = `state printed no JSON: ${lastLines(st.stdout)}`; }
        }
        ok = record(S, 'state (running)', rt.name, st);
      }
      if (ok) ok = record(S, 'kill KILL', rt.name, rtExec(rt, ['kill', id, 'KILL']));
      if (ok && !waitStopped(rt, id)) {
        ok = false;
        record(S, 'delete (stopped)', rt.name, { ok: false, reason: 'container did not reach stopped within 10 s' });
      }
      if (ok) {
        const d = rtExec(rt, ['delete', id]);
        if (d.ok) rt.ids.delete(id);
        record(S, 'delete (stopped)', rt.name, d);
      }
      if (rt.ids.has(id)) forceDelete(rt, id);
    }
    if ((i + 1) % 10 === 0) progress(`split: ${i + 1}/${opts.n}`);
  }
}

async function sectionRss() {
  const S = 'rss';
  const m = 'peak RSS, run /bin/true';
  if (!TIME) {
    for (const rt of avail()) record(S, m, rt.name, { ok: false, reason: 'n/a: /usr/bin/time not installed' }, 'MiB');
    return;
  }
  const rssFile = path.join(TMP, 'rss.txt');
  const wrap = (argv) => [TIME, '-f', '%M', '-o', rssFile, ...argv];
  const measure = (r) => {
    if (!r.ok) return r;
    const kb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    if (!Number.isFinite(kb)) return { ok: false, reason: 'could not parse /usr/bin/time output' };
    return { ok: true, value: kb / 1024 };
  };
  const extras = extraRows(S);
  for (let i = 0; i < opts.n; i++) {
    for (const rt of avail()) {
      await checkpoint();
      record(S, m, rt.name, measure(runTrue(rt, 'rss', { wrap })), 'MiB');
    }
    for (const x of extras) {
      await checkpoint();
      const r = x.rt ? runTrue(x.rt, 'rssenv', { env: x.env, wrap }) : exec(wrap(x.argv()), { env: x.env });
      record(S, m, x.name, measure(r), 'MiB');
    }
    if ((i + 1) % 10 === 0) progress(`rss: ${i + 1}/${opts.n}`);
  }
  if (RT.crun?.available) note(S, m, 'crun', 'max over unshare/sh/umount/crun (time sees the exec chain)');
  fs.rmSync(PRELOAD_LOG, { force: true });
}

async function sectionParallel() {
  const S = 'parallel';
  const mUp = `create+start x${PARALLEL} (all running)`;
  const mDown = `kill+delete -f x${PARALLEL}`;
  for (let i = 0; i < opts.bulkN; i++) {
    for (const rt of avail()) {
      await checkpoint();
      const ids = Array.from({ length: PARALLEL }, () => newId(rt, 'par'));
      ids.forEach((id) => rt.ids.add(id));
      let firstErr = '';
      let failed = 0;
      const t0 = process.hrtime.bigint();
      await Promise.all(ids.map(async (id) => {
        let r = await execAsync(rt.argv(['create', '--bundle', rt.bundleSleep, id]));
        if (r.ok) r = await execAsync(rt.argv(['start', id]));
        if (!r.ok) { failed++; firstErr ||= r.reason; }
      }));
      const up = Number(process.hrtime.bigint() - t0) / 1e6;
      if (failed) record(S, mUp, rt.name, { ok: false, reason: `${failed}/${PARALLEL} failed: ${firstErr}` });
      else {
        record(S, mUp, rt.name, { ok: true, ms: up });
        const l = rtExec(rt, ['list', '--format', 'json']);
        let running = -1;
        try { running = (JSON.parse(l.stdout) ?? []).filter((c) => ids.includes(c.id) && c.status === 'running').length; } catch { /* below */ }
        if (running !== PARALLEL) note(S, mUp, rt.name, `after start, list showed ${running < 0 ? '?' : running}/${PARALLEL} running`);
      }
      await checkpoint();
      failed = 0;
      firstErr = '';
      const t1 = process.hrtime.bigint();
      await Promise.all(ids.map(async (id) => {
        // kill, then delete --force: kill returns before the process is gone, and a plain
        // delete of a still-running container would fail.
        let r = await execAsync(rt.argv(['kill', id, 'KILL']));
        if (r.ok || /not running|stopped|created/i.test(r.stderr)) r = await execAsync(rt.argv(['delete', '--force', id]));
        if (r.ok) rt.ids.delete(id); else { failed++; firstErr ||= r.reason; }
      }));
      const down = Number(process.hrtime.bigint() - t1) / 1e6;
      if (failed) record(S, mDown, rt.name, { ok: false, reason: `${failed}/${PARALLEL} failed: ${firstErr}` });
      else record(S, mDown, rt.name, { ok: true, ms: down });
      for (const id of ids) if (rt.ids.has(id)) forceDelete(rt, id);
    }
    progress(`parallel: ${i + 1}/${opts.bulkN}`);
  }
}

async function sectionMany() {
  const S = 'many';
  const held = new Map(avail().map((rt) => [rt.name, []]));
  // create the 100 containers one by one, interleaved; each create is timed too
  for (let i = 0; i < MANY; i++) {
    for (const rt of avail()) {
      await checkpoint();
      const id = newId(rt, 'many');
      rt.ids.add(id);
      const r = rtExec(rt, ['create', '--bundle', rt.bundleSleep, id]);
      if (record(S, `create (0-${MANY - 1} held)`, rt.name, r)) held.get(rt.name).push(id);
      else forceDelete(rt, id);
    }
  }
  progress(`many: ${MANY} containers created per runtime`);
  for (const rt of avail()) {
    const n = held.get(rt.name).length;
    if (n !== MANY) note(S, `state (${MANY} held)`, rt.name, `only ${n} created`);
  }
  for (let i = 0; i < opts.n; i++) {
    for (const rt of avail()) {
      const ids = held.get(rt.name);
      if (!ids.length) continue;
      await checkpoint();
      record(S, `state (${MANY} held)`, rt.name, rtExec(rt, ['state', ids[i % ids.length]]));
      await checkpoint();
      const l = rtExec(rt, ['list']);
      if (record(S, `list (${MANY} held)`, rt.name, l) && i === 0) {
        const lines = l.stdout.trim().split('\n').length - 1;
        if (lines !== ids.length) note(S, `list (${MANY} held)`, rt.name, `listed ${lines}, expected ${ids.length}`);
      }
    }
  }
  // clean up, timing each delete --force of a created (never started) container
  for (let i = 0; i < MANY; i++) {
    for (const rt of avail()) {
      const id = held.get(rt.name)[i];
      if (!id) continue;
      await checkpoint();
      const r = rtExec(rt, ['delete', '--force', id]);
      if (r.ok) rt.ids.delete(id);
      record(S, `delete -f (created)`, rt.name, r);
    }
  }
  for (const rt of avail()) for (const id of held.get(rt.name)) if (rt.ids.has(id)) forceDelete(rt, id);
}

// ---------------------------------------------------------------------------------------------
// cleanup

function mountsUnder(dir) {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .map((l) => l.split(' ')[4]).filter((m) => m && (m === dir || m.startsWith(`${dir}/`)));
  } catch { return []; }
}

function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  const leftovers = [];
  for (const rt of Object.values(RT)) {
    if (!rt.bin) continue;
    // ids we know of, plus anything else in our private --root (e.g. a create cut by Ctrl-C)
    const ids = new Set(rt.ids);
    const l = exec(rt.argv(['list', '-q']), { timeoutMs: 30_000 });
    if (l.ok) for (const id of l.stdout.split('\n').map((s) => s.trim())) if (id) ids.add(id);
    try { for (const d of fs.readdirSync(rt.root)) if (d.startsWith(ID_PREFIX)) ids.add(d); } catch { /* none */ }
    for (const id of ids) {
      const r = forceDelete(rt, id);
      if (!r.ok && !/does not exist|not exist|no such/i.test(r.stderr)) leftovers.push(`${rt.name}:${id} (${r.reason})`);
    }
  }
  if (leftovers.length) {
    progress(`WARNING: could not delete: ${leftovers.join('; ')}`);
    progress(`left ${TMP} in place for inspection`);
    return;
  }
  const m = mountsUnder(TMP);
  if (m.length) { progress(`WARNING: mounts remain under ${TMP} (${m.join(', ')}); not removing it`); return; }
  fs.rmSync(TMP, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (cleaningUp) return; // let the clean-up finish
    if (interrupted) return;
    interrupted = sig;
    progress(`${sig}: stopping after the current command, then cleaning up`);
  });
}

// ---------------------------------------------------------------------------------------------
// report

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}
const fmt = (x, unit) => (x === null || x === undefined ? 'n/a' : unit === 'MiB' ? x.toFixed(1) : x >= 100 ? x.toFixed(0) : x.toFixed(1));

function summarize() {
  const out = [];
  for (const x of results.values()) {
    const ok = x.samples.length > 0;
    out.push({
      section: x.section, measure: x.measure, runtime: x.runtime, unit: x.unit,
      median: ok ? median(x.samples) : null,
      min: ok ? Math.min(...x.samples) : null,
      max: ok ? Math.max(...x.samples) : null,
      n: x.samples.length, failures: x.failures, errors: x.errors, notes: x.notes,
      samples: x.samples.map((v) => Math.round(v * 1000) / 1000),
    });
  }
  const find = (s, m, r) => out.find((o) => o.section === s && o.measure === m && o.runtime === r);
  for (const o of out) {
    const runc = find(o.section, o.measure, 'runc');
    o.ratioVsRunc = runc?.median && o.median !== null ? o.median / runc.median : null;
    const ref = o.runtime === 'tsrt +NODE_*' ? find(o.section, o.measure, 'tsrt')
      : o.runtime === 'node -e 0 +NODE_*' ? find(o.section, o.measure, 'node -e 0') : null;
    if (ref?.median && o.median !== null) {
      o.ratioVsPlain = o.median / ref.median;
      o.notes.unshift(`vs ${ref.runtime}: ${o.ratioVsPlain.toFixed(2)}`);
    }
  }
  return out;
}

function table(rows) {
  const order = ['tsrt', 'runc', 'crun', 'tsrt +NODE_*', 'node -e 0', 'node -e 0 +NODE_*', 'crun wrapper only'];
  const head = ['measurement', 'runtime', 'median', 'min–max', 'x runc', 'ok', 'note'];
  const lines = [];
  for (const sec of Object.values(SECTIONS)) {
    const rs = rows.filter((r) => r.section === sec);
    if (!rs.length) continue;
    const measures = [...new Set(rs.map((r) => r.measure))];
    const body = [];
    for (const m of measures) {
      for (const r of rs.filter((x) => x.measure === m).sort((a, b) => order.indexOf(a.runtime) - order.indexOf(b.runtime))) {
        const u = r.unit;
        const notes = [...r.notes];
        if (r.failures) notes.push(`${r.failures} failed: ${r.errors[0] ?? ''}`);
        body.push([
          `${m} [${u}]`, r.runtime, fmt(r.median, u),
          r.min === null ? 'n/a' : `${fmt(r.min, u)}–${fmt(r.max, u)}`,
          r.ratioVsRunc === null ? (r.runtime === 'runc' ? '1.00' : 'n/a') : r.ratioVsRunc.toFixed(2),
          `${r.n}/${r.n + r.failures}`, notes.join('; '),
        ]);
      }
    }
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells) => cells.map((c, i) => (i === cells.length - 1 ? c : i >= 2 && i <= 5 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
    lines.push('', SECTION_TITLES[sec], line(head), line(w.map((n) => '-'.repeat(n))));
    for (const b of body) lines.push(line(b));
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// main

function firstLine(argv) {
  const r = exec(argv);
  return r.ok ? r.stdout.trim().split('\n')[0] : `? (${r.reason})`;
}

async function main() {
  if (!fs.existsSync(path.join(ROOTFS, 'bin', 'busybox'))) {
    throw new Error(`${ROOTFS} has no busybox: run bash scripts/make-rootfs.sh first`);
  }
  // probe (and warm up) each runtime: one run of /bin/true and one create/delete -f of sleep
  for (const rt of Object.values(RT)) {
    if (!rt.available) { progress(`${rt.name}: not available: ${rt.reason}`); continue; }
    rt.version = firstLine([rt.bin, '--version']);
    const r = runTrue(rt, 'probe');
    if (!r.ok) { rt.available = false; rt.reason = `run /bin/true failed: ${r.reason}`; }
    else {
      const id = newId(rt, 'probe');
      rt.ids.add(id);
      const c = rtExec(rt, ['create', '--bundle', rt.bundleSleep, id]);
      const d = forceDelete(rt, id);
      if (!c.ok) { rt.available = false; rt.reason = `create failed: ${c.reason}`; }
      else if (!d.ok) { rt.available = false; rt.reason = `delete --force failed: ${d.reason}`; }
    }
    progress(`${rt.name}: ${rt.available ? `ok (${rt.version})` : `NOT AVAILABLE: ${rt.reason}`}`);
  }
  const fns = { run: sectionRun, split: sectionSplit, rss: sectionRss, parallel: sectionParallel, many: sectionMany, shim: () => {} };
  for (const s of Object.values(SECTIONS)) {
    if (!opts.only.includes(s)) continue;
    if (!avail().length) break;
    progress(`section ${SECTION_TITLES[s]}`);
    await fns[s]();
  }
}

const started = new Date();
let failure = null;
try {
  await main();
} catch (e) {
  failure = e;
} finally {
  cleanup();
}

const rows = summarize();
const meta = {
  date: started.toISOString(),
  durationS: (Date.now() - started.getTime()) / 1000,
  host: os.hostname(), kernel: os.release(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
  node: process.version, n: opts.n, bulkN: opts.bulkN, sections: opts.only, env: CLEAN_ENV,
  nodeEnvRow: { NODE_EXTRA_CA_CERTS: CA_CERTS, NODE_OPTIONS: '--require <preload that logs who loaded it>' },
  interrupted: interrupted ?? undefined, error: failure && !(failure instanceof Interrupted) ? String(failure.stack ?? failure) : undefined,
};
const runtimes = Object.fromEntries(Object.values(RT).map((r) => [r.name, { available: r.available, reason: r.reason || undefined, version: r.version || undefined }]));

console.log(`tsrt bench — ${meta.date}, ${meta.cpus} CPU ${meta.cpuModel ?? ''}, kernel ${meta.kernel}, node ${meta.node}`);
console.log(`n=${opts.n} (parallel: ${opts.bulkN} rounds), env for every command: PATH only; times in ms, wall clock incl. process start`);
if (interrupted) console.log(`INTERRUPTED by ${interrupted}: partial results`);
if (failure && !(failure instanceof Interrupted)) console.log(`FAILED: ${failure.message ?? failure} (partial results)`);
for (const r of Object.values(RT)) console.log(`  ${r.name.padEnd(5)} ${r.available ? r.version : `NOT AVAILABLE: ${r.reason}`}`);
console.log(table(rows));

let jsonPath = opts.json;
if (!jsonPath) jsonPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-bench-results-')), 'bench-results.json');
fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
fs.writeFileSync(jsonPath, `${JSON.stringify({ meta, runtimes, results: rows }, null, 2)}\n`);
console.log(`\nJSON written to ${jsonPath}`);

if (failure && !(failure instanceof Interrupted)) {
  console.error(`bench failed: ${failure.stack ?? failure}`);
  process.exitCode = 1;
}
if (interrupted) process.exitCode = 130;

// (f): its own containerd and table, after the runtimes' sections (their containers are gone)
if (opts.only.includes('shim') && !interrupted) {
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'bench-shim.mjs'), '--n', String(opts.n),
    '--json', jsonPath.replace(/\.json$/, '-shim.json')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
