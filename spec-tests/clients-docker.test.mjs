// dockerd runs its containers on tsrt, end to end: docker -> dockerd -> containerd ->
// containerd-shim-runc-v2 -> tsrt (a `runtimes` entry "tsrt" in the daemon's config,
// `docker run --runtime tsrt`). Every scenario looks at the result inside the container
// (its output, its /proc) and on the host (tsrt's state, cgroups, processes, mounts).
//
// The test starts its own dockerd: --data-root, --exec-root, --pidfile, the socket and
// the config file all live in this file's temp dir; no iptables, no bridge, no IP
// forwarding, containers only get --network none, the storage driver is vfs, and the
// containers' cgroups go under a parent of this run's own. dockerd launches its own
// containerd (under the exec-root). containerd 1.6 puts its shims' sockets in
// /run/containerd/s whatever it is told, so dockerd runs in a mount namespace of its own
// with a tmpfs on /run; that namespace is a slave of the host's (mounts made on the host
// reach it, nothing it mounts reaches the host), and the test's shared directory is made
// shared again inside it so `-v SRC:DST:rshared` has a shared source, as docker demands.
// dockerd is stopped by the pid it wrote to its pidfile. The image is `docker import` of
// bundle/rootfs: nothing is pulled.
//
// /usr/local/bin/docker on some machines is a stray client of another version: the client
// used is Debian's, /usr/bin/docker (package docker.io).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TSRT, cgroupDirsOf, isAlive, processesWithCmdline, show } from './helpers/tsrt.mjs';
import {
  daemonAlive, makeTempDir, missing, mountsUnder, pidsMentioning, removeTempDir, rootfsTar, run, startDaemon, stopDaemon,
  waitFor, which,
} from './helpers/clients.mjs';

const DOCKER = '/usr/bin/docker';
const skip = missing(['dockerd', 'containerd', 'containerd-shim-runc-v2', 'unshare'])
  || (fs.existsSync(DOCKER) ? false : `${DOCKER} not installed (.ci/run installs docker.io)`);
const IMAGE = 'tsrt-clients-busybox:latest';
const tag = `tsrt-${process.pid}`;
const CGROUP_PARENT = `/tsrt-test-docker-${process.pid}`;
const RUN = ['--runtime', 'tsrt', '--network', 'none'];
const hadRunContainerd = fs.existsSync('/run/containerd');

let D; // the temp dir
let SHARED; // the shared mount point of the rshared test, made before dockerd starts
let daemon;
let dockerdPid;
const names = new Set();

function docker(args, opts = {}) {
  if (daemon && !daemonAlive(daemon)) {
    throw new Error(`dockerd (pid ${daemon.child.pid}) is gone; its log ends with:\n${fs.readFileSync(path.join(D, 'dockerd.log'), 'utf8').slice(-3000)}`);
  }
  return run(D, DOCKER, ['--host', `unix://${path.join(D, 'docker.sock')}`, ...args], { env: { ...process.env, DOCKER_CONFIG: path.join(D, 'client') }, ...opts });
}

function ok(args, opts) {
  const r = docker(args, opts);
  assert.equal(r.status, 0, show(r));
  return r;
}

/** A container name of this run, removed (with its container) by the test's cleanup. */
function name(t, what) {
  const n = `${tag}-${what}`;
  names.add(n);
  t.after(() => { if (daemon && daemonAlive(daemon)) docker(['rm', '--force', n]); });
  return n;
}

function inspect(n) {
  return JSON.parse(ok(['inspect', n]).stdout)[0];
}

/**
 * tsrt's state dir as dockerd's shim gives it: docker 20.10 passes every runtime of its
 * config the root <exec-root>/runtime-runc (with BinaryName its path), the shim adds the
 * namespace.
 */
const tsrtRoot = () => path.join(D, 'exec', 'runtime-runc', 'moby');

