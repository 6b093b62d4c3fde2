// checkpoint / restore through CRIU (src/criu/): a counter checkpointed and restored
// continues from where it was, --leave-running, restore into a new id, the restored
// container is an ordinary one (exec, kill, delete leave nothing), and the errors. CRIU
// works in the VM lane (Debian 12's 6.1 kernel); on a kernel the installed CRIU cannot
// run on (the project's hosts: CRIU 3.17 on 6.18), the tests that need it skip with the
// reason `criu check` gives, and one test asserts the error checkpoint then reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConsoleReceiver } from './helpers/terminal.mjs';
import { Sandbox, SLOWDOWN, TSRT, cgroupDirsOf, hostMounts, isAlive, processesWithCmdline, show, sleep, waitUntil } from './helpers/tsrt.mjs';

const criuPath = ['/usr/sbin/criu', '/usr/bin/criu', '/usr/local/sbin/criu'].find((p) => fs.existsSync(p));
const check = criuPath ? spawnSync(criuPath, ['check'], { encoding: 'utf8', timeout: 120_000 }) : undefined;
/** Why CRIU cannot run here (undefined: it can), from `criu check` itself. */
const criuProblem = !criuPath ? 'criu is not installed'
  : check.status === 0 ? undefined
    : `criu check fails here: ${`${check.stdout}${check.stderr}`.split('\n').filter((l) => /Error/.test(l)).slice(0, 2).join(' | ') || `status ${check.status}`}`;
const needsCriu = criuProblem ? { skip: criuProblem } : {};

/** A counter appending 1, 2, 3, ... to /log in its rootfs; its stdio is the container's own /dev/null. */
const COUNTER = 'exec </dev/null >/dev/null 2>&1; i=0; while :; do i=$((i+1)); echo $i >> /log; sleep 0.1; done';

function counterBundle(sb, patch) {
  return sb.bundle({ copyRootfs: true, patch: (c) => { c.process.args = ['sh', '-c', COUNTER]; c.process.terminal = false; patch?.(c); } });
}

