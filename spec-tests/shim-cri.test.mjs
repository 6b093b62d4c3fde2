// containerd's CRI plugin runs pods through tsrt's shim (runtime_type
// "io.containerd.tsrt.v2", src/shim/, docs/shim.md "CRI"), driven over gRPC by the small
// CRI client of helpers/cri.mjs as the kubelet would: pods, containers, logs, exec, stop,
// OOM, a failing start, and the clean-up of a pod. Each scenario checks the container's
// own view and the host's (the shim's processes, tsrt's state, mounts, cgroups).
//
// containerd is this file's own (as shim.test.mjs: root, state, sockets in the temp dir,
// a private mount namespace with a tmpfs on /run, and one on /var/lib for libcni's cache),
// with the CRI plugin on. No traffic leaves a pod: the CNI network is a plugin written here
// that configures nothing and reports a TEST-NET-1 address (192.0.2.0/24) on eth0, after
// the loopback plugin containerd runs itself, so a pod's network namespace has lo only.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeScript } from './helpers/tsrt.mjs';
import {
  busyboxArchive, daemonAlive, makeTempDir, missing, mountsUnder, pidsMentioning, removeTempDir, run, startContainerd as startClientsContainerd, stopDaemon, tsrtShimPids,
  waitFor, which, writeContainerdConfig,
} from './helpers/clients.mjs';
import { criClient } from './helpers/cri.mjs';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const SHIM = path.join(DIST, 'containerd-shim-tsrt-v2');
const LOOPBACK = '/usr/lib/cni/loopback';
const skip = missing(['containerd', 'ctr', 'podman', 'unshare'])
  || (!fs.existsSync(SHIM) && 'dist/containerd-shim-tsrt-v2 not built (npm run build)')
  || (!fs.existsSync(LOOPBACK) && `${LOOPBACK} missing (Debian's containernetworking-plugins)`);
const IMAGE = 'localhost/tsrt-cri-busybox:latest';
const NS = 'k8s.io'; // the CRI plugin's containerd namespace
const tag = `cri-${process.pid}`;
const CGROUP_PARENT = `/tsrt-${tag}`;

let D; // the temp dir
let C; // containerd's files
let S; // the shims' sockets and tsrt's state (short paths: a socket path has 108 bytes)
let daemon;
let cri;

const socket = () => path.join(C, 'containerd.sock');
const shimRoot = () => path.join(S, 'state', NS);
const shimPids = () => tsrtShimPids(socket());

function ctr(args) {
  return run(D, which('ctr'), ['--address', socket(), '--connect-timeout', '5s', '--namespace', NS, ...args]);
}

function containerdLog() {
  return fs.readFileSync(path.join(C, 'containerd.log'), 'utf8').slice(-1500);
}

/** A CRI call; its error carries the end of containerd's log. */
async function call(method, request) {
  if (!daemonAlive(daemon)) throw new Error(`containerd (pid ${daemon.child.pid}) is gone; its log ends with:\n${containerdLog()}`);
  try {
    return await cri.call(method, request);
  } catch (e) {
    e.message += `\ncontainerd's log ends with:\n${containerdLog()}`;
    throw e;
  }
}

/** The CNI plugin of the tests: configures nothing, reports eth0 with a documentation-range address. */
function writeCni(dir) {
  const bin = path.join(dir, 'bin');
  const conf = path.join(dir, 'conf');
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(conf, { recursive: true });
  fs.symlinkSync(LOOPBACK, path.join(bin, 'loopback'));
  writeScript(path.join(bin, 'tsrt-test-net'), `# written by spec-tests/shim-cri.test.mjs: no interface, no address, no route
# is made; ADD only reports eth0 with a TEST-NET-1 address, which CRI requires.
cat >/dev/null
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"version":"4","address":"192.0.2.2/24","interface":0}]}\\n' "$CNI_NETNS" ;;
VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}\\n' ;;
esac
exit 0
`);
  fs.writeFileSync(path.join(conf, '10-tsrt-test.conflist'), JSON.stringify({ cniVersion: '0.4.0', name: 'tsrt-test', plugins: [{ type: 'tsrt-test-net' }] }));
  return { bin, conf };
}

/**
 * Whether we have CAP_SYS_RESOURCE (bit 24), which lowering an oom_score_adj needs: CRI
 * gives a sandbox -998; without the capability (this CI machine) containerd's
 * restrict_oom_score_adj clamps it to containerd's own score, as for rootless containerd.
 */