function tsrtState(id) {
  return run(D, TSRT, ['--root', tsrtRoot(), 'state', id]);
}

/** Lines of dockerd's mount namespace's mountinfo that mention text. */
function daemonMounts(text) {
  return fs.readFileSync(`/proc/${dockerdPid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(text));
}

/** Every cgroup hierarchy's mount point on the host. */
function cgroupHierarchies() {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]);
}

before(async () => {
  if (skip) return;
  D = makeTempDir('docker');
  for (const d of ['data', 'exec', 'client', 'tmp']) fs.mkdirSync(path.join(D, d));
  SHARED = path.join(D, 'shared');
  fs.mkdirSync(SHARED);
  for (const args of [['-t', 'tmpfs', 'tsrt-test-shared', SHARED], ['--make-shared', SHARED]]) {
    const m = run(D, 'mount', args);
    assert.equal(m.status, 0, show(m));
  }
  const config = path.join(D, 'daemon.json');
  fs.writeFileSync(config, JSON.stringify({ runtimes: { tsrt: { path: TSRT } }, 'deprecated-key-path': path.join(D, 'key.json') }, null, 2));
  const flags = [
    '--config-file', config, '--data-root', path.join(D, 'data'), '--exec-root', path.join(D, 'exec'),
    '--pidfile', path.join(D, 'dockerd.pid'), '--host', `unix://${path.join(D, 'docker.sock')}`,
    '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false', '--bridge=none',
    '--userland-proxy=false', '--storage-driver', 'vfs', '--exec-opt', 'native.cgroupdriver=cgroupfs',
    '--cgroup-parent', CGROUP_PARENT,
  ];
  // unshare execs sh, which mounts the private /run, makes our directory shared inside the
  // slave namespace and execs dockerd: one pid throughout.
  daemon = startDaemon(which('unshare'), ['--mount', '--propagation', 'slave', '--', '/bin/sh', '-c',
    'mount -t tmpfs -o mode=0755,size=16m tsrt-test-run /run && mount --make-shared "$1" && shift && exec "$@"',
    'sh', SHARED, which('dockerd'), ...flags],
  path.join(D, 'dockerd.log'), { ...process.env, TMPDIR: path.join(D, 'tmp') });
  await waitFor('dockerd to answer', () => {
    if (!daemonAlive(daemon)) throw new Error(`dockerd exited: ${fs.readFileSync(path.join(D, 'dockerd.log'), 'utf8').slice(-3000)}`);
    return docker(['version']).status === 0;
  }, 60_000);
  dockerdPid = Number(fs.readFileSync(path.join(D, 'dockerd.pid'), 'utf8').trim());
  ok(['import', '--change', 'CMD ["/bin/sh"]', rootfsTar(path.join(D, 'rootfs.tar')), IMAGE]);
});

