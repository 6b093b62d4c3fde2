#!/usr/bin/env node
// Breaks tsrt's start-up down by phase (npm run bench:startup).
//
//   node scripts/bench-startup.mjs [--n N] [--top K] [--json FILE]
//
// Rows, measured interleaved round-robin, N times each, with a clean environment (PATH only),
// timed with process.hrtime.bigint() around spawnSync (process start included):
//   node -e 0                  bare node start-up
//   node dist/tsrt --version   node + the launcher + the bundle + yargs (dist/tsrt-yargs.js, no
//                              code cache: only help, usage errors and --version load it)
//   dist/tsrt --version        the same through the shebang (#!/usr/bin/env -S -u ... node)
//   node dist/tsrt.js state ID the bundle alone: no launcher, no code cache (what the code
//                              cache saves)
//   dist/tsrt state ID         state of an existing (created, not started) container
//   dist/tsrt run ID           run of /bin/true
// ("+ over" of the last two is what tsrt adds above node -e 0: the budget of issue 7.)
// then one `run` under `node --cpu-prof` (100 µs sampling), whose profile is aggregated by
// function + url into the top K (default 15) self-time entries.
//
// The container and temp dir are removed on exit, failure or Ctrl-C (delete --force by id in a
// private --root; nothing is killed by name).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ENV = { PATH: CLEAN_PATH };
const TSRT = path.join(REPO, 'dist', 'tsrt');
const BUNDLE = path.join(REPO, 'dist', 'tsrt.js'); // what dist/tsrt runs, with a code cache
const ROOTFS = path.join(REPO, 'bundle', 'rootfs');

function usage(code) {
  (code ? process.stderr : process.stdout).write('usage: node scripts/bench-startup.mjs [--n N] [--top K] [--json FILE]\n');
  process.exit(code);
}
const opts = { n: 30, top: 15, json: null };
for (let i = 2; i < process.argv.length; i++) {
  let a = process.argv[i];
  let v;
  if (a.startsWith('--') && a.includes('=')) { v = a.slice(a.indexOf('=') + 1); a = a.slice(0, a.indexOf('=')); }
  const val = () => v ?? process.argv[++i] ?? usage(2);
  if (a === '--n' || a === '--top') {
    const x = Number(val());
    if (!Number.isInteger(x) || x < 1) usage(2);
    opts[a.slice(2)] = x;
  } else if (a === '--json') opts.json = path.resolve(val());
  else if (a === '-h' || a === '--help') usage(0);
  else { console.error(`unknown argument ${a}`); usage(2); }
}

function which(cmd) {
  for (const dir of CLEAN_PATH.split(':')) {
    try { fs.accessSync(path.join(dir, cmd), fs.constants.X_OK); return path.join(dir, cmd); } catch { /* next */ }
  }
  return process.execPath;
}
const NODE = which('node');

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-bench-startup-'));
const ROOT = path.join(TMP, 'root');
fs.mkdirSync(ROOT);
let PROF = null; // made only when the profile is taken; kept after exit
const ids = new Set();
let seq = 0;
const newId = (tag) => `bstart${process.pid}-${tag}-${++seq}`;

