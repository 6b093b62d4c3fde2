// containerd runs its containers on tsrt, end to end: ctr -> containerd ->
// containerd-shim-runc-v2 -> tsrt (`ctr run --runc-binary <dist/tsrt>`). Every scenario
// looks at the result inside the container (its output, its /proc, its files through
// /proc/PID/root, the cgroup it says it is in), not only at ctr's exit code.
//
// The test starts its own containerd (privateContainerd in helpers/clients.mjs): root,
// state, sockets, the opt plugin's dir and the shim's runc root (--runc-root) all live in
// this file's temp dir, and the CRI plugin is off; it runs in a private mount namespace
// with a tmpfs of its own on /run, so nothing appears in the host's /run/containerd and
// every mount containerd makes (the containers' overlay rootfs) stays in that namespace.
// The image is `podman import` of bundle/rootfs saved with `podman save --format
// oci-archive`, then `ctr images import`: nothing is pulled. No container gets a network.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TSRT, isAlive, show, sleep } from './helpers/tsrt.mjs';
import { Tmux } from './helpers/terminal.mjs';
import {
  hostCgroupFile, missing, mountsUnder, pidsMentioning, privateContainerd, run, tsrtCreateError, waitFor, which,
} from './helpers/clients.mjs';

const skip = missing(['containerd', 'ctr', 'containerd-shim-runc-v2', 'podman', 'unshare', 'tmux']);
const IMAGE = 'localhost/tsrt-clients-busybox:latest';
const NS = 'tsrt-test';
const tag = `tsrt-${process.pid}`;
const hadRunContainerd = fs.existsSync('/run/containerd');

const fx = privateContainerd({
  tag: 'containerd', by: 'spec-tests/clients-containerd.test.mjs', namespace: NS, image: IMAGE, idPrefix: tag, dirs: ['runc-root', 'logs'],
});
const { ctr, ok, id, task, ctrArgs } = fx;

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/** What `ctr run` needs to use tsrt, with FIFOs in our dir. */
function runtimeFlags() {
  return ['--runc-binary', TSRT, '--runc-root', path.join(fx.C, 'runc-root'), '--fifo-dir', path.join(fx.C, 'fifo')];
}

/** tsrt's state dir for our namespace (the shim adds the namespace to --runc-root). */
const tsrtRoot = () => path.join(fx.C, 'runc-root', NS);

function tsrtState(id) {
  return run(fx.D, TSRT, ['--root', tsrtRoot(), 'state', id]);
}

before(async () => {
  if (skip) return;
  await fx.setup();
});

after(() => fx.teardown());

test('ctr run in the foreground: output, pid 1, the exit code, and nothing left in tsrt\'s root', { skip }, (t) => {
  const i = id(t, 'fg');
  const r = ctr(['run', '--rm', ...runtimeFlags(), IMAGE, i, 'sh', '-c',
    'echo hello; echo "pid=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; exit 5']);
  assert.equal(r.status, 5, show(r));
  const [hello, pid, init] = r.stdout.split('\n');
  assert.equal(hello, 'hello');
  assert.equal(pid, 'pid=1');
  assert.match(init, /^sh -c echo hello/);
  assert.deepEqual(fs.readdirSync(tsrtRoot()).filter((n) => n.startsWith(tag)), [], 'tsrt deleted its state');
});

