// A create that fails (in the init half-way through its setup, or before it starts) says
// what failed and leaves nothing behind: no state dir, no process, no mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, cgroupDirsOf, hostMounts, mountChanges, mountsMentioning, processesUsing, processesWithCmdline, show } from './helpers/tsrt.mjs';

/**
 * Everything a failed create could leave: live processes (an init before execve still
 * has tsrt's command line, which names our temp dir; after execve its root or cwd is in
 * the bundle, or its command line has the unique argument), mounts under the temp dir
 * or the bundle, changes to the host's mount table, state dirs under --root and the
 * container's cgroups.
 */
function leftovers(sb, b, unique, mountsBefore, id) {
  const procs = new Set([
    ...processesWithCmdline(sb.dir),
    ...processesUsing(b.dir),
    ...processesUsing(b.rootfs),
    ...(unique ? processesWithCmdline(unique) : []),
  ]);
  let states = [];
  try {
    states = fs.readdirSync(sb.root);
  } catch {
    // no --root dir at all: nothing in it
  }
  return {
    processes: [...procs].map((pid) => {
      try { return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return `${pid}`; }
    }),
    mounts: [...mountsMentioning(sb.dir), ...mountsMentioning(b.rootfs)],
    hostMountChanges: mountChanges(mountsBefore, sb.dir),
    states,
    cgroups: id ? cgroupDirsOf(id) : [],
  };
}

const NOTHING = { processes: [], mounts: [], hostMountChanges: { added: [], removed: [] }, states: [], cgroups: [] };

function uniqueSleep() {
  return String(100000 + Math.floor(Math.random() * 800000));
}

test('failure-cleanup: a bind mount whose source is missing fails half-way and leaves nothing', (t) => {
  const sb = new Sandbox(t);
  const missing = path.join(sb.dir, 'no-such-source');
  const arg = uniqueSleep();
  const b = sb.bundle({ copyRootfs: true, patch: (c) => {
    c.process.args = ['sleep', arg];
    // mounts before the bad one are done by the time it fails (they must be undone too).
    c.mounts.push({ destination: '/data', type: 'bind', source: missing, options: ['rbind', 'ro'] });
  } });
  const index = b.config.mounts.length - 1;
  const before = hostMounts();
  const id = sb.id('badmount');
  const r = sb.tsrt(['create', '--bundle', b.dir, '--pid-file', path.join(sb.dir, 'pid'), id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, new RegExp(`mounts\\[${index}\\]`), `names the mount by index: ${r.stderr}`);
  assert.match(r.stderr, /\/data/, 'names the destination');
  assert.match(r.stderr, /ENOENT/, 'names the errno');
  assert.ok(!fs.existsSync(path.join(sb.dir, 'pid')), 'no pid file');
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'no state dir');
  assert.deepEqual(leftovers(sb, b, `sleep ${arg}`, before, id), NOTHING);
  // The id is free again.
  const again = sb.tsrt(['state', id]);
  assert.match(again.stderr, /does not exist/);
});

test('failure-cleanup: the same failure through run leaves nothing either', (t) => {
  const sb = new Sandbox(t);
  const arg = uniqueSleep();
  const b = sb.bundle({ copyRootfs: true, patch: (c) => {
    c.process.args = ['sleep', arg];
    c.mounts.push({ destination: '/data', type: 'bind', source: path.join(sb.dir, 'missing'), options: ['rbind'] });
  } });
  const before = hostMounts();
  const id = sb.id('badrun');
  const r = sb.tsrt(['run', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /mounts\[\d+\].*\/data.*ENOENT/);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  assert.deepEqual(leftovers(sb, b, `sleep ${arg}`, before, id), NOTHING);
});

test('failure-cleanup: an invalid config (empty process.args) is refused and leaves nothing', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c) => { c.process.args = []; } });
  const before = hostMounts();
  const id = sb.id('noargs');
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /process\.args: /);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  assert.deepEqual(leftovers(sb, b, undefined, before, id), NOTHING);
});

test('failure-cleanup: a missing executable is reported by name and leaves nothing', (t) => {
  const sb = new Sandbox(t);
  for (const exe of ['no-such-binary-xyz', '/bin/no-such-binary-xyz']) {
    const b = sb.bundle({ copyRootfs: true, patch: (c) => { c.process.args = [exe, 'arg']; } });
    const before = hostMounts();
    const id = sb.id('noexe');
    const r = sb.tsrt(['create', '--bundle', b.dir, id]);
    assert.notEqual(r.status, 0, show(r));
    assert.ok(r.stderr.includes(exe), `names ${exe}: ${r.stderr}`);
    assert.match(r.stderr, /not found|no such file/i);
    assert.ok(!fs.existsSync(sb.stateDir(id)));
    assert.deepEqual(leftovers(sb, b, undefined, before, id), NOTHING);
  }
});

test('failure-cleanup: a command not in PATH fails with "not found"', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c) => { c.process.args = ['no-such-binary-xyz']; } });
  const id = sb.id('notfound');
  const r = sb.tsrt(['run', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /no-such-binary-xyz/);
  assert.match(r.stderr, /not found/);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
});

test('failure-cleanup: a failed create frees the id for the next create', (t) => {
  const sb = new Sandbox(t);
  const bad = sb.bundle({ copyRootfs: true, patch: (c) => {
    c.mounts.push({ destination: '/data', type: 'bind', source: path.join(sb.dir, 'missing'), options: ['rbind'] });
  } });
  const good = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('reuse');
  assert.notEqual(sb.tsrt(['create', '--bundle', bad.dir, id]).status, 0);
  const { pid } = sb.create(id, good.dir);
  assert.equal(sb.state(id).status, 'created');
  assert.equal(sb.state(id).pid, pid);
});

// The init fails after `create` was told it is ready: its execve of a file that is
// executable but no program (ENOEXEC) comes after the wait for `start`.
const badProgram = (c, { rootfs }) => {
  fs.writeFileSync(path.join(rootfs, 'not-a-program'), 'garbage, no #! line\n', { mode: 0o755 });
  c.process.args = ['/not-a-program'];
};

test('failure-cleanup: run whose init dies after "ready" fails with the step\'s error (no hang)', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: badProgram });
  const before = hostMounts();
  const id = sb.id('lateinit');
  const r = sb.tsrt(['run', '--bundle', b.dir, id], { timeout: 30_000 });
  assert.ok(!r.timedOut, 'run returned');
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /not-a-program/);
  assert.match(r.stderr, /ENOEXEC/);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  assert.deepEqual(leftovers(sb, b, undefined, before, id), NOTHING);
});

test('failure-cleanup: start of a container whose init died after create fails (no hang)', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['true']; } });
  const id = sb.id('latestart');
  const { pid } = sb.create(id, b.dir);
  process.kill(pid, 'SIGKILL');
  const r = sb.tsrt(['start', id], { timeout: 30_000 });
  assert.ok(!r.timedOut, 'start returned');
  assert.notEqual(r.status, 0, show(r));
  assert.ok(await sb.waitDead(pid));
  assert.equal(sb.state(id).status, 'stopped');
  sb.ok(['delete', id]);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
});
