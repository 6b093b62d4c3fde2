// `tsrt run` of the busybox bundle: what the container sees (hostname, pid 1, its own
// /proc and mounts), exit codes, stdio pass-through, and that nothing is left on the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, hostMounts, mountChanges, mountPoint, mountsMentioning, show, waitUntil, OTHER_RUNTIME, ROOTFS } from './helpers/tsrt.mjs';

/** A bundle whose process runs `args`; runs it in the foreground; returns the result. */
function runWith(sb, args, patch) {
  const b = sb.bundle({
    patch: (c) => {
      c.process.args = args;
      if (patch) patch(c);
    },
  });
  const id = sb.id('run');
  const r = sb.tsrt(['run', '--bundle', b.dir, id]);
  return { r, id, b };
}

test('run: hostname, pid 1 and the exit status of the container process', (t) => {
  const sb = new Sandbox(t);
  const { r, id } = runWith(sb, ['sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" "|"; echo; echo "me=$$"']);
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'tsrt', 'configured hostname');
  assert.equal(lines[1], 'sh|-c|hostname; cat /proc/1/cmdline | tr "\\0" "|"; echo; echo "me=$$"|', 'pid 1 is the configured process');
  assert.equal(lines[2], 'me=1', 'the shell is pid 1');
  assert.equal(r.stderr, '');
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'foreground run removes the state dir');
});

test('run: /proc lists only the container\'s own processes', (t) => {
  const sb = new Sandbox(t);
  // ls is pid 1 and the only process of the new PID namespace.
  const { r } = runWith(sb, ['ls', '/proc']);
  assert.equal(r.status, 0, show(r));
  const pids = r.stdout.split(/\s+/).filter((w) => /^\d+$/.test(w));
  assert.deepEqual(pids, ['1'], `numeric entries of /proc: ${pids.join(' ')}`);
  // A shell with one child: exactly two pids, 1 (the shell) and the `ls`.
  const two = runWith(sb, ['sh', '-c', 'ls /proc; true']).r;
  assert.equal(two.status, 0, show(two));
  const both = two.stdout.split(/\s+/).filter((w) => /^\d+$/.test(w));
  assert.equal(both.length, 2, both.join(' '));
  assert.equal(both[0], '1');
});

test('run: the container has its own mounts and the host\'s mount table is unchanged', (t) => {
  const sb = new Sandbox(t);
  const before = hostMounts();
  const { r, b } = runWith(sb, ['cat', '/proc/self/mountinfo']);
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n').filter(Boolean);
  const points = lines.map(mountPoint);
  for (const dest of ['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']) {
    assert.ok(points.includes(dest), `${dest} mounted inside: ${points.join(' ')}`);
  }
  const byPoint = (p) => lines.find((l) => mountPoint(l) === p).split(' - ')[1].split(' ')[0];
  assert.equal(byPoint('/proc'), 'proc');
  assert.equal(byPoint('/dev'), 'tmpfs');
  assert.equal(byPoint('/dev/pts'), 'devpts');
  assert.equal(byPoint('/dev/shm'), 'tmpfs');
  assert.equal(byPoint('/dev/mqueue'), 'mqueue');
  assert.equal(byPoint('/sys'), 'sysfs');
  // The root is the bundle's rootfs, read-only (root.readonly).
  const rootLine = lines.find((l) => mountPoint(l) === '/');
  assert.equal(rootLine.split(' ')[3], ROOTFS, `root of / is the rootfs: ${rootLine}`);
  assert.match(rootLine.split(' ')[5], /(^|,)ro(,|$)/, `/ is read-only: ${rootLine}`);
  // Nothing of the host's tree is visible: every mount point is under a configured
  // destination or one of the masked / read-only paths.
  const allowed = ['/proc', '/dev', '/sys'];
  for (const p of points) {
    assert.ok(p === '/' || allowed.some((a) => p === a || p.startsWith(a + '/')), `unexpected mount point ${p} inside the container`);
  }
  assert.ok(!points.some((p) => p.startsWith('/work') || p.startsWith('/tmp')), 'no host mount points');
  // The host is unchanged.
  const { added, removed } = mountChanges(before, sb.dir);
  assert.deepEqual(added, [], 'no mount added on the host');
  assert.deepEqual(removed, [], 'no mount removed from the host');
  assert.deepEqual(mountsMentioning(ROOTFS), [], 'no host mount of the rootfs');
  assert.deepEqual(mountsMentioning(b.dir), []);
});

test('run: exit 7 gives exit code 7', (t) => {
  const sb = new Sandbox(t);
  const { r } = runWith(sb, ['sh', '-c', 'exit 7']);
  assert.equal(r.status, 7, show(r));
  assert.equal(r.signal, null);
});