function bundle(name, args) {
  const c = JSON.parse(fs.readFileSync(path.join(REPO, 'bundle', 'config.json'), 'utf8'));
  c.process.args = args;
  c.process.terminal = false;
  c.root = { ...c.root, path: ROOTFS };
  const dir = path.join(TMP, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return dir;
}

let logSeq = 0;
// stdio goes to files: a created container inherits it, and a pipe would keep spawnSync waiting.
function exec(argv) {
  const base = path.join(TMP, `log${++logSeq}`);
  const out = fs.openSync(`${base}.out`, 'w');
  const err = fs.openSync(`${base}.err`, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env: ENV, stdio: ['ignore', out, err], timeout: 60_000, killSignal: 'SIGKILL' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  fs.closeSync(out);
  fs.closeSync(err);
  const stdout = fs.readFileSync(`${base}.out`, 'utf8');
  const stderr = fs.readFileSync(`${base}.err`, 'utf8');
  fs.rmSync(`${base}.out`);
  fs.rmSync(`${base}.err`);
  const ok = !r.error && r.status === 0;
  const reason = ok ? '' : `${r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`)}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`;
  return { ms, ok, pid: r.pid, stdout, stderr, reason };
}
const tsrt = (...args) => [TSRT, '--root', ROOT, ...args];

let interrupted = null;
let cleaningUp = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { if (!cleaningUp && !interrupted) { interrupted = sig; console.error(`${sig}: cleaning up`); } });
}
async function checkpoint() {
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

function cleanup() {
  cleaningUp = true;
  const all = new Set(ids);
  try { for (const d of fs.readdirSync(ROOT)) all.add(d); } catch { /* none */ }
  const left = [];
  for (const id of all) {
    const r = exec(tsrt('delete', '--force', id));
    if (!r.ok && !/does not exist/i.test(r.stderr)) left.push(`${id}: ${r.reason}`);
  }
  if (left.length) { console.error(`WARNING: could not delete ${left.join('; ')}; leaving ${TMP}`); return; }
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((m) => m && (m === TMP || m.startsWith(`${TMP}/`)));
  if (mounts.length) { console.error(`WARNING: mounts under ${TMP}; not removing it`); return; }
  fs.rmSync(TMP, { recursive: true, force: true });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}
const f1 = (x) => (x === null || x === undefined ? 'n/a' : x.toFixed(1));

/** Self time per function+url from a .cpuprofile (sample i lasts until sample i+1). */
function topSelf(profile, k) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const us = i + 1 < samples.length ? timeDeltas[i + 1] : Math.max(0, profile.endTime - (profile.startTime + timeDeltas.slice(0, i + 1).reduce((a, b) => a + b, 0)));
    const cf = byId.get(samples[i])?.callFrame ?? {};
    const url = (cf.url || '').replace(`file://${REPO}/`, '').replace(`${REPO}/`, '');
    const key = `${cf.functionName || '(anonymous)'}\u0000${url}`;
    const e = self.get(key) ?? { fn: cf.functionName || '(anonymous)', url, us: 0, samples: 0 };
    e.us += us;
    e.samples++;
    self.set(key, e);
    total += us;
  }
  return { totalMs: total / 1000, samples: samples.length, top: [...self.values()].sort((a, b) => b.us - a.us).slice(0, k) };
}

async function main() {
  if (!fs.existsSync(TSRT)) throw new Error('dist/tsrt not found: run npm run build');
  if (!fs.existsSync(path.join(ROOTFS, 'bin', 'busybox'))) throw new Error('bundle/rootfs missing: run bash scripts/make-rootfs.sh');
  const bTrue = bundle('bundle-true', ['/bin/true']);
  const bSleep = bundle('bundle-sleep', ['/bin/sleep', '1000']);
  const held = newId('state');
  ids.add(held);
  const c = exec(tsrt('create', '--bundle', bSleep, held));
  if (!c.ok) throw new Error(`tsrt create failed: ${c.reason}`);

  const runTrue = (extraNodeArgs) => {
    const id = newId('run');
    ids.add(id);
    const argv = extraNodeArgs ? [NODE, ...extraNodeArgs, TSRT, '--root', ROOT, 'run', '--bundle', bTrue, id] : tsrt('run', '--bundle', bTrue, id);
    const r = exec(argv);
    if (r.ok) ids.delete(id);
    return r;
  };
  const rows = [
    { name: 'node -e 0', what: 'bare node start-up', fn: () => exec([NODE, '-e', '0']) },
    { name: 'node dist/tsrt --version', what: 'launcher, bundle, yargs (its own file, no code cache)', ref: 'node -e 0', fn: () => exec([NODE, TSRT, '--version']) },
    { name: 'dist/tsrt --version', what: 'launcher (env -S -u ...)', ref: 'node dist/tsrt --version', fn: () => exec([TSRT, '--version']) },
    { name: 'node dist/tsrt.js state', what: 'the bundle without launcher and code cache', ref: 'node -e 0', fn: () => exec([NODE, BUNDLE, '--root', ROOT, 'state', held]) },
    { name: 'dist/tsrt state', what: 'state of a created container (budget: +5)', ref: 'node -e 0', fn: () => exec(tsrt('state', held)) },
    { name: 'dist/tsrt run /bin/true', what: 'create+start+wait+delete (budget: +15)', ref: 'node -e 0', fn: () => runTrue() },
  ];
  for (const r of rows) { r.samples = []; r.failures = 0; r.errors = []; r.fn(); } // warm-up
  for (let i = 0; i < opts.n; i++) {
    for (const r of rows) {
      await checkpoint();
      const x = r.fn();
      if (x.ok) r.samples.push(x.ms); else { r.failures++; if (r.errors.length < 2) r.errors.push(x.reason); }
    }
  }
  for (const r of rows) r.median = r.samples.length ? median(r.samples) : null;

  await checkpoint();
  PROF = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-cpuprof-'));
  // one profiled run; node is called directly since the launcher drops NODE_OPTIONS
  const p = runTrue(['--cpu-prof', `--cpu-prof-dir=${PROF}`, '--cpu-prof-interval', '100']);
  let prof = null;
  if (!p.ok) prof = { error: `profiled run failed: ${p.reason}` };
  else {
    const files = fs.readdirSync(PROF).filter((f) => f.endsWith('.cpuprofile'));
    const mine = files.find((f) => f.split('.').includes(String(p.pid))) ?? files[0];
    if (!mine) prof = { error: 'no .cpuprofile written' };
    else {
      const saved = path.join(PROF, mine);
      prof = { wallMs: p.ms, file: saved, otherProfiles: files.length - 1, ...topSelf(JSON.parse(fs.readFileSync(saved, 'utf8')), opts.top) };
    }
  }
  return { rows, prof };
}

