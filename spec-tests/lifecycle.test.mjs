// The lifecycle commands as containerd / podman / runtime-tools drive them: create (with
// a pid file), start, state, kill (every signal spelling), delete, list, and the error
// messages and exit statuses callers match on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, cgroupDirsOf, hostMounts, isAlive, mountChanges, mountsMentioning, show, waitUntil } from './helpers/tsrt.mjs';

const sleeper = (c) => { c.process.args = ['sleep', '1000']; };

/** Waits until `file` contains `text` (output of a started container). */
async function waitForOutput(file, text, limitMs = 20_000) {
  let got = '';
  await waitUntil(() => (got = fs.readFileSync(file, 'utf8')).includes(text), limitMs, () => `${file} to contain ${JSON.stringify(text)}: ${JSON.stringify(got)}`);
  return got;
}

/** Whether the process has a handler installed for signal n (SigCgt in /proc/PID/status). */
function catches(pid, n) {
  const m = /^SigCgt:\s+([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return !!m && ((BigInt(`0x${m[1]}`) >> BigInt(n - 1)) & 1n) === 1n;
}

test('lifecycle: create, state, start, kill, delete', async (t) => {
  const sb = new Sandbox(t);
  const mountsBefore = hostMounts();
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', 'echo started; exec sleep 1000']; } });
  const id = sb.id('life');
  const { pid, pidFile, create } = sb.create(id, b.dir);

  // pid file: the decimal pid, nothing else (containerd parses it strictly).
  const bytes = fs.readFileSync(pidFile);
  assert.match(bytes.toString('latin1'), /^[1-9]\d*$/, `pid file bytes ${JSON.stringify(bytes.toString('latin1'))}`);
  assert.ok(isAlive(pid), 'the init exists after create');
  const cgroups = cgroupDirsOf(id);
  assert.ok(cgroups.length > 0, 'the container has cgroups named after its id');
  for (const d of cgroups) {
    assert.ok(fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)), `the init is in ${d}`);
  }

  // created: the state JSON with the init's pid; the process has not run yet.
  const st = sb.state(id);
  assert.equal(st.status, 'created');
  assert.equal(st.pid, pid);
  assert.equal(st.id, id);
  assert.equal(st.bundle, b.dir);
  assert.equal(st.rootfs, b.rootfs);
  assert.match(st.ociVersion, /^1\.\d+\.\d+/, 'the runtime-spec version the state follows');
  assert.match(st.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'created is RFC 3339');
  assert.equal(st.owner, '', JSON.stringify(st));
  assert.equal(fs.readFileSync(create.out, 'utf8'), '', 'nothing ran before start');
  assert.notEqual(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\x001000\x00');

  // start: running, and the process runs (its stdout is create's stdout).
  const start = sb.tsrt(['start', id]);
  assert.equal(start.status, 0, show(start));
  assert.equal(sb.state(id).status, 'running');
  assert.equal(await waitForOutput(create.out, 'started\n'), 'started\n');
  await waitUntil(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x001000\x00', 20_000, 'the init to exec sleep 1000');
  assert.equal(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'sleep\x001000\x00', 'the init execs the process after start');

  // start again: refused, still running.
  const again = sb.tsrt(['start', id]);
  assert.notEqual(again.status, 0, show(again));
  assert.equal(sb.state(id).status, 'running');

  // kill (default TERM is ignored by a pid-namespace init without a handler: use KILL).
  sb.ok(['kill', id, 'KILL']);
  const stopped = await sb.waitStatus(id, 'stopped');
  assert.equal(stopped.pid, 0, 'a stopped container reports pid 0');
  assert.ok(!isAlive(pid));

  // delete: nothing left.
  const del = sb.tsrt(['delete', id]);
  assert.equal(del.status, 0, show(del));
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'no state dir');
  assert.deepEqual(mountsMentioning(sb.dir), []);
  assert.deepEqual(mountChanges(mountsBefore, sb.dir), { added: [], removed: [] });
  assert.ok(!isAlive(pid), 'no process');
  assert.deepEqual(cgroupDirsOf(id), [], 'no cgroup left');
  const gone = sb.tsrt(['state', id]);
  assert.notEqual(gone.status, 0);
  assert.match(gone.stderr, /does not exist/);
});

for (const [label, sigArgs] of [['9', ['9']], ['KILL', ['KILL']], ['SIGKILL', ['SIGKILL']]]) {
  test(`lifecycle: kill ID ${label} stops the container`, async (t) => {
    const sb = new Sandbox(t);
    const b = sb.bundle({ patch: sleeper });
    const id = sb.id('kill');
    const { pid } = sb.create(id, b.dir);
    sb.ok(['start', id]);
    assert.equal(sb.state(id).status, 'running');
    const r = sb.tsrt(['kill', id, ...sigArgs]);
    assert.equal(r.status, 0, show(r));
    await sb.waitStatus(id, 'stopped');
    assert.ok(!isAlive(pid));
    sb.ok(['delete', id]);
    assert.ok(!fs.existsSync(sb.stateDir(id)));
  });
}

test('lifecycle: kill with no signal sends TERM', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    c.process.args = ['sh', '-c', 'trap "echo got-term; exit 3" TERM; echo ready; sleep 1000 & wait'];
  } });
  const id = sb.id('term');
  const { pid, create } = sb.create(id, b.dir);
  sb.ok(['start', id]);
  await waitForOutput(create.out, 'ready\n');
  // The shell prints "ready" after installing the trap.
  assert.ok(catches(pid, 15), 'the container shell handles SIGTERM');
  const r = sb.tsrt(['kill', id]);
  assert.equal(r.status, 0, show(r));
  await sb.waitStatus(id, 'stopped');
  assert.equal(await waitForOutput(create.out, 'got-term'), 'ready\ngot-term\n');
  sb.ok(['delete', id]);
});

