// Security round 2, the runtime's own state and handles (issue 12, items 4, 5, 10-12):
// fds that reach a container, ids the kernel reads as "unchanged", a create killed
// half-way, a damaged state.json, and messages quoting hostile values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, Sandbox, cgroupDirsOf, openFds, processesWithCmdline, runToFiles, show } from './helpers/tsrt.mjs';
import { assertRefused } from './helpers/security.mjs';

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

// --- item 5: ids the kernel reads as -1 -------------------------------------------------

test('ids: uid/gid 4294967295 (-1, "unchanged": the process would stay root) and ids from 2^31 are refused, naming the field', (t) => {
  const sb = new Sandbox(t);
  const cases = [
    [(c) => { c.process.user.uid = 4294967295; }, 'process.user.uid', /stay root/],
    [(c) => { c.process.user.gid = 4294967295; }, 'process.user.gid', /stay root/],
    [(c) => { c.process.user.uid = 2147483648; }, 'process.user.uid', /0 to 2147483647/],
    [(c) => { c.process.user.additionalGids = [10, 4294967295]; }, 'process.user.additionalGids[1]', /0 to 2147483647/],
  ];
  for (const [patch, field, why] of cases) assertRefused(sb, sb.bundle({ patch }), { field, why });
});

test('ids: id mappings whose range overflows are refused before any process starts', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({
    patch: (c) => {
      c.linux.namespaces.push({ type: 'user' });
      c.linux.uidMappings = [{ containerID: 0, hostID: 4294967000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 4294967290, hostID: 100000, size: 10 }];
    },
  });
  const r = assertRefused(sb, b, { field: 'linux.uidMappings[0]', why: /hostID 4294967000 \+ size 65536 overflows/ });
  assert.match(r.stderr, /linux\.gidMappings\[0\]: containerID 4294967290 \+ size 10 overflows/, show(r));
});

test('ids: the largest id accepted, 2147483647, is the id the process gets', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.user = { uid: 2147483647, gid: 2147483647 }; c.process.args = ['sh', '-c', 'id -u; id -g']; } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('maxid')]);
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.trim().split('\n'), ['2147483647', '2147483647']);
});