after(async () => {
  if (!D) return;
  if (daemon) {
    if (daemonAlive(daemon)) for (const n of names) docker(['rm', '--force', n]);
    await stopDaemon(daemon, 20_000);
    // Shims outlive dockerd and its containerd; ours name our exec-root in their arguments.
    for (const pid of pidsMentioning(D)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  removeTempDir(D);
  for (const h of cgroupHierarchies()) {
    try { fs.rmdirSync(path.join(h, CGROUP_PARENT)); } catch { /* absent or in use */ }
  }
});

test('docker run --rm --runtime tsrt: output, pid 1, loopback up, the exit code, and nothing left', { skip }, () => {
  const r = docker(['run', '--rm', ...RUN, IMAGE, 'sh', '-c',
    'echo hello; echo "pid=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; cat /sys/class/net/lo/flags; exit 7']);
  assert.equal(r.status, 7, show(r));
  const [hello, pid, cmd, loFlags] = r.stdout.split('\n');
  assert.equal(hello, 'hello');
  assert.equal(pid, 'pid=1', 'the command is pid 1 of its own PID namespace');
  assert.match(cmd, /^sh -c echo hello/);
  assert.equal(Number(loFlags) & 1, 1, `lo is up in the container's network namespace (flags ${loFlags})`);
  const info = JSON.parse(ok(['info', '--format', '{{json .Runtimes}}']).stdout);
  assert.equal(info.tsrt?.path, TSRT, 'dockerd knows tsrt as a runtime');
  assert.deepEqual(fs.existsSync(tsrtRoot()) ? fs.readdirSync(tsrtRoot()) : [], [], 'no tsrt state left');
});

test('docker run -d, exec, stop: the init gets SIGTERM, its exit code is kept, its processes, state and cgroups are gone', { skip }, async (t) => {
  const n = name(t, 'detached');
  const id = ok(['run', '-d', '--name', n, ...RUN, IMAGE, 'sh', '-c',
    'trap "echo got-term; exit 3" TERM; echo started; sleep 1000 & sleep 1000 & wait']).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const info = inspect(n);
  assert.equal(info.State.Status, 'running');
  assert.equal(info.HostConfig.Runtime, 'tsrt');
  const pid = info.State.Pid;
  await waitFor('the init to start', () => /started/.test(ok(['logs', n]).stdout));
  const st = tsrtState(id);
  assert.equal(st.status, 0, show(st));
  assert.equal(JSON.parse(st.stdout).pid, pid, 'tsrt holds the container docker reports');
  assert.notDeepEqual(cgroupDirsOf(path.join(CGROUP_PARENT.slice(1), id)), [], 'its cgroup is under the daemon\'s --cgroup-parent');

  const ex = ok(['exec', n, 'sh', '-c', 'echo "me=$$"; cat /proc/1/cmdline | tr "\\0" " "; echo; ps -o pid,pgid,sid | sed -n 2p']);
  const [me, init, ps1] = ex.stdout.split('\n');
  assert.notEqual(me, 'me=1', 'the exec\'d process is not the init');
  assert.match(init, /^sh -c trap/, 'it is in the container\'s PID namespace');
  assert.deepEqual(ps1.trim().split(/\s+/), ['1', '1', '1'], 'the init leads its own session and process group');
  const code = docker(['exec', n, 'sh', '-c', 'exit 4']);
  assert.equal(code.status, 4, show(code));
  const inside = processesWithCmdline('sleep 1000').filter((p) => p !== pid).filter((p) => {
    try { return fs.readlinkSync(`/proc/${p}/ns/pid`) === fs.readlinkSync(`/proc/${pid}/ns/pid`); } catch { return false; }
  });
  assert.equal(inside.length, 2, 'the two background sleeps run in the container');

  ok(['stop', '--time', '20', n]);
  assert.match(ok(['logs', n]).stdout, /got-term/, 'the init got SIGTERM');
  assert.equal(inspect(n).State.ExitCode, 3, 'its trap\'s exit code is what docker reports');
  for (const p of [pid, ...inside]) assert.ok(!isAlive(p), `process ${p} of the container is gone`);
  assert.notEqual(tsrtState(id).status, 0, 'tsrt has no state for it');
  assert.deepEqual(cgroupDirsOf(path.join(CGROUP_PARENT.slice(1), id)), [], 'its cgroups are removed');
  ok(['rm', n]);
  assert.deepEqual(daemonMounts(id), [], 'no mount of the container left in dockerd\'s namespace');
});

test('docker run --rm -v SRC:DST:rshared: a host mount made under SRC appears inside, a privileged container\'s mount reaches SRC, nothing left after', { skip }, async (t) => {
  const n = name(t, 'rshared');
  t.after(() => { for (const mp of mountsUnder(SHARED).reverse()) if (mp !== SHARED) run(D, 'umount', ['-l', mp]); });
  const id = ok(['run', '-d', '--rm', '--name', n, ...RUN, '--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined',
    '-v', `${SHARED}:/x:rshared`, IMAGE, 'sleep', '1000']).stdout.trim();
  const { Pid: pid } = inspect(n).State;
  // host -> container: a mount made after the container started.
  fs.mkdirSync(path.join(SHARED, 'from-host'));
  const m = run(D, 'mount', ['-t', 'tmpfs', 'tsrt-test-from-host', path.join(SHARED, 'from-host')]);
  assert.equal(m.status, 0, show(m));
  fs.writeFileSync(path.join(SHARED, 'from-host', 'f'), 'host-made\n');
  assert.ok(mountsUnder(SHARED).includes(path.join(SHARED, 'from-host')), 'the host has the new mount');
  // Read through the mount (not the directory beneath it), and see it is a mount there.
  const seen = ok(['exec', n, 'sh', '-c', 'cat /x/from-host/f; grep -c " /x/from-host .* tsrt-test-from-host " /proc/self/mountinfo']).stdout;
  assert.equal(seen, 'host-made\n1\n', 'the host\'s new mount is seen in the container');
  // container -> SRC, as dockerd's mount namespace (a slave of the host's, see above) sees it.
  ok(['exec', n, 'sh', '-c', 'mkdir /x/from-ctr && mount -t tmpfs tsrt-test-from-ctr /x/from-ctr && echo ctr-made > /x/from-ctr/f']);
  assert.equal(fs.readFileSync(`/proc/${dockerdPid}/root${SHARED}/from-ctr/f`, 'utf8'), 'ctr-made\n',
    'the container\'s mount reached the source directory in dockerd\'s namespace');
  assert.ok(daemonMounts(` ${SHARED}/from-ctr `).length > 0, 'it is a mount there');

  ok(['stop', '--time', '1', n]);
  await waitFor('docker to remove the container (--rm)', () => docker(['inspect', n]).status !== 0);
  assert.ok(!isAlive(pid), 'the init is gone');
  assert.notEqual(tsrtState(id).status, 0, 'tsrt has no state for it');
  assert.deepEqual(cgroupDirsOf(path.join(CGROUP_PARENT.slice(1), id)), [], 'its cgroups are removed');
  assert.deepEqual(daemonMounts(id), [], 'no mount of the container left in dockerd\'s namespace');
});

test('docker: nothing of the tests is left (containers, tsrt state, cgroups, mounts, processes), dockerd stopped by its pidfile', { skip }, async () => {
  for (const n of names) docker(['rm', '--force', n]);
  assert.equal(ok(['ps', '--all', '--quiet']).stdout, '', 'no container left');
  assert.deepEqual(fs.existsSync(tsrtRoot()) ? fs.readdirSync(tsrtRoot()) : [], [], 'no tsrt state');
  for (const h of cgroupHierarchies()) {
    const dir = path.join(h, CGROUP_PARENT);
    const children = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
    assert.deepEqual(children.map((e) => e.name), [], `no container cgroup left under ${dir}`);
  }
  assert.equal(dockerdPid, daemon.child.pid, 'the pidfile names the dockerd we started');
  process.kill(dockerdPid, 'SIGTERM');
  const { code, signal } = await daemon.exited;
  assert.ok(code === 0 || signal === 'SIGTERM', `dockerd stopped: ${code} ${signal}`);
  await waitFor('containerd and the shims to exit', () => pidsMentioning(D).length === 0, 20_000);
  assert.ok(!fs.existsSync(path.join(D, 'dockerd.pid')), 'dockerd removed its pidfile');
  assert.deepEqual(mountsUnder(D).filter((mp) => mp !== SHARED), [], 'nothing but our shared tmpfs mounted under the temp dir on the host');
  if (!hadRunContainerd) assert.ok(!fs.existsSync('/run/containerd'), 'the host has no /run/containerd');
  for (const d of ['data', 'exec']) {
    const r = run(D, 'rm', ['-rf', '--one-file-system', path.join(D, d)]);
    assert.equal(r.status, 0, show(r));
  }
});