test('lifecycle: kill of a stopped container fails, kill --all of it succeeds', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: sleeper });
  const id = sb.id('dead');
  const { pid } = sb.create(id, b.dir);
  sb.ok(['start', id]);
  process.kill(pid, 'SIGKILL');
  await sb.waitStatus(id, 'stopped');
  const r = sb.tsrt(['kill', id, 'KILL']);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /container not running/);
  const all = sb.tsrt(['kill', '--all', id, 'KILL']);
  assert.equal(all.status, 0, show(all));
  assert.equal(sb.state(id).status, 'stopped');
});

test('lifecycle: start of a container whose init died fails (and does not hang)', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: sleeper });
  const id = sb.id('died');
  const { pid } = sb.create(id, b.dir);
  process.kill(pid, 'SIGKILL');
  await sb.waitStatus(id, 'stopped');
  const r = sb.tsrt(['start', id]);
  assert.notEqual(r.status, 0, show(r));
  assert.ok(!r.timedOut, 'start returned');
  assert.match(r.stderr, /stopped/);
  sb.ok(['delete', id]);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
});

test('lifecycle: state and delete of an unknown id fail with "does not exist"', (t) => {
  const sb = new Sandbox(t);
  for (const cmd of [['state'], ['delete'], ['start'], ['kill']]) {
    const r = sb.tsrt([...cmd, 'no-such-container']);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /does not exist/, `${cmd.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
  // As runc: delete --force of an unknown id succeeds (podman and containerd send it
  // after a failed create).
  const forced = sb.tsrt(['delete', '--force', 'no-such-container']);
  assert.equal(forced.status, 0, show(forced));
  assert.equal(forced.stdout + forced.stderr, '');
});

test('lifecycle: delete of a running container needs --force', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: sleeper });
  const id = sb.id('force');
  const { pid } = sb.create(id, b.dir);
  sb.ok(['start', id]);
  const r = sb.tsrt(['delete', id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /running/);
  assert.equal(sb.state(id).status, 'running', 'still running after a refused delete');
  assert.ok(isAlive(pid));
  const f = sb.tsrt(['delete', '--force', id]);
  assert.equal(f.status, 0, show(f));
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  assert.ok(await sb.waitDead(pid), 'delete --force killed the init');
});

test('lifecycle: delete of a created (never started) container kills its init', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: sleeper });
  const id = sb.id('created-del');
  const { pid } = sb.create(id, b.dir);
  assert.equal(sb.state(id).status, 'created');
  const r = sb.tsrt(['delete', id]);
  assert.equal(r.status, 0, show(r));
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  assert.ok(await sb.waitDead(pid));
});

test('lifecycle: create with an id that exists fails and leaves the first alone', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: sleeper });
  const id = sb.id('dup');
  const { pid } = sb.create(id, b.dir);
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /already exists/);
  const st = sb.state(id);
  assert.equal(st.status, 'created');
  assert.equal(st.pid, pid);
  assert.ok(isAlive(pid));
});

test('lifecycle: list shows the containers with their status', (t) => {
  const sb = new Sandbox(t);
  const empty = sb.ok(['list', '--format', 'json']);
  assert.equal(empty.stdout, 'null\n', 'no containers: null, as runc prints it');
  const b = sb.bundle({ patch: sleeper });
  const created = sb.id('listc');
  const running = sb.id('listr');
  const c1 = sb.create(created, b.dir);
  const c2 = sb.create(running, b.dir);
  sb.ok(['start', running]);

  const json = JSON.parse(sb.ok(['list', '--format', 'json']).stdout);
  const byId = Object.fromEntries(json.map((s) => [s.id, s]));
  assert.deepEqual(Object.keys(byId).sort(), [created, running].sort());
  assert.equal(byId[created].status, 'created');
  assert.equal(byId[created].pid, c1.pid);
  assert.equal(byId[running].status, 'running');
  assert.equal(byId[running].pid, c2.pid);
  assert.equal(byId[running].bundle, b.dir);

  const table = sb.ok(['list']).stdout.split('\n').filter(Boolean);
  assert.deepEqual(table[0].split(/\s+/), ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']);
  const row = (id) => table.find((l) => l.split(/\s+/)[0] === id)?.split(/\s+/);
  assert.deepEqual(row(created)?.slice(0, 4), [created, String(c1.pid), 'created', b.dir]);
  assert.deepEqual(row(running)?.slice(0, 4), [running, String(c2.pid), 'running', b.dir]);

  const quiet = sb.ok(['list', '--quiet']).stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(quiet, [created, running].sort());
});

test('lifecycle: --log F --log-format json writes exactly one error line on failure', (t) => {
  const sb = new Sandbox(t);
  for (const [what, args] of [
    ['state of an unknown id', ['state', 'nope']],
    ['create of a bundle without config.json', ['create', '--bundle', sb.mkdir('empty'), sb.id('nocfg')]],
  ]) {
    const log = path.join(sb.dir, `log-${Math.random().toString(36).slice(2)}.json`);
    const r = sb.tsrt(['--log', log, '--log-format', 'json', ...args]);
    assert.notEqual(r.status, 0, show(r));
    const lines = fs.readFileSync(log, 'utf8').split('\n');
    assert.equal(lines.length, 2, `${what}: one line and the final newline: ${JSON.stringify(lines)}`);
    assert.equal(lines[1], '');
    const entry = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(entry).sort(), ['level', 'msg', 'time']);
    assert.equal(entry.level, 'error');
    assert.equal(typeof entry.msg, 'string');
    assert.ok(entry.msg.length > 0);
    assert.ok(!Number.isNaN(Date.parse(entry.time)), `time ${entry.time}`);
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    if (what.startsWith('state')) assert.match(entry.msg, /does not exist/);
    if (what.startsWith('create')) assert.match(entry.msg, /config\.json/);
  }
});
