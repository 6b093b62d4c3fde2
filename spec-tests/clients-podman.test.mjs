// podman runs its containers on tsrt (`--runtime <dist/tsrt>`, cgroupfs), end to end:
// podman -> conmon -> tsrt create/start/exec/kill/pause/resume/delete. Every scenario
// looks at the result inside the container (its output, its /proc, its cgroup files, its
// files through /proc/PID/root), not only at podman's exit code.
//
// Everything podman keeps lives in this file's temp dir: --root, --runroot, --tmpdir, the
// containers.conf given by CONTAINERS_CONF (the tsrt runtime, runtime_supports_json so
// podman passes --log-format=json and reads tsrt's errors as JSON, default_ulimits below
// this machine's hard limits, the file events logger). No image is pulled: the busybox
// image is `podman import` of bundle/rootfs, and every run has --pull never and
// --network none (no traffic to any bridge).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TSRT, isAlive, processesWithCmdline, show, sleep, waitUntil } from './helpers/tsrt.mjs';
import { Tmux } from './helpers/terminal.mjs';
import { V2 } from './helpers/cgroups.mjs';
import {
  hostCgroupFile, makeTempDir, missing, mountsUnder, removeTempDir, rootfsTar, run, tsrtCreateError, waitFor, which, writePodmanConf,
} from './helpers/clients.mjs';

const skip = missing(['podman', 'conmon', 'tmux']);
const IMAGE = 'localhost/tsrt-clients-busybox:latest';
const RUN = ['--network', 'none', '--pull', 'never'];
const tag = `tsrt-${process.pid}`;

let D; // the temp dir
let BASE; // podman's global flags
let ENV;
const names = new Set();

function podman(args, opts = {}) {
  return run(D, which('podman'), [...(opts.base ?? BASE), ...args], { env: ENV, ...opts });
}

function ok(args, opts) {
  const r = podman(args, opts);
  assert.equal(r.status, 0, show(r));
  return r;
}

/** A container name of this run, removed (with its container) by the test's cleanup. */
function name(t, what) {
  const n = `${tag}-${what}`;
  names.add(n);
  t.after(() => podman(['rm', '--force', '--time', '0', n]));
  return n;
}

function inspect(n) {
  return JSON.parse(ok(['inspect', n]).stdout)[0];
}

/** `tsrt state` as podman's tsrt sees it (podman gives no --root: tsrt's default). */
function tsrtState(id) {
  return run(D, TSRT, ['state', id]);
}

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

