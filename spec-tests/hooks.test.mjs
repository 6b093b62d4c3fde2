// OCI hooks through the real lifecycle: which command runs each kind, in which order,
// with which state on stdin, in which mount namespace, and what a failing or hanging
// hook does to the container.
//
// Every hook appends "<kind> <status> <pid> <id> <mnt ns> <hostname>" to one log file;
// the test appends "== <step>" after each tsrt command returns, so the log shows which
// command ran which hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, cgroupDirsOf, hostMounts, mountChanges, nsLink, processesWithCmdline, show, waitUntil, writeScript } from './helpers/tsrt.mjs';

const HOST_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The body of a recording hook: reads the state JSON from stdin, appends one line to $2. */
const RECORD = `kind=$1; log=$2
state=$(cat)
status=$(printf '%s' "$state" | sed -n 's/.*"status" *: *"\\([^"]*\\)".*/\\1/p')
pid=$(printf '%s' "$state" | sed -n 's/.*"pid" *: *\\([0-9]*\\).*/\\1/p')
id=$(printf '%s' "$state" | sed -n 's/.*"id" *: *"\\([^"]*\\)".*/\\1/p')
echo "$kind $status $pid $id $(readlink /proc/self/ns/mnt) $(hostname)" >> "$log"
[ -z "$3" ] || exit "$3"`;

/**
 * A sandbox with a copied rootfs holding /hook.sh (for startContainer, which runs inside
 * the container), a host copy of the same script, and a log dir bind-mounted at /hooklog.
 */
function hookBundle(sb, { hooks, args = ['sleep', '1000'], patch } = {}) {
  const logDir = sb.mkdir('hooklog', 0o777);
  const log = path.join(logDir, 'log');
  fs.writeFileSync(log, '');
  const hostScript = writeScript(path.join(sb.dir, 'record-hook.sh'), RECORD);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    writeScript(path.join(rootfs, 'hook.sh'), RECORD);
    c.process.args = args;
    c.mounts.push({ destination: '/hooklog', type: 'bind', source: logDir, options: ['rbind', 'rw'] });
    const h = (kind, extra = {}) => ({ path: hostScript, args: ['record-hook.sh', kind, log], env: [HOST_PATH], ...extra });
    const inside = (kind, extra = {}) => ({ path: '/hook.sh', args: ['hook.sh', kind, '/hooklog/log'], env: ['PATH=/bin:/sbin:/usr/bin'], ...extra });
    c.hooks = hooks ? hooks({ h, inside, hostScript, log }) : {
      prestart: [h('prestart')],
      createRuntime: [h('createRuntime')],
      createContainer: [h('createContainer')],
      startContainer: [inside('startContainer')],
      poststart: [h('poststart')],
      poststop: [h('poststop')],
    };
    if (patch) patch(c);
  } });
  const mark = (text) => fs.appendFileSync(log, `== ${text}\n`);
  const lines = () => fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { b, log, mark, lines };
}