/** The numbers in /log. */
function counted(b) {
  try {
    return fs.readFileSync(path.join(b.rootfs, 'log'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitCount(b, atLeast, what) {
  let n = [];
  await waitUntil(() => (n = counted(b)).length && n[n.length - 1] >= atLeast, 60_000, () => `${what}: the counter to reach ${atLeast} (log: ${n.slice(-5).join(',')})`, 50);
  return n;
}

/** `run -d` of bundle b as id, waiting until its counter reaches atLeast; returns the init's pid. */
async function runCounter(sb, b, id, atLeast) {
  const pid = runDetached(sb, b, id);
  await waitCount(b, atLeast, `${id} before the checkpoint`);
  return pid;
}

/** `run -d` of a bundle as id; returns the init's pid. */
function runDetached(sb, b, id) {
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  return sb.track(sb.state(id).pid);
}

/** 1..N without a gap or a restart. */
function assertContinuous(n, what) {
  assert.ok(n.length > 0, `${what}: nothing counted`);
  n.forEach((v, i) => assert.equal(v, i + 1, `${what}: line ${i + 1} of /log is ${v} (tail ${n.slice(Math.max(0, i - 3), i + 3).join(',')})`));
}

/** Nothing of the container is left: no state dir, cgroup, process or mount. */
function assertGone(sb, id, b) {
  assert.equal(fs.existsSync(sb.stateDir(id)), false, `state dir of ${id} removed`);
  assert.deepEqual(cgroupDirsOf(id), [], `cgroups of ${id} removed`);
  assert.deepEqual(processesWithCmdline(COUNTER), [], 'no counter process is left');
  assert.deepEqual(hostMounts().filter((l) => l.includes(sb.dir) || l.includes(b.rootfs)), [], 'no mount of the test is left');
}

test('checkpoint: the counter stops; restore into a new id continues from where it was; the restored container is an ordinary one', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  const b = counterBundle(sb);
  const id = sb.id('cp');
  const pid = await runCounter(sb, b, id, 5);
  const images = path.join(sb.dir, 'images');
  const cp = sb.tsrt(['checkpoint', '--image-path', images, '--work-path', path.join(sb.dir, 'work'), id]);
  assert.equal(cp.status, 0, show(cp));
  assert.ok(await sb.waitDead(pid), 'the checkpointed init is gone');
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'checkpoint without --leave-running removes the container, as runc');
  assert.deepEqual(cgroupDirsOf(id), [], 'and its cgroups');
  for (const f of ['descriptors.json', 'inventory.img', 'core-1.img']) assert.ok(fs.existsSync(path.join(images, f)), `${f} in the image dir`);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(images, 'descriptors.json'), 'utf8')), ['/dev/null', '/dev/null', '/dev/null']);
  assert.ok(fs.existsSync(path.join(sb.dir, 'work', 'dump.log')), 'the log goes to --work-path');
  const stopped = counted(b);
  await sleep(500);
  assert.equal(counted(b).length, stopped.length, 'nothing counts while checkpointed');

  const id2 = sb.id('rs');
  const rs = sb.tsrt(['restore', '-d', '--image-path', images, '--bundle', b.dir, '--pid-file', path.join(sb.dir, 'rs.pid'), id2]);
  assert.equal(rs.status, 0, show(rs));
  const st = sb.state(id2);
  sb.track(st.pid);
  assert.equal(st.status, 'running', JSON.stringify(st));
  assert.equal(Number(fs.readFileSync(path.join(sb.dir, 'rs.pid'), 'utf8')), st.pid, '--pid-file has the restored init');
  const after = await waitCount(b, stopped[stopped.length - 1] + 5, 'after the restore');
  assertContinuous(after, 'checkpoint + restore');
  // in the new container's cgroups, made from the config
  const dirs = cgroupDirsOf(id2);
  assert.ok(dirs.length > 0, 'the restored container has cgroups named after the new id');
  assert.ok(dirs.some((d) => fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').includes(String(st.pid))), `the restored init is in ${dirs}`);

  // exec, pause/resume, kill, delete work as on any container
  const ex = sb.tsrt(['exec', id2, 'cat', '/proc/1/cmdline']);
  assert.equal(ex.status, 0, show(ex));
  assert.match(ex.stdout, /while :; do/, 'exec runs in the restored pid namespace, where the counter is pid 1');
  sb.ok(['pause', id2]);
  assert.equal(sb.state(id2).status, 'paused');
  sb.ok(['resume', id2]);
  sb.ok(['kill', id2, 'KILL']);
  assert.ok(await sb.waitDead(st.pid), 'kill reaches the restored init');
  await sb.waitStatus(id2, 'stopped');
  sb.ok(['delete', id2]);
  assertGone(sb, id2, b);
});

test('checkpoint --leave-running: the container keeps counting, and its image restores once it is gone', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  const b = counterBundle(sb);
  const id = sb.id('lr');
  const pid = await runCounter(sb, b, id, 3);
  const images = path.join(sb.dir, 'images');
  sb.ok(['checkpoint', '--leave-running', '--image-path', images, id]);
  assert.ok(isAlive(pid), 'the init still runs');
  assert.equal(sb.state(id).status, 'running');
  const at = counted(b).length;
  await waitCount(b, at + 3, 'after --leave-running');
  // the file grew since the dump: CRIU's size check would refuse the restore of an open /log,
  // which the counter holds only while it writes; delete the original and restore its image
  sb.ok(['delete', '--force', id]);
  assert.ok(await sb.waitDead(pid));
  fs.writeFileSync(path.join(b.rootfs, 'log'), Array.from({ length: at }, (_, i) => `${i + 1}\n`).join(''));
  const id2 = sb.id('lr2');
  sb.ok(['restore', '--detach', '--image-path', images, '--bundle', b.dir, id2]);
  sb.track(sb.state(id2).pid);
  const n = await waitCount(b, at + 3, 'after the restore');
  assert.ok(n[at - 1] === at, 'the restored counter went on from the dumped count');
  sb.ok(['delete', '--force', id2]);
  assertGone(sb, id2, b);
});