test('ctr run -d, task exec, ps, pause, resume, kill and delete', { skip }, async (t) => {
  const i = id(t, 'detached');
  const log = path.join(fx.C, 'logs', `${i}.log`);
  ok(['run', '-d', '--log-uri', `file://${log}`, ...runtimeFlags(), IMAGE, i, 'sh', '-c',
    'trap "echo got-term; exit 42" TERM; n=0; while :; do n=$((n+1)); echo $n > /tmp/count; sleep 0.05; done']);
  const { pid, status } = task(i);
  assert.equal(status, 'RUNNING');
  const st = tsrtState(i);
  assert.equal(st.status, 0, show(st));
  assert.deepEqual([JSON.parse(st.stdout).status, JSON.parse(st.stdout).pid], ['running', pid], 'tsrt holds the container');

  // exec: a process in the container's namespaces; its exit code comes back through ctr.
  const ex = ok(['task', 'exec', '--fifo-dir', path.join(fx.C, 'fifo'), '--exec-id', 'e1', i, 'sh', '-c', 'echo "me=$$"; cat /proc/1/cmdline | tr "\\0" " "']);
  assert.notEqual(ex.stdout.split('\n')[0], 'me=1');
  assert.match(ex.stdout.split('\n')[1], /^sh -c trap/, 'the exec\'d process sees the container\'s pid 1');
  const code = ctr(['task', 'exec', '--fifo-dir', path.join(fx.C, 'fifo'), '--exec-id', 'e2', i, 'sh', '-c', 'exit 3']);
  assert.equal(code.status, 3, show(code));

  // ps: the host pids of the container's processes (tsrt ps --format json).
  const ps = ok(['task', 'ps', i]).stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter(Boolean);
  assert.ok(ps.includes(pid), `ctr task ps lists the init ${pid}: ${ps}`);
  const pidNs = (x) => fs.readlinkSync(`/proc/${x}/ns/pid`);
  for (const p of ps.filter((x) => isAlive(x))) assert.equal(pidNs(p), pidNs(pid), `pid ${p} is in the container's PID namespace`);

  const counter = `/proc/${pid}/root/tmp/count`;
  const read = () => Number(fs.readFileSync(counter, 'utf8').trim() || 0);
  await waitFor('the counter', () => fs.existsSync(counter) && read() > 2);
  ok(['task', 'pause', i]);
  assert.equal(task(i).status, 'PAUSED');
  assert.equal(JSON.parse(tsrtState(i).stdout).status, 'paused');
  const frozen = read();
  await sleep(400);
  assert.equal(read(), frozen, 'nothing runs while paused');
  ok(['task', 'resume', i]);
  assert.equal(task(i).status, 'RUNNING');
  await waitFor('the counter to move again', () => read() > frozen + 2);

  // kill: SIGTERM (the default) reaches the trap; the exit code is the trap's.
  ok(['task', 'kill', i]);
  await waitFor('the task to stop', () => task(i)?.status === 'STOPPED');
  assert.match(fs.readFileSync(log, 'utf8'), /got-term/);
  assert.ok(!isAlive(pid));
  const del = ok(['task', 'delete', i]);
  assert.match(del.stderr, /exit code 42/, 'ctr reports the trap\'s exit code');
  const gone = tsrtState(i);
  assert.match(gone.stderr, /does not exist/, 'delete removed tsrt\'s state');
  ok(['container', 'rm', i]);
});

test('ctr run --memory-limit: the container\'s cgroup has the limit', { skip }, (t) => {
  const i = id(t, 'memory');
  ok(['run', '-d', '--memory-limit', String(64 * 1024 * 1024), ...runtimeFlags(), IMAGE, i, 'sleep', '1000']);
  // The container names its cgroup (the host's view of the init's, unless it has a cgroup
  // namespace); the host's file of that cgroup holds the limit.
  const said = ok(['task', 'exec', '--fifo-dir', path.join(fx.C, 'fifo'), '--exec-id', 'cg', i, 'cat', '/proc/self/cgroup']).stdout;
  const own = fs.readFileSync(`/proc/${task(i).pid}/cgroup`, 'utf8');
  if (!/^0::\/$/m.test(said)) assert.equal(said, own);
  const file = hostCgroupFile(own, 'memory', 'memory.limit_in_bytes', 'memory.max');
  assert.equal(fs.readFileSync(file, 'utf8').trim(), String(64 * 1024 * 1024), file);
  assert.ok(fs.readFileSync(path.join(path.dirname(file), 'cgroup.procs'), 'utf8').split('\n').includes(String(task(i).pid)), 'the init is in it');
});

