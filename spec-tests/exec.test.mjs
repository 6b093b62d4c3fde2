// `tsrt exec`: a new process in a running container. It must land in every namespace and
// the cgroup of the container's init, return its exit code, honour the flags runc has,
// refuse stopped and paused containers, and behave like runc where the spec is silent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, isAlive, nsLink, show, sleep, waitUntil } from './helpers/tsrt.mjs';
import { ConsoleReceiver } from './helpers/terminal.mjs';

/** Runs a detached container (sleep 1000 unless patched); returns {id, pid, b}. */
function runDetached(sb, patch) {
  const b = sb.bundle({
    patch: (c) => {
      c.process.args = ['sleep', '1000'];
      if (patch) patch(c);
    },
  });
  const id = sb.id('exec');
  sb.ids.add(id);
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  const pid = sb.track(sb.state(id).pid);
  return { id, pid, b };
}

const NAMESPACES = ['pid', 'mnt', 'net', 'ipc', 'uts'];

test('exec: the container\'s hostname, pid 1, namespaces and cgroup; the exit code is returned', (t) => {
  const sb = new Sandbox(t);
  const { id, pid } = runDetached(sb);
  const r = sb.tsrt(['exec', id, 'sh', '-c',
    `hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; for n in ${NAMESPACES.join(' ')}; do readlink /proc/$$/ns/$n; done; cat /proc/$$/cgroup; exit 7`]);
  assert.equal(r.status, 7, show(r));
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'tsrt', 'the container\'s hostname');
  assert.equal(lines[1], 'sleep 1000 ', 'pid 1 is the container\'s init');
  assert.deepEqual(lines.slice(2, 2 + NAMESPACES.length), NAMESPACES.map((n) => nsLink(pid, n)), 'the init\'s namespaces');
  // Whether or not the container has cgroups of its own: the exec'd process is where the init is.
  const cgroups = lines.slice(2 + NAMESPACES.length).filter(Boolean);
  assert.deepEqual(cgroups, fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean), 'the init\'s cgroups');
  assert.equal(sb.state(id).status, 'running');
});

test('exec --detach --pid-file: the host pid of a live process in the container, no newline', async (t) => {
  const sb = new Sandbox(t);
  const { id, pid: init } = runDetached(sb);
  const pidFile = path.join(sb.dir, 'exec.pid');
  const started = Date.now();
  const r = sb.tsrt(['exec', '--detach', '--pid-file', pidFile, id, 'sleep', '999']);
  assert.equal(r.status, 0, show(r));
  assert.ok(Date.now() - started < 10_000, 'exec -d does not wait for the process');
  const text = fs.readFileSync(pidFile, 'utf8');
  assert.match(text, /^[1-9]\d*$/, `pid file ${JSON.stringify(text)}`);
  const pid = sb.track(Number(text));
  assert.ok(isAlive(pid), 'the process is running');
  assert.equal(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\u0000999\u0000');
  for (const n of NAMESPACES) assert.equal(nsLink(pid, n), nsLink(init, n), `${n} namespace of the init`);
  assert.equal(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), fs.readFileSync(`/proc/${init}/cgroup`, 'utf8'));
  const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1].split(/\s+/);
  assert.equal(nspid.length, 2, 'one level down: the container\'s PID namespace');
  assert.ok(Number(nspid[1]) > 1);
  process.kill(pid, 'SIGKILL');
  assert.ok(await sb.waitDead(pid));
});

test('exec into a stopped container fails with "container not running"; an unknown id with "does not exist"', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['true']; } });
  const id = sb.id('stopped');
  sb.create(id, b.dir);
  sb.ok(['start', id]);
  await sb.waitStatus(id, 'stopped');
  for (const extra of [[], ['--ignore-paused'], ['-d']]) {
    const r = sb.tsrt(['exec', ...extra, id, 'true']);
    assert.equal(r.status, 255, show(r));
    assert.match(r.stderr, /container not running/, show(r));
  }
  const r = sb.tsrt(['exec', sb.id('unknown'), 'true']);
  assert.equal(r.status, 255, show(r));
  assert.match(r.stderr, /does not exist/);
});

test('exec into a paused container only with --ignore-paused (the process starts once resumed)', async (t) => {
  const sb = new Sandbox(t);
  const { id } = runDetached(sb);
  const p = sb.tsrt(['pause', id]);
  if (p.status !== 0) return t.skip(`tsrt pause does not work here: ${p.stderr.trim()}`);
  assert.equal(sb.state(id).status, 'paused');
  const refused = sb.tsrt(['exec', id, 'echo', 'hi']);
  assert.equal(refused.status, 255, show(refused));
  assert.match(refused.stderr, /paused.*--ignore-paused/, show(refused));
  // With --ignore-paused the process joins the frozen cgroup: it is frozen with it.
  const pending = sb.tsrtAsync(['exec', '--ignore-paused', id, 'echo', 'hi']);
  let done = false;
  pending.then(() => { done = true; });
  await sleep(700);
  assert.equal(done, false, 'the exec\'d process is frozen with the container');
  sb.ok(['resume', id]);
  const r = await pending;
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'hi\n');
});

