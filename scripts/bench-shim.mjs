#!/usr/bin/env node
// Benchmarks containerd's path to a container through three shims (npm run bench:shim, and
// section `shim` of npm run bench):
//   (a) runc-shim+runc   containerd-shim-runc-v2 running runc
//   (b) runc-shim+tsrt   containerd-shim-runc-v2 running the tsrt CLI (--runc-binary dist/tsrt)
//   (c) tsrt-shim        containerd-shim-tsrt-v2 (src/shim/), tsrt's lifecycle in process
// Rows, interleaved round-robin (a, b, c, a, b, c, ...) so that load drift hits all alike:
//   run      `ctr run --rm` of /bin/true, wall clock of ctr (a new shim per task)
//   pod      later containers of one pod (the sandbox id annotation: the shim already runs):
//            from containerd's /containers/create event to the shim's /tasks/start (process
//            running) and to its /tasks/exit (exit reported), from `ctr events`
//   rss      memory of the shim processes per running container (`sleep`), pods of 1 and 10:
//            RSS and PSS (smaps_rollup) summed over the pod's shim processes, divided by
//            the pod's size
//
//   node scripts/bench-shim.mjs [--n N] [--json FILE]
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
let n = 10;
let jsonFile;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--n') n = Number(process.argv[++i]);
  else if (process.argv[i] === '--json') jsonFile = path.resolve(process.argv[++i]);
  else { console.error(`usage: node scripts/bench-shim.mjs [--n N] [--json FILE]`); process.exit(2); }
}

const D = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-bench-shim-'));
const S = fs.mkdtempSync('/tmp/tbs-'); // short: the shims' socket paths
const C = path.join(D, 'ctd');
for (const d of ['fifo', 'opt']) fs.mkdirSync(path.join(C, d), { recursive: true });
const VARIANTS = [
  { name: 'runc-shim+runc', flags: ['--runtime', 'io.containerd.runc.v2'], shim: 'containerd-shim-runc-v2' },
  { name: 'runc-shim+tsrt', flags: ['--runtime', 'io.containerd.runc.v2', '--runc-binary', path.join(DIST, 'tsrt')], shim: 'containerd-shim-runc-v2' },
  { name: 'tsrt-shim', flags: ['--runtime', 'io.containerd.tsrt.v2'], shim: 'containerd-shim-tsrt-v2' },
];
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

function shimMemory(shimName) {
  let rss = 0;
  let pss = 0;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (!cmd.includes(shimName) || !cmd.includes(path.join(C, 'containerd.sock'))) continue;
      const roll = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      rss += Number(roll.match(/^Rss:\s+(\d+)/m)?.[1] ?? 0);
      pss += Number(roll.match(/^Pss:\s+(\d+)/m)?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return { rss, pss };
}

async function main() {
  for (let t = 0; t < 300; t++) {
    if (spawnSync('ctr', ['--address', path.join(C, 'containerd.sock'), 'version'], { stdio: 'ignore' }).status === 0) break;
    await sleepMs(100);
  }
  // warm-up: one of each
  for (const v of VARIANTS) ok(['run', '--rm', ...fifo, ...v.flags, '--rootfs', ROOTFS, id(v, 'warm'), '/bin/true']);

  progress(`run --rm /bin/true, ${n} rounds`);
  for (let r = 0; r < n; r++) {
    for (const v of VARIANTS) {
      const i = id(v, 'true');
      const x = ok(['run', '--rm', ...fifo, ...v.flags, '--rootfs', ROOTFS, i, '/bin/true']);
      live.delete(i);
      add('ctr run --rm /bin/true (ms)', v, x.ms);
    }
  }

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

  for (const size of [1, 10]) {
    progress(`memory of pods of ${size}`);
    for (const v of VARIANTS) {
      const sb = id(v, `mem${size}`);
      const members = [sb];
      ok(['run', '-d', ...fifo, ...v.flags, '--annotation', `io.kubernetes.cri.sandbox-id=${sb}`, '--rootfs', ROOTFS, sb, '/bin/sleep', '100000']);
      for (let k = 1; k < size; k++) {
        const i = id(v, `mem${size}`);
        members.push(i);
        ok(['run', '-d', ...fifo, ...v.flags, '--annotation', `io.kubernetes.cri.sandbox-id=${sb}`, '--rootfs', ROOTFS, i, '/bin/sleep', '100000']);
      }
      await sleepMs(500);
      const m = shimMemory(v.shim);
      add(`shim RSS per container, pod of ${size} (kB)`, v, m.rss / size);
      add(`shim PSS per container, pod of ${size} (kB)`, v, m.pss / size);
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
  spawnSync('rm', ['-rf', '--one-file-system', D, S]);
}

console.log(`containerd shims — ${new Date().toISOString()}, ${os.cpus().length} CPU, kernel ${os.release()}, node ${process.version}, n=${n}; medians`);
const names = VARIANTS.map((v) => v.name);
console.log(`${'row'.padEnd(46)}${names.map((x) => x.padStart(16)).join('')}${'(b)/(a)'.padStart(10)}${'(c)/(a)'.padStart(10)}`);
const summary = {};
for (const [row, byV] of Object.entries(results)) {
  const med = names.map((x) => median(byV[x] ?? []));
  summary[row] = Object.fromEntries(names.map((x, k) => [x, { median: med[k], n: (byV[x] ?? []).length }]));
  console.log(`${row.padEnd(46)}${med.map((x) => x.toFixed(1).padStart(16)).join('')}${(med[1] / med[0]).toFixed(2).padStart(10)}${(med[2] / med[0]).toFixed(2).padStart(10)}`);
}
if (jsonFile) fs.writeFileSync(jsonFile, `${JSON.stringify({ date: new Date().toISOString(), n, summary, raw: results }, null, 2)}\n`);
if (failure) {
  console.error(`bench-shim failed: ${failure.stack ?? failure}`);
  process.exitCode = 1;
}