/** Waits until the init has exec'ed the container process (its cmdline is `args`). */
async function waitExec(pid, args, limitMs = 20_000) {
  const want = args.map((a) => `${a}\0`).join('');
  let got = '';
  await waitUntil(() => {
    try { got = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { got = ''; /* gone */ }
    return got === want;
  }, limitMs, () => `pid ${pid} to exec ${args.join(' ')} (cmdline ${JSON.stringify(got)})`);
}

test('hooks: each kind runs in its command, in order, with the right state and namespace', async (t) => {
  const sb = new Sandbox(t);
  const { b, mark, lines } = hookBundle(sb);
  const id = sb.id('hooks');
  const { pid } = sb.create(id, b.dir);
  mark('created');
  const containerMnt = nsLink(pid, 'mnt');
  const hostMnt = nsLink('self', 'mnt');
  const hostName = fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
  assert.notEqual(containerMnt, hostMnt);

  sb.ok(['start', id]);
  await waitExec(pid, ['sleep', '1000']); // the startContainer hook ran before the exec
  mark('started');
  sb.ok(['kill', id, 'KILL']);
  await sb.waitStatus(id, 'stopped');
  mark('stopped');
  sb.ok(['delete', id]);
  mark('deleted');

  const got = lines().map((l) => l.split(' '));
  const at = (kind) => got.findIndex((f) => f[0] === kind);
  const line = (kind) => got[at(kind)];
  // Sequence: every kind exactly once, each in its command. startContainer (in the init,
  // after start released it) and poststart (in `start`) may interleave, as with runc.
  const order = got.map((f) => f[0]).filter((k) => k !== '==');
  assert.deepEqual([...order.slice(0, 3), '*', '*', order[5]], ['prestart', 'createRuntime', 'createContainer', '*', '*', 'poststop'], order.join(' '));
  assert.deepEqual(order.slice(3, 5).sort(), ['poststart', 'startContainer'], order.join(' '));
  for (const kind of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']) {
    assert.equal(got.filter((f) => f[0] === kind).length, 1, `${kind} ran once:\n${lines().join('\n')}`);
  }
  const marker = (m) => got.findIndex((f) => f[0] === '==' && f[1] === m);
  const during = (kind, after, before) => {
    assert.ok(at(kind) > (after ? marker(after) : -1) && at(kind) < marker(before), `${kind} ran between ${after ?? 'the beginning'} and ${before}:\n${lines().join('\n')}`);
  };
  during('prestart', undefined, 'created');
  during('createRuntime', undefined, 'created');
  during('createContainer', undefined, 'created');
  during('startContainer', 'created', 'started');
  during('poststart', 'created', 'started');
  during('poststop', 'stopped', 'deleted');
  assert.ok(at('prestart') < at('createRuntime') && at('createRuntime') < at('createContainer'), 'prestart, createRuntime, createContainer in that order');

  // Fields: kind status pid id mnt hostname
  assert.deepEqual(line('prestart').slice(1, 6), ['creating', String(pid), id, hostMnt, hostName]);
  assert.deepEqual(line('createRuntime').slice(1, 6), ['creating', String(pid), id, hostMnt, hostName]);
  // createContainer: in the container's mount namespace (still seeing host paths: it
  // wrote to the host's log file). startContainer: inside the container (its mount
  // namespace and hostname). Their pid is the host's, or 1 where the hook also runs in
  // the container's PID namespace (runc): the spec leaves which one open.
  const pidOk = (p) => p === String(pid) || p === '1';
  const cc = line('createContainer');
  assert.ok(pidOk(cc[2]), `createContainer pid ${cc[2]}`);
  assert.deepEqual([cc[1], cc[3], cc[4]], ['creating', id, containerMnt]);
  const sc = line('startContainer');
  assert.ok(pidOk(sc[2]), `startContainer pid ${sc[2]}`);
  assert.deepEqual([sc[1], sc[3], sc[4], sc[5]], ['created', id, containerMnt, 'tsrt']);
  assert.deepEqual(line('poststart').slice(1, 6), ['running', String(pid), id, hostMnt, hostName]);
  assert.deepEqual([line('poststop')[1], line('poststop')[3], line('poststop')[4]], ['stopped', id, hostMnt]);
});

test('hooks: run (create + start + delete in one command) runs every kind once', (t) => {
  const sb = new Sandbox(t);
  const { b, lines } = hookBundle(sb, { args: ['true'] });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('hookrun')]);
  assert.equal(r.status, 0, show(r));
  const kinds = lines().map((l) => l.split(' ')[0]);
  for (const kind of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']) {
    assert.equal(kinds.filter((k) => k === kind).length, 1, `${kind} once: ${kinds.join(' ')}`);
  }
  assert.equal(kinds.at(-1), 'poststop', 'poststop last');
  assert.deepEqual(kinds.slice(0, 3), ['prestart', 'createRuntime', 'createContainer']);
});

test('hooks: a failing poststart makes start fail and the container ends stopped', async (t) => {
  const sb = new Sandbox(t);
  const { b, lines } = hookBundle(sb, { hooks: ({ h, log }) => ({
    poststart: [{ ...h('poststart'), args: ['record-hook.sh', 'poststart', log, '3'] }],
  }) });
  const id = sb.id('poststart-fail');
  const { pid } = sb.create(id, b.dir);
  const r = sb.tsrt(['start', id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /poststart/);
  assert.match(r.stderr, /status 3/);
  assert.deepEqual(lines().map((l) => l.split(' ')[0]), ['poststart'], 'the hook did run');
  await sb.waitStatus(id, 'stopped');
  assert.ok(await sb.waitDead(pid));
  sb.ok(['delete', id]);
});

test('hooks: a failing poststop only warns; delete succeeds', (t) => {
  const sb = new Sandbox(t);
  const { b, lines } = hookBundle(sb, { hooks: ({ h, log }) => ({
    poststop: [
      { ...h('poststop'), args: ['record-hook.sh', 'poststop-fails', log, '4'] },
      h('poststop'), // every poststop hook runs even after one failed
    ],
  }) });
  const id = sb.id('poststop-fail');
  sb.create(id, b.dir);
  sb.ok(['start', id]);
  sb.ok(['kill', id, 'KILL']);
  const r = sb.tsrt(['delete', '--force', id]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stderr, /status 4/, 'the failure is reported');
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'state dir removed');
  assert.deepEqual(lines().map((l) => l.split(' ')[0]), ['poststop-fails', 'poststop']);
});