test('checkpoint and restore refuse unsupported or bad flags clearly and change nothing', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; c.process.terminal = false; } });
  const id = sb.id('bad');
  const pid = runDetached(sb, b, id);
  const cases = [
    [['checkpoint', '--lazy-pages', id], /--lazy-pages is not supported/],
    [['checkpoint', '--manage-cgroups-mode', 'bogus', id], /--manage-cgroups-mode \\?"bogus\\?": invalid/],
    [['checkpoint', '--empty-ns', 'ipc', id], /--empty-ns: namespace \\?"ipc\\?" is not supported/],
    [['checkpoint', '--page-server', 'nohost', id], /--page-server \\?"nohost\\?": use --page-server ADDRESS:PORT/],
    [['checkpoint', 'no-such-container'], /container no-such-container does not exist/],
  ];
  for (const [args, want] of cases) {
    const r = sb.tsrt([...args.slice(0, 1), '--image-path', path.join(sb.dir, 'img'), ...args.slice(1)]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, want, show(r));
    assert.equal(fs.existsSync(path.join(sb.dir, 'img')), false, `${args.join(' ')}: no image dir was made`);
  }
  assert.ok(isAlive(pid) && sb.state(id).status === 'running', 'the container still runs');
  const id2 = sb.id('rsbad');
  const r = sb.tsrt(['restore', '--image-path', path.join(sb.dir, 'none'), '--bundle', b.dir, id2]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /--image-path .*none: cannot read descriptors\.json \(ENOENT\): not a checkpoint made by tsrt or runc/, show(r));
  assert.equal(fs.existsSync(sb.stateDir(id2)), false, 'a failed restore leaves no state');
});

test('checkpoint names an installed CRIU that cannot run on this kernel (detected by criu check)', async (t) => {
  if (!criuPath) return t.skip('criu is not installed');
  const kerndat = check.status !== 0 && /kernel features detection|kerndat/.test(`${check.stdout}${check.stderr}`);
  if (!kerndat) return t.skip(check.status === 0 ? 'criu check passes on this kernel: checkpoint works here' : `criu check fails for another reason: ${check.stderr.slice(0, 200)}`);
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; c.process.terminal = false; } });
  const id = sb.id('kern');
  const pid = runDetached(sb, b, id);
  const r = sb.tsrt(['checkpoint', '--image-path', path.join(sb.dir, 'img'), id]);
  assert.equal(r.status, 1, show(r));
  const version = /Version:\s*(\S+)/.exec(spawnSync(criuPath, ['--version'], { encoding: 'utf8' }).stdout)[1];
  const kernel = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  assert.ok(r.stderr.includes(`checkpoint: the installed CRIU ${version} does not support this kernel (${kernel})`), show(r));
  // CRIU's own reason, as criu check gives it
  const firstError = /Error \([^)]*\):\s*(.*)/.exec(`${check.stdout}${check.stderr}`)[1].trim();
  assert.ok(r.stderr.includes(firstError), `${firstError} in ${r.stderr}`);
  assert.ok(isAlive(pid), 'the container is untouched');
  assert.equal(sb.state(id).status, 'running');
});

test('features says whether checkpoint can work here: runc\'s annotation follows criu check', (t) => {
  const sb = new Sandbox(t);
  const f = JSON.parse(sb.ok(['features']).stdout);
  const a = f.annotations;
  assert.equal(a['org.opencontainers.runc.checkpoint.enabled'], String(!criuProblem), JSON.stringify(a));
  if (!criuPath) assert.match(a['tsrt.criu'], /not installed/);
  else if (criuProblem) assert.match(a['tsrt.criu'], /criu check fails on this kernel/);
  else assert.match(a['tsrt.criu'], new RegExp(`^\\S+ at ${criuPath}$`));
});