test('run: a container process killed by SIGKILL gives 137', (t) => {
  const sb = new Sandbox(t);
  // The init of a PID namespace cannot be killed from inside it (the kernel drops the
  // signal), so the self-kill runs without a PID namespace of its own, as with runc.
  const { r } = runWith(sb, ['sh', '-c', 'kill -KILL $$; echo survived'], (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid');
  });
  assert.equal(r.status, 137, show(r));
  assert.equal(r.stdout, '', 'the shell died before it could print');
});

test('run: SIGKILL of the init from the host gives 137', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('run');
  const pidFile = path.join(sb.dir, 'run.pid');
  const running = sb.tsrtAsync(['run', '--bundle', b.dir, '--pid-file', pidFile, id]);
  await waitUntil(() => fs.existsSync(pidFile), 20_000, 'run to write its pid file');
  const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
  // The pid file is written at create, before start lets the init exec its command (as
  // runc): on a slow machine the pid is still a copy of tsrt for a while.
  await waitUntil(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x001000\x00', 20_000, 'the init to exec sleep 1000');
  process.kill(pid, 'SIGKILL');
  const r = await running;
  assert.equal(r.status, 137, show(r));
  assert.ok(!fs.existsSync(sb.stateDir(id)));
});

test('run: a positional bundle path (containing /) generates an id and works', { skip: OTHER_RUNTIME && 'a tsrt extension' }, async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', 'echo generated; hostname']; } });
  // Relative to the working directory, with a trailing slash, as in `tsrt run bundle/`.
  const rel = path.relative(sb.dir, b.dir) + '/';
  const r = sb.tsrt(['run', rel], { cwd: sb.dir });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'generated\ntsrt\n');
  // Detached, the generated id is visible in `list`; it is not the path.
  const b2 = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const d = sb.tsrt(['run', '--detach', b2.dir + '/'], { cwd: sb.dir });
  assert.equal(d.status, 0, show(d));
  const list = JSON.parse(sb.ok(['list', '--format', 'json']).stdout);
  assert.equal(list.length, 1, JSON.stringify(list));
  const [c] = list;
  sb.ids.add(c.id);
  sb.track(c.pid);
  assert.ok(c.id.length > 0 && !c.id.includes('/'), `generated id ${c.id}`);
  assert.equal(c.status, 'running');
  assert.equal(c.bundle, b2.dir);
  assert.equal(fs.readFileSync(`/proc/${c.pid}/cmdline`, 'utf8'), 'sleep\x001000\x00');
  sb.ok(['delete', '--force', c.id]);
  assert.ok(!fs.existsSync(sb.stateDir(c.id)));
  assert.ok(await sb.waitDead(c.pid), 'the detached container is gone after delete --force');
});

test('run: stdin, stdout and stderr pass through untouched', (t) => {
  const sb = new Sandbox(t);
  const text = 'line one\n\tline two with trailing spaces   \n\u00e9\u00e8 bytes\nno newline at the end';
  const b = sb.bundle({ patch: (c) => { c.process.args = ['cat']; } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('cat')], { input: text });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, text, 'stdin came back on stdout byte for byte');
  assert.equal(r.stderr, '');

  const split = runWith(sb, ['sh', '-c', 'echo to-out; echo to-err >&2; printf "no-nl"; printf "err-no-nl" >&2']).r;
  assert.equal(split.status, 0, show(split));
  assert.equal(split.stdout, 'to-out\nno-nl');
  assert.equal(split.stderr, 'to-err\nerr-no-nl');
});

test('run: a non-root process.user runs (and can still be started through the exec fifo)', (t) => {
  const sb = new Sandbox(t);
  const { r, id } = runWith(sb, ['sh', '-c', 'id -u; id -g; echo done'], (c) => {
    c.process.user = { uid: 1000, gid: 1000 };
  });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, '1000\n1000\ndone\n');
  assert.ok(!fs.existsSync(sb.stateDir(id)));
});

test('run: the container process starts with every signal at its default, none blocked (node ignores SIGPIPE and SIGXFSZ)', (t) => {
  const sb = new Sandbox(t);
  // cat installs no handler of its own: what it shows is what it was given.
  const { r } = runWith(sb, ['cat', '/proc/self/status']);
  assert.equal(r.status, 0, show(r));
  const field = (name) => new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(r.stdout)?.[1];
  for (const name of ['SigIgn', 'SigBlk', 'SigCgt']) assert.equal(field(name), '0000000000000000', `${name} in the container`);
  const own = new RegExp('^SigIgn:\\s*([0-9a-f]+)$', 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
  assert.notEqual(own, '0000000000000000', 'the test itself (node) ignores some signals, as tsrt does');
});
