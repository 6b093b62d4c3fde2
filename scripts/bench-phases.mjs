#!/usr/bin/env node
// Where tsrt's time goes, phase by phase (docs/performance.md):
//
//   node scripts/bench-phases.mjs [--n N] [--json FILE]
//
// It runs dist/tsrt.js (run) and dist/tsrt-light.js (state) the way the launcher does (vm.Script with a code cache, require
// from dist/), but from a copy of its source with a timestamp taken at the entry of a few
// functions: the boundaries of the phases below. Marks are process.hrtime() values
// (CLOCK_MONOTONIC, the same clock in every process), so "spawn -> launcher" is measured
// from the spawnSync call of this script: fork + exec + node's own start-up. The code
// cache of the marked copy is made by warm-up runs of the very commands measured, kept
// in a temp dir. Commands, N times each, interleaved, env PATH only:
//   state ID        of a created (never started) container
//   run ID          of /bin/true (create, start, wait, delete)
// A phase whose function is missing (renamed, gone) is merged into the one before it.
//
// The container and temp dir are removed at the end (delete --force by id, private --root).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(REPO, 'dist');
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
const opts = { n: 15, json: null, fine: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--n') opts.n = Number(process.argv[++i]);
  else if (a === '--json') opts.json = path.resolve(process.argv[++i]);
  else if (a === '--fine') opts.fine = true;
  else { console.error('usage: node scripts/bench-phases.mjs [--n N] [--fine] [--json FILE]'); process.exit(2); }
}
if (!Number.isInteger(opts.n) || opts.n < 1) { console.error('--n: a positive integer'); process.exit(2); }

/** Phase boundaries: [function whose entry starts a phase, what that phase does]. */
const MARKS = {
  state: [
    ['main', 'parse argv, look up the command'],
    ['ociState', 'read state.json, status from /proc'],
    ['writeStdout', 'print the JSON'],
  ],
  run: [
    ['main', 'parse argv, look up the command'],
    ['runContainer', 'load koffi (first libc call), read config.json'],
    ['validateConfig', 'validate config.json (standalone ajv validator)'],
    ['checkExecutable', 'checks; claim the id, exec fifo, pipes'],
    ['buildInitPlan', 'build the init plan (mounts, devices, caps, ...)'],
    ['startPlan', 'encode the plan, clone the init'],
    ['setupCgroups', 'cgroups: mkdir, limits, move the init in; save state'],
    ['moveNetDevices', 'release the init: it sets itself up, reports ready'],
    ['releaseInit', 'start: exec fifo, poststart hooks'],
    ['waitpidAsync', 'the container runs /bin/true; wait for it'],
    ['removeContainer', 'delete: cgroups, state dir'],
  ],
};
/** --fine: the same run, cut at the plan builders and the steps of create as well. */
const FINE_RUN = [
  ['main', 'parse argv, look up the command'],
  ['runContainer', 'load koffi (first libc call)'],
  ['loadBundleConfig', 'read config.json'],
  ['validateConfig', 'validate config.json'],
  ['checkExecutable', 'find process.args[0] in the rootfs'],
  ['warmCgroupAttach', 'warm the cgroup lock (read mountinfo, /proc/self/cgroup)'],
  ['claim', 'claim the id, lock, fifo, pipes'],
  ['planNamespaces', 'namespaces (open joined ones)'],
  ['buildInitPlan', 'plan: checks, signal resets'],
  ['buildMountSteps', 'plan: mounts, devices'],
  ['buildPivotSteps', 'plan: pivot_root'],
  ['buildPathProtectionSteps', 'plan: masked and read-only paths'],
  ['buildRlimitSteps', 'plan: rlimits, cwd, attributes'],
  ['buildUserAndCapSteps', 'plan: user, capabilities'],
  ['buildFdSteps', 'plan: fds, lsm, fifo wait, hooks, seccomp'],
  ['buildExecSteps', 'plan: execve'],
  ['startPlan', 'startPlan: dumpable, mmap'],
  ['encodePlan', 'encode the plan'],
  ['clone', 'clone the init; save state'],
  ['setupCgroups', 'cgroups: layout, mkdir'],
  ['apply', 'cgroups: limits'],
  ['join', 'cgroups: move the init in; save state'],
  ['moveNetDevices', 'release the init: it sets itself up, reports ready'],
  ['releaseInit', 'start: exec fifo, poststart hooks'],
  ['waitpidAsync', 'the container runs /bin/true; wait for it'],
  ['removeContainer', 'delete: lock, load state'],
  ['removeCgroups', 'delete: cgroups'],
  ['remove', 'delete: state dir'],
];
if (opts.fine) MARKS.run = FINE_RUN;

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-phases-'));
const ROOT = path.join(TMP, 'root');
const RUNNER = path.join(TMP, 'runner.cjs');
const created = new Set();