before(() => {
  if (skip) return;
  D = makeTempDir('podman');
  for (const d of ['tmp', 'networks', 'volumes']) fs.mkdirSync(path.join(D, d));
  const conf = writePodmanConf(D, 'cgroupfs', 'spec-tests/clients-podman.test.mjs');
  ENV = { ...process.env, CONTAINERS_CONF: conf, TMPDIR: path.join(D, 'tmp') };
  BASE = ['--root', path.join(D, 'root'), '--runroot', path.join(D, 'runroot'), '--tmpdir', path.join(D, 'tmp'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--runtime', TSRT];
  ok(['import', '--change', 'CMD ["/bin/sh"]', rootfsTar(path.join(D, 'rootfs.tar')), IMAGE]);
});

after(() => {
  if (!D) return;
  for (const n of names) podman(['rm', '--force', '--time', '0', n]);
  podman(['system', 'reset', '--force']);
  removeTempDir(D);
});

test('podman run: a foreground container prints, sees itself as pid 1 with the configured ulimits, and gives its exit code', { skip }, () => {
  const r = podman(['run', '--rm', ...RUN, IMAGE, 'sh', '-c',
    'echo hello; echo "pid=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; echo "nofile=$(ulimit -n)"; test -f /run/.containerenv && echo containerenv; exit 7']);
  assert.equal(r.status, 7, show(r));
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'hello');
  assert.equal(lines[1], 'pid=1', 'the command is pid 1 of its own PID namespace');
  assert.match(lines[2], /^sh -c echo hello/);
  assert.equal(lines[3], 'nofile=1024', 'default_ulimits of containers.conf reach the process (rlimits)');
  assert.equal(lines[4], 'containerenv', 'podman\'s bundle was used (its /run/.containerenv mount)');

  const t = podman(['run', '--rm', ...RUN, IMAGE, 'true']);
  assert.equal(t.status, 0, show(t));
  // (A container killed by a signal: the stop and kill test, 137 for SIGKILL.)
});

test('podman run -d, exec, ps, top, logs and inspect', { skip }, (t) => {
  const n = name(t, 'detached');
  const id = ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sh', '-c', 'echo started; echo on-stderr >&2; while :; do sleep 0.1; done']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const info = inspect(n);
  assert.equal(info.State.Status, 'running');
  assert.equal(info.OCIRuntime, TSRT, 'inspect names tsrt as the runtime');
  // tsrt holds the container: its state agrees with podman.
  const st = tsrtState(id);
  assert.equal(st.status, 0, show(st));
  const state = JSON.parse(st.stdout);
  assert.equal(state.status, 'running');
  assert.equal(state.pid, info.State.Pid);
  assert.ok(isAlive(info.State.Pid));

  const ex = ok(['exec', n, 'sh', '-c', 'echo "me=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; hostname']);
  const [me, init, host] = ex.stdout.split('\n');
  assert.notEqual(me, 'me=1', 'the exec\'d process is not the init');
  assert.match(init, /^sh -c echo started/, 'it is in the container\'s PID namespace');
  assert.equal(host, id.slice(0, 12), 'and its UTS namespace (podman\'s hostname)');
  const opts = ok(['exec', '--user', '1000', '--workdir', '/tmp', '--env', 'FOO=bar', n, 'sh', '-c', 'id -u; pwd; echo "$FOO"']);
  assert.equal(opts.stdout, '1000\n/tmp\nbar\n', 'exec --user, --workdir and --env');
  const code = podman(['exec', n, 'sh', '-c', 'exit 3']);
  assert.equal(code.status, 3, show(code));

  const ps = ok(['ps', '--filter', `name=^${n}$`, '--format', '{{.ID}} {{.Status}}']);
  assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)} Up`));
  // top lists the container's processes as its PID namespace numbers them.
  const top = ok(['top', n, 'pid', 'args']);
  assert.match(top.stdout, /^\s*1\s+sh -c echo started/m, top.stdout);

  const logs = ok(['logs', n]);
  assert.match(logs.stdout, /started/);
  assert.match(logs.stdout + logs.stderr, /on-stderr/);
  ok(['rm', '--force', '--time', '0', n]);
  assert.ok(!isAlive(info.State.Pid), 'the init is gone');
});

test('podman pause and unpause freeze and thaw the container\'s processes', { skip }, async (t) => {
  const n = name(t, 'pause');
  ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done']);
  const { Pid: pid } = inspect(n).State;
  const counter = `/proc/${pid}/root/tmp/count`;
  const read = () => Number(fs.readFileSync(counter, 'utf8').trim() || 0);
  await waitFor('the counter', () => fs.existsSync(counter) && read() > 2);

  ok(['pause', n]);
  assert.equal(inspect(n).State.Status, 'paused');
  assert.equal(JSON.parse(ok(['inspect', '--format', '{{json .State.Paused}}', n]).stdout), true);
  assert.equal(JSON.parse(tsrtState(inspect(n).Id).stdout).status, 'paused', 'tsrt state says paused');
  const frozen = read();
  await sleep(400);
  assert.equal(read(), frozen, 'the loop does not move while paused');

  ok(['unpause', n]);
  assert.equal(inspect(n).State.Status, 'running');
  await waitFor('the counter to move again', () => read() > frozen + 2);
});

test('podman stop sends SIGTERM to the container, kill sends the signal given', { skip }, async (t) => {
  const n = name(t, 'stop');
  ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done']);
  await waitFor('ready', () => /ready/.test(podman(['logs', n]).stdout));
  ok(['stop', '--time', '10', n]);
  const stopped = inspect(n).State;
  assert.equal(stopped.Status, 'exited');
  assert.equal(stopped.ExitCode, 42, 'the trap ran: TERM reached the container\'s pid 1');
  assert.match(ok(['logs', n]).stdout, /got-term/);

  const k = name(t, 'kill');
  ok(['run', '-d', '--name', k, ...RUN, IMAGE, 'sh', '-c', 'trap "echo got-usr1" USR1; echo ready; while :; do sleep 0.1; done']);
  await waitFor('ready', () => /ready/.test(podman(['logs', k]).stdout));
  ok(['kill', '--signal', 'USR1', k]);
  await waitFor('the USR1 trap', () => /got-usr1/.test(podman(['logs', k]).stdout));
  assert.equal(inspect(k).State.Status, 'running', 'USR1 did not stop it');
  const pid = inspect(k).State.Pid;
  ok(['kill', k]);
  ok(['wait', k]);
  const killed = inspect(k).State;
  assert.equal(killed.Status, 'exited');
  assert.equal(killed.ExitCode, 137, 'SIGKILL: 128+9');
  assert.ok(!isAlive(pid));
});

test('podman rm -f removes a running container: its process, tsrt state and cgroup', { skip }, (t) => {
  const n = name(t, 'rmf');
  const id = ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sleep', '1000']).stdout.trim();
  const pid = inspect(n).State.Pid;
  const pidsDir = path.dirname(hostCgroupFile(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), 'pids', 'pids.max', 'pids.max'));
  assert.ok(fs.existsSync(pidsDir), pidsDir);
  assert.equal(tsrtState(id).status, 0);
  ok(['rm', '--force', '--time', '0', n]);
  assert.ok(!isAlive(pid), 'the process is gone');
  const st = tsrtState(id);
  assert.notEqual(st.status, 0);
  assert.match(st.stderr, /does not exist/, 'tsrt deleted its state');
  assert.ok(!fs.existsSync(pidsDir), `the container's cgroup ${pidsDir} is removed`);
  assert.equal(ok(['ps', '--all', '--filter', `name=^${n}$`, '--quiet']).stdout, '');
});