let res = null;
let failure = null;
try { res = await main(); } catch (e) { failure = e; } finally { cleanup(); }

if (res) {
  const { rows, prof } = res;
  console.log(`tsrt start-up breakdown — n=${opts.n}, env PATH only, ms wall clock incl. process start, node ${process.version}`);
  const head = ['phase', 'median', 'min–max', '+ over', 'over', 'ok'];
  const body = rows.map((r) => {
    const ref = rows.find((x) => x.name === r.ref);
    return [r.name, f1(r.median), r.samples.length ? `${f1(Math.min(...r.samples))}–${f1(Math.max(...r.samples))}` : 'n/a',
      ref?.median != null && r.median != null ? `${r.median - ref.median >= 0 ? '+' : ''}${f1(r.median - ref.median)}` : '',
      ref ? `${ref.name} (${r.what})` : r.what, `${r.samples.length}/${r.samples.length + r.failures}${r.failures ? ` ${r.errors[0]}` : ''}`];
  });
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i >= 1 && i <= 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  console.log(line(head));
  console.log(line(w.map((n) => '-'.repeat(n))));
  for (const b of body) console.log(line(b));
  console.log('');
  if (prof?.error) console.log(`cpu profile: ${prof.error}`);
  else if (prof) {
    console.log(`cpu profile of one run /bin/true (node --cpu-prof, 100 µs sampling): wall ${f1(prof.wallMs)} ms, profiled ${f1(prof.totalMs)} ms, ${prof.samples} samples`);
    console.log(`saved to ${prof.file}${prof.otherProfiles ? ` (${prof.otherProfiles} other profile(s) ignored)` : ''}`);
    console.log(`top ${prof.top.length} self time by function + url:`);
    // A sample's time runs until the next sample, so time blocked in a synchronous native call
    // (no samples taken) lands on the frame that made it: few samples + many ms = blocked.
    console.log('(a few samples carrying many ms = time blocked in a synchronous call, not JS work)');
    const t = prof.top.map((e) => [f1(e.us / 1000), `${((100 * e.us) / 1000 / prof.totalMs).toFixed(1)}%`, String(e.samples), e.fn, e.url || '(native / vm)']);
    const hd = ['self ms', '%', 'samples', 'function'];
    const tw = hd.map((h, i) => Math.max(...t.map((r) => r[i].length), h.length));
    const pr = (r) => `${r[0].padStart(tw[0])}  ${r[1].padStart(tw[1])}  ${r[2].padStart(tw[2])}  ${r[3].padEnd(tw[3])}  ${r[4]}`;
    console.log(pr([...hd, 'url']));
    for (const r of t) console.log(pr(r));
  }
  if (opts.json) {
    fs.writeFileSync(opts.json, `${JSON.stringify({ n: opts.n, rows: rows.map(({ fn, ...r }) => r), prof }, null, 2)}\n`);
    console.log(`\nJSON written to ${opts.json}`);
  }
}
if (failure) { console.error(`bench-startup failed: ${failure.message ?? failure}`); process.exitCode = interrupted ? 130 : 1; }
