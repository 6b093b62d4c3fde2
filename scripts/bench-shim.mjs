#!/usr/bin/env node
// Benchmarks containerd's path to a container through three shims (npm run bench:shim, and
// section `shim` of npm run bench):
//   (a) runc-shim+runc   containerd-shim-runc-v2 running runc
//   (b) runc-shim+tsrt   containerd-shim-runc-v2 running the tsrt CLI (--runc-binary dist/tsrt)
//   (c) tsrt-shim        containerd-shim-tsrt-v2 (src/shim/), tsrt's lifecycle in process
// Rows, interleaved round-robin (a, b, c, a, b, c, ...) so that load drift hits all alike:
//   run      `ctr run --rm` of /bin/true, wall clock of ctr, one after the other: (a) and (b)
//            start a shim per task; (c)'s tasks without a pod share a daemon, which lingers
//            after its last task (TSRT_SHIM_LINGER, default 30 s) and so serves the next warm
//   cold     the same, each task in a pod of its own (a sandbox id annotation): a new shim
//            per task for all three, (c)'s daemon started cold (its node, bundle, first create)
//   pod      later containers of one pod (the sandbox id annotation: the shim already runs):
//            from containerd's /containers/create event to the shim's /tasks/start (process
//            running) and to its /tasks/exit (exit reported), from `ctr events`
//   mem      memory of the shims per running container (`sleep`), pods of 1 and 10, and 10
//            containers without a pod: RSS, PSS and private anonymous memory (smaps_rollup)
//            of the processes that are the tasks' parents (the shims), summed, divided by
//            the number of containers
//
//   node scripts/bench-shim.mjs [--n N] [--rows run,cold,pod,mem] [--variants a,b,c] [--json FILE]
//
// containerd is private (root, state, sockets in a temp dir; a tmpfs on /run in a mount
// namespace of its own), the rootfs is bundle/rootfs (ctr run --rootfs), nothing is pulled.
// Everything is deleted by id at the end; containerd is stopped by its pid.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeContainerdConfig } from '../spec-tests/helpers/clients.mjs';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(REPO, 'dist');
const ROOTFS = path.join(REPO, 'bundle', 'rootfs');
const NS = 'bench';
const ROWS = ['run', 'cold', 'pod', 'mem'];
let n = 10;
let jsonFile;
let rows = ROWS;
let letters = ['a', 'b', 'c'];
const usage = () => {
  console.error(`usage: node scripts/bench-shim.mjs [--n N] [--rows ${ROWS.join(',')}] [--variants a,b,c] [--json FILE]`);
  process.exit(2);
};
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--n') n = Number(process.argv[++i]);
  else if (process.argv[i] === '--json') jsonFile = path.resolve(process.argv[++i]);
  else if (process.argv[i] === '--rows') rows = (process.argv[++i] ?? '').split(',');
  else if (process.argv[i] === '--variants') letters = (process.argv[++i] ?? '').split(',');
  else usage();
}
if (!(n >= 1) || rows.some((r) => !ROWS.includes(r)) || letters.some((l) => !['a', 'b', 'c'].includes(l))) usage();

const D = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-bench-shim-'));
const S = fs.mkdtempSync('/tmp/tbs-'); // short: the shims' socket paths
const C = path.join(D, 'ctd');
for (const d of ['fifo', 'opt']) fs.mkdirSync(path.join(C, d), { recursive: true });
const ALL_VARIANTS = [
  { letter: 'a', name: 'runc-shim+runc', flags: ['--runtime', 'io.containerd.runc.v2'] },
  { letter: 'b', name: 'runc-shim+tsrt', flags: ['--runtime', 'io.containerd.runc.v2', '--runc-binary', path.join(DIST, 'tsrt')] },
  { letter: 'c', name: 'tsrt-shim', flags: ['--runtime', 'io.containerd.tsrt.v2'] },
];
const VARIANTS = ALL_VARIANTS.filter((v) => letters.includes(v.letter));
const progress = (m) => process.stderr.write(`bench-shim: ${m}\n`);
let seq = 0;
const live = new Set();