/**
 * Runs `tsrt ARGS` under sh with stdin, stdout and stderr pipes, as conmon and the shims
 * give them, `cat` copying the container's output to `out`; returns the shell (a process
 * group of its own: the test's cleanup kills that group, which it started).
 */
function underPipes(t, sb, args, out) {
  const q = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;
  const sh = spawn('/bin/sh', ['-c', `: | ${[TSRT, '--root', sb.root, ...args].map(q).join(' ')} 2>&1 | cat > ${q(out)}`], { detached: true, stdio: 'ignore' });
  t.after(() => { try { process.kill(-sh.pid, 'SIGKILL'); } catch { /* gone */ } });
  return sh;
}

async function waitLines(file, atLeast, what) {
  let n = [];
  const numbers = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => /^\d+$/.test(l)).map(Number) : []);
  await waitUntil(() => (n = numbers()).length >= atLeast, 60_000, () => `${what}: ${atLeast} lines in ${file}: ${fs.existsSync(file) ? fs.readFileSync(file, 'utf8').slice(-300) : 'missing'}`, 50);
  return n;
}

test('a container writing to pipes (as under conmon) writes to the restoring caller\'s pipes after restore (descriptors.json, inherit_fd)', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done']; c.process.terminal = false; } });
  const id = sb.id('pipe');
  const out1 = path.join(sb.dir, 'out1');
  underPipes(t, sb, ['run', '-d', '--bundle', b.dir, id], out1);
  await waitLines(out1, 5, 'before the checkpoint');
  sb.track(sb.state(id).pid);
  const images = path.join(sb.dir, 'images');
  sb.ok(['checkpoint', '--image-path', images, id]);
  const fds = JSON.parse(fs.readFileSync(path.join(images, 'descriptors.json'), 'utf8'));
  assert.equal(fds.length, 3);
  for (const d of fds) assert.match(d, /^pipe:\[\d+\]$/, `the init's stdio were pipes: ${fds}`);
  const before = await waitLines(out1, 1, 'after the checkpoint');
  const id2 = sb.id('pipe2');
  const out2 = path.join(sb.dir, 'out2');
  underPipes(t, sb, ['restore', '-d', '--image-path', images, '--bundle', b.dir, id2], out2);
  const after = await waitLines(out2, 3, 'after the restore');
  sb.track(sb.state(id2).pid);
  assert.equal(after[0], before[before.length - 1] + 1, `the restored process writes to the new pipe and goes on from ${before.at(-1)}: ${after.slice(0, 5)}`);
  sb.ok(['delete', '--force', id2]);
});

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].find((p) => fs.existsSync(p));
const needsRunc = criuProblem ? { skip: criuProblem } : !RUNC ? { skip: 'runc is not installed' } : {};

