// Many create/start/delete cycles leave nothing behind (mounts, state dirs, processes),
// and no file descriptor of tsrt (or of whoever started it) leaks into a container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { O_CLOEXEC, Sandbox, cgroupDirsOf, hostMounts, isAlive, procStat, mountChanges, mountsMentioning, openFds, processesWithCmdline, show, waitUntil } from './helpers/tsrt.mjs';

const CYCLES = 200;
const LANES = 4; // cycles run four at a time: concurrency is part of what is tested

test(`cycles: ${CYCLES} create/start/delete cycles leave nothing behind`, async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['true']; } });
  const mountsBefore = hostMounts();
  const pids = [];
  const ids = [];
  const failures = [];

  const cycle = async (n) => {
    const id = sb.id(`cyc${n}`);
    ids.push(id);
    const pidFile = path.join(sb.dir, `${id}.pid`);
    const steps = [
      ['create', '--bundle', b.dir, '--pid-file', pidFile, id],
      ['start', id],
      ['delete', '--force', id],
    ];
    for (const args of steps) {
      const r = await sb.tsrtAsync(args);
      if (r.status !== 0) {
        failures.push(show(r));
        return;
      }
      if (args[0] === 'create') {
        // With its start time: over hundreds of cycles the kernel reuses pids.
        const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
        pids.push({ pid, start: procStat(pid)?.[19] });
      }
    }
    sb.ids.delete(id); // deleted: nothing for cleanup to do
    fs.rmSync(pidFile);
  };

  let next = 0;
  await Promise.all(Array.from({ length: LANES }, async () => {
    while (next < CYCLES && failures.length === 0) await cycle(next++);
  }));
  assert.deepEqual(failures, [], 'every command succeeded');
  assert.equal(pids.length, CYCLES);

  assert.deepEqual(fs.readdirSync(sb.root), [], 'no state dir left under --root');
  assert.deepEqual(mountChanges(mountsBefore, sb.dir), { added: [], removed: [] }, 'host mount table unchanged');
  assert.deepEqual(mountsMentioning(sb.dir), []);
  const sameProcessAlive = ({ pid, start }) => isAlive(pid) && procStat(pid)?.[19] === start;
  assert.deepEqual(pids.filter(sameProcessAlive), [], 'no container process alive');
  assert.deepEqual(processesWithCmdline(sb.dir), [], 'no tsrt or init process of this test alive');
  assert.deepEqual(ids.flatMap(cgroupDirsOf), [], 'no cgroup left');
});

/** fds 3, 4 and 5 of tsrt: open files WITHOUT close-on-exec, as a careless caller leaves them. */
function leakyFds(sb) {
  const file = path.join(sb.dir, 'leaky');
  fs.writeFileSync(file, 'x');
  return [fs.openSync(file, 'r'), fs.openSync(file, 'r'), fs.openSync(file, 'r')];
}

test('cycles: no fd of tsrt or of its caller reaches the container process', async (t) => {
  const sb = new Sandbox(t);
  const extra = leakyFds(sb);
  t.after(() => extra.forEach((fd) => fs.closeSync(fd)));
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const fdsOf = (pid) => openFds(pid);

  for (let i = 0; i < 3; i++) {
    const id = sb.id('fds');
    const { pid } = sb.create(id, b.dir, { extraFds: extra });
    // Created, not started: the init still runs the plan. Anything beyond 0-2 (its exec
    // fifo, the plan's pipes, what it inherited) must be close-on-exec.
    const created = fdsOf(pid);
    assert.deepEqual(created.slice(0, 3).map((f) => f.fd), [0, 1, 2], JSON.stringify(created));
    const kept = created.filter((f) => f.fd > 2 && !(f.flags & O_CLOEXEC));
    assert.deepEqual(kept, [], `fds of the created init that would survive execve: ${JSON.stringify(kept)}`);
    assert.ok(created.some((f) => f.target === path.join(sb.stateDir(id), 'exec.fifo')), 'the init holds the exec fifo');

    sb.ok(['start', id]);
    await waitUntil(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x001000\x00', 20_000, 'the init to exec sleep 1000');
    const running = fdsOf(pid);
    assert.deepEqual(running.map((f) => f.fd), [0, 1, 2], `fds of the container process: ${JSON.stringify(running)}`);
    sb.ok(['delete', '--force', id]);
  }
});

test('cycles: inside, the process sees only fds 0-2 (and --preserve-fds passes extra ones)', (t) => {
  const sb = new Sandbox(t);
  const extra = leakyFds(sb);
  t.after(() => extra.forEach((fd) => fs.closeSync(fd)));
  // ls is the container process: its fds are 0-2 plus the directory it is reading (3).
  const b = sb.bundle({ patch: (c) => { c.process.args = ['ls', '/proc/self/fd']; } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('fdin')], { extraFds: extra });
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.split(/\s+/).filter(Boolean), ['0', '1', '2', '3']);

  // Positive control: with --preserve-fds 2, fds 3 and 4 come through (and ls's dir is 5).
  const p = sb.tsrt(['run', '--preserve-fds', '2', '--bundle', b.dir, sb.id('fdkeep')], { extraFds: extra });
  assert.equal(p.status, 0, show(p));
  assert.deepEqual(p.stdout.split(/\s+/).filter(Boolean), ['0', '1', '2', '3', '4', '5']);
});
