// CVE-2019-5736 for exec: while `tsrt exec` sets a process up inside a container, that
// process still runs tsrt's binary (node). If a container process could open its
// /proc/PID/exe, it could keep the handle and write to the host's node once it is no
// longer busy. The process must be non-dumpable until execve.
//
// The deterministic window: the exec'd process's own execve is held by the kernel. The
// program it executes carries a write lease (held by a python3 child of this test), so
// the kernel's open() inside execve waits for the lease holder. At that moment the
// process has done all of its setup: it is in the container's namespaces and cgroup,
// with the container's uid and capabilities, so the ptrace access check a container
// process must pass to open /proc/PID/exe (same uid, a superset of capabilities) is met,
// and only the dumpable flag stands in the way. Then the lease is released and the exec
// completes normally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOTFS, Sandbox, TSRT, show, waitUntil } from './helpers/tsrt.mjs';
import { LeaseHolder } from './helpers/terminal.mjs';

const status = (pid) => fs.readFileSync(`/proc/${pid}/status`, 'utf8');
const field = (text, name) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(text)?.[1];

test('exec attack: a container process cannot open /proc/PID/exe of a process joining the container', { skip: fs.readFileSync('/proc/sys/fs/leases-enable', 'utf8').trim() !== '1' && 'file leases are disabled' }, async (t) => {
  const sb = new Sandbox(t);
  // A copy of busybox that the test can lease, bind-mounted on the container's /tmp: run
  // as /tmp/true it is busybox's `true`.
  const dir = sb.mkdir('leased');
  const program = path.join(dir, 'true');
  fs.copyFileSync(path.join(ROOTFS, 'bin', 'busybox'), program);
  fs.chmodSync(program, 0o755);
  const b = sb.bundle({
    patch: (c) => {
      c.process.args = ['sleep', '1000'];
      c.mounts.push({ destination: '/tmp', type: 'bind', source: dir, options: ['rbind', 'ro'] });
    },
  });
  const id = sb.id('attack');
  sb.ids.add(id);
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  const init = sb.track(sb.state(id).pid);

  const lease = await LeaseHolder.start(sb, program);
  t.after(() => lease.stop());
  const { out, err } = sb.ioFiles();
  const [outFd, errFd] = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
  const exec = spawn(TSRT, ['--root', sb.root, 'exec', id, '/tmp/true'], { stdio: ['ignore', outFd, errFd] });
  fs.closeSync(outFd);
  fs.closeSync(errFd);
  sb.track(exec.pid);
  const exited = new Promise((resolve) => exec.on('exit', (code, signal) => resolve({ code, signal })));

  // The victim: tsrt exec's child (CLONE_PARENT) in the container's PID namespace, held in execve.
  await waitUntil(() => lease.broken(), 20_000, () => `the exec'd process never opened the program: ${fs.readFileSync(err, 'utf8')}`);
  const children = fs.readFileSync(`/proc/${exec.pid}/task/${exec.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  const victim = children.find((c) => { try { return fs.readlinkSync(`/proc/${c}/ns/pid`) === fs.readlinkSync(`/proc/${init}/ns/pid`); } catch { return false; } });
  assert.ok(victim, `a child of tsrt exec inside the container: ${children}`);
  sb.track(victim);
  assert.equal(fs.readlinkSync(`/proc/${victim}/exe`), fs.readlinkSync(`/proc/${exec.pid}/exe`), 'the victim still runs tsrt\'s binary');
  const v = status(victim);
  const i = status(init);
  for (const f of ['Uid', 'Gid', 'CapEff', 'CapPrm']) assert.equal(field(v, f), field(i, f), `the victim has the container's ${f}: setup is done`);
  const nsPid = field(v, 'NSpid').split(/\s+/)[1];

  // The attack, from a container process with the same uid and capabilities.
  const a = sb.tsrt(['exec', id, 'sh', '-c',
    `grep -E "^(Uid|CapEff)" /proc/self/status; readlink -v /proc/${nsPid}/exe; echo "readlink=$?"; cat /proc/${nsPid}/exe > /dev/null; echo "read=$?"; (: >> /proc/${nsPid}/exe); echo "write=$?"`]);
  assert.equal(a.status, 0, show(a));
  const seen = a.stdout + a.stderr;
  assert.equal(field(a.stdout, 'Uid'), field(v, 'Uid'), 'the attacker has the victim\'s uid');
  assert.equal(field(a.stdout, 'CapEff'), field(v, 'CapEff'), 'and its capabilities');
  assert.match(a.stdout, /^readlink=1$/m, seen);
  assert.match(a.stdout, /^read=1$/m, seen);
  assert.match(a.stdout, /^write=1$/m, seen);
  assert.equal(a.stderr.match(/Permission denied/g)?.length, 3, `each attempt refused with EACCES:\n${seen}`);

  lease.release();
  const r = await exited;
  assert.deepEqual([r.code, r.signal], [0, null], `the exec completes once the program can be opened: ${fs.readFileSync(err, 'utf8')}`);
});
