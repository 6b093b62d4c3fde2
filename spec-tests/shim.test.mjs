// containerd runs tasks through tsrt's own shim, containerd-shim-tsrt-v2 (src/shim/,
// docs/shim.md): `ctr run --runtime io.containerd.tsrt.v2`, with dist/ first in
// containerd's PATH. Every scenario looks at the result inside the container and on the
// host (the shim's processes, tsrt's state, mounts), not only at ctr's exit code.
//
// As clients-containerd.test.mjs: a containerd of this file's own (privateContainerd in
// helpers/clients.mjs: root, state, sockets in its temp dir, the CRI plugin off) in a
// private mount namespace with a tmpfs on /run; the image is bundle/rootfs imported offline. The shim's sockets (TSRT_SHIM_SOCKET_DIR)
// and tsrt's state (TSRT_SHIM_ROOT) are in short temp dirs of the host, so that a
// containerd restarted in a new namespace finds the shims of the first.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SLOWDOWN, show } from './helpers/tsrt.mjs';
import {
  hostCgroupFile, missing, mountsUnder, pidsMentioning, privateContainerd, run, startDaemon, stopDaemon, waitFor, which,
} from './helpers/clients.mjs';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const SHIM = path.join(DIST, 'containerd-shim-tsrt-v2');
const skip = missing(['containerd', 'ctr', 'podman', 'unshare', 'script']) || (!fs.existsSync(SHIM) && 'dist/containerd-shim-tsrt-v2 not built (npm run build)');
const IMAGE = 'localhost/tsrt-shim-busybox:latest';
const NS = 'tsrt-shim-test';
const RUNTIME = 'io.containerd.tsrt.v2';
const tag = `shim-${process.pid}`;

let shimEnv = {}; // what the lingering test adds to the shims' environment
let S; // the shims' sockets and tsrt's state (short paths: a socket path has 108 bytes)
const fx = privateContainerd({
  tag: 'shim', by: 'spec-tests/shim.test.mjs', namespace: NS, image: IMAGE, idPrefix: tag,
  env: () => ({ ...process.env, PATH: `${DIST}:${process.env.PATH}`, TSRT_SHIM_ROOT: path.join(S, 'state'), TSRT_SHIM_SOCKET_DIR: path.join(S, 's'),
    // A shim whose last task is gone exits at once here, so that each test sees the shims of
    // its own tasks only; the lingering test restarts containerd with a linger.
    TSRT_SHIM_LINGER: '0', ...shimEnv }),
  extraDirs: () => (S ? [S] : []),
});
const { ctr, ok, id, task } = fx;

const fifoDir = () => ['--fifo-dir', path.join(fx.C, 'fifo')];
const runFlags = () => ['--runtime', RUNTIME, ...fifoDir()];
const shimRoot = () => path.join(S, 'state', NS);
/** The start script's memo of a pod's socket name (scripts/shim-start.sh). */
const memoOf = (pod) => path.join(S, 's', `tsrt-memo,${NS},${pod}`);

/** SIGKILLs a task, waits until containerd reports it stopped, and deletes it. */
async function killAndDelete(i) {
  ok(['task', 'kill', '-s', 'KILL', i]);
  await waitFor(`${i} to stop`, () => task(i)?.status === 'STOPPED');
  ok(['task', 'delete', i]);
}

/** Live shim processes of this file's containerd (their argv names its socket). */
function shimPids() {
  return pidsMentioning(path.join(fx.C, 'containerd.sock')).filter((pid) => {
    try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('containerd-shim-tsrt-v2'); } catch { return false; }
  });
}

/**
 * Waits until the shims of earlier tests have exited: a `ctr run --rm` returns before its
 * shim is gone, and a test that counts or picks shims must not see that one (under load it
 * lingers).
 */
const noShimsLeft = () => waitFor('the earlier tests\' shims to exit', () => shimPids().length === 0, 10_000);

before(async () => {
  if (skip) return;
  S = fs.mkdtempSync('/tmp/tss-');
  await fx.setup();
});