test('exec flags: --env, --cwd, --user, --additional-gids, --cap, --no-new-privs', (t) => {
  const sb = new Sandbox(t);
  const { id } = runDetached(sb, (c) => { c.process.noNewPrivileges = false; });
  const out = (args) => {
    const r = sb.tsrt(['exec', ...args]);
    assert.equal(r.status, 0, show(r));
    return r.stdout.trim();
  };
  assert.equal(out([id, 'sh', '-c', 'echo "$FOO|$TERM|$PATH"']), '|xterm|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'the container\'s env');
  assert.equal(out(['--env', 'FOO=bar', '-e', 'TERM=dumb', id, 'sh', '-c', 'echo "$FOO|$TERM"']), 'bar|dumb', 'added and replaced');
  assert.equal(out([id, 'pwd']), '/');
  assert.equal(out(['--cwd', '/etc', id, 'pwd']), '/etc');
  assert.equal(out([id, 'id']), 'uid=0(root) gid=0(root)', 'no supplementary groups, as with runc');
  assert.equal(out(['--user', '1000:1000', id, 'sh', '-c', 'echo "$(id -u) $(id -g) [$(id -G)]"']), '1000 1000 [1000]');
  assert.equal(out(['--user', '1000:1000', '--additional-gids', '10', '-g', '20', id, 'sh', '-c', 'echo "$(id -u) $(id -g) $(id -G)"']), '1000 1000 1000 10 20');
  const caps = (args) => Object.fromEntries(out([...args, id, 'grep', '-E', '^(Cap(Inh|Eff|Amb)|NoNewPrivs)', '/proc/self/status']).split('\n').map((l) => l.split(/:\s+/)));
  const base = caps([]);
  const SYS_ADMIN = 1n << 21n;
  assert.equal(BigInt(`0x${base.CapEff}`) & SYS_ADMIN, 0n);
  const withCap = caps(['--cap', 'CAP_SYS_ADMIN']);
  assert.equal(BigInt(`0x${withCap.CapEff}`), BigInt(`0x${base.CapEff}`) | SYS_ADMIN, 'CAP_SYS_ADMIN added to the effective set');
  assert.equal(withCap.CapInh, '0000000000000000', 'never inheritable (CVE-2022-29162)');
  assert.equal(withCap.CapAmb, base.CapAmb, 'not ambient without inheritable caps');
  assert.equal(base.NoNewPrivs, '0');
  assert.equal(caps(['--no-new-privs']).NoNewPrivs, '1');
});

test('exec --process FILE and a trailing command with flags of its own', (t) => {
  const sb = new Sandbox(t);
  const { id } = runDetached(sb);
  const file = path.join(sb.dir, 'process.json');
  fs.writeFileSync(file, JSON.stringify({
    args: ['sh', '-c', 'echo "$A:$(pwd):$(id -u):$(id -g):$0"'],
    env: ['A=fromfile', 'PATH=/bin:/usr/bin'], cwd: '/etc', user: { uid: 12, gid: 34 },
  }));
  let r = sb.tsrt(['exec', '--process', file, id]);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'fromfile:/etc:12:34:sh\n');
  // -p as runc spells it; a trailing command is ignored next to --process, as by runc.
  r = sb.tsrt(['exec', '-p', file, id, 'echo', 'ignored']);
  assert.equal(r.stdout, 'fromfile:/etc:12:34:sh\n', show(r));
  // Everything after the id is the command, flags included.
  r = sb.tsrt(['exec', id, 'ls', '-la', '/']);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^d[rwx-]{9}\s.*\sbin$/m, show(r));
  r = sb.tsrt(['exec', id, 'echo', '--cwd', '/nowhere', '-t', '--detach']);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, '--cwd /nowhere -t --detach\n');
});