test('podman --memory, --pids-limit and --cpus: the limits are what the container sees, podman stats reads and the kernel enforces', { skip }, (t) => {
  const n = name(t, 'limits');
  ok(['run', '-d', '--name', n, ...RUN, '--memory', '64m', '--pids-limit', '50', '--cpus', '0.5', IMAGE, 'sleep', '1000']);
  const inside = ok(['exec', n, 'sh', '-c', [
    'if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then',
    '  echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"; echo "pids=$(cat /sys/fs/cgroup/pids/pids.max)"',
    '  echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"',
    'else',
    '  echo "mem=$(cat /sys/fs/cgroup/memory.max)"; echo "pids=$(cat /sys/fs/cgroup/pids.max)"; echo "cpu=$(cat /sys/fs/cgroup/cpu.max)"',
    'fi',
    'cat /proc/self/cgroup'].join('\n')]).stdout;
  // /sys/fs/cgroup inside is the container's own cgroup (runc binds the same directories).
  assert.match(inside, /^mem=67108864$/m, inside);
  assert.match(inside, /^pids=50$/m, inside);
  assert.match(inside, /^cpu=50000 100000$/m, inside);
  // The same limits in the host's files of the container's cgroup, which is the one the
  // container says it is in (unless it has a cgroup namespace: cgroup v2 hosts).
  const own = fs.readFileSync(`/proc/${inspect(n).State.Pid}/cgroup`, 'utf8');
  const said = inside.slice(inside.indexOf('\n', inside.indexOf('cpu=')) + 1);
  if (!/^0::\/$/m.test(said)) assert.equal(said, own);
  assert.equal(fs.readFileSync(hostCgroupFile(own, 'memory', 'memory.limit_in_bytes', 'memory.max'), 'utf8').trim(), '67108864');
  assert.equal(fs.readFileSync(hostCgroupFile(own, 'pids', 'pids.max', 'pids.max'), 'utf8').trim(), '50');
  // podman stats reads the container's cgroup (v1 or v2) itself: the limit and the tasks.
  const stats = ok(['stats', '--no-stream', '--format', '{{.MemUsage}}|{{.PIDs}}', n]).stdout.trim();
  assert.match(stats, /^[\d.]+[kMG]?B \/ 67\.1\d?MB\|[1-9]\d*$/, `podman stats: ${stats}`);
  // podman update (tsrt update --resources FILE) changes the limit the container sees.
  ok(['update', '--memory', '128m', n]);
  const after = ok(['exec', n, 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']).stdout.trim();
  assert.equal(after, String(128 * 1024 * 1024));
  // (podman 4.3's inspect keeps showing the limit of `run`.)

  // And the kernel enforces the pids limit: of 80 background sleeps, the forks past 50
  // tasks fail (ash gives up at the first failure).
  const fork = podman(['exec', n, 'sh', '-c', 'i=0; while [ $i -lt 80 ]; do i=$((i+1)); sleep 30 </dev/null >/dev/null 2>&1 & done']);
  assert.match(fork.stderr, /can't fork|Resource temporarily unavailable/i, show(fork));
  const current = Number(fs.readFileSync(hostCgroupFile(own, 'pids', 'pids.current', 'pids.current'), 'utf8').trim());
  // 50 when the fork failed; the exec'd sh has exited since.
  assert.ok(current >= 45 && current <= 50, `tasks in the container's pids cgroup: ${current}`);
});

/** Whether the installed CRIU runs on this kernel (criu check), and why not. */
function criuCheck() {
  const criu = which('criu');
  if (!criu) return { ok: false, why: 'criu is not installed' };
  const r = run(D, criu, ['check']);
  return { ok: r.status === 0, why: `${r.stdout}${r.stderr}` };
}

/** The numbers the counter appended to /log in the container (podman cp works on a stopped one too). */
function counted(n) {
  const r = podman(['exec', n, 'cat', '/log']);
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

test('podman container checkpoint / restore on tsrt: a counter goes on from where it was (or the kernel is named)', { skip }, async (t) => {
  const n = name(t, 'checkpoint');
  ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sh', '-c', 'exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i+1)); echo $i >> /log; sleep 0.1; done']);
  const criu = criuCheck();
  if (!criu.ok) {
    // podman asks `tsrt checkpoint --help` (exit 0, as runc's), then runs checkpoint, which fails.
    const r = podman(['container', 'checkpoint', n]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /the installed CRIU .* does not support this kernel|checkpoint and restore need CRIU|not installed/, show(r));
    assert.equal(inspect(n).State.Status, 'running', 'the container is untouched');
    return;
  }
  await waitFor('the counter reaches 5', () => counted(n).at(-1) >= 5, 60_000);
  ok(['container', 'checkpoint', n]);
  assert.equal(inspect(n).State.Status, 'exited', 'checkpointed: stopped');
  ok(['container', 'restore', n]);
  assert.equal(inspect(n).State.Status, 'running');
  const pid = inspect(n).State.Pid;
  assert.equal(JSON.parse(tsrtState(inspect(n).Id).stdout).pid, pid, 'tsrt keeps the restored container\'s state');
  let got = [];
  await waitFor('the restored counter counts on', () => (got = counted(n)).length >= 10, 60_000);
  got.forEach((v, i) => assert.equal(v, i + 1, `line ${i + 1} of /log: ${v} (a restart or a gap)`));
  ok(['rm', '--force', '--time', '0', n]);
  assert.ok(!isAlive(pid), 'rm stops the restored container');
});

test('podman run -it under tmux: a terminal with the window size, and the exit code', { skip }, async (t) => {
  const n = name(t, 'tty');
  const env = `CONTAINERS_CONF=${q(ENV.CONTAINERS_CONF)} TMPDIR=${q(ENV.TMPDIR)}`;
  const tmux = new Tmux({ cols: 100, rows: 30, command: `env ${env} ${which('podman')} ${BASE.map(q).join(' ')} run -it --rm --name ${n} ${RUN.join(' ')} ${IMAGE} sh; echo "podman-exit=$?"` });
  t.after(() => tmux.kill());
  await tmux.waitScreen(/^\/ # ?$/m);
  tmux.line('tty; stty size; echo "mark-$((6*7))"');
  const screen = await tmux.waitScreen(/^mark-42$/m);
  assert.match(screen, /^\/dev\/pts\/0$/m, 'stdin is the pty podman asked for');
  assert.match(screen, /^30 100$/m, 'the window size of the tmux terminal');
  tmux.line('exit 3');
  await tmux.waitScreen(/^podman-exit=3$/m);
});

test('podman exec -it under tmux: a terminal in a running container', { skip }, async (t) => {
  const n = name(t, 'exectty');
  ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sleep', '1000']);
  const env = `CONTAINERS_CONF=${q(ENV.CONTAINERS_CONF)} TMPDIR=${q(ENV.TMPDIR)}`;
  const tmux = new Tmux({ cols: 90, rows: 25, command: `env ${env} ${which('podman')} ${BASE.map(q).join(' ')} exec -it ${n} sh; echo "exec-exit=$?"` });
  t.after(() => tmux.kill());
  await tmux.waitScreen(/^\/ # ?$/m);
  tmux.line('tty; stty size; cat /proc/1/cmdline; echo; echo "mark-$((6*7))"');
  const screen = await tmux.waitScreen(/^mark-42$/m);
  assert.match(screen, /^\/dev\/pts\/\d+$/m);
  assert.match(screen, /^25 90$/m);
  assert.match(screen, /^sleep1000$/m, 'pid 1 is the container\'s sleep');
  tmux.line('exit 4');
  await tmux.waitScreen(/^exec-exit=4$/m);
  assert.equal(inspect(n).State.Status, 'running', 'the container outlives the exec');
});

test('podman shows tsrt\'s own error for a command that cannot run, read from tsrt\'s JSON log', { skip }, (t) => {
  // A wrapper named tsrt (podman matches runtime_supports_json on the name) records the
  // arguments podman passes, then execs dist/tsrt.
  const argvLog = path.join(D, 'argv.log');
  const wrapper = path.join(D, 'argv', 'tsrt');
  fs.mkdirSync(path.dirname(wrapper), { recursive: true });
  fs.writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${q(argvLog)}\nexec ${q(TSRT)} "$@"\n`, { mode: 0o755 });
  const base = [...BASE.slice(0, -2), '--runtime', wrapper];

  const expected = tsrtCreateError(D, '/nonexistent');
  const r = podman(['run', '--rm', ...RUN, IMAGE, '/nonexistent'], { base });
  assert.equal(r.status, 127, `podman maps "no such file or directory" to 127, as with runc\n${show(r)}`);
  assert.ok(r.stderr.includes(expected), `podman shows tsrt's message ${JSON.stringify(expected)}\n${show(r)}`);
  assert.doesNotMatch(r.stderr, /level=error/, 'the message came from the JSON log, not logrus text on stderr');
  const create = fs.readFileSync(argvLog, 'utf8').split('\n').find((l) => / create /.test(l));
  assert.ok(create, fs.readFileSync(argvLog, 'utf8'));
  assert.match(create, /--log-format=json/, 'podman passed --log-format=json');
  assert.match(create, /--log \S+/);

  // exec: tsrt's message for the same container, run directly, is what podman shows.
  const n = name(t, 'execfail');
  const id = ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sleep', '1000'], { base }).stdout.trim();
  const direct = run(D, TSRT, ['exec', id, '/nonexistent']);
  assert.notEqual(direct.status, 0);
  const msg = direct.stderr.match(/msg="((?:[^"\\]|\\.)*)"/)?.[1].replace(/\\"/g, '"');
  assert.ok(msg, show(direct));
  const e = podman(['exec', n, '/nonexistent'], { base });
  assert.equal(e.status, 127, show(e));
  assert.ok(e.stderr.includes(msg), `podman exec shows ${JSON.stringify(msg)}\n${show(e)}`);
  assert.equal(inspect(n).State.Status, 'running');
});

test('podman run --timeout 2: conmon kills the container\'s process group (its init leads one), podman returns and cleans up', { skip }, (t) => {
  const n = name(t, 'timeout');
  // Without a process group of its own the init shared conmon's, and -getpgid(pid) hit conmon.
  const r = podman(['run', '--name', n, '--timeout', '2', ...RUN, IMAGE, 'sh', '-c', 'sleep 1000 & sleep 1000'], { timeout: 60_000 });
  assert.ok(!r.timedOut, `podman run --timeout 2 returned\n${show(r)}`);
  // What podman reports with runc on the same image: exit 255, ExitCode -1 (conmon's timeout).
  assert.equal(r.status, 255, show(r));
  const st = inspect(n).State;
  assert.equal(st.Status, 'exited', JSON.stringify(st));
  assert.equal(st.ExitCode, -1, 'conmon\'s mark of a timed-out container');
  const id = inspect(n).Id;
  ok(['rm', n]);
  const state = tsrtState(id);
  assert.match(state.stderr, /does not exist/, `tsrt state of ${id} is gone`);
  const cmdline = (p) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { return ''; } };
  assert.deepEqual(processesWithCmdline(id).filter((p) => !/conmon/.test(cmdline(p))), [], 'no process of the container is left');
});