after(() => fx.teardown());

test('ctr run --rm on the tsrt shim: output, pid 1, the image\'s rootfs, the exit code; no shim, state or mount left', { skip }, async (t) => {
  const i = id(t, 'fg');
  const r = ctr(['run', '--rm', ...runFlags(), IMAGE, i, 'sh', '-c', 'echo hello; echo "pid=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; ls /bin/busybox; exit 5']);
  assert.equal(r.status, 5, show(r));
  assert.deepEqual(r.stdout.split('\n').slice(0, 4), ['hello', 'pid=1', 'sh -c echo hello; echo "pid=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; ls /bin/busybox; exit 5 ', '/bin/busybox']);
  assert.deepEqual(fs.readdirSync(shimRoot()).filter((n) => n.startsWith(tag)), [], 'tsrt\'s state is gone');
  await waitFor('the shim to exit', () => shimPids().length === 0, 10_000);
  const inside = fs.readFileSync(`/proc/${fx.daemon.child.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(i));
  assert.deepEqual(inside, [], 'the shim unmounted the rootfs');
});

test('stdin reaches the process and its EOF too', { skip }, (t) => {
  const i = id(t, 'stdin');
  const r = ctr(['run', '--rm', ...runFlags(), IMAGE, i, 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'piped text\n' });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'PIPED TEXT\ndone\n');
});

test('ctr run -d, task exec, ps, pause, resume, metrics, kill and delete', { skip }, async (t) => {
  await noShimsLeft();
  const i = id(t, 'detached');
  ok(['run', '-d', ...runFlags(), IMAGE, i, 'sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.05; done']);
  const { pid, status } = task(i);
  assert.equal(status, 'RUNNING');
  const [shim] = shimPids();
  assert.ok(shim, 'a tsrt shim runs');
  assert.equal(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1], String(shim), 'the shim is the init\'s parent');

  const ex = ctr(['task', 'exec', ...fifoDir(), '--exec-id', 'e1', i, 'sh', '-c', 'echo "me=$$"; cat /proc/1/cmdline | tr "\\0" " "; exit 7']);
  assert.equal(ex.status, 7, show(ex));
  assert.match(ex.stdout, /^me=\d+\nsh -c trap/);
  assert.notEqual(ex.stdout, 'me=1\n');

  const ps = ok(['task', 'ps', i]).stdout;
  assert.match(ps, new RegExp(`^${pid}\\s`, 'm'));

  ok(['task', 'pause', i]);
  assert.equal(task(i).status, 'PAUSED');
  const freezer = hostCgroupFile(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), 'freezer', 'freezer.state', 'cgroup.freeze');
  assert.match(fs.readFileSync(freezer, 'utf8'), /^(FROZEN|1)$/m);
  ok(['task', 'resume', i]);
  assert.equal(task(i).status, 'RUNNING');
  assert.match(fs.readFileSync(freezer, 'utf8'), /^(THAWED|0)$/m);

  // ctr prints containerd's v1 Metrics (memory.usage_in_bytes) or its v2 Metrics (memory.usage,
  // memory.usage_limit): the shim sends the one of the container's cgroup version.
  const metrics = ok(['task', 'metrics', i]).stdout;
  const current = Number(metrics.match(/^pids\.current\s+(\d+)/m)?.[1]);
  assert.ok(current >= 1, `pids.current in\n${metrics}`);
  if (freezer.endsWith('cgroup.freeze')) {
    assert.match(metrics, /^memory\.usage\s+[1-9]\d*/m);
    const max = fs.readFileSync(path.join(path.dirname(freezer), 'memory.max'), 'utf8').trim();
    assert.match(metrics, new RegExp(`^memory\\.usage_limit\\s+${max === 'max' ? '18446744073709551615' : max}\\s`, 'm'), 'the limit is memory.max');
  } else {
    assert.match(metrics, /^memory\.usage_in_bytes\s+[1-9]\d*/m);
  }

  ok(['task', 'kill', i]);
  await waitFor('the task to stop', () => task(i)?.status === 'STOPPED');
  const del = ok(['task', 'delete', i]);
  assert.match(del.stderr, /exit code 42/, 'the trap\'s exit code reaches containerd');
  await waitFor('the shim to exit', () => !fs.existsSync(`/proc/${shim}`), 10_000);
  assert.ok(!fs.existsSync(`/proc/${pid}`), 'the init is gone');
});

test('the init\'s exit kills what is left in a pid namespace the container joined (the runc shim\'s kill-all on exit), and nothing of the namespace\'s owner', { skip }, async (t) => {
  await noShimsLeft();
  const owner = id(t, 'pidowner');
  const joiner = id(t, 'pidjoiner');
  ok(['run', '-d', ...runFlags(), IMAGE, owner, 'sleep', '1000']);
  const ownerPid = task(owner).pid;
  ok(['run', '-d', ...runFlags(), '--with-ns', `pid:/proc/${ownerPid}/ns/pid`, IMAGE, joiner, 'sleep', '1000']);
  const joinerPid = task(joiner).pid;
  ok(['task', 'exec', '-d', ...fifoDir(), '--exec-id', 'left', joiner, 'sleep', '1001']);
  // the exec'd sleep: the process of the joiner's cgroup that is neither its init nor the owner's
  const procsOf = (pid) => fs.readFileSync(hostCgroupFile(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), 'pids', 'cgroup.procs', 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  const left = procsOf(joinerPid).filter((p) => p !== joinerPid);
  assert.equal(left.length, 1, `one exec'd process beside the joiner's init: ${left}`);
  process.kill(joinerPid, 'SIGKILL');
  await waitFor('the joiner to stop', () => task(joiner)?.status === 'STOPPED');
  await waitFor('the exec\'d process to be killed', () => !fs.existsSync(`/proc/${left[0]}`) || fs.readFileSync(`/proc/${left[0]}/stat`, 'utf8').split(') ')[1][0] === 'Z', 10_000);
  assert.equal(task(owner).status, 'RUNNING', 'the owner of the pid namespace runs on');
  ok(['task', 'delete', joiner]);
  await killAndDelete(owner);
});

test('ctr run -t: the process gets a terminal from the shim', { skip }, (t) => {
  const i = id(t, 'tty');
  const line = [which('ctr'), '--address', path.join(fx.C, 'containerd.sock'), '--namespace', NS, 'run', '--rm', '-t', ...runFlags(), IMAGE, i,
    'sh', '-c', 'tty; test -t 0 && echo stdin-is-a-tty; exit 3'].map((a) => `'${a}'`).join(' ');
  const r = run(fx.D, which('script'), ['-qec', line, '/dev/null']);
  assert.equal(r.status, 3, show(r));
  assert.match(r.stdout, /\/dev\/pts\/0\r?$/m);
  assert.match(r.stdout, /^stdin-is-a-tty\r?$/m);
});

test('containers of one pod (sandbox id annotation) share one shim, which outlives the first', { skip }, async (t) => {
  await noShimsLeft();
  const sandbox = id(t, 'pod0');
  const second = id(t, 'pod1');
  ok(['run', '-d', ...runFlags(), '--annotation', `io.kubernetes.cri.sandbox-id=${sandbox}`, IMAGE, sandbox, 'sleep', '1000']);
  ok(['run', '-d', ...runFlags(), '--annotation', `io.kubernetes.cri.sandbox-id=${sandbox}`, IMAGE, second, 'sleep', '1000']);
  const shims = shimPids();
  assert.equal(shims.length, 1, `one shim for the pod: ${shims}`);
  // the start script's memo of the pod's socket name: containerd's sha256(address/ns/pod)
  const key = `${path.join(fx.C, 'containerd.sock')}/${NS}/${sandbox}`;
  assert.equal(fs.readFileSync(memoOf(sandbox), 'utf8'), `${createHash('sha256').update(key).digest('hex')} ${key}\n`);
  for (const i of [sandbox, second]) {
    const { pid } = task(i);
    assert.equal(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1], String(shims[0]), `${i}'s init is the shim's child`);
  }
  await killAndDelete(sandbox);
  assert.equal(task(second).status, 'RUNNING');
  assert.deepEqual(shimPids(), shims, 'the shim serves the pod\'s other container still');
  const ex = ok(['task', 'exec', ...fifoDir(), '--exec-id', 'later', second, 'echo', 'still-here']);
  assert.equal(ex.stdout, 'still-here\n');
  await killAndDelete(second);
  await waitFor('the shim to exit', () => shimPids().length === 0, 10_000);
  assert.equal(fs.existsSync(memoOf(sandbox)), false, 'the pod\'s memo went with its shim');
});

test('a pod whose shim was killed gets a new shim for its next container (no stale address)', { skip }, async (t) => {
  await noShimsLeft();
  const sandbox = id(t, 'stale0');
  const later = id(t, 'stale1');
  ok(['run', '-d', ...runFlags(), '--annotation', `io.kubernetes.cri.sandbox-id=${sandbox}`, IMAGE, sandbox, 'sleep', '1000']);
  const [shim] = shimPids();
  process.kill(shim, 'SIGKILL');
  await waitFor('containerd to see the shim gone', () => task(sandbox)?.status !== 'RUNNING', 20_000);
  const r = ctr(['run', '--rm', ...runFlags(), '--annotation', `io.kubernetes.cri.sandbox-id=${sandbox}`, IMAGE, later, 'echo', 'new-shim']);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'new-shim\n');
  // the killed shim left its memo (still right: same name); the new shim removes it at its exit
  await waitFor('the new shim to exit', () => shimPids().length === 0, 10_000);
  assert.equal(fs.existsSync(memoOf(sandbox)), false, 'no memo left');
});

test('a memo of the socket name whose key is another containerd\'s is not trusted: the task goes to its own pod\'s shim, not to the decoy socket', { skip }, async (t) => {
  await noShimsLeft();
  const sandbox = id(t, 'memo0');
  // a decoy shim that looks alive (a listening socket, the pid file of a live process: this one)
  const decoy = path.join(S, 's', 'decoy-shim');
  fs.mkdirSync(`${decoy}.claims`, { recursive: true });
  let connections = 0;
  const server = net.createServer((c) => { connections++; c.destroy(); });
  await new Promise((resolve) => server.listen(decoy, resolve));
  t.after(() => {
    server.close();
    fs.rmSync(`${decoy}.claims`, { recursive: true, force: true });
    fs.rmSync(`${decoy}.pid`, { force: true });
  });
  const startTime = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[19];
  fs.writeFileSync(`${decoy}.pid`, `${process.pid} ${startTime}\n`);
  fs.writeFileSync(memoOf(sandbox), `decoy-shim /another/containerd.sock/${NS}/${sandbox}\n`);
  const r = ctr(['run', '--rm', ...runFlags(), '--annotation', `io.kubernetes.cri.sandbox-id=${sandbox}`, IMAGE, sandbox, 'echo', 'own-shim']);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'own-shim\n');
  assert.equal(connections, 0, 'nothing connected to the decoy socket');
  assert.deepEqual(fs.readdirSync(`${decoy}.claims`), [], 'no claim on the decoy');
  await waitFor('the pod\'s shim to exit', () => shimPids().length === 0, 10_000);
  assert.equal(fs.existsSync(memoOf(sandbox)), false, 'the memo (rewritten with the right key) went with the shim');
});

test('a container that exceeds its memory limit: TaskOOM and the exit reach containerd', { skip }, async (t) => {
  const i = id(t, 'oom');
  const events = startDaemon(which('ctr'), ['--address', path.join(fx.C, 'containerd.sock'), 'events'], path.join(fx.D, 'events.log'));
  t.after(() => stopDaemon(events, 1000));
  // ctr events prints only what comes after it subscribed: wait until it shows an event we cause.
  const probe = `${IMAGE.split(':')[0]}:probe`;
  t.after(() => ctr(['images', 'rm', probe]));
  await waitFor('ctr events to subscribe', () => {
    ok(['images', 'tag', '--force', IMAGE, probe]);
    return fs.readFileSync(path.join(fx.D, 'events.log'), 'utf8').includes('/images/');
  });
  const r = ctr(['run', '--rm', ...runFlags(), '--memory-limit', String(16 << 20), IMAGE, i, 'sh', '-c', 'sleep 0.5; tail /dev/zero']);
  assert.equal(r.status, 137, show(r));
  await waitFor('the OOM event', () => fs.readFileSync(path.join(fx.D, 'events.log'), 'utf8').includes(`/tasks/oom {"container_id":"${i}"}`), 10_000);
});

test('a create that fails names tsrt\'s error and leaves no shim, state or mount', { skip }, async (t) => {
  const i = id(t, 'fail');
  const r = ctr(['run', '--rm', ...runFlags(), IMAGE, i, '/nonexistent']);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /\/nonexistent/);
  assert.ok(!fs.existsSync(path.join(shimRoot(), i)), 'no tsrt state left');
  await waitFor('the shim to exit', () => shimPids().length === 0, 10_000);
  const inside = fs.readFileSync(`/proc/${fx.daemon.child.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(i));
  assert.deepEqual(inside, [], 'no rootfs mount left');
});

test('containerd restarted while a task runs reconnects to its shim', { skip }, async (t) => {
  await noShimsLeft();
  const i = id(t, 'restart');
  ok(['run', '-d', ...runFlags(), IMAGE, i, 'sleep', '1000']);
  const before = task(i);
  const shims = shimPids();
  await fx.stop();
  assert.deepEqual(shimPids(), shims, 'the shim outlives containerd');
  assert.ok(fs.existsSync(`/proc/${before.pid}`), 'the task outlives containerd');
  await fx.start();
  await waitFor('the task to be known again', () => task(i)?.status === 'RUNNING');
  assert.equal(task(i).pid, before.pid);
  const ex = ok(['task', 'exec', ...fifoDir(), '--exec-id', 'after', i, 'cat', '/proc/1/cmdline']);
  assert.equal(ex.stdout, 'sleep\x001000\x00');
  await killAndDelete(i);
  await waitFor('the shim to exit', () => shimPids().length === 0, 10_000);
});

/** ctr without blocking the event loop (several at once). */
function ctrAsync(args) {
  return new Promise((resolve) => {
    execFile(which('ctr'), fx.ctrArgs(args),
      { timeout: 120_000 * SLOWDOWN }, (error, stdout, stderr) => resolve({ cmd: `ctr ${args.join(' ')}`, status: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
}

const parentOf = (pid) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
const socketFiles = () => (fs.existsSync(path.join(S, 's')) ? fs.readdirSync(path.join(S, 's')) : []);

test('containers without a pod share one shim that lingers after its last task: the next task reuses it, then it exits and leaves nothing', { skip }, async (t) => {
  const linger = 8 * SLOWDOWN;
  await noShimsLeft();
  const filesBefore = socketFiles();
  await fx.stop();
  shimEnv = { TSRT_SHIM_LINGER: String(linger) };
  await fx.start();
  t.after(async () => {
    await fx.stop();
    shimEnv = {};
    await fx.start();
  });
  const first = id(t, 'linger0');
  const second = id(t, 'linger1');
  const third = id(t, 'linger2');
  let r = ctr(['run', '--rm', ...runFlags(), IMAGE, first, 'echo', 'cold']);
  assert.equal(r.stdout, 'cold\n', show(r));
  const shims = shimPids();
  assert.equal(shims.length, 1, `the shim lingers after its last task: ${shims}`);
  assert.ok(!fs.existsSync(path.join(shimRoot(), first)), 'no tsrt state left of the deleted task');
  assert.deepEqual(fs.readFileSync(`/proc/${fx.daemon.child.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(first)), [], 'its rootfs is unmounted');

  ok(['run', '-d', ...runFlags(), IMAGE, second, 'sleep', '1000']);
  r = ctr(['run', '--rm', ...runFlags(), IMAGE, third, 'echo', 'warm']);
  assert.equal(r.stdout, 'warm\n', show(r));
  assert.deepEqual(shimPids(), shims, 'the later tasks were served by the lingering shim');
  assert.equal(parentOf(task(second).pid), shims[0], 'the running task\'s init is that shim\'s child');

  await killAndDelete(second);
  assert.deepEqual(shimPids(), shims, 'the shim lingers after containerd\'s Shutdown');
  await waitFor('the shim to exit after its linger', () => shimPids().length === 0, (linger + 20) * 1000);
  assert.deepEqual(socketFiles().filter((f) => !filesBefore.includes(f)), [], 'no socket, pid file, claims or lock left');
  assert.deepEqual(fs.readdirSync(shimRoot()).filter((n) => n.startsWith(tag)), [], 'no tsrt state left');
});

test('containers without a pod started at once, while their shim comes and goes: each is served, nothing is left', { skip }, async (t) => {
  await noShimsLeft();
  const filesBefore = socketFiles();
  for (let round = 0; round < 3; round++) {
    const batch = Array.from({ length: 4 }, (_, k) => id(t, `burst${round}-${k}`));
    const results = await Promise.all(batch.map((i) => ctrAsync(['run', '--rm', ...runFlags(), IMAGE, i, 'echo', i])));
    for (const [k, res] of results.entries()) {
      assert.equal(res.status, 0, show(res));
      assert.equal(res.stdout, `${batch[k]}\n`);
    }
  }
  await waitFor('the shim to exit', () => shimPids().length === 0, 10_000);
  assert.deepEqual(socketFiles().filter((f) => !filesBefore.includes(f)), [], 'no socket, pid file, claims or lock left');
});

test('delete after a shim died: the DeleteResponse containerd decodes, from the script or from node', { skip }, () => {
  const bundle = path.join(fx.D, 'dead-bundle');
  fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  const env = { ...process.env, TSRT_SHIM_ROOT: path.join(fx.D, 'dead-root') };
  const args = ['-namespace', NS, '-address', '/nonexistent.sock', '-publish-binary', '/bin/false', '-id', `${tag}-dead`, '-bundle', bundle, 'delete'];
  // nothing left of the container: the script answers (exit_status 137 = field 2, varint 0x89 0x01)
  const quick = spawnSync(SHIM, args, { env, cwd: bundle });
  assert.equal(quick.status, 0, quick.stderr.toString());
  assert.deepEqual([...quick.stdout], [0x10, 0x89, 0x01]);
  // a rootfs with something in it: node deletes (the id is unknown: fine with force) and unmounts
  fs.writeFileSync(path.join(bundle, 'rootfs', 'file'), '');
  const full = spawnSync(SHIM, args, { env, cwd: bundle });
  assert.equal(full.status, 0, full.stderr.toString());
  assert.deepEqual([...full.stdout.subarray(0, 3)], [0x10, 0x89, 0x01]);
  assert.equal(full.stdout[3], 0x1a, 'then exited_at (field 3, a Timestamp)');
});

test('nothing of the tests is left (tasks, containers, tsrt state, shims, mounts)', { skip }, async () => {
  fx.expectEmpty();
  assert.deepEqual(fs.existsSync(shimRoot()) ? fs.readdirSync(shimRoot()) : [], [], 'no tsrt state');
  await waitFor('the shims to exit', () => shimPids().length === 0, 10_000);
  // what is left beside the sockets: the memo of tasks without a pod (one per namespace), no pod's
  assert.deepEqual(socketFiles(), [`tsrt-memo,${NS}`], 'no socket, pid file, claims or pod memo left');
  await fx.stopChecked();
  assert.deepEqual(mountsUnder(fx.D), [], 'nothing mounted under the temp dir on the host');
});