const config = writeContainerdConfig(C, 'scripts/bench-shim.mjs');
const log = fs.openSync(path.join(D, 'containerd.log'), 'a');
const containerd = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c',
  'mount -t tmpfs -o mode=0755,size=64m tsrt-bench-run /run && exec containerd --config "$0"', config], {
  stdio: ['ignore', log, log],
  env: { PATH: `${DIST}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, TSRT_SHIM_ROOT: path.join(S, 'state'), TSRT_SHIM_SOCKET_DIR: path.join(S, 's') },
});

function ctr(args, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ctr', ['--address', path.join(C, 'containerd.sock'), '--namespace', NS, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}
function ok(args) {
  const r = ctr(args);
  if (r.status !== 0) throw new Error(`ctr ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r;
}
const fifo = ['--fifo-dir', path.join(C, 'fifo')];
const id = (v, what) => {
  const i = `${v.name.replace(/\+/g, '-')}-${what}-${++seq}`;
  live.add(i);
  return i;
};
function remove(i) {
  ctr(['task', 'kill', '-s', 'KILL', i]);
  for (let k = 0; k < 50 && ctr(['task', 'delete', i]).status !== 0 && !/not found/.test(ctr(['task', 'ls']).stderr); k++) {
    if (!ctr(['task', 'ls', '-q']).stdout.split('\n').includes(i)) break;
    spawnSync('sleep', ['0.1']);
  }
  ctr(['container', 'rm', i]);
  live.delete(i);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const results = {}; // row -> variant -> [values]
const add = (row, v, x) => ((results[row] ??= {})[v.name] ??= []).push(x);

/** ctr events lines: "DATE TIME +0000 UTC NS TOPIC JSON" -> [{ms, topic, event}] */
const events = [];
const ev = spawn('ctr', ['--address', path.join(C, 'containerd.sock'), 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
let evBuf = '';
ev.stdout.on('data', (d) => {
  evBuf += d;
  let nl;
  while ((nl = evBuf.indexOf('\n')) >= 0) {
    const line = evBuf.slice(0, nl);
    evBuf = evBuf.slice(nl + 1);
    const m = line.match(/^(\S+ \S+) \+0000 UTC (\S+) (\S+) (.*)$/);
    if (m && m[2] === NS) events.push({ ms: Date.parse(`${m[1].replace(' ', 'T')}Z`) + fracMs(m[1]), topic: m[3], event: JSON.parse(m[4]) });
  }
});
/** Date.parse keeps milliseconds; the rest of the fraction */
function fracMs(stamp) {
  const f = stamp.split('.')[1] ?? '';
  return Number(`0.${f.slice(3) || '0'}`);
}
const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));
async function eventFor(topic, idOf, timeoutMs = 10_000) {
  for (let t = 0; t < timeoutMs; t += 20) {
    const e = events.find((x) => x.topic === topic && (x.event.container_id === idOf || x.event.id === idOf));
    if (e) return e;
    await sleepMs(20);
  }
  throw new Error(`no ${topic} event for ${idOf}`);
}

/** RSS, PSS and private anonymous memory (kB) of the shims of these tasks: their inits' parents. */
function shimMemory(ids) {
  const ls = ok(['task', 'ls']).stdout;
  const shims = new Set();
  for (const i of ids) {
    const pid = ls.split('\n').find((l) => l.split(/\s+/)[0] === i)?.trim().split(/\s+/)[1];
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    shims.add(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  const m = { rss: 0, pss: 0, anon: 0 };
  for (const p of shims) {
    const roll = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
    m.rss += Number(roll.match(/^Rss:\s+(\d+)/m)?.[1] ?? 0);
    m.pss += Number(roll.match(/^Pss:\s+(\d+)/m)?.[1] ?? 0);
    m.anon += Number(roll.match(/^Anonymous:\s+(\d+)/m)?.[1] ?? 0);
  }
  return m;
}

async function main() {
  for (let t = 0; t < 300; t++) {
    if (spawnSync('ctr', ['--address', path.join(C, 'containerd.sock'), 'version'], { stdio: 'ignore' }).status === 0) break;
    await sleepMs(100);
  }
  // warm-up: one of each
  for (const v of VARIANTS) ok(['run', '--rm', ...fifo, ...v.flags, '--rootfs', ROOTFS, id(v, 'warm'), '/bin/true']);

  if (rows.includes('run')) {
    progress(`run --rm /bin/true, ${n} rounds`);
    for (let r = 0; r < n; r++) {
      for (const v of VARIANTS) {
        const i = id(v, 'true');
        const x = ok(['run', '--rm', ...fifo, ...v.flags, '--rootfs', ROOTFS, i, '/bin/true']);
        live.delete(i);
        add('ctr run --rm /bin/true (ms)', v, x.ms);
      }
    }
  }
  if (rows.includes('cold')) {
    progress(`run --rm /bin/true in a pod of its own (a new shim), ${n} rounds`);
    for (let r = 0; r < n; r++) {
      for (const v of VARIANTS) {
        const i = id(v, 'cold');
        const x = ok(['run', '--rm', ...fifo, ...v.flags, '--annotation', `io.kubernetes.cri.sandbox-id=${i}`, '--rootfs', ROOTFS, i, '/bin/true']);
        live.delete(i);
        add('ctr run --rm /bin/true, new shim (ms)', v, x.ms);
      }
    }
  }
  if (rows.includes('pod')) await podRows();
  if (rows.includes('mem')) await memoryRows();
}

async function podRows() {
  progress(`later containers of a pod, ${n} rounds`);
  const sandboxes = VARIANTS.map((v) => {
    const sb = id(v, 'sandbox');
    ok(['run', '-d', ...fifo, ...v.flags, '--annotation', `io.kubernetes.cri.sandbox-id=${sb}`, '--rootfs', ROOTFS, sb, '/bin/sleep', '100000']);
    return sb;
  });
  for (let r = 0; r < n; r++) {
    for (const [k, v] of VARIANTS.entries()) {
      const i = id(v, 'pod');
      ok(['run', '--rm', ...fifo, ...v.flags, '--annotation', `io.kubernetes.cri.sandbox-id=${sandboxes[k]}`, '--rootfs', ROOTFS, i, '/bin/true']);
      live.delete(i);
      const created = await eventFor('/containers/create', i);
      const started = await eventFor('/tasks/start', i);
      const exited = await eventFor('/tasks/exit', i);
      add('pod container: create -> running (ms)', v, started.ms - created.ms);
      add('pod container: create -> exit reported (ms)', v, exited.ms - created.ms);
    }
  }
  sandboxes.forEach(remove);
}

async function memoryRows() {
  for (const [size, pod] of [[1, true], [10, true], [10, false]]) {
    const what = pod ? `pod of ${size}` : `${size} without a pod`;
    progress(`memory of ${what}`);
    for (const v of VARIANTS) {
      const members = [];
      for (let k = 0; k < size; k++) {
        const i = id(v, `mem${size}`);
        members.push(i);
        const annotation = pod ? ['--annotation', `io.kubernetes.cri.sandbox-id=${members[0]}`] : [];
        ok(['run', '-d', ...fifo, ...v.flags, ...annotation, '--rootfs', ROOTFS, i, '/bin/sleep', '100000']);
      }
      await sleepMs(500);
      const m = shimMemory(members);
      add(`shim RSS per container, ${what} (kB)`, v, m.rss / size);
      add(`shim PSS per container, ${what} (kB)`, v, m.pss / size);
      add(`shim private anon per container, ${what} (kB)`, v, m.anon / size);
      members.forEach(remove);
      await sleepMs(300);
    }
  }
}

let failure;
try {
  await main();
} catch (e) {
  failure = e;
} finally {
  for (const i of [...live]) remove(i);
  ev.kill();
  containerd.kill('SIGTERM');
  await new Promise((r) => { containerd.once('exit', r); setTimeout(r, 10_000); });
  // (c)'s daemon lingers after its last task: it is this run's (its argv names our containerd)
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('containerd-shim-tsrt-v2') && cmd.includes(path.join(C, 'containerd.sock'))) process.kill(Number(p), 'SIGKILL');
    } catch { /* gone */ }
  }
  spawnSync('rm', ['-rf', '--one-file-system', D, S]);
}

console.log(`containerd shims — ${new Date().toISOString()}, ${os.cpus().length} CPU, kernel ${os.release()}, node ${process.version}, n=${n}; medians; load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const names = ALL_VARIANTS.map((v) => v.name);
console.log(`${'row'.padEnd(52)}${names.map((x) => x.padStart(16)).join('')}${'(b)/(a)'.padStart(10)}${'(c)/(a)'.padStart(10)}`);
const summary = {};
for (const [row, byV] of Object.entries(results)) {
  const med = names.map((x) => median(byV[x] ?? []));
  summary[row] = Object.fromEntries(names.map((x, k) => [x, { median: med[k], n: (byV[x] ?? []).length }]));
  console.log(`${row.padEnd(52)}${med.map((x) => x.toFixed(1).padStart(16)).join('')}${(med[1] / med[0]).toFixed(2).padStart(10)}${(med[2] / med[0]).toFixed(2).padStart(10)}`);
}
if (jsonFile) fs.writeFileSync(jsonFile, `${JSON.stringify({ date: new Date().toISOString(), n, summary, raw: results }, null, 2)}\n`);
if (failure) {
  console.error(`bench-shim failed: ${failure.stack ?? failure}`);
  process.exitCode = 1;
}