test('podman run: a command that is not executable or a directory exits 126 (permission denied), a missing one 127', { skip }, (t) => {
  for (const [exe, code] of [['/etc/passwd', 126], ['/etc', 126], ['/nonexistent', 127]]) {
    const r = podman(['run', '--rm', ...RUN, IMAGE, exe]);
    assert.equal(r.status, code, `${exe}\n${show(r)}`);
    assert.match(r.stderr, code === 126 ? /permission denied/ : /no such file or directory/, show(r));
  }
});

/**
 * Podman 4.3 with cgroupfs on a cgroup v2 host attaches to a pod's cgroup an eBPF device
 * program that denies every device: no container of the pod may make or open /dev/null,
 * whatever the runtime (runc fails the same way: "error reopening /dev/null inside
 * container"). Probed with a process of ours in a cgroup below the pod's: the reason
 * when it cannot open /dev/null there, else undefined.
 */
async function podBlocksDevices(pod) {
  const v2 = V2();
  const cg = ok(['pod', 'inspect', '--format', '{{.CgroupPath}}', pod]).stdout.trim();
  const dir = v2 && cg ? path.join(v2.mountpoint, cg) : undefined;
  if (!dir || !fs.existsSync(dir)) return undefined;
  const probe = path.join(dir, `tsrt-probe-${process.pid}`);
  fs.mkdirSync(probe);
  const r = spawnSync('sh', ['-c', `echo $$ > ${probe}/cgroup.procs && exec cat /dev/null`], { encoding: 'utf8' });
  // Removed now: podman removes the pod's cgroup only when nothing is left below it.
  await waitUntil(() => {
    try {
      fs.rmdirSync(probe);
      return true;
    } catch (e) {
      if (e.code === 'EBUSY') return false;
      throw e;
    }
  }, 5_000, `the removal of ${probe}`);
  if (r.status === 0) return undefined;
  return `podman's own device program on the pod's cgroup ${cg} denies /dev/null to every process in it (${r.stderr.trim()}): podman 4.3 with cgroupfs on cgroup v2, runc fails the same way`;
}