function canLowerOomScore() {
  const eff = fs.readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)/m)?.[1] ?? '0';
  return (BigInt(`0x${eff}`) >> 24n) & 1n ? true : false;
}

function criSettings(cni) {
  return `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = ${!canLowerOomScore()}
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "tsrt"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsrt]
      runtime_type = "io.containerd.tsrt.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cni.bin}"
    conf_dir = "${cni.conf}"
    max_conf_num = 1
`;
}

async function startContainerd() {
  // /var/lib too: libcni keeps its cache in /var/lib/cni
  daemon = await startClientsContainerd(D, C, path.join(C, 'config.toml'), {
    tmpfsOn: ['/run', '/var/lib'], name: 'tsrt-cri',
    env: { ...process.env, PATH: `${DIST}:${process.env.PATH}`, TSRT_SHIM_ROOT: path.join(S, 'state'), TSRT_SHIM_SOCKET_DIR: path.join(S, 's') },
  });
  return waitFor('containerd\'s CRI to answer', async () => {
    if (!daemonAlive(daemon)) throw new Error(`containerd exited: ${containerdLog()}`);
    try {
      return (await cri.call('Version', {}, 2000)).runtime_api_version === 'v1';
    } catch {
      return false;
    }
  }, 30_000);
}

/** The cgroup v1/v2 directories of CGROUP_PARENT on the host. */
function parentCgroups() {
  const dirs = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (/ - cgroup2? /.test(line) && line.split(' ')[3] === '/') dirs.push(path.join(line.split(' ')[4], CGROUP_PARENT));
  }
  return dirs.filter((d) => fs.existsSync(d));
}

before(async () => {
  if (skip) return;
  D = makeTempDir('cri');
  C = path.join(D, 'ctd');
  S = fs.mkdtempSync('/tmp/tsc-');
  fs.mkdirSync(path.join(C, 'opt'), { recursive: true });
  const archive = busyboxArchive(D, IMAGE, ['sleep', '86400']);
  writeContainerdConfig(C, 'spec-tests/shim-cri.test.mjs', { cri: criSettings(writeCni(path.join(D, 'cni'))) });
  cri = criClient(socket());
  await startContainerd();
  const imp = ctr(['images', 'import', '--base-name', IMAGE.split(':')[0], archive]);
  assert.equal(imp.status, 0, imp.stderr);
  await waitFor('CRI to know the image', async () => !!(await cri.call('ImageService/ImageStatus', { image: { image: IMAGE } })).image?.id);
});

after(async () => {
  if (!D) return;
  cri?.close();
  if (daemon) await stopDaemon(daemon);
  for (const pid of [...pidsMentioning(C), ...pidsMentioning(S)]) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  removeTempDir(D);
  removeTempDir(S);
  for (const dir of parentCgroups()) {
    try { fs.rmdirSync(dir); } catch { /* in use: reported by the last test */ }
  }
});

// --- pods and containers ------------------------------------------------------------------