test('ids: exec --user, --additional-gids and --process refuse -1 and ids from 2^31; the process never runs as root', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; c.process.user = { uid: 1000, gid: 1000 }; } });
  const id = sb.id('execid');
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  sb.track(sb.state(id).pid);
  const proc = path.join(sb.dir, 'process.json');
  fs.writeFileSync(proc, JSON.stringify({ cwd: '/', args: ['id', '-u'], user: { uid: 4294967295, gid: 0 } }));
  const cases = [
    [['--user', '4294967295'], /--user "4294967295": the uid must be 0 to 2147483647, got 4294967295 \(-1/],
    [['--user', '1000:4294967295'], /--user "1000:4294967295": the gid must be 0 to 2147483647/],
    [['--user', '2147483648'], /the uid must be 0 to 2147483647, got 2147483648/],
    [['--additional-gids', '4294967295'], /--additional-gids: a gid must be 0 to 2147483647/],
    [['--process', proc], new RegExp(`--process ${proc}: .*user\\.uid: must be 0 to 2147483647`)],
  ];
  for (const [flags, why] of cases) {
    const args = flags[0] === '--process' ? ['exec', ...flags, id] : ['exec', ...flags, id, 'id', '-u'];
    const r = sb.tsrt(args);
    assert.notEqual(r.status, 0, `refused:\n${show(r)}`);
    assert.match(r.stderr.replace(/\\"/g, '"'), why, show(r));
    assert.doesNotMatch(r.stdout, /^0$/m, `never ran as root:\n${show(r)}`);
  }
});

// --- item 12: messages quoting hostile values --------------------------------------------

/** stderr of a refused command, as one error line (the test fails if there are more). */
function oneErrorLine(r) {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line of error:\n${show(r)}`);
  return lines[0];
}

test('messages: a 100 KB hostname is cut in the error, which says how long it was', (t) => {
  const sb = new Sandbox(t);
  const r = assertRefused(sb, sb.bundle({ patch: (c) => { c.hostname = 'h'.repeat(100_000); } }), { field: 'hostname', why: /\(100000 bytes\) is longer than 64 bytes/ });
  assert.ok(oneErrorLine(r).length < 400, `a short message: ${r.stderr.length} bytes`);
});

test('messages: control characters, U+2028/U+2029 and bidi controls in a value are escaped, never printed', (t) => {
  const sb = new Sandbox(t);
  const evil = 'RLIMIT_X\nlevel=fatal msg=forged\r\u0007\u001b[2J\u2028\u2029\u202e\u0085';
  const r = assertRefused(sb, sb.bundle({ patch: (c) => { c.process.rlimits = [{ type: evil, soft: 1, hard: 1 }]; } }), { field: 'process.rlimits[0].type', why: /unknown rlimit/ });
  const line = oneErrorLine(r);
  assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/, `no raw control character:\n${JSON.stringify(r.stderr)}`);
  for (const esc of ['\\u2028', '\\u2029', '\\u202e', '\\u0085', '\\u001b']) assert.ok(line.includes(esc), `${esc} in ${line}`);
  // the same with --log-format json: one parseable object
  const json = sb.tsrt(['--log-format', 'json', 'run', '--bundle', sb.bundle({ patch: (c) => { c.hostname = `a\u2028b${'x'.repeat(70)}`; } }).dir, sb.id('json')]);
  assert.notEqual(json.status, 0);
  assert.doesNotMatch(json.stderr, /[\u2028\u2029]/);
  assert.match(JSON.parse(json.stderr.trim()).msg, /hostname: "a\\u2028bx+\.\.\." \(75 bytes\)/);
});

test('messages: a NUL byte in a path is refused as such (the kernel would cut the path at it)', (t) => {
  const sb = new Sandbox(t);
  const r = assertRefused(sb, sb.bundle({ patch: (c) => { c.mounts.push({ destination: '/tmp\u0000/../etc', type: 'tmpfs', source: 'tmpfs' }); } }),
    { field: `mounts[${JSON.parse(fs.readFileSync(sb.bundle().configPath, 'utf8')).mounts.length}].destination`, why: /contains a NUL byte/ });
  assert.match(r.stderr, /\\\\u0000/, 'the NUL shown escaped');
  const args = assertRefused(sb, sb.bundle({ patch: (c) => { c.process.args = ['sh\u0000', '-c', 'true']; } }), { field: 'process.args[0]', why: /contains a NUL byte/ });
  assert.ok(args);
});

/** A tmpfs of 16 KiB under the sandbox, filled up: every write there fails with ENOSPC. */
function fullTmpfs(sb) {
  const dir = sb.mkdir('full');
  const m = runToFiles('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tsrt-test-full', dir], sb.ioFiles());
  assert.equal(m.status, 0, show(m));
  // (the sandbox's cleanup unmounts it)
  const filler = path.join(dir, 'filler');
  try { fs.writeFileSync(filler, Buffer.alloc(64 * 1024)); } catch (e) { assert.equal(e.code, 'ENOSPC'); }
  return dir;
}

test('messages: ENOSPC names the state file and the pid file, and leaves nothing', (t) => {
  const sb = new Sandbox(t);
  const full = fullTmpfs(sb);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('nospc');
  const root = path.join(full, 'state');
  const r = sb.tsrt(['--root', root, 'create', '--bundle', b.dir, id], { noRoot: true });
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, new RegExp(`writing ${root}/${id}/(recovery|state)\\.json: ENOSPC \\(no space left on device\\)`), show(r));
  assert.equal(fs.existsSync(path.join(root, id)), false, 'no state dir left');
  assert.deepEqual(processesWithCmdline(id), [], 'no process left');
  assert.deepEqual(cgroupDirsOf(id), [], 'no cgroup left');

  const id2 = sb.id('nospcpid');
  const pidFile = path.join(full, 'init.pid');
  const p = sb.tsrt(['create', '--bundle', b.dir, '--pid-file', pidFile, id2]);
  assert.notEqual(p.status, 0, show(p));
  assert.match(p.stderr, new RegExp(`writing ${pidFile}: ENOSPC`), show(p));
  assert.equal(fs.existsSync(sb.stateDir(id2)), false, 'no state dir left');
  assert.deepEqual(processesWithCmdline(id2), [], 'no process left');
  assert.deepEqual(cgroupDirsOf(id2), [], 'no cgroup left');
  assert.deepEqual(fs.readdirSync(full).filter((f) => f !== 'filler' && f !== 'state'), [], 'no temporary file left');
});

// --- item 11: a damaged state.json --------------------------------------------------------

const DAMAGES = {
  truncated: (text) => text.slice(0, Math.floor(text.length / 2)),
  empty: () => '',
  garbage: () => '\u0000\u0001garbage\nnull',
  'null': () => 'null',
  'pid missing': (text) => JSON.stringify({ ...JSON.parse(text), pid: undefined }),
};

for (const [damage, corrupt] of Object.entries(DAMAGES)) {
  test(`state: a ${damage} state.json is listed as unknown, named by state, and delete --force removes the container's processes, cgroups and state`, async (t) => {
    const sb = new Sandbox(t);
    const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; c.linux.resources = { ...c.linux.resources, pids: { limit: 32 } }; } });
    const id = sb.id('damaged');
    sb.ok(['run', '-d', '--bundle', b.dir, id]);
    const pid = sb.track(sb.state(id).pid);
    // a second process in the container's cgroup, found through it
    sb.ok(['exec', '-d', id, 'sleep', '999']);
    const cgroups = cgroupDirsOf(id);
    assert.ok(cgroups.length > 0, 'the container has cgroups');
    const file = path.join(sb.stateDir(id), 'state.json');
    fs.writeFileSync(file, corrupt(fs.readFileSync(file, 'utf8')));

    const list = sb.ok(['list']);
    const row = list.stdout.split('\n').find((l) => l.startsWith(id));
    assert.ok(row, `list shows the container:\n${list.stdout}`);
    assert.match(row, new RegExp(`^${id}\\s+${pid}\\s+unknown\\b`), row);
    assert.ok(JSON.parse(sb.ok(['list', '--format', 'json']).stdout).some((s) => s.id === id && s.status === 'unknown'));
    assert.ok(sb.ok(['list', '-q']).stdout.split('\n').includes(id));

    for (const cmd of [['state', id], ['kill', id, 'KILL'], ['delete', id]]) {
      const r = sb.tsrt(cmd);
      assert.notEqual(r.status, 0, show(r));
      assert.ok(r.stderr.includes(`container state file ${file} is damaged`), `${cmd[0]} names the file:\n${show(r)}`);
      assert.doesNotMatch(r.stderr, /Cannot read properties|TypeError|at .*\.js:\d+/, show(r));
    }
    assert.ok(await sb.waitDead(pid, 100) === false, 'kill and delete did nothing');

    const del = sb.tsrt(['delete', '--force', id]);
    assert.equal(del.status, 0, show(del));
    assert.ok(await sb.waitDead(pid), 'the init is killed');
    assert.deepEqual(processesWithCmdline('sleep 999').filter((p) => { try { return fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(id); } catch { return false; } }), [], 'the exec\'d process is killed');
    assert.deepEqual(cgroupDirsOf(id), [], 'its cgroups are removed');
    assert.equal(fs.existsSync(sb.stateDir(id)), false, 'its state is removed');
  });
}