test('exec --preserve-fds 1: tsrt\'s fd 3 is open in the process, and only then', (t) => {
  const sb = new Sandbox(t);
  const { id } = runDetached(sb);
  const file = path.join(sb.dir, 'fd3.txt');
  fs.writeFileSync(file, 'the content of fd 3\n');
  const probe = ['sh', '-c', 'if [ -e /proc/$$/fd/3 ]; then cat <&3; else echo closed; fi; [ -e /proc/$$/fd/4 ] && echo fd4-open; true'];
  const withFd = (args) => {
    const fd = fs.openSync(file, 'r');
    try {
      return sb.tsrt(args, { extraFds: [fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
  };
  let r = withFd(['exec', '--preserve-fds', '1', id, ...probe]);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'the content of fd 3\n', 'fd 3 passed, fd 4 not');
  r = withFd(['exec', id, ...probe]);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'closed\n', 'without --preserve-fds, nothing past stdio');
});

/** Host directories of pid's cgroups: [{controllers, dir}] (v1 hierarchies and v2). */
function cgroupDirs(pid) {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => {
    const [pre, post] = l.split(' - ');
    const f = pre.split(' ');
    const [type, , opts] = post.split(' ');
    return { root: f[3], mp: f[4], type, opts: opts.split(',') };
  }).filter((m) => (m.type === 'cgroup' || m.type === 'cgroup2') && m.mp.startsWith('/sys/fs/cgroup'));
  const out = [];
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean)) {
    const [, ctrls, p] = line.split(':');
    const m = ctrls === '' ? mounts.find((x) => x.type === 'cgroup2')
      : mounts.find((x) => x.type === 'cgroup' && ctrls.split(',').every((c) => x.opts.includes(c)));
    if (m) out.push({ controllers: ctrls, dir: path.join(m.mp, path.relative(m.root, p)) });
  }
  return out;
}

test('exec --cgroup: a sub-cgroup of the container for every controller, or for the ones named', async (t) => {
  const sb = new Sandbox(t);
  const { id, pid } = runDetached(sb);
  if (fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8') === fs.readFileSync('/proc/self/cgroup', 'utf8')) {
    return t.skip('the container has no cgroup of its own here');
  }
  const dirs = cgroupDirs(pid);
  const sub = `sub-${process.pid}`;
  const made = [];
  t.after(async () => {
    for (const d of made.reverse()) {
      for (let i = 0; i < 50; i++) {
        try { fs.rmdirSync(d); break; } catch { await sleep(20); }
      }
    }
  });
  for (const { controllers, dir } of dirs) {
    const d = path.join(dir, sub);
    fs.mkdirSync(d);
    made.push(d);
    // A v1 cpuset cgroup takes no task before it has cpus and mems. (On v2 the sub-cgroup
    // has no controller files: its parent holds the init, so it enables none for it.)
    if (!controllers.split(',').includes('cpuset')) continue;
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (!fs.readFileSync(path.join(d, f), 'utf8').trim()) fs.writeFileSync(path.join(d, f), fs.readFileSync(path.join(dir, f)));
    }
  }
  const init = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean);
  let r = sb.tsrt(['exec', '--cgroup', sub, id, 'cat', '/proc/self/cgroup']);
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.split('\n').filter(Boolean), init.map((l) => `${l}/${sub}`), 'every controller');
  const named = dirs.find((d) => d.controllers && !d.controllers.includes(','))?.controllers;
  if (named) {
    r = sb.tsrt(['exec', '--cgroup', `${named}:${sub}`, id, 'cat', '/proc/self/cgroup']);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), init.map((l) => (l.split(':')[1] === named ? `${l}/${sub}` : l)), `only ${named}`);
  }
  // "/" is the container's own cgroup, for all controllers or a named one (runc's rule).
  const top = named ? ['/', `${named}:/`] : ['/'];
  for (const arg of top) {
    r = sb.tsrt(['exec', '--cgroup', arg, id, 'cat', '/proc/self/cgroup']);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.split('\n').filter(Boolean), init, `--cgroup ${arg}: the container's cgroup`);
  }
  for (const bad of ['../..', 'no-such-sub-cgroup', 'no-such-controller:x']) {
    r = sb.tsrt(['exec', '--cgroup', bad, id, 'true']);
    assert.equal(r.status, 255, show(r));
  }
});