test('hooks: a failing prestart makes create fail and leaves nothing', (t) => {
  const sb = new Sandbox(t);
  const { b, lines } = hookBundle(sb, { hooks: ({ h, log }) => ({
    prestart: [{ ...h('prestart'), args: ['record-hook.sh', 'prestart', log, '5'] }],
    createRuntime: [h('createRuntime')],
    poststop: [h('poststop')],
  }) });
  const before = hostMounts();
  const id = sb.id('prestart-fail');
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /prestart/);
  assert.match(r.stderr, /status 5/);
  assert.equal(lines()[0].split(' ')[0], 'prestart');
  assert.ok(!lines().some((l) => l.startsWith('createRuntime')), 'no hook after the failing one');
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'no state dir');
  assert.deepEqual(processesWithCmdline(sb.dir), [], 'no init left');
  assert.deepEqual(mountChanges(before, sb.dir), { added: [], removed: [] });
  assert.deepEqual(cgroupDirsOf(id), [], 'no cgroup left');
});

for (const kind of ['prestart', 'createRuntime', 'createContainer']) {
  test(`hooks: a ${kind} hook that outlives its timeout fails create and is killed`, async (t) => {
    const sb = new Sandbox(t);
    const pidFile = path.join(sb.dir, 'hook.pid');
    const hang = writeScript(path.join(sb.dir, 'hang.sh'), `echo $$ > ${pidFile}\nexec sleep 1000`);
    const { b } = hookBundle(sb, { hooks: () => ({ [kind]: [{ path: hang, args: ['hang.sh'], timeout: 1 }] }) });
    const id = sb.id('timeout');
    const r = sb.tsrt(['create', '--bundle', b.dir, id]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, new RegExp(kind));
    assert.match(r.stderr, /timed out/);
    const hookPid = Number(fs.readFileSync(pidFile, 'utf8'));
    sb.track(hookPid);
    assert.ok(await sb.waitDead(hookPid), 'the hanging hook was killed');
    assert.ok(!fs.existsSync(sb.stateDir(id)));
    assert.deepEqual(processesWithCmdline(sb.dir), [], 'no init left');
  });
}

test('hooks: a startContainer hook that fails stops the container before its process runs', async (t) => {
  const sb = new Sandbox(t);
  const { b, lines } = hookBundle(sb, {
    args: ['sh', '-c', 'echo process-ran >> /hooklog/log; exec sleep 1000'],
    hooks: ({ inside }) => ({ startContainer: [inside('startContainer', { args: ['hook.sh', 'startContainer', '/hooklog/log', '6'] })] }),
  });
  const id = sb.id('startc-fail');
  const { pid } = sb.create(id, b.dir);
  sb.tsrt(['start', id]); // the hook runs in the init after start has released it
  await sb.waitStatus(id, 'stopped');
  assert.ok(await sb.waitDead(pid));
  assert.deepEqual(lines().map((l) => l.split(' ')[0]), ['startContainer'], 'the hook ran, the process did not');
  sb.ok(['delete', id]);
});

test('hooks: hooks get exactly their args and env', (t) => {
  const sb = new Sandbox(t);
  const out = path.join(sb.dir, 'argv-env');
  const script = writeScript(path.join(sb.dir, 'argv.sh'), `{ printf '%s\\n' "$@"; echo --; env | sort; } > ${out}`);
  const b = sb.bundle({ patch: (c) => {
    c.process.args = ['true'];
    c.hooks = { prestart: [{ path: script, args: ['argv.sh', 'one', 'two words'], env: ['HOOK_A=1', 'HOOK_B=two=2'] }] };
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('argv')]);
  assert.equal(r.status, 0, show(r));
  const [argv, env] = fs.readFileSync(out, 'utf8').split('--\n');
  assert.equal(argv, 'one\ntwo words\n');
  const vars = env.split('\n').filter(Boolean).filter((l) => !/^(PWD|SHLVL|_|OLDPWD)=/.test(l));
  assert.deepEqual(vars, ['HOOK_A=1', 'HOOK_B=two=2']);
});