/** runc with a --root of this sandbox; its containers are deleted by the test's cleanup. */
function runcOf(t, sb) {
  // outside the sandbox's dir: its cleanup (registered first, run first) removes that dir
  const root = fs.mkdtempSync(path.join(path.dirname(sb.dir), 'tsrt-test-runc-'));
  const ids = [];
  t.after(() => {
    for (const id of ids) spawnSync(RUNC, ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  });
  return (args, id) => {
    if (id) ids.push(id);
    const r = spawnSync(RUNC, ['--root', root, ...args], { encoding: 'utf8', cwd: sb.dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 * SLOWDOWN });
    assert.equal(r.status, 0, `runc ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
}

test('cross-runtime: tsrt restores runc\'s checkpoint (runc keys its external mounts as tsrt does)', needsRunc, async (t) => {
  const sb = new Sandbox(t);
  const b = counterBundle(sb);
  const runc = runcOf(t, sb);
  const id = sb.id('runc');
  runc(['run', '-d', '--bundle', b.dir, id], id);
  await waitCount(b, 5, 'runc\'s counter');
  const images = path.join(sb.dir, 'images');
  runc(['checkpoint', '--image-path', images, id]);
  const stopped = counted(b);
  const id2 = sb.id('from-runc');
  sb.ok(['restore', '-d', '--image-path', images, '--bundle', b.dir, id2]);
  sb.track(sb.state(id2).pid);
  assertContinuous(await waitCount(b, stopped.at(-1) + 5, 'tsrt\'s restore of runc\'s image'), 'runc checkpoint + tsrt restore');
  sb.ok(['delete', '--force', id2]);
  assertGone(sb, id2, b);
});

test('cross-runtime: runc restores tsrt\'s checkpoint of a container with its own cgroup namespace', needsRunc, async (t) => {
  // Without a cgroup namespace tsrt binds the container's cgroup directory on
  // /sys/fs/cgroup, an external mount runc does not map on restore (it mounts cgroup2
  // itself): docs/checkpoint.md.
  const sb = new Sandbox(t);
  const b = counterBundle(sb, (c) => { c.linux.namespaces.push({ type: 'cgroup' }); });
  const runc = runcOf(t, sb);
  const id = sb.id('ts');
  await runCounter(sb, b, id, 5);
  const images = path.join(sb.dir, 'images');
  sb.ok(['checkpoint', '--image-path', images, id]);
  const stopped = counted(b);
  const id2 = sb.id('to-runc');
  runc(['restore', '-d', '--image-path', images, '--bundle', b.dir, id2], id2);
  assertContinuous(await waitCount(b, stopped.at(-1) + 5, 'runc\'s restore of tsrt\'s image'), 'tsrt checkpoint + runc restore');
  runc(['delete', '--force', id2]);
  assert.ok(await waitGone(), 'runc delete --force ends the restored counter');
});

/** Waits until no counter process is left (runc's delete does not wait for the kill). */
async function waitGone() {
  await waitUntil(() => processesWithCmdline(COUNTER).length === 0, 20_000, 'no counter process left', 50).catch(() => {});
  return processesWithCmdline(COUNTER).length === 0;
}

test('restore makes mount points inside the rootfs only: a destination through a symlink to a decoy outside creates nothing there; a failed restore leaves nothing', async (t) => {
  const sb = new Sandbox(t);
  const decoy = sb.mkdir('decoy');
  const source = sb.mkdir('source');
  const b = sb.bundle({
    copyRootfs: true,
    patch: (c, { rootfs }) => {
      fs.symlinkSync(decoy, path.join(rootfs, 'escape'));
      c.mounts.push({ destination: '/escape/made', type: 'bind', source, options: ['rbind'] });
      c.process.terminal = false;
    },
  });
  const images = sb.mkdir('images');
  fs.writeFileSync(path.join(images, 'descriptors.json'), JSON.stringify(['/dev/null', '/dev/null', '/dev/null']));
  const mountsBefore = hostMounts().length;
  const id = sb.id('escape');
  const r = sb.tsrt(['restore', '-d', '--image-path', images, '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, `an image without CRIU's files cannot restore: ${show(r)}`);
  assert.match(r.stderr, /restore: /, show(r));
  assert.deepEqual(fs.readdirSync(decoy), [], 'nothing was made in the decoy the symlink points to');
  assert.ok(fs.statSync(path.join(b.rootfs, decoy, 'made')).isDirectory(), 'the mount point was made where the container resolves it, inside the rootfs');
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state left');
  assert.deepEqual(cgroupDirsOf(id), [], 'no cgroup left');
  assert.equal(hostMounts().length, mountsBefore, 'the criu-root bind is gone');
});

test('a terminal container: restore --console-socket hands the restored terminal over (orphan-pts-master) and the shell goes on', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  const rx = await ConsoleReceiver.start(sb);
  t.after(() => rx.stop());
  const b = sb.bundle({ patch: (c) => { c.process.terminal = true; c.process.args = ['sh', '-c', 'i=0; while read x; do i=$((i+1)); echo "n=$i:$x"; done']; } });
  const id = sb.id('tty');
  sb.ok(['run', '-d', '--console-socket', rx.path, '--bundle', b.dir, id]);
  sb.track(sb.state(id).pid);
  await rx.received();
  rx.type('one\n');
  await rx.waitOutput(/n=1:one/, 30_000 * SLOWDOWN);
  const images = path.join(sb.dir, 'images');
  sb.ok(['checkpoint', '--image-path', images, id]);
  const rx2 = await ConsoleReceiver.start(sb);
  t.after(() => rx2.stop());
  const id2 = sb.id('tty2');
  sb.ok(['restore', '-d', '--console-socket', rx2.path, '--image-path', images, '--bundle', b.dir, id2]);
  sb.track(sb.state(id2).pid);
  const info = await rx2.received();
  assert.deepEqual([info.messages, info.fds], [1, 1], `one message with the terminal's master: ${JSON.stringify(info)}`);
  rx2.type('two\n');
  await rx2.waitOutput(/n=2:two/, 30_000 * SLOWDOWN);
  sb.ok(['delete', '--force', id2]);
});

test('checkpoint --pre-dump, then a dump with --parent-path: the container keeps running after the pre-dump and the final image restores', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  const b = counterBundle(sb);
  const id = sb.id('pre');
  const pid = await runCounter(sb, b, id, 3);
  const pre = path.join(sb.dir, 'pre');
  const final = path.join(sb.dir, 'final');
  sb.ok(['checkpoint', '--pre-dump', '--image-path', pre, id]);
  assert.ok(isAlive(pid) && sb.state(id).status === 'running', 'a pre-dump leaves the container running');
  assert.ok(fs.readdirSync(pre).some((f) => /^pages-\d+\.img$/.test(f)), `memory pages in the pre-dump: ${fs.readdirSync(pre)}`);
  assert.equal(fs.existsSync(path.join(pre, 'descriptors.json')), false, 'a pre-dump writes no descriptors.json (runc neither)');
  const at = counted(b).length;
  await waitCount(b, at + 3, 'after the pre-dump');
  sb.ok(['checkpoint', '--parent-path', '../pre', '--image-path', final, id]);
  assert.ok(await sb.waitDead(pid));
  assert.equal(fs.readlinkSync(path.join(final, 'parent')), '../pre', 'CRIU links the final image to its parent');
  const stopped = counted(b);
  const id2 = sb.id('pre2');
  sb.ok(['restore', '-d', '--image-path', final, '--bundle', b.dir, id2]);
  sb.track(sb.state(id2).pid);
  assertContinuous(await waitCount(b, stopped.at(-1) + 3, 'after the restore'), 'pre-dump + dump + restore');
  sb.ok(['delete', '--force', id2]);
  assertGone(sb, id2, b);
});

