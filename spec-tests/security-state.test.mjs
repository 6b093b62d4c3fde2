// Security round 2, the runtime's own state and handles (issue 12, items 4, 5, 10-12):
// fds that reach a container, ids the kernel reads as "unchanged", a create killed
// half-way, a damaged state.json, and messages quoting hostile values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, openFds, show } from './helpers/tsrt.mjs';

const O_PATH = 0o10000000;
const O_ACCMODE = 3;

/** A decoy file the test hands over as a preserved fd, opened read-only. */
function decoyFd(sb, name) {
  const file = path.join(sb.mkdir('decoy'), name);
  fs.writeFileSync(file, name);
  return { file, fd: fs.openSync(file, 'r') };
}

// --- item 4: fds ------------------------------------------------------------------------

test('fds: a created init holds only stdio, the preserved and LISTEN_FDS fds, the exec fifo and its report pipe', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const [p, l] = [decoyFd(sb, 'preserved'), decoyFd(sb, 'listen')];
  t.after(() => { fs.closeSync(p.fd); fs.closeSync(l.fd); });
  const id = sb.id('fds');
  // --preserve-fds 1 keeps fd 3, LISTEN_FDS=1 one more (runc counts both): 3 and 4.
  const { pid } = sb.create(id, b.dir, { args: ['--preserve-fds', '1'], extraFds: [p.fd, l.fd], env: { ...process.env, LISTEN_FDS: '1' } });
  const fds = openFds(pid);
  const byFd = new Map(fds.map((f) => [f.fd, f]));
  assert.deepEqual([0, 1, 2, 3, 4].filter((n) => !byFd.has(n)), [], `stdio and the preserved fds are open: ${JSON.stringify(fds)}`);
  assert.equal(byFd.get(3).target, p.file);
  assert.equal(byFd.get(4).target, l.file);
  const own = fds.filter((f) => f.fd > 4);
  const fifo = own.filter((f) => f.target === path.join(sb.stateDir(id), 'exec.fifo') && (f.flags & O_PATH));
  const report = own.filter((f) => /^pipe:\[\d+\]$/.test(f.target) && (f.flags & O_ACCMODE) === 1);
  assert.equal(fifo.length, 1, `one O_PATH fd of the exec fifo: ${JSON.stringify(own)}`);
  assert.equal(report.length, 1, `one write-only report pipe: ${JSON.stringify(own)}`);
  // The fifo is reopened through the container's own /proc/self/fd, held as an O_PATH
  // directory fd opened after its procfs was verified (nothing can be written through it).
  const fdDir = own.filter((f) => f.target === '/proc/1/fd' && (f.flags & O_PATH));
  assert.equal(fdDir.length, 1, `one O_PATH fd of the init's own /proc/self/fd: ${JSON.stringify(own)}`);
  assert.equal(own.length, 3, `no other fd (node's pipes, eventfds, epoll, cgroup.procs): ${JSON.stringify(own)}`);
  assert.ok(!fds.some((f) => /cgroup|eventfd|eventpoll/.test(f.target)), JSON.stringify(fds));
});

/** `ls -l /proc/self/fd` output -> [{fd, target}]; ls's own directory fd has no readable target. */
function lsFds(text) {
  return text.split('\n').map((line) => /^l.*\s(\d+)(?: -> (.*))?$/.exec(line)).filter(Boolean).map((m) => ({ fd: Number(m[1]), target: m[2] }));
}

test('fds: an exec process starts with stdio and its --preserve-fds only', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('execfds');
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  sb.track(sb.state(id).pid);
  const p = decoyFd(sb, 'preserved');
  t.after(() => fs.closeSync(p.fd));
  for (const [args, extraFds, kept] of [[[], [], []], [['--preserve-fds', '1'], [p.fd], [3]]]) {
    const r = sb.tsrt(['exec', ...args, id, 'ls', '-l', '/proc/self/fd'], { extraFds });
    assert.equal(r.status, 0, show(r));
    const fds = lsFds(r.stdout);
    // ls opens /proc/self/fd itself, at the lowest free number: one fd after those it was given.
    const given = [0, 1, 2, ...kept];
    assert.deepEqual(fds.map((f) => f.fd), [...given, given.length], `only stdio, ${JSON.stringify(kept)} and ls's own directory fd:\n${r.stdout}`);
    for (const fd of kept) assert.equal(fds[fd].target, p.file);
  }
});

test('fds attack: a container in A\'s pid namespace with CAP_SYS_PTRACE finds no writable host fd in A\'s created init', (t) => {
  const sb = new Sandbox(t);
  const a = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const idA = sb.id('victim');
  const { pid: initA } = sb.create(idA, a.dir);
  const fdsA = openFds(initA);
  const caps = ['CAP_SYS_PTRACE', 'CAP_DAC_OVERRIDE', 'CAP_KILL'];
  // Every fd of A's init is written to with B's shell pid (a cgroup.procs would move it);
  // the exec fifo is skipped: opening it for writing waits for `tsrt start`.
  const script = [
    'for f in /proc/1/fd/*; do',
    '  l=$(readlink $f); echo "FD $f $l"',
    '  case "$l" in *exec.fifo) continue;; esac',
    '  if (echo $$ > $f) 2>/dev/null; then echo "WROTE $f $l"; fi',
    'done',
    'cat /proc/$$/cgroup',
  ].join('\n');
  const bB = sb.bundle({
    patch: (c) => {
      c.linux.namespaces = c.linux.namespaces.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${initA}/ns/pid` } : n));
      for (const k of ['bounding', 'effective', 'permitted']) c.process.capabilities[k] = caps;
      c.process.capabilities.ambient = caps;
      c.process.noNewPrivileges = true;
      c.process.args = ['sh', '-c', script];
    },
  });
  const idB = sb.id('attacker');
  const r = sb.tsrt(['run', '--bundle', bB.dir, idB]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^FD \/proc\/1\/fd\/0 /m, `B sees A's init as its pid 1:\n${r.stdout}`);
  const wrote = r.stdout.split('\n').filter((l) => l.startsWith('WROTE'));
  assert.deepEqual(wrote.filter((l) => /cgroup|eventfd|eventpoll|anon_inode/.test(l)), [], `B wrote to a host handle of A's init:\n${r.stdout}\nA's fds: ${JSON.stringify(fdsA)}`);
  // The only fds B may reach are A's stdio, its exec fifo, its report pipe and the O_PATH
  // fd of its own /proc/self/fd (through which the fifo is reopened at `start`).
  const reached = r.stdout.split('\n').filter((l) => l.startsWith('FD ')).map((l) => Number(l.split(' ')[1].split('/').pop())).sort((x, y) => x - y);
  assert.equal(reached.length, 6, `A's init has stdio, the fifo, the report pipe and its /proc/self/fd only:\n${r.stdout}`);
  assert.deepEqual(r.stdout.split('\n').filter((l) => /^WROTE .* \/proc\//.test(l)), [], `nothing under /proc was written:\n${r.stdout}`);
});