test('ctr run -t and task exec -t under tmux: terminals with the window size', { skip }, async (t) => {
  const i = id(t, 'tty');
  const ctrLine = (args) => [which('ctr'), ...ctrArgs(args)].map(q).join(' ');
  const tmux = new Tmux({ cols: 110, rows: 35, command: `${ctrLine(['run', '--rm', '-t', ...runtimeFlags(), IMAGE, i, 'sh'])}; echo "ctr-exit=$?"` });
  t.after(() => tmux.kill());
  await tmux.waitScreen(/^\/ # ?$/m);
  tmux.line('tty; stty size; echo "mark-$((6*7))"');
  const screen = await tmux.waitScreen(/^mark-42$/m);
  assert.match(screen, /^\/dev\/pts\/0$/m);
  assert.match(screen, /^35 110$/m);

  // exec -t into the same container, in a second window.
  tmux.cmd(['new-window', '-t', 'main', `${ctrLine(['task', 'exec', '-t', '--fifo-dir', path.join(fx.C, 'fifo'), '--exec-id', 'x1', i, 'sh'])}; echo "exec-exit=$?"; sleep 60`]);
  await tmux.waitScreen(/^\/ # ?$/m);
  tmux.line('tty; cat /proc/1/cmdline; echo; echo "exec-$((6*7))"');
  const exec = await tmux.waitScreen(/^exec-42$/m);
  assert.match(exec, /^\/dev\/pts\/\d+$/m);
  assert.match(exec, /^sh$/m, 'pid 1 is the container\'s sh');
  tmux.line('exit 4');
  await tmux.waitScreen(/^exec-exit=4$/m);
  tmux.cmd(['kill-window', '-t', 'main:1']);
  tmux.line('exit 6');
  await tmux.waitScreen(/^ctr-exit=6$/m);
});

test('a tsrt error surfaces in ctr\'s message: create of a missing command, exec of one', { skip }, (t) => {
  const i = id(t, 'fail');
  const expected = tsrtCreateError(fx.D, '/nonexistent');
  const r = ctr(['run', '--rm', ...runtimeFlags(), IMAGE, i, '/nonexistent']);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /OCI runtime create failed/);
  assert.ok(r.stderr.includes(expected), `ctr shows tsrt's message ${JSON.stringify(expected)}\n${show(r)}`);
  assert.equal(ok(['container', 'ls', '--quiet']).stdout.split('\n').includes(i), false, 'no container left');
  assert.ok(!fs.existsSync(path.join(tsrtRoot(), i)), 'no tsrt state left');

  const j = id(t, 'execfail');
  ok(['run', '-d', ...runtimeFlags(), IMAGE, j, 'sleep', '1000']);
  const direct = run(fx.D, TSRT, ['--root', tsrtRoot(), 'exec', j, '/nonexistent']);
  const msg = direct.stderr.match(/msg="((?:[^"\\]|\\.)*)"/)?.[1].replace(/\\"/g, '"');
  assert.ok(msg, show(direct));
  const e = ctr(['task', 'exec', '--fifo-dir', path.join(fx.C, 'fifo'), '--exec-id', 'bad', j, '/nonexistent']);
  assert.notEqual(e.status, 0, show(e));
  assert.ok(e.stderr.includes(msg), `ctr shows tsrt's message ${JSON.stringify(msg)}\n${show(e)}`);
  assert.equal(task(j).status, 'RUNNING', 'the container is unharmed');
});

/** Whether the installed CRIU runs on this kernel (criu check). */
function criuWorks() {
  const criu = which('criu');
  return !!criu && run(fx.D, criu, ['check']).status === 0;
}

const COUNTER = 'exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i+1)); echo $i >> /log; sleep 0.1; done';

/** The numbers the counter of task i appended to /log (read with task exec). */
function counted(i) {
  const r = ctr(['task', 'exec', '--fifo-dir', path.join(fx.C, 'fifo'), '--exec-id', `cat-${Date.now()}`, i, 'cat', '/log']);
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

test('ctr task checkpoint on tsrt: an image of the running task, the task left running (or the kernel is named)', { skip }, async (t) => {
  const i = id(t, 'ckpt');
  ok(['run', '-d', ...runtimeFlags(), IMAGE, i, 'sh', '-c', COUNTER]);
  if (!criuWorks()) {
    const r = ctr(['task', 'checkpoint', i]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /the installed CRIU .* does not support this kernel/, show(r));
    assert.equal(task(i).status, 'RUNNING', 'the task is untouched');
    return;
  }
  await waitFor('the counter reaches 3', () => counted(i).at(-1) >= 3, 60_000);
  const cp = ok(['task', 'checkpoint', i]);
  assert.match(cp.stdout.trim().split('\n').pop(), /^containerd\.io\/checkpoint\//, show(cp));
  assert.ok(ok(['images', 'ls', '-q']).stdout.includes(cp.stdout.trim().split('\n').pop()), 'the checkpoint image is in containerd');
  assert.equal(task(i).status, 'RUNNING', 'a checkpoint without --exit leaves the task running');
  const n = counted(i).length;
  await waitFor('the counter goes on', () => counted(i).length > n + 2, 60_000);
});

test('containerd: nothing of the tests is left (tasks, containers, tsrt state, mounts, processes)', { skip }, async () => {
  fx.expectEmpty();
  assert.deepEqual(fs.readdirSync(tsrtRoot()), [], 'no tsrt state');
  // containerd's own namespace: no container rootfs is still mounted.
  const inside = fs.readFileSync(`/proc/${fx.daemon.child.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(path.join(fx.C, 'state')));
  assert.deepEqual(inside, [], 'no rootfs mount left in containerd\'s mount namespace');
  await fx.stopChecked();
  await waitFor('the shims to exit', () => pidsMentioning(fx.C).length === 0, 10_000);
  assert.deepEqual(mountsUnder(fx.D), [], 'nothing mounted under the temp dir on the host');
  if (!hadRunContainerd) assert.ok(!fs.existsSync('/run/containerd'), 'the host has no /run/containerd');
});
