// The foreground around a container process: signals sent to tsrt reach the container's
// process (run and exec), `run --keep`, `run --no-subreaper`, `run -d`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Sandbox, TSRT, isAlive, show, waitUntil } from './helpers/tsrt.mjs';

// Exits 42 on SIGTERM and 43 on SIGINT; "ready" once the traps are set.
const TRAPPER = 'trap "exit 42" TERM; trap "exit 43" INT; echo ready; while :; do sleep 0.1; done';

/** Spawns `tsrt args` (stdout to a file), waits for "ready", signals that tsrt; returns the result. */
async function runAndSignal(sb, args, sig) {
  const { out, err } = sb.ioFiles();
  const outFd = fs.openSync(out, 'w');
  const errFd = fs.openSync(err, 'w');
  const child = spawn(TSRT, ['--root', sb.root, ...args], { stdio: ['ignore', outFd, errFd] });
  fs.closeSync(outFd);
  fs.closeSync(errFd);
  sb.track(child.pid);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await waitUntil(() => fs.readFileSync(out, 'utf8').includes('ready'), 20_000, () => `no "ready": ${fs.readFileSync(err, 'utf8')}`);
  process.kill(child.pid, sig);
  let timer;
  const r = await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(() => resolve({ timedOut: true }), 20_000); })]);
  clearTimeout(timer);
  if (r.timedOut) child.kill('SIGKILL');
  return { ...r, stderr: fs.readFileSync(err, 'utf8') };
}

test('foreground run: SIGTERM and SIGINT sent to tsrt reach the container process, tsrt exits with its code', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', TRAPPER]; } });
  for (const [sig, code] of [['SIGTERM', 42], ['SIGINT', 43]]) {
    const id = sb.id('sig');
    const r = await runAndSignal(sb, ['run', '--bundle', b.dir, id], sig);
    assert.deepEqual([r.code, r.signal], [code, null], `${sig}: ${JSON.stringify(r)}`);
    assert.ok(!fs.existsSync(sb.stateDir(id)));
  }
});

test('foreground exec: SIGTERM and SIGINT sent to tsrt reach the exec\'d process, tsrt exits with its code', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('execsig');
  sb.ids.add(id);
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  const init = sb.track(sb.state(id).pid);
  for (const [sig, code] of [['SIGTERM', 42], ['SIGINT', 43]]) {
    const r = await runAndSignal(sb, ['exec', id, 'sh', '-c', TRAPPER], sig);
    assert.deepEqual([r.code, r.signal], [code, null], `${sig}: ${JSON.stringify(r)}`);
  }
  assert.ok(isAlive(init), 'the container\'s init is untouched');
});

test('run --keep leaves the stopped container until delete', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', 'echo out; exit 3']; } });
  const id = sb.id('keep');
  const r = sb.tsrt(['run', '--keep', '--bundle', b.dir, id]);
  assert.equal(r.status, 3, show(r));
  assert.equal(r.stdout, 'out\n');
  const st = sb.state(id);
  assert.equal(st.status, 'stopped');
  assert.equal(st.pid, 0);
  assert.equal(JSON.parse(sb.ok(['list', '--format', 'json']).stdout).filter((c) => c.id === id).length, 1, 'listed');
  const again = sb.tsrt(['run', '--keep', '--bundle', b.dir, id]);
  assert.notEqual(again.status, 0, 'the id is still taken');
  sb.ok(['delete', id]);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  assert.notEqual(sb.tsrt(['state', id]).status, 0);
});

test('run: tsrt is a child subreaper for the container\'s orphans unless --no-subreaper', (t) => {
  const sb = new Sandbox(t);
  // No PID namespace: an orphan of the container goes to the nearest subreaper on the
  // host. The init's parent ($PPID) is tsrt.
  const b = sb.bundle({
    patch: (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid');
      c.process.args = ['sh', '-c', 'o=$(sh -c "sleep 2 >/dev/null 2>&1 & echo \\$!"); sleep 0.2; echo "tsrt=$PPID orphan-parent=$(sed -n "s/^PPid:\\t//p" /proc/$o/status)"; kill $o'];
    },
  });
  const parse = (r) => Object.fromEntries(r.stdout.trim().split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
  const withReaper = sb.tsrt(['run', '--bundle', b.dir, sb.id('reaper')]);
  assert.equal(withReaper.status, 0, show(withReaper));
  const a = parse(withReaper);
  assert.ok(a.tsrt > 1 && a['orphan-parent'] === a.tsrt, `the orphan is re-parented to tsrt: ${withReaper.stdout}`);
  const noReaper = sb.tsrt(['run', '--no-subreaper', '--bundle', b.dir, sb.id('noreaper')]);
  assert.equal(noReaper.status, 0, show(noReaper));
  const n = parse(noReaper);
  assert.ok(n.tsrt > 1 && n['orphan-parent'] > 0 && n['orphan-parent'] !== n.tsrt, `the orphan goes past tsrt: ${noReaper.stdout}`);
});

test('run -d returns at once with the container running', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('detach');
  sb.ids.add(id);
  const started = Date.now();
  const r = sb.tsrt(['run', '-d', '--bundle', b.dir, id], { timeout: 15_000 });
  assert.equal(r.status, 0, show(r));
  assert.ok(Date.now() - started < 10_000, 'did not wait for the container');
  const st = sb.state(id);
  assert.equal(st.status, 'running');
  sb.track(st.pid);
  assert.ok(isAlive(st.pid));
  assert.equal(fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8'), 'sleep\u00001000\u0000');
  sb.ok(['kill', id, 'KILL']);
  await sb.waitStatus(id, 'stopped');
  sb.ok(['delete', id]);
});