test('restore in the foreground waits for the restored container, returns its exit code and removes it', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  const b = counterBundle(sb);
  const id = sb.id('fg');
  await runCounter(sb, b, id, 3);
  const images = path.join(sb.dir, 'images');
  sb.ok(['checkpoint', '--image-path', images, id]);
  const id2 = sb.id('fg2');
  const restore = sb.tsrtAsync(['restore', '--image-path', images, '--bundle', b.dir, id2]);
  let q;
  const st = await waitUntil(() => {
    q = sb.tsrt(['state', id2]);
    return q.status === 0 && JSON.parse(q.stdout).status === 'running' && JSON.parse(q.stdout);
  }, 60_000, () => `the restored container to run: ${show(q)}`, 100);
  sb.track(st.pid);
  sb.ok(['kill', id2, 'KILL']);
  const r = await restore;
  assert.equal(r.status, 137, `128 + SIGKILL, as run in the foreground: ${show(r)}`);
  assertGone(sb, id2, b);
});

test('the RPC messages tsrt writes are CRIU\'s: decoded by pycriu\'s rpc_pb2 (generated from CRIU\'s rpc.proto), and its answers decode in tsrt', async (t) => {
  const py = spawnSync('python3', ['-c', 'import sys; sys.path.insert(0, "/usr/lib/python3/dist-packages"); import pycriu.rpc_pb2'], { encoding: 'utf8' });
  if (py.status !== 0) return t.skip('python3 with pycriu (Debian\'s criu package) is not installed');
  const { encodeRequest, decodeResponse } = await import('../dist/lib.js');
  const req = encodeRequest({
    type: 'RESTORE',
    opts: {
      images_dir_fd: 7, log_level: 4, log_file: 'restore.log', root: '/r', rst_sibling: true, manage_cgroups_mode: 'SOFT',
      ext_mnt: [{ key: '/data', val: '/src' }], inherit_fd: [{ key: 'pipe:[12]', fd: 1 }], cg_root: [{ path: '/c' }],
      external: ['net[5]:extRootNetNS'], empty_ns: 0x40000000, orphan_pts_master: true, lsm_mount_context: 'ctx',
    },
  });
  const script = `
import sys, json; sys.path.insert(0, "/usr/lib/python3/dist-packages")
from pycriu import rpc_pb2 as r
from google.protobuf import json_format
q = r.criu_req(); q.ParseFromString(bytes.fromhex(sys.argv[1]))
print(json.dumps(json_format.MessageToDict(q, preserving_proto_field_name=True)))
a = r.criu_resp(type=r.NOTIFY, success=True); a.notify.script = "post-restore"; a.notify.pid = 42
print(a.SerializeToString().hex())
`;
  const r = spawnSync('python3', ['-c', script, req.toString('hex')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [decoded, answer] = r.stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(decoded), {
    type: 'RESTORE',
    opts: {
      images_dir_fd: 7, log_level: 4, log_file: 'restore.log', root: '/r', rst_sibling: true, manage_cgroups_mode: 'SOFT',
      ext_mnt: [{ key: '/data', val: '/src' }], inherit_fd: [{ key: 'pipe:[12]', fd: 1 }], cg_root: [{ path: '/c' }],
      external: ['net[5]:extRootNetNS'], empty_ns: 0x40000000, orphan_pts_master: true, lsm_mount_context: 'ctx',
    },
  });
  assert.deepEqual(decodeResponse(Buffer.from(answer, 'hex')), { type: 'NOTIFY', success: true, notify: { script: 'post-restore', pid: 42 } });
});

/** Binds of the test: /data from outer, /data/inner/deep (a dir) and /data/f (a file) nested in it. */
function nestedBinds(sb, c) {
  const outer = sb.mkdir('outer');
  const deep = sb.mkdir('deep');
  const file = path.join(sb.mkdir('file'), 'f');
  fs.writeFileSync(file, 'bound file\n');
  c.mounts.push(
    { destination: '/data', type: 'bind', source: outer, options: ['rbind', 'rw'] },
    { destination: '/data/inner/deep', type: 'bind', source: deep, options: ['rbind', 'rw'] },
    { destination: '/data/f', type: 'bind', source: file, options: ['bind', 'rw'] },
  );
  return outer;
}

// Runs without CRIU: the mount points are made before CRIU is asked (which then fails on an
// empty image dir, or on a kernel it cannot run on).
test('restore makes mount points nested in a bind mount inside its source (as runc), stays in the rootfs, and leaves no mount', async (t) => {
  const sb = new Sandbox(t);
  const decoy = sb.mkdir('decoy'); // outside the rootfs: nothing may appear in it
  let outer;
  const b = sb.bundle({ copyRootfs: true, patch: (c) => {
    outer = nestedBinds(sb, c);
    // a symlink in the bind source pointing at the decoy's host path, with a mount below it
    c.mounts.push({ destination: '/data/esc/x', type: 'bind', source: sb.mkdir('x'), options: ['rbind'] });
  } });
  fs.symlinkSync(decoy, path.join(outer, 'esc'));
  const images = sb.mkdir('images');
  fs.writeFileSync(path.join(images, 'descriptors.json'), '["/dev/null","/dev/null","/dev/null"]');
  const mountsBefore = hostMounts().length;
  const id = sb.id('rsnest');
  const r = sb.tsrt(['restore', '-d', '--image-path', images, '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, `an empty image dir cannot be restored: ${show(r)}`);
  assert.ok(fs.statSync(path.join(outer, 'inner', 'deep')).isDirectory(), `the nested mount point /data/inner/deep was made in the bind source ${outer}: ${show(r)}`);
  assert.ok(fs.statSync(path.join(outer, 'f')).isFile(), 'the nested file mount point /data/f is a file in the bind source');
  assert.equal(fs.existsSync(path.join(b.rootfs, 'data', 'inner')), false, 'not below the bind, in the rootfs');
  assert.deepEqual(fs.readdirSync(decoy), [], 'the symlink in the bind source did not lead the mount point out of the rootfs');
  assert.ok(fs.statSync(path.join(b.rootfs, decoy, 'x')).isDirectory(), 'the symlink was resolved inside the rootfs');
  assert.deepEqual(hostMounts().filter((l) => l.includes(sb.dir)), [], 'every temporary bind was detached');
  assert.equal(hostMounts().length, mountsBefore, 'the host has as many mounts as before');
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'the failed restore leaves no state');
});

test('restore recreates the mount points nested in a bind mount that the bind source lost, and --no-pivot restores as without it (as runc: CRIU sets up the root)', needsCriu, async (t) => {
  const sb = new Sandbox(t);
  let outer;
  const b = counterBundle(sb, (c) => { outer = nestedBinds(sb, c); });
  const id = sb.id('cpnest');
  const pid = await runCounter(sb, b, id, 3);
  const images = path.join(sb.dir, 'images');
  const cp = sb.tsrt(['checkpoint', '--image-path', images, id]);
  assert.equal(cp.status, 0, show(cp));
  assert.ok(await sb.waitDead(pid), 'the checkpointed init is gone');
  const stopped = counted(b);
  // the bind source loses the nested mount points, as a fresh copy of a volume would
  fs.rmSync(path.join(outer, 'inner'), { recursive: true });
  fs.rmSync(path.join(outer, 'f'));
  const mountsBefore = hostMounts().filter((l) => l.includes(sb.dir)).length;
  const id2 = sb.id('rsnest');
  const rs = sb.tsrt(['restore', '-d', '--no-pivot', '--image-path', images, '--bundle', b.dir, id2]);
  assert.equal(rs.status, 0, show(rs));
  const st = sb.state(id2);
  sb.track(st.pid);
  assertContinuous(await waitCount(b, stopped.at(-1) + 3, 'after the restore'), 'restore with nested binds');
  assert.ok(fs.statSync(path.join(outer, 'inner', 'deep')).isDirectory(), '/data/inner/deep made again in the bind source');
  const ex = sb.tsrt(['exec', id2, 'cat', '/data/f']);
  assert.equal(ex.status, 0, show(ex));
  assert.equal(ex.stdout, 'bound file\n', 'the nested file bind is restored');
  assert.equal(hostMounts().filter((l) => l.includes(sb.dir)).length, mountsBefore, 'no temporary bind is left on the host');
  sb.ok(['kill', id2, 'KILL']);
  assert.ok(await sb.waitDead(st.pid), 'kill reaches the restored init');
  await sb.waitStatus(id2, 'stopped');
  sb.ok(['delete', id2]);
  assertGone(sb, id2, b);
});
