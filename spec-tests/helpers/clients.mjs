// Helpers for the end-to-end tests that drive tsrt from real clients (clients-*.test.mjs):
// finding the clients' binaries, running commands with a time limit, the busybox image
// made offline from bundle/rootfs, a tmux terminal, the host cgroup file behind a
// container's /proc/self/cgroup, a private containerd, and clean-up of a temp dir. Not a
// test file.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEMO_CONFIG, ROOTFS, TMP_PREFIX, TSRT, hostMounts, mountPoint, processesUsing, runToFiles, show, waitUntil } from './tsrt.mjs';

/** Absolute path of an executable found in PATH (plus the sbin dirs), or undefined. */
export function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs.filter(Boolean)) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Why a test file cannot run here (a reason for `skip`), or false. */
export function missing(names) {
  if (process.getuid?.() !== 0) return 'needs root';
  const absent = names.filter((n) => !which(n));
  return absent.length ? `${absent.join(', ')} not installed (.ci/run installs podman and containerd)` : false;
}

/** A fresh temp dir under the prefix the other tests use (mountChanges ignores foreign ones). */
export function makeTempDir(tag) {
  return fs.mkdtempSync(`${TMP_PREFIX}${tag}-`);
}

const LIMIT_MS = 120_000;
let seq = 0;

/**
 * Runs a command and waits for it, stdout and stderr in files under `dir` (runToFiles: a
 * daemon the command starts may keep pipes open), the command line beside them for a
 * post-mortem. stdout and stderr are read once, when it ends.
 */
export function run(dir, cmd, args, opts = {}) {
  const base = path.join(dir, 'io', `${++seq}`);
  fs.mkdirSync(path.dirname(base), { recursive: true });
  fs.writeFileSync(`${base}.cmd`, `${cmd} ${args.join(' ')}\n`);
  const r = runToFiles(cmd, args, { out: `${base}.out`, err: `${base}.err`, input: opts.input, env: opts.env, timeout: opts.timeout ?? LIMIT_MS });
  return { cmd: r.cmd, status: r.status, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr };
}

/** waitUntil for the clients' tests: every 50 ms (a poll may start podman or ctr), 20 s unless told. */
export function waitFor(what, fn, limitMs = 20_000) {
  return waitUntil(fn, limitMs, `waiting for ${what}`, 50);
}

/**
 * A containers.conf for podman on tsrt in the temp dir D (CONTAINERS_CONF): tsrt as the
 * runtime with JSON errors, default_ulimits below this machine's hard limits, files only
 * under D; `cgroupManager` "cgroupfs" or "systemd". Returns its path.
 */
export function writePodmanConf(D, cgroupManager, by) {
  const conf = path.join(D, 'containers.conf');
  fs.writeFileSync(conf, `# written by ${by}
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "${cgroupManager}"
events_logger = "file"
events_logfile_path = "${D}/events.log"
image_copy_tmp_dir = "${D}/tmp"
tmp_dir = "${D}/tmp"
volume_path = "${D}/volumes"
runtime = "tsrt"
runtime_supports_json = ["tsrt"]

[engine.runtimes]
tsrt = ["${TSRT}"]

[network]
network_config_dir = "${D}/networks"
`);
  return conf;
}

// --- the image ---------------------------------------------------------------------------

/** bundle/rootfs as a tar (numeric owners), for `podman import`. */
export function rootfsTar(file) {
  const r = spawnSync('tar', ['--numeric-owner', '-C', ROOTFS, '-cf', file, '.']);
  if (r.status !== 0) throw new Error(`tar of ${ROOTFS}: ${r.stderr}`);
  return file;
}

/**
 * The busybox image as an OCI archive for `ctr images import`, made offline: `podman
 * import` of bundle/rootfs and `podman save`, with podman storage of its own under dir/p,
 * removed right after (podman refuses a runroot path longer than 50 characters: short names).
 * `cmd` is the image's CMD (a CRI sandbox image needs one that keeps running).
 */
