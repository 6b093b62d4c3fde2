#!/usr/bin/env node
// A create killed at a random point, then `delete --force`: nothing may be left (issue 12
// item 10). Each iteration starts `tsrt create` of a container with cgroup limits and
// hooks, SIGKILLs it after a random delay between 0 and a little more than a whole
// create takes, runs `delete --force`, and looks for what the container could have left:
// its state dir, cgroup directories named after it, live processes whose command line
// names it (the init is a copy of `tsrt create ... ID` until it execs), host mounts of
// the test's dirs. Prints one JSON line: {iterations, killedEarly, leftovers, failures}.
//
//   node scripts/kill-create-loop.mjs [--iterations 100] [--seconds 300]
// (as root, after `npm run build`; spec-tests/security-state.test.mjs runs it)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, cgroupDirsOf, hostMounts, mountChanges, processesWithCmdline, runToFiles, TSRT } from '../spec-tests/helpers/tsrt.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const iterations = arg('iterations', 100);
const deadline = Date.now() + arg('seconds', 300) * 1000;

const sb = new Sandbox();
process.on('exit', () => sb.cleanup());
const hookLog = path.join(sb.dir, 'hook.log');
const b = sb.bundle({
  patch: (c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.resources = { ...c.linux.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 64 } };
    // a prestart hook makes the init wait once more, a window of its own
    c.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `echo x >> ${hookLog}`] }] };
  },
});

/** Runs `tsrt create` and SIGKILLs it after delayMs; resolves {finished} once it is gone. */
function createAndKill(id, delayMs) {
  const { out, err } = sb.ioFiles();
  const [o, e] = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
  const child = spawn(TSRT, ['--root', sb.root, 'create', '--bundle', b.dir, id], { stdio: ['ignore', o, e], cwd: sb.dir });
  fs.closeSync(o);
  fs.closeSync(e);
  return new Promise((resolve) => {
    let finished = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      finished = signal === null;
      resolve({ finished, code });
    });
  });
}

function leftoversOf(id, before) {
  const left = [];
  if (fs.existsSync(sb.stateDir(id))) left.push(`state dir ${sb.stateDir(id)}`);
  for (const d of cgroupDirsOf(id)) left.push(`cgroup ${d}`);
  for (const pid of processesWithCmdline(id)) left.push(`process ${pid}`);
  const mounts = mountChanges(before, sb.dir).added.filter((l) => l.includes(sb.dir) || l.includes(b.rootfs));
  for (const m of mounts) left.push(`mount ${m}`);
  return left;
}

// A whole create's duration sets the range of the delays.
const t0 = Date.now();
const probe = sb.id('probe');
const r = runToFiles(TSRT, ['--root', sb.root, 'create', '--bundle', b.dir, probe], { ...sb.ioFiles(), cwd: sb.dir });
if (r.status !== 0) {
  console.error(`kill-create-loop: a plain create fails:\n${r.stderr}`);
  process.exit(2);
}
const createMs = Date.now() - t0;
runToFiles(TSRT, ['--root', sb.root, 'delete', '--force', probe], { ...sb.ioFiles(), cwd: sb.dir });

const result = { iterations: 0, createMs, killedEarly: 0, leftovers: [], failures: [] };
for (let i = 0; i < iterations && Date.now() < deadline; i++) {
  const id = sb.id('kill');
  const before = hostMounts();
  const { finished } = await createAndKill(id, Math.random() * createMs * 1.2);
  if (!finished) result.killedEarly++;
  const del = runToFiles(TSRT, ['--root', sb.root, 'delete', '--force', id], { ...sb.ioFiles(), cwd: sb.dir });
  if (del.status !== 0) result.failures.push(`${id}: delete --force: ${del.stderr.trim()}`);
  for (const l of leftoversOf(id, before)) result.leftovers.push(`${id}: ${l}`);
  result.iterations++;
}
console.log(JSON.stringify(result));