test('state: with recovery.json damaged too, delete --force still removes the state and says what may be left', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const id = sb.id('bothdamaged');
  const { pid } = sb.create(id, b.dir);
  for (const f of ['state.json', 'recovery.json']) fs.writeFileSync(path.join(sb.stateDir(id), f), '{');
  const del = sb.tsrt(['delete', '--force', id]);
  assert.equal(del.status, 0, show(del));
  assert.match(del.stderr, /recovery\.json is missing or damaged too: processes or cgroups of the container may be left/, show(del));
  assert.equal(fs.existsSync(sb.stateDir(id)), false);
  process.kill(pid, 'SIGKILL'); // the test's own cleanup of what tsrt could not know
});

// --- item 10: create killed at a random point --------------------------------------------

test('kill -9 of create at 100 random points, then delete --force: no state, cgroup, process or mount is left', { timeout: 900_000 }, (t) => {
  const sb = new Sandbox(t);
  const r = runToFiles(process.execPath, [path.join(REPO, 'scripts', 'kill-create-loop.mjs'), '--iterations', '100', '--seconds', '600'], { ...sb.ioFiles(), timeout: 800_000 });
  assert.equal(r.status, 0, show(r));
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(result.iterations, 100, `100 iterations within the time bound: ${r.stdout}`);
  assert.ok(result.killedEarly > 10, `most kills land inside create: ${r.stdout}`);
  assert.deepEqual(result.failures, [], 'delete --force always succeeds');
  assert.deepEqual(result.leftovers, [], 'nothing is left');
});