export function busyboxArchive(dir, image, cmd = ['/bin/sh']) {
  const P = path.join(dir, 'p');
  fs.mkdirSync(path.join(P, 'tmp'), { recursive: true });
  const podmanBase = ['--root', path.join(P, 'root'), '--runroot', path.join(P, 'run'), '--tmpdir', path.join(P, 'tmp'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
  const penv = { ...process.env, TMPDIR: path.join(P, 'tmp') };
  const podman = (args) => {
    const r = run(dir, which('podman'), [...podmanBase, ...args], { env: penv });
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  };
  const archive = path.join(dir, 'busybox-oci.tar');
  try {
    podman(['import', '--change', `CMD ${JSON.stringify(cmd)}`, rootfsTar(path.join(dir, 'rootfs.tar')), image]);
    podman(['save', '--format', 'oci-archive', '-o', archive, image]);
  } finally {
    run(dir, which('podman'), [...podmanBase, 'system', 'reset', '--force'], { env: penv });
  }
  return archive;
}

/**
 * A private containerd's config.toml in dir C (root, state, sockets, the opt plugin's dir
 * all under it), written by `by`; returns its path. The CRI plugin is off unless `cri`
 * gives its settings (TOML text appended as is).
 */
export function writeContainerdConfig(C, by, { cri } = {}) {
  const config = path.join(C, 'config.toml');
  fs.writeFileSync(config, `# written by ${by}
version = 2
root = "${C}/root"
state = "${C}/state"
${cri ? '' : 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'}

[grpc]
  address = "${C}/containerd.sock"

[ttrpc]
  address = "${C}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${C}/opt"
${cri ?? ''}`);
  return config;
}

/**
 * Starts a private containerd on `config` (writeContainerdConfig's, in dir C) as our child,
 * in a private mount namespace with a tmpfs of its own on `tmpfsOn`: containerd 1.6 puts
 * its shims' sockets in /run/containerd/s whatever the config says. "/run" (the default)
 * hides the whole of the host's /run; "/run/containerd" (made if absent) keeps the rest
 * visible, which the runtime needs under --systemd-cgroup (systemd's and D-Bus's sockets);
 * a list mounts one on each (the CRI tests add /var/lib, where libcni keeps its cache).
 * unshare execs sh, which mounts and execs containerd: one pid throughout. Resolves with
 * the daemon (startDaemon's) once `ctr version` answers; its log is C/containerd.log.
 */
export async function startContainerd(dir, C, config, { tmpfsOn = '/run', name = 'tsrt-test-run', env = process.env } = {}) {
  const log = path.join(C, 'containerd.log');
  const mounts = [tmpfsOn].flat().map((d) => `mkdir -p ${d} && mount -t tmpfs -o mode=0755,size=16m ${name} ${d} && `).join('');
  const daemon = startDaemon(which('unshare'), ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c',
    `${mounts}exec "$0" --config "$1"`, which('containerd'), config], log, env);
  await waitFor('containerd to answer', () => {
    if (daemon.child.exitCode !== null) throw new Error(`containerd exited: ${fs.readFileSync(log, 'utf8')}`);
    return run(dir, which('ctr'), ['--address', path.join(C, 'containerd.sock'), '--connect-timeout', '5s', 'version']).status === 0;
  }, 30_000);
  return daemon;
}

/** A task's pid and status in the output of `ctr task ls`, or undefined. */
export function taskInList(ls, id) {
  const line = ls.split('\n').find((l) => l.split(/\s+/)[0] === id);
  if (!line) return undefined;
  const [, pid, status] = line.trim().split(/\s+/);
  return { pid: Number(pid), status };
}

// --- a private containerd -----------------------------------------------------------------

/**
 * A containerd of one test file's own, for the tests that drive tsrt through it
 * (clients-containerd, shim): root, state, sockets and the opt plugin's dir in a temp dir
 * of the file (the CRI plugin off, writeContainerdConfig), the busybox image imported
 * offline (busyboxArchive), ctr pointed at it. containerd 1.6 puts its shims' sockets in
 * /run/containerd/s whatever the config says, so it runs in a private mount namespace with
 * a tmpfs of its own on /run: nothing appears in the host's /run/containerd and its mounts
 * (the containers' rootfs) stay in that namespace. It is stopped by its pid.
 *
 * opts: tag (temp dir and tmpfs name), by (the test file, in the config), namespace,
 * image, idPrefix, dirs (more dirs under C), env (containerd's environment, a function
 * called at each start), extraDirs (more temp dirs whose processes teardown kills).
 * Use: `before(() => fx.setup())`, `after(() => fx.teardown())`, fx.id(t, what) for each
 * container (removed at the test's end), fx.ctr / fx.ok / fx.task, fx.expectEmpty() and
 * fx.stopChecked() in the file's last test.
 */
export function privateContainerd({ tag, by, namespace, image, idPrefix, dirs = [], env = () => process.env, extraDirs = () => [] }) {
  const fx = {
    D: undefined, // the temp dir
    C: undefined, // containerd's files (D/ctd)
    daemon: undefined,
    ids: new Set(),
    log: () => fs.readFileSync(path.join(fx.C, 'containerd.log'), 'utf8').slice(-3000),
    up: () => !!fx.daemon && daemonAlive(fx.daemon),

    ctrArgs: (args) => ['--address', path.join(fx.C, 'containerd.sock'), '--connect-timeout', '5s', '--namespace', namespace, ...args],
    /** `ctr` on our containerd; throws with the log's tail if containerd is gone. */
    ctr(args, opts) {
      if (fx.daemon && !daemonAlive(fx.daemon)) throw new Error(`containerd (pid ${fx.daemon.child.pid}) is gone; its log ends with:\n${fx.log()}`);
      return run(fx.D, which('ctr'), fx.ctrArgs(args), opts);
    },
    /** ctr that must succeed. */
    ok(args, opts) {
      const r = fx.ctr(args, opts);
      assert.equal(r.status, 0, show(r));
      return r;
    },
    /** The task's pid and status from `ctr task ls`, or undefined. */
    task: (i) => taskInList(fx.ok(['task', 'ls']).stdout, i),

    /** A container id of this run; its task and container are removed at the test's end. */
    id(t, what) {
      const i = `${idPrefix}-${what}`;
      fx.ids.add(i);
      t.after(() => fx.removeContainer(i));
      return i;
    },
    /** Removes a task (killing it) and its container, if containerd still runs. */
    removeContainer(i) {
      if (!fx.up()) return;
      for (let n = 0; n < 5; n++) {
        const r = fx.ctr(['task', 'delete', '--force', i], { timeout: 30_000 });
        if (r.status === 0 || /not found/.test(r.stderr)) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      }
      fx.ctr(['container', 'rm', i], { timeout: 30_000 });
    },

    /** Starts containerd (again, for a restart) and waits until it answers. */
    async start() {
      fx.daemon = await startContainerd(fx.D, fx.C, path.join(fx.C, 'config.toml'), { name: `${tag}-run`, env: env() });
    },
    stop: () => stopDaemon(fx.daemon),

    async setup() {
      fx.D = makeTempDir(tag);
      fx.C = path.join(fx.D, 'ctd');
      for (const d of ['fifo', 'opt', ...dirs]) fs.mkdirSync(path.join(fx.C, d), { recursive: true });
      const archive = busyboxArchive(fx.D, image);
      writeContainerdConfig(fx.C, by);
      await fx.start();
      fx.ok(['images', 'import', '--base-name', image.split(':')[0], archive]);
    },

    /** ctr's level /<namespace> of each cgroup hierarchy (the containers' cgroups are below it). */
    namespaceCgroups: () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .filter((line) => / - cgroup2? /.test(line)).map((line) => path.join(line.split(' ')[4], namespace)),
    /** For the last test: removes the tests' containers; no task, container or cgroup of them is left. */
    expectEmpty() {
      for (const i of fx.ids) fx.removeContainer(i);
      assert.equal(fx.ok(['task', 'ls', '--quiet']).stdout, '');
      assert.equal(fx.ok(['container', 'ls', '--quiet']).stdout, '');
      const left = fx.namespaceCgroups().filter((d) => fs.existsSync(d))
        .flatMap((d) => fs.readdirSync(d).filter((n) => n.startsWith(`${idPrefix}-`)).map((n) => path.join(d, n)));
      assert.deepEqual(left, [], 'no cgroup of the tests\' containers left');
    },
    /** For the last test: stops containerd, which must exit cleanly. */
    async stopChecked() {
      const { code, signal } = await fx.stop();
      assert.ok(code === 0 || signal === 'SIGTERM', `containerd stopped: ${code} ${signal}`);
    },

    /** after(): removes the containers, stops containerd, kills what outlived it, removes the dirs. */
    async teardown() {
      if (!fx.D) return;
      if (fx.daemon) {
        for (const i of fx.ids) fx.removeContainer(i);
        await fx.stop();
      }
      // Shims outlive containerd; ours name our socket (or the extra dirs) in their arguments.
      for (const pid of [fx.C, ...extraDirs()].flatMap((d) => pidsMentioning(d))) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      removeTempDir(fx.D);
      for (const d of extraDirs()) removeTempDir(d);
      // ctr puts containers in /<namespace>/<id> of each hierarchy: remove the namespace's
      // level if no other run uses it (rmdir fails on a cgroup with children or tasks).
      for (const d of fx.namespaceCgroups()) {
        try { fs.rmdirSync(d); } catch { /* absent or in use */ }
      }
    },
  };
  return fx;
}

// --- what tsrt itself says ----------------------------------------------------------------

/**
 * The message tsrt gives for `create` of a bundle whose process.args[0] is `exe`, with
 * tsrt run directly (nothing of a client involved): the reference for the text the
 * clients must show. The bundle and state dir live under dir/ref.
 */
export function tsrtCreateError(dir, exe) {
  const ref = path.join(dir, 'ref');
  fs.mkdirSync(ref, { recursive: true });
  const config = JSON.parse(fs.readFileSync(DEMO_CONFIG, 'utf8'));
  config.root = { path: ROOTFS, readonly: true };
  config.process.args = [exe];
  fs.writeFileSync(path.join(ref, 'config.json'), JSON.stringify(config));
  const log = path.join(ref, 'log.json');
  const r = run(dir, TSRT, ['--root', path.join(ref, 'state'), '--log', log, '--log-format', 'json', 'create', '--bundle', ref, `ref-${process.pid}`]);
  if (r.status === 0) throw new Error(`tsrt create of ${exe} succeeded: ${show(r)}`);
  return JSON.parse(fs.readFileSync(log, 'utf8').trim()).msg;
}

// --- cgroups ----------------------------------------------------------------------------

/** Host mount point of the cgroup v1 hierarchy with `controller`, and of cgroup2. */
function cgroupMounts() {
  const v1 = new Map();
  let v2;
  for (const line of hostMounts()) {
    const [pre, post] = line.split(' - ');
    const [fstype, , opts = ''] = post.split(' ');
    const mp = mountPoint(line);
    if (pre.split(' ')[3] !== '/') continue;
    if (fstype === 'cgroup2') v2 ??= mp;
    if (fstype === 'cgroup') for (const o of opts.split(',')) if (!v1.has(o)) v1.set(o, mp);
  }
  return { v1, v2 };
}

/**
 * The host file of `controller` for a process whose /proc/PID/cgroup is `text`:
 * v1File in its v1 hierarchy, or v2File in the cgroup2 one when no v1 hierarchy has it.
 */
export function hostCgroupFile(text, controller, v1File, v2File) {
  const { v1, v2 } = cgroupMounts();
  const lines = text.split('\n').filter(Boolean).map((l) => l.split(':'));
  const mp = v1.get(controller);
  const own = lines.find(([, ctrls]) => ctrls.split(',').includes(controller));
  if (mp && own) return path.join(mp, own.slice(2).join(':'), v1File);
  const unified = lines.find(([n, ctrls]) => n === '0' && ctrls === '');
  if (!v2 || !unified) throw new Error(`no ${controller} cgroup in ${JSON.stringify(text)}`);
  return path.join(v2, unified.slice(2).join(':'), v2File);
}

// --- clean-up ---------------------------------------------------------------------------

/** Mount points at or under dir, as /proc/self/mountinfo shows them (deepest last). */
export function mountsUnder(dir) {
  return hostMounts().map(mountPoint).filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

/** Live pids whose command line mentions `text` (a daemon we started with our temp dir in its argv). */
export function pidsMentioning(text) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const state = fs.readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes(text) && state !== 'Z') out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Last resort for a temp dir: SIGKILL what still runs from it or names it, detach what is
 * still mounted under it, remove it (never crossing into another file system).
 */
export function removeTempDir(dir) {
  for (const pid of [...new Set([...processesUsing(dir), ...pidsMentioning(dir)])]) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const mp of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  spawnSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' });
}

/**
 * Starts a daemon as our child (so we reap it) with output to logFile; returns
 * {child, exited: Promise<{code, signal}>}.
 */
export function startDaemon(cmd, args, logFile, env = process.env) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited };
}

/**
 * Whether the daemon still runs, from /proc (its child.exitCode is only updated when the
 * event loop runs, and the tests block it with spawnSync).
 */
export function daemonAlive({ child }) {
  try {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the child has exited. */
export async function stopDaemon({ child, exited }, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Live tsrt shim processes of the containerd whose socket is `socket` (their argv names it). */
export function tsrtShimPids(socket) {
  return pidsMentioning(socket).filter((pid) => {
    try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('containerd-shim-tsrt-v2'); } catch { return false; }
  });
}