/** tsrt's error when podman's pod cgroup denies the devices: the node, the syscall and EPERM. */
const POD_DEVICES_DENIED = /create device \/dev\/null \(c 1:3\): EPERM/;

test('podman pod: two containers of a pod talk over localhost (the pod\'s network namespace has lo up)', { skip }, async (t) => {
  const pod = `${tag}-pod`;
  const created = podman(['pod', 'create', '--name', pod, '--network', 'none']);
  if (created.status !== 0 && /pause|catatonit|image/i.test(created.stderr)) {
    t.skip(`podman cannot make the pod's infra container here: ${created.stderr.trim().split('\n').pop()}`);
    return;
  }
  assert.equal(created.status, 0, show(created));
  t.after(() => podman(['pod', 'rm', '--force', '--time', '0', pod]));
  const blocked = await podBlocksDevices(pod);
  const server = podman(['run', '-d', '--pod', pod, '--pull', 'never', IMAGE, 'sh', '-c', 'while :; do echo pong | nc -l -p 4567 127.0.0.1; done']);
  if (blocked) {
    assert.notEqual(server.status, 0, show(server));
    assert.match(server.stderr, POD_DEVICES_DENIED, show(server));
    t.skip(blocked);
    return;
  }
  assert.equal(server.status, 0, show(server));
  const r = podman(['run', '--rm', '--pod', pod, '--pull', 'never', IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo ping | nc 127.0.0.1 4567 && exit 0; sleep 0.3; done; exit 1']);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^pong$/m, show(r));
});

test('podman play kube: two containers of a pod talk over 127.0.0.1, and play kube --down removes them', { skip }, async (t) => {
  const pod = `${tag}-kube`;
  const yaml = path.join(D, 'kube.yaml');
  fs.writeFileSync(yaml, `apiVersion: v1
kind: Pod
metadata:
  name: ${pod}
spec:
  restartPolicy: Never
  containers:
  - name: server
    image: ${IMAGE}
    imagePullPolicy: Never
    command: ["sh", "-c", "while :; do echo pong | nc -l -p 4568 127.0.0.1; done"]
  - name: client
    image: ${IMAGE}
    imagePullPolicy: Never
    command: ["sh", "-c", "for i in $(seq 50); do r=$(echo ping | nc 127.0.0.1 4568) && [ -n \\"$r\\" ] && echo \\"got-$r\\" && exit 0; sleep 0.2; done; echo no-answer; exit 1"]
`);
  const played = podman(['play', 'kube', '--network', 'none', yaml]);
  if (played.status !== 0 && /pause|catatonit/i.test(played.stderr)) {
    t.skip(`podman cannot make the pod's infra container here: ${played.stderr.trim().split('\n').pop()}`);
    return;
  }
  t.after(() => podman(['play', 'kube', '--down', yaml]));
  const blocked = played.status !== 0 ? await podBlocksDevices(pod) : undefined;
  if (blocked) {
    assert.match(played.stderr, POD_DEVICES_DENIED, show(played));
    t.skip(blocked);
    return;
  }
  assert.equal(played.status, 0, show(played));
  const client = `${pod}-client`;
  let r;
  await waitFor('the client container to exit', () => {
    r = ok(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', client]).stdout.trim();
    return /^(exited|stopped)/.test(r);
  }, 30_000);
  const logs = ok(['logs', client]);
  assert.match(logs.stdout, /^got-pong$/m, `the client reached the server over 127.0.0.1\n${show(logs)}`);
  assert.equal(r.split(' ')[1], '0', `the client's exit code (${r})`);
  ok(['play', 'kube', '--down', yaml]);
  assert.equal(ok(['ps', '--all', '--quiet', '--filter', `pod=${pod}`]).stdout, '', 'no container of the pod left');
});

test('podman --mount bind-propagation=rshared: host mounts under the source appear inside, a privileged container\'s mounts appear on the host, nothing left after rm', { skip }, async (t) => {
  const n = name(t, 'rshared');
  const src = path.join(D, 'shared');
  fs.mkdirSync(src);
  // A shared mount point of our own (a tmpfs we made shared): the host side of the peer group.
  for (const args of [['-t', 'tmpfs', 'tsrt-test-shared', src], ['--make-shared', src]]) {
    const m = run(D, 'mount', args);
    assert.equal(m.status, 0, show(m));
  }
  t.after(() => { for (const mp of mountsUnder(src).reverse()) run(D, 'umount', ['-l', mp]); });
  const id = ok(['run', '-d', '--name', n, ...RUN, '--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined',
    '--mount', `type=bind,src=${src},dst=/x,bind-propagation=rshared`, IMAGE, 'sleep', '1000']).stdout.trim();
  const { Pid: pid } = inspect(n).State;
  // host -> container
  fs.mkdirSync(path.join(src, 'from-host'));
  const m = run(D, 'mount', ['-t', 'tmpfs', 'tsrt-test-from-host', path.join(src, 'from-host')]);
  assert.equal(m.status, 0, show(m));
  fs.writeFileSync(path.join(src, 'from-host', 'f'), 'host-made\n');
  assert.ok(mountsUnder(src).includes(path.join(src, 'from-host')), 'the host has the new mount');
  // Read through the mount (not the directory beneath it), and see it is a mount there.
  const seen = ok(['exec', n, 'sh', '-c', 'cat /x/from-host/f; grep -c " /x/from-host .* tsrt-test-from-host " /proc/self/mountinfo']).stdout;
  assert.equal(seen, 'host-made\n1\n', 'the host\'s new mount is seen in the container');
  // container -> host
  ok(['exec', n, 'sh', '-c', 'mkdir /x/from-ctr && mount -t tmpfs tsrt-test-from-ctr /x/from-ctr && echo ctr-made > /x/from-ctr/f']);
  assert.ok(mountsUnder(src).includes(path.join(src, 'from-ctr')), `the container's mount reached the host: ${mountsUnder(src)}`);
  assert.equal(fs.readFileSync(path.join(src, 'from-ctr', 'f'), 'utf8'), 'ctr-made\n');
  ok(['rm', '--force', '--time', '0', n]);
  assert.ok(!isAlive(pid), 'the init is gone');
  assert.notEqual(tsrtState(id).status, 0, 'tsrt has no state for it');
  // What is left under the temp dir are the mounts of the peer group only (ours and the
  // one the container propagated to the host), not the container's rootfs or its binds.
  const left = mountsUnder(D).filter((mp) => !mp.startsWith(src));
  assert.deepEqual(left, [], 'no mount of the container left under the temp dir');
  assert.deepEqual(processesWithCmdline(id).filter((p) => isAlive(p) && !/conmon/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'))), [],
    'no process of the container left');
});

test('podman: nothing of the tests is left (containers, tsrt state, processes, mounts)', { skip }, () => {
  for (const n of names) podman(['rm', '--force', '--time', '0', n]);
  assert.equal(ok(['ps', '--all', '--quiet']).stdout, '', 'no container left in our storage');
  const ids = run(D, TSRT, ['list', '--format', 'json']);
  const left = (JSON.parse(ids.stdout || '[]') ?? []).filter((c) => c.bundle?.startsWith(D));
  assert.deepEqual(left, [], 'no tsrt state of our containers');
  ok(['system', 'reset', '--force']);
  assert.deepEqual(mountsUnder(D), [], 'nothing mounted under the temp dir');
});
