// Helpers for the end-to-end tests that drive tsrt from real clients (clients-*.test.mjs):
// finding the clients' binaries, running commands with a time limit, the busybox image
// made offline from bundle/rootfs, a tmux terminal, the host cgroup file behind a
// container's /proc/self/cgroup, and clean-up of a temp dir. Not a test file.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEMO_CONFIG, ROOTFS, TMP_PREFIX, TSRT, hostMounts, mountPoint, processesUsing, runToFiles, waitUntil } from './tsrt.mjs';

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
 * visible, which the runtime needs under --systemd-cgroup (systemd's and D-Bus's sockets).
 * unshare execs sh, which mounts and execs containerd: one pid throughout. Resolves with
 * the daemon (startDaemon's) once `ctr version` answers; its log is C/containerd.log.
 */
export async function startContainerd(dir, C, config, { tmpfsOn = '/run' } = {}) {
  const log = path.join(C, 'containerd.log');
  const daemon = startDaemon(which('unshare'), ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c',
    `mkdir -p ${tmpfsOn} && mount -t tmpfs -o mode=0755,size=16m tsrt-test-run ${tmpfsOn} && exec "$0" --config "$1"`,
    which('containerd'), config], log);
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