function bundleDir(name, args) {
  const c = JSON.parse(fs.readFileSync(path.join(REPO, 'bundle', 'config.json'), 'utf8'));
  c.process.args = args;
  c.process.terminal = false;
  c.root = { ...c.root, path: path.join(REPO, 'bundle', 'rootfs') };
  const dir = path.join(TMP, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c, null, 2));
  return dir;
}

/** Which bundle the launcher runs for each measured command. */
const BUNDLE_OF = { state: 'tsrt-light.js', run: 'tsrt.js' };

// The marked copies of the bundles (each function's first definition; a method if no function).
for (const [cmd, bundle] of Object.entries(BUNDLE_OF)) {
  let marked = fs.readFileSync(path.join(DIST, bundle), 'utf8');
  for (const fn of new Set(MARKS[cmd].map(([f]) => f))) {
    const call = ` globalThis.__phase(${JSON.stringify(fn)});`;
    const asFunction = new RegExp(`((?:async )?function ${fn}\\([^)]*\\) \\{)`);
    const asMethod = new RegExp(`(\\n\\s+(?:async )?${fn}\\([^)]*\\) \\{)`);
    if (asFunction.test(marked)) marked = marked.replace(asFunction, (m) => m + call);
    else marked = marked.replace(asMethod, (m) => m + call);
  }
  fs.writeFileSync(path.join(TMP, `marked-${cmd}.js`), marked);
}

// The runner: the launcher's own compile() and run() on the marked copy, with its own
// code caches (made by the warm-up runs) in the temp dir.
fs.writeFileSync(RUNNER, `'use strict';
const fs = require('fs');
const L = require(${JSON.stringify(path.join(DIST, 'tsrt'))});
const marks = [['launcher', process.hrtime.bigint()]];
globalThis.__phase = (name) => marks.push([name, process.hrtime.bigint()]);
const cacheFile = ${JSON.stringify(TMP)} + '/' + process.env.TSRT_PHASES_CMD + '.cache';
const cmd = process.env.TSRT_PHASES_CMD;
const bundle = ${JSON.stringify(DIST)} + '/' + ${JSON.stringify(BUNDLE_OF)}[cmd];
const src = fs.readFileSync(${JSON.stringify(TMP)} + '/marked-' + cmd + '.js', 'utf8');
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch {}
const script = L.compile(bundle, src, cachedData);
marks.push(['compiled', process.hrtime.bigint()]);
process.on('exit', () => {
  marks.push(['__exit', process.hrtime.bigint()]);
  if (!cachedData || script.cachedDataRejected) fs.writeFileSync(cacheFile, script.createCachedData());
  fs.writeFileSync(process.env.TSRT_PHASES_OUT, JSON.stringify(marks.map(([n, t]) => [n, String(t)])));
});
L.run(bundle, script);
`);