function podConfig(name) {
  return {
    metadata: { name, uid: `${tag}-${name}`, namespace: 'tsrt-test', attempt: 0 },
    hostname: name,
    log_directory: path.join(D, 'logs', name),
    // the kubelet's choices: the pod's network and IPC namespaces, a pid namespace per container
    linux: { cgroup_parent: CGROUP_PARENT, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

/** A running pod sandbox; stopped and removed by the test's cleanup. */
async function runPod(t, name) {
  const config = podConfig(name);
  const { pod_sandbox_id: id } = await call('RunPodSandbox', { config });
  t.after(async () => {
    await cri.call('StopPodSandbox', { pod_sandbox_id: id }).catch(() => {});
    await cri.call('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => {});
  });
  return { id, config };
}

/** A started container of `pod` running `command`; `linux` is its LinuxContainerConfig. */
async function runContainer(pod, name, command, linux = {}) {
  const config = {
    metadata: { name, attempt: 0 },
    image: { image: IMAGE },
    command,
    log_path: `${name}.log`,
    linux: { ...linux, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const { container_id: id } = await call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await call('StartContainer', { container_id: id });
  return { id, log: path.join(pod.config.log_directory, `${name}.log`) };
}

async function status(id) {
  const r = await call('ContainerStatus', { container_id: id, verbose: true });
  return { ...r.status, pid: r.info.info ? JSON.parse(r.info.info).pid : undefined };
}

async function exited(id) {
  let s;
  await waitFor(`container ${id} to exit`, async () => (s = await status(id)).state === 'CONTAINER_EXITED');
  return s;
}

/** The CRI log's lines of a stream: `<RFC 3339 time> <stream> F <text>`, the text of each. */
function logLines(file, stream) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\S+ (stdout|stderr) [FP] /, `a CRI log line in ${file}`);
  return lines.map((l) => l.split(' ')).filter((f) => f[1] === stream).map((f) => f.slice(3).join(' '));
}

/** Lines of containerd's mountinfo (its private namespace, where the shims mount) naming one of `ids`. */
const containerdMounts = (...ids) => fs.readFileSync(`/proc/${daemon.child.pid}/mountinfo`, 'utf8').split('\n').filter((l) => ids.some((i) => l.includes(i)));

const parentOf = (pid) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);

test('a pod and a container in it: the output in the CRI log, the exit code in ContainerStatus, lo its only interface', { skip }, async (t) => {
  const pod = await runPod(t, 'logs');
  const sandbox = await call('PodSandboxStatus', { pod_sandbox_id: pod.id });
  assert.equal(sandbox.status.state, 'SANDBOX_READY');
  assert.equal(sandbox.status.network.ip, '192.0.2.2', 'the address our CNI plugin reported');
  assert.ok(fs.existsSync(path.join(shimRoot(), pod.id)), 'the sandbox is a tsrt container');
  assert.equal(shimPids().length, 1, 'one tsrt shim runs the pod');

  const c = await runContainer(pod, 'hello', ['sh', '-c', 'echo out-line; echo err-line >&2; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; exit 3']);
  const s = await exited(c.id);
  assert.equal(s.exit_code, 3);
  assert.equal(s.reason, 'Error');
  // both set; not their order: CRI takes started_at when Start returns, finished_at is the
  // shim's exit time, and a quick process can exit before CRI reads its clock
  assert.ok(s.started_at > 0 && s.finished_at > 0, `started ${s.started_at}, finished ${s.finished_at}`);
  assert.deepEqual(logLines(c.log, 'stdout'), ['out-line', 'lo']);
  assert.deepEqual(logLines(c.log, 'stderr'), ['err-line']);
});

test('two containers of a pod share one tsrt shim, the pod\'s network and IPC namespaces, and talk over 127.0.0.1', { skip }, async (t) => {
  const pod = await runPod(t, 'pair');
  const server = await runContainer(pod, 'server', ['nc', '-ll', '-p', '7777', '-e', 'echo', 'from-server']);
  const client = await runContainer(pod, 'client', ['sleep', '1000']);
  const shims = shimPids();
  assert.equal(shims.length, 1, `one shim: ${shims}`);
  for (const c of [server, client]) {
    const { pid, state } = await status(c.id);
    assert.equal(state, 'CONTAINER_RUNNING');
    assert.equal(parentOf(pid), shims[0], `${c.id}'s init is the pod's shim's child`);
  }
  const ns = async (c, kind) => (await call('ExecSync', { container_id: c.id, cmd: ['readlink', `/proc/self/ns/${kind}`], timeout: 30 })).stdout.toString();
  for (const kind of ['net', 'ipc']) assert.equal(await ns(client, kind), await ns(server, kind), `one ${kind} namespace`);
  assert.notEqual(await ns(client, 'pid'), await ns(server, 'pid'), 'a pid namespace each (pid CONTAINER)');
  await waitFor('the answer over 127.0.0.1', async () => {
    const r = await call('ExecSync', { container_id: client.id, cmd: ['sh', '-c', 'nc 127.0.0.1 7777 </dev/null'], timeout: 30 });
    return r.stdout.toString() === 'from-server\n';
  });
});

test('ExecSync gives the command\'s stdout, stderr and exit code', { skip }, async (t) => {
  const pod = await runPod(t, 'exec');
  const c = await runContainer(pod, 'target', ['sleep', '1000']);
  const r = await call('ExecSync', { container_id: c.id, cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; cat /proc/1/cmdline | tr "\\0" " "; exit 4'], timeout: 30 });
  assert.equal(r.exit_code, 4);
  assert.equal(r.stdout.toString(), 'to-out\nsleep 1000 ');
  assert.equal(r.stderr.toString(), 'to-err\n');
  assert.equal((await status(c.id)).state, 'CONTAINER_RUNNING', 'the container runs on');
});

test('StopContainer: SIGTERM honoured within the timeout, SIGKILL after it', { skip }, async (t) => {
  const pod = await runPod(t, 'stop');
  const polite = await runContainer(pod, 'polite', ['sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done']);
  const stubborn = await runContainer(pod, 'stubborn', ['sh', '-c', 'trap "echo ignored-term" TERM; echo ready; while :; do sleep 0.1; done']);
  for (const c of [polite, stubborn]) await waitFor(`${c.id} to be ready`, () => fs.existsSync(c.log) && logLines(c.log, 'stdout').includes('ready'));
  await call('StopContainer', { container_id: polite.id, timeout: 30 });
  const p = await status(polite.id);
  assert.equal(p.state, 'CONTAINER_EXITED');
  assert.equal(p.exit_code, 42, 'the trap ran');
  assert.deepEqual(logLines(polite.log, 'stdout'), ['ready', 'got-term']);
  await call('StopContainer', { container_id: stubborn.id, timeout: 1 });
  const s = await status(stubborn.id);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 137, 'SIGKILL after the timeout');
  assert.deepEqual(logLines(stubborn.log, 'stdout'), ['ready', 'ignored-term']);
});

test('a container over its memory limit: ContainerStatus says OOMKilled (the shim\'s TaskOOM)', { skip }, async (t) => {
  const pod = await runPod(t, 'oom');
  const c = await runContainer(pod, 'hog', ['sh', '-c', 'sleep 0.5; tail /dev/zero'], { resources: { memory_limit_in_bytes: 16 << 20 } });
  const s = await exited(c.id);
  assert.equal(s.exit_code, 137);
  assert.equal(s.reason, 'OOMKilled');
});

test('a container whose command does not exist: StartContainer names tsrt\'s error, no tsrt state is left', { skip }, async (t) => {
  const pod = await runPod(t, 'fail');
  const config = { metadata: { name: 'missing', attempt: 0 }, image: { image: IMAGE }, command: ['/nonexistent'], log_path: 'missing.log' };
  const { container_id: id } = await call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await assert.rejects(cri.call('StartContainer', { container_id: id }), /\/nonexistent/);
  const s = await status(id);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.match(s.message, /\/nonexistent/);
  assert.ok(!fs.existsSync(path.join(shimRoot(), id)), 'no tsrt state of the container');
  assert.deepEqual(containerdMounts(id), [], 'no rootfs mount of the container');
  assert.ok(fs.existsSync(path.join(shimRoot(), pod.id)), 'the pod\'s sandbox runs on');
  await call('RemoveContainer', { container_id: id });
});

test('StopPodSandbox and RemovePodSandbox leave no tsrt state, shim, mount or cgroup', { skip }, async (t) => {
  const pod = await runPod(t, 'gone');
  const c = await runContainer(pod, 'runner', ['sleep', '1000']);
  const { pid } = await status(c.id);
  const [shim] = shimPids();
  assert.ok(shim, 'a shim runs');
  const cgroups = parentCgroups().flatMap((d) => fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name)));
  assert.ok(cgroups.some((d) => d.endsWith(c.id) || d.endsWith(pod.id)), `the pod's cgroups under ${CGROUP_PARENT}: ${cgroups}`);

  assert.notDeepEqual(containerdMounts(c.id), [], 'the container\'s rootfs is mounted in containerd\'s namespace');
  assert.ok(fs.existsSync(path.join(S, 's', `tsrt-memo,${NS},${pod.id}`)), 'the start script\'s memo of the pod\'s socket name');

  await call('StopPodSandbox', { pod_sandbox_id: pod.id });
  assert.equal((await status(c.id)).state, 'CONTAINER_EXITED');
  await call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  assert.deepEqual((await call('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers, []);
  await waitFor('the shim to exit', () => !fs.existsSync(`/proc/${shim}`), 10_000);
  assert.ok(!fs.existsSync(`/proc/${pid}`), 'the container\'s process is gone');
  const state = fs.existsSync(shimRoot()) ? fs.readdirSync(shimRoot()) : [];
  assert.deepEqual(state.filter((n) => n === pod.id || n === c.id), [], 'no tsrt state');
  const socketFiles = fs.existsSync(path.join(S, 's')) ? fs.readdirSync(path.join(S, 's')) : [];
  assert.deepEqual(socketFiles.filter((n) => n.includes(pod.id)), [], 'no memo of the pod\'s socket name (scripts/shim-start.sh) left');
  assert.deepEqual(cgroups.filter((d) => fs.existsSync(d)), [], 'no cgroup of the pod');
  assert.deepEqual(containerdMounts(pod.id, c.id), [], 'no mount of the pod in containerd\'s namespace');
  assert.deepEqual(mountsUnder(D), [], 'nothing mounted under the temp dir on the host');
});