test('exec --tty --console-socket: one fd, the container\'s own pty; consoleSize; detached with a pid file', async (t) => {
  const sb = new Sandbox(t);
  const { id } = runDetached(sb);
  // Foreground, with a process file asking for a size.
  const rx = await ConsoleReceiver.start(sb);
  t.after(() => rx.stop());
  const file = path.join(sb.dir, 'tty-process.json');
  fs.writeFileSync(file, JSON.stringify({
    terminal: true, consoleSize: { height: 12, width: 34 }, args: ['sh', '-c', 'tty; stty size; exit 6'],
    env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 },
  }));
  const r = sb.tsrt(['exec', '--console-socket', rx.path, '--process', file, id]);
  assert.equal(r.status, 6, show(r));
  const info = await rx.received();
  assert.deepEqual([info.messages, info.fds, info.names, info.major], [1, 1, ['/dev/ptmx'], 5], JSON.stringify(info));
  const out = (await rx.waitOutput(/\d+ \d+/)).split(/\r?\n/);
  assert.match(out[0], /^\/dev\/pts\/\d+$/);
  assert.equal(out[1], '12 34');

  // Detached, containerd's shape: -d -t --console-socket --pid-file.
  const rx2 = await ConsoleReceiver.start(sb);
  t.after(() => rx2.stop());
  const pidFile = path.join(sb.dir, 'exec-tty.pid');
  const d = sb.tsrt(['exec', '-d', '-t', '--console-socket', rx2.path, '--pid-file', pidFile, id, 'sh', '-c', 'echo "ready $(tty)"; read x; echo "got $x"']);
  assert.equal(d.status, 0, show(d));
  const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
  assert.deepEqual([(await rx2.received()).fds, (await rx2.received()).messages], [1, 1]);
  const ready = /ready (\/dev\/pts\/(\d+))/.exec(await rx2.waitOutput(/ready \/dev\/pts\/\d+/));
  // The pty is one of the container's devpts: visible in its /dev/pts.
  const ls = sb.ok(['exec', id, 'ls', '/dev/pts']).stdout.split(/\s+/);
  assert.ok(ls.includes(ready[2]) && ls.includes('ptmx'), `${ready[1]} in the container's /dev/pts: ${ls.join(' ')}`);
  assert.equal(fs.readlinkSync(`/proc/${pid}/fd/0`), ready[1]);
  rx2.type('typed\n');
  await rx2.waitOutput(/got typed/);
  assert.ok(await sb.waitDead(pid));
  await rx2.hangup();
});

test('exec: the same answers as runc on the same bundle where the spec is silent', { skip: spawnSync('runc', ['--version']).status !== 0 && 'runc is not installed' }, async (t) => {
  const sb = new Sandbox(t);
  const { id, b } = runDetached(sb);
  const runcRoot = path.join(sb.dir, 'runc-state');
  const rid = sb.id('runc');
  const runc = (args, opts = {}) => spawnSync('runc', ['--root', runcRoot, ...args], { encoding: 'utf8', timeout: 30_000, ...opts });
  // runc's state (and so its cgroups) must go before the sandbox's cleanup removes its dir.
  try {
    await compareWithRunc(sb, b.dir, id, rid, runc);
  } finally {
    runc(['delete', '--force', rid]);
  }
});

/** Runs a runc container rid on bundle and compares exec's answers with tsrt's container id. */
async function compareWithRunc(sb, bundle, id, rid, runc) {
  const started = runc(['run', '-d', '--bundle', bundle, rid], { stdio: ['ignore', 'ignore', 'pipe'] });
  assert.equal(started.status, 0, `runc run -d: ${started.stderr}`);
  sb.track(JSON.parse(runc(['state', rid]).stdout).pid);
  const file = path.join(sb.dir, 'p.json');
  fs.writeFileSync(file, JSON.stringify({ args: ['echo', 'fromfile'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }));
  const sock = path.join(sb.dir, 'nobody.sock');
  const cases = [
    [['-t', '-d'], ['sh']], // a terminal nobody would hold
    [['--console-socket', sock], ['true']], // a socket without a terminal
    [[], []], // no command
    [['--user', 'abc'], ['true']],
    [['--env', 'NOEQUALS'], ['true']],
    [['--cwd', '/nonexistent'], ['true']],
    [[], ['/nonexistent']],
    [['--process', file], ['echo', 'ignored']], // the file wins
    [[], ['sh', '-c', 'echo out; echo err >&2; exit 7']],
    [['--cap', 'CAP_SYS_ADMIN'], ['grep', '^Cap', '/proc/self/status']],
    [['--user', '1000', '-g', '5'], ['id']],
    [[], ['id']],
    [['--apparmor', 'no-such-profile'], ['true']],
    [['--process-label', 'system_u:system_r:no_such_t:s0'], ['true']],
  ];
  for (const [flags, cmd] of cases) {
    const ours = sb.tsrt(['exec', ...flags, id, ...cmd]);
    const theirs = runc(['exec', ...flags, rid, ...cmd]);
    const what = `exec ${[...flags, 'ID', ...cmd].join(' ')}\ntsrt: ${ours.status} ${ours.stdout} ${ours.stderr}\nrunc: ${theirs.status} ${theirs.stdout} ${theirs.stderr}`;
    assert.equal(ours.status, theirs.status, what);
    assert.equal(ours.stdout, theirs.stdout, what);
    if (theirs.status === 0 || theirs.status === 7) assert.equal(ours.stderr, theirs.stderr, what);
  }
  // A stopped container.
  sb.ok(['kill', id, 'KILL']);
  runc(['kill', rid, 'KILL']);
  await sb.waitStatus(id, 'stopped');
  await waitUntil(() => JSON.parse(runc(['state', rid]).stdout).status === 'stopped', 20_000, 'runc container did not stop');
  const ours = sb.tsrt(['exec', id, 'true']);
  const theirs = runc(['exec', rid, 'true']);
  assert.equal(ours.status, theirs.status, `${ours.stderr} / ${theirs.stderr}`);
}