function once(cmd, args) {
  const out = path.join(TMP, 'marks.json');
  fs.rmSync(out, { force: true });
  const errFile = path.join(TMP, 'cmd.err');
  const errFd = fs.openSync(errFile, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [RUNNER, '--root', ROOT, ...args], {
    env: { ...ENV, TSRT_PHASES_CMD: cmd, TSRT_PHASES_OUT: out }, stdio: ['ignore', 'ignore', errFd], timeout: 60_000, killSignal: 'SIGKILL',
  });
  const t1 = process.hrtime.bigint();
  fs.closeSync(errFd);
  if (r.status !== 0) throw new Error(`${cmd} failed: ${fs.readFileSync(errFile, 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
  const marks = JSON.parse(fs.readFileSync(out, 'utf8')).map(([n, t]) => [n, BigInt(t)]);
  const ms = (a, b) => Number(b - a) / 1e6;
  // phases: spawn -> launcher -> compiled -> [marks...] -> exit -> reaped
  const seen = new Map(); // the first entry of each function
  for (const [n, t] of marks) if (!seen.has(n)) seen.set(n, t);
  const rows = [['spawn: fork, exec, node start-up, launcher loaded', t0, seen.get('launcher')], [`read ${BUNDLE_OF[cmd]} and its code cache, compile`, seen.get('launcher'), seen.get('compiled')]];
  let prevName = 'run the bundle\'s top level';
  let prevT = seen.get('compiled');
  for (const [fn, name] of MARKS[cmd]) {
    const t = seen.get(fn);
    if (t === undefined || t < prevT) continue;
    rows.push([prevName, prevT, t]);
    prevName = name;
    prevT = t;
  }
  rows.push([prevName, prevT, seen.get('__exit')]);
  rows.push(['process exit (until reaped)', seen.get('__exit'), t1]);
  return { total: ms(t0, t1), phases: rows.map(([n, a, b]) => [n, ms(a, b)]) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

let failure = null;
const results = {};
try {
  if (!fs.existsSync(path.join(DIST, 'tsrt.js'))) throw new Error('dist/tsrt.js not found: run npm run build');
  const bTrue = bundleDir('bundle-true', ['/bin/true']);
  const bSleep = bundleDir('bundle-sleep', ['/bin/sleep', '1000']);
  const held = `phases${process.pid}-held`;
  created.add(held);
  // stdio to a file, never a pipe: the container inherits it and would keep spawnSync waiting
  const errFile = path.join(TMP, 'create.err');
  const errFd = fs.openSync(errFile, 'w');
  const c = spawnSync(path.join(DIST, 'tsrt'), ['--root', ROOT, 'create', '--bundle', bSleep, held], { env: ENV, stdio: ['ignore', 'ignore', errFd] });
  fs.closeSync(errFd);
  if (c.status !== 0) throw new Error(`create failed: ${fs.readFileSync(errFile, 'utf8')}`);
  let seq = 0;
  const cmds = {
    state: () => once('state', ['state', held]),
    run: () => once('run', ['run', '--bundle', bTrue, `phases${process.pid}-${++seq}`]),
  };
  for (const f of Object.values(cmds)) { f(); f(); } // make the marked copy's code caches, warm up
  const samples = { state: [], run: [] };
  for (let i = 0; i < opts.n; i++) for (const [k, f] of Object.entries(cmds)) samples[k].push(f());
  for (const [k, runs] of Object.entries(samples)) {
    const names = runs[0].phases.map(([n]) => n);
    results[k] = {
      total: median(runs.map((r) => r.total)),
      phases: names.map((n, i) => [n, median(runs.map((r) => r.phases[i]?.[1] ?? 0))]),
    };
  }
} catch (e) {
  failure = e;
} finally {
  for (const id of created) spawnSync(path.join(DIST, 'tsrt'), ['--root', ROOT, 'delete', '--force', id], { env: ENV, stdio: 'ignore' });
  fs.rmSync(TMP, { recursive: true, force: true });
}

for (const [k, r] of Object.entries(results)) {
  console.log(`\n${k}: median of ${opts.n}, total ${r.total.toFixed(1)} ms (marked copy of dist/${BUNDLE_OF[k]}; phases are medians, so they need not add up exactly)`);
  const w = Math.max(...r.phases.map(([n]) => n.length));
  for (const [n, ms] of r.phases) console.log(`  ${n.padEnd(w)}  ${ms.toFixed(1).padStart(6)} ms`);
}
if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify({ n: opts.n, node: process.version, results }, null, 2)}\n`);
if (failure) { console.error(`bench-phases failed: ${failure.message}`); process.exitCode = 1; }
