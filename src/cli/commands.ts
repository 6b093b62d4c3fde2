// The command table: every command, its flags and positionals, and the function that
// runs it. The light commands (state, kill, delete, ...) live in commands-light.ts, which
// is also bundled alone; the ones here create containers or work on bundles.
import { ID, store, type CommandSpec, type FlagSpec, type Parsed } from './command-spec';
import { LIGHT_COMMANDS as L } from './commands-light';
import { UsageError } from '../util/errors';
import { logWarn } from './log';

/** `tsrt run bundle/`: a positional argument containing '/' is a bundle, never an id. */
function bundleAndId(a: Parsed): { bundle: string; id: string } {
  let bundle = a.bundle as string | undefined;
  let id = a.id as string | undefined;
  if (id && id.includes('/')) {
    if (bundle) throw new UsageError(`${JSON.stringify(id)} is not a valid container id (ids cannot contain '/') and --bundle is given`);
    bundle = id;
    id = undefined;
  }
  if (!id) {
    if (!bundle) throw new UsageError('missing container id (or a bundle path such as bundle/)');
    id = `tsrt-${Date.now().toString(36)}-${process.pid.toString(36)}`;
  }
  return { bundle: bundle ?? '.', id };
}


const CREATE_FLAGS: FlagSpec[] = [
  { name: 'bundle', alias: 'b', type: 'string', describe: 'path to the OCI bundle (default: current directory)' },
  { name: 'pid-file', type: 'string', describe: 'write the init pid here' },
  { name: 'console-socket', type: 'string', describe: 'AF_UNIX socket that receives the pty master' },
  { name: 'no-pivot', type: 'boolean', default: false, describe: 'MS_MOVE + chroot instead of pivot_root' },
  { name: 'no-new-keyring', type: 'boolean', default: false, describe: 'keep the session keyring' },
  { name: 'preserve-fds', type: 'number', default: 0, describe: 'extra fds (from 3) passed to the container' },
];

function createOptions(a: Parsed) {
  const { bundle, id } = bundleAndId(a);
  return {
    root: String(a.root), id, bundle, pidFile: a['pid-file'] as string | undefined,
    consoleSocket: a['console-socket'] as string | undefined, noPivot: a['no-pivot'] === true,
    noNewKeyring: a['no-new-keyring'] === true,
    preserveFds: Number(a['preserve-fds'] ?? 0), systemdCgroup: a['systemd-cgroup'] === true,
  };
}

/** runc update's single-value flags (values stay strings: memory sizes take units). */
const UPDATE_FLAGS: [string, string][] = [
  ['memory', 'memory limit in bytes (units: 32m, 1g; -1 unlimited)'],
  ['memory-swap', 'memory+swap limit (-1 unlimited)'],
  ['memory-reservation', 'memory soft limit'],
  ['kernel-memory', 'kernel memory limit (ignored, as by runc)'],
  ['kernel-memory-tcp', 'kernel TCP buffer limit (ignored, as by runc)'],
  ['cpu-share', 'CPU shares (relative weight)'],
  ['cpu-shares', 'same as --cpu-share'],
  ['cpu-quota', 'CFS quota in microseconds per period (-1 unlimited)'],
  ['cpu-period', 'CFS period in microseconds'],
  ['cpu-burst', 'CFS burst in microseconds'],
  ['cpu-idle', '1: SCHED_IDLE for the cgroup, 0: normal'],
  ['cpu-rt-runtime', 'real-time runtime in microseconds per period'],
  ['cpu-rt-period', 'real-time period in microseconds'],
  ['cpuset-cpus', 'CPUs to run on (0-3,5)'],
  ['cpuset-mems', 'memory nodes to use'],
  ['pids-limit', 'maximum number of tasks (-1 unlimited)'],
  ['blkio-weight', 'block IO weight, 10..1000'],
];

const create: CommandSpec = {
  name: 'create', describe: 'create a container',
  positionals: [ID],
  flags: [...CREATE_FLAGS, { name: 'print-plan', type: 'boolean', default: false, describe: 'print the init\'s syscall plan instead of running it' }],
  async run(a) {
    const { createContainer } = await import('../container/create');
    await createContainer({ ...createOptions(a), printPlan: a['print-plan'] === true });
  },
};
const run: CommandSpec = {
  name: 'run', describe: 'create and start a container (a positional with / is a bundle path)',
  positionals: [{ ...ID, describe: 'container id, or a bundle path such as bundle/' }],
  flags: [...CREATE_FLAGS,
    { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'do not wait for the container' },
    { name: 'keep', type: 'boolean', default: false, describe: 'keep the container after it exits' },
    { name: 'no-subreaper', type: 'boolean', default: false, describe: 'do not become a child subreaper' }],
  async run(a) {
    const { runContainer } = await import('../container/run');
    return runContainer({ ...createOptions(a), detach: a.detach === true, keep: a.keep === true, noSubreaper: a['no-subreaper'] === true }, logWarn);
  },
};
const exec: CommandSpec = {
  name: 'exec', describe: 'run a process in a running container',
  positionals: [ID, { name: 'command', describe: 'command and arguments (or --process FILE)', required: false, variadic: true }],
  flags: [
    { name: 'process', alias: 'p', type: 'string', describe: 'process.json (an OCI process object; - for stdin)' },
    { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'do not wait for the process' },
    { name: 'pid-file', type: 'string', describe: 'write the process\'s host pid here' },
    { name: 'console-socket', type: 'string', describe: 'AF_UNIX socket that receives the pty master' },
    { name: 'tty', alias: 't', type: 'boolean', default: false, describe: 'allocate a pseudo-terminal' },
    { name: 'env', alias: 'e', type: 'array', describe: 'KEY=VALUE to set (repeatable)' },
    { name: 'cwd', type: 'string', describe: 'working directory in the container' },
    { name: 'user', alias: 'u', type: 'string', describe: 'UID[:GID]' },
    { name: 'additional-gids', alias: 'g', type: 'array', describe: 'additional gid (repeatable)' },
    { name: 'cap', alias: 'c', type: 'array', describe: 'add a capability (repeatable)' },
    { name: 'no-new-privs', type: 'boolean', default: false, describe: 'set no_new_privs' },
    { name: 'apparmor', type: 'string', describe: 'AppArmor profile' },
    { name: 'process-label', type: 'string', describe: 'SELinux label' },
    { name: 'preserve-fds', type: 'number', default: 0, describe: 'extra fds (from 3) passed to the process' },
    { name: 'cgroup', type: 'array', describe: 'sub-cgroup of the container to join: [CONTROLLER[,CONTROLLER]:]PATH (repeatable)' },
    { name: 'ignore-paused', type: 'boolean', default: false, describe: 'exec even into a paused container' }],
  async run(a) {
    const { execInContainer } = await import('../container/exec');
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
    // A failure of exec itself exits 255, as runc's does: apart from the process's own codes.
    return execInContainer(store(a), String(a.id), {
      processFile: a.process as string | undefined, args: a._rest ?? [], env: list(a.env),
      cwd: a.cwd as string | undefined, user: a.user as string | undefined,
      additionalGids: list(a['additional-gids']).map(Number), caps: list(a.cap),
      noNewPrivs: a['no-new-privs'] === true, tty: a.tty === true, apparmor: a.apparmor as string | undefined,
      processLabel: a['process-label'] as string | undefined, detach: a.detach === true,
      pidFile: a['pid-file'] as string | undefined, consoleSocket: a['console-socket'] as string | undefined,
      preserveFds: Number(a['preserve-fds'] ?? 0), cgroup: list(a.cgroup),
      ignorePaused: a['ignore-paused'] === true,
    }).catch((e: unknown) => { throw Object.assign(e instanceof Error ? e : new Error(String(e)), { exitCode: 255 }); });
  },
};
const spec: CommandSpec = {
  name: 'spec', describe: 'write a default config.json', positionals: [],
  flags: [
    { name: 'bundle', alias: 'b', type: 'string', default: '.', describe: 'directory to write config.json into' },
    { name: 'rootless', type: 'boolean', default: false, describe: 'a config for an unprivileged user' }],
  run(a) {
    const { writeDefaultSpec } = require('./spec-command') as typeof import('./spec-command');
    writeDefaultSpec(String(a.bundle), a.rootless === true);
  },
};
const bundle: CommandSpec = {
  name: 'bundle', describe: 'make a bundle from an image (create DIR --from IMAGE [-- ARGS]), or diff, commit or rm one',
  positionals: [
    { name: 'action', describe: 'create, diff, commit or rm', required: true },
    { name: 'dir', describe: 'the bundle directory', required: true }],
  flags: [
    { name: 'from', type: 'string', describe: 'create: the image (OCI layout dir, OCI archive or docker archive)' },
    { name: 'ref', type: 'string', describe: 'create: which image of the archive; commit: ref name to write (default latest)' },
    { name: 'store', type: 'string', describe: 'create: the layer store (default /var/lib/tsrt/layers)' },
    { name: 'rootfs', type: 'string', default: 'overlay', choices: ['overlay', 'copy'], describe: 'create: overlay of shared layers, or a plain copy' },
    { name: 'volume', type: 'array', describe: 'create: HOST:CTR[:ro] bind mount, or CTR for an anonymous volume' },
    { name: 'hostname', type: 'string', describe: 'create: the container\'s hostname (default: from the bundle id)' },
    { name: 'to', type: 'string', describe: 'commit: the OCI image layout dir to write' }],
  async run(a) {
    const { runBundleCommand } = await import('../image/bundle-command');
    // The arguments after `--`, exactly as given (yargs' _ would turn "007" into 7).
    const dd = process.argv.indexOf('--', 2);
    const rest = dd >= 0 ? process.argv.slice(dd + 1) : undefined;
    return runBundleCommand({
      action: String(a.action), dir: String(a.dir), from: a.from as string | undefined, ref: a.ref as string | undefined,
      store: (a.store as string | undefined) ?? '/var/lib/tsrt/layers', rootfs: String(a.rootfs ?? 'overlay'),
      volume: ((a.volume as unknown[] | undefined) ?? []).filter((v) => v !== undefined).map(String), to: a.to as string | undefined,
      hostname: a.hostname as string | undefined, rest,
    }, logWarn);
  },
};
const update: CommandSpec = {
  name: 'update', describe: 'change the resource limits of a container',
  positionals: [ID],
  flags: [
    { name: 'resources', alias: 'r', type: 'string', describe: 'linux.resources JSON file, or - for stdin (the other flags are then ignored)' },
    ...UPDATE_FLAGS.map(([name, describe]): FlagSpec => ({ name, type: 'string', describe }))],
  run(a) {
    const u = require('../container/update') as typeof import('../container/update');
    const flags = Object.fromEntries(UPDATE_FLAGS.map(([n]) => [n === 'cpu-shares' ? 'cpu-share' : n, a[n]]).filter(([, v]) => v !== undefined));
    const r = a.resources !== undefined ? u.resourcesFromFile(String(a.resources)) : u.resourcesFromFlags(flags as import('../container/update').UpdateFlags);
    return u.updateContainer(store(a), String(a.id), r, logWarn);
  },
};

function criuFlags(a: Parsed): import('../criu/options').CriuFlags {
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
  return {
    imagePath: a['image-path'] as string | undefined, workPath: a['work-path'] as string | undefined,
    tcpEstablished: a['tcp-established'] === true, extUnixSk: a['ext-unix-sk'] === true, shellJob: a['shell-job'] === true,
    fileLocks: a['file-locks'] === true, manageCgroupsMode: a['manage-cgroups-mode'] as string | undefined,
    emptyNs: list(a['empty-ns']).flatMap((v) => v.split(',')).filter(Boolean), autoDedup: a['auto-dedup'] === true, lazyPages: a['lazy-pages'] === true,
  };
}
const CRIU_FLAGS: FlagSpec[] = [
  { name: 'image-path', type: 'string', describe: 'path for saving criu image files' },
  { name: 'work-path', type: 'string', describe: 'path for saving work files and logs' },
  { name: 'tcp-established', type: 'boolean', default: false, describe: 'allow open tcp connections' },
  { name: 'ext-unix-sk', type: 'boolean', default: false, describe: 'allow external unix sockets' },
  { name: 'shell-job', type: 'boolean', default: false, describe: 'allow shell jobs' },
  { name: 'file-locks', type: 'boolean', default: false, describe: 'handle file locks, for safety' },
  { name: 'manage-cgroups-mode', type: 'string', describe: 'cgroups mode: soft, full, strict, ignore' },
  { name: 'empty-ns', type: 'array', describe: 'create a namespace, but do not restore its properties' },
  { name: 'auto-dedup', type: 'boolean', default: false, describe: 'enable auto deduplication of memory images' },
  { name: 'lazy-pages', type: 'boolean', default: false, describe: 'use userfaultfd to lazily restore memory pages' },
];
const checkpoint: CommandSpec = {
  name: 'checkpoint', describe: 'checkpoint a running container with CRIU', positionals: [ID],
  flags: [...CRIU_FLAGS,
  { name: 'parent-path', type: 'string', describe: 'path for previous criu image files in pre-dump' },
  { name: 'leave-running', type: 'boolean', default: false, describe: 'leave the process running after checkpointing' },
  { name: 'pre-dump', type: 'boolean', default: false, describe: 'dump the container\'s memory only, leave it running' },
  { name: 'page-server', type: 'string', describe: 'ADDRESS:PORT of the page server' },
  { name: 'status-fd', type: 'string', describe: 'criu writes \\0 to this FD once lazy-pages is ready' }],
  async run(a) {
    const { checkpointContainer } = await import('../criu/checkpoint');
    await checkpointContainer(store(a), String(a.id), {
      ...criuFlags(a), leaveRunning: a['leave-running'] === true, preDump: a['pre-dump'] === true,
      parentPath: a['parent-path'] as string | undefined, pageServer: a['page-server'] as string | undefined,
      statusFd: a['status-fd'] as string | undefined,
    }, logWarn);
  },
};

const restore: CommandSpec = {
  name: 'restore', describe: 'restore a container from a previous checkpoint', positionals: [ID],
  flags: [...CRIU_FLAGS,
  { name: 'console-socket', type: 'string', describe: 'AF_UNIX socket that receives the pty master' },
  { name: 'bundle', alias: 'b', type: 'string', describe: 'path to the OCI bundle' },
  { name: 'detach', alias: 'd', type: 'boolean', default: false, describe: 'detach from the container\'s process' },
  { name: 'pid-file', type: 'string', describe: 'write the init pid here' },
  { name: 'no-subreaper', type: 'boolean', default: false, describe: 'do not become a child subreaper' },
  { name: 'no-pivot', type: 'boolean', default: false, describe: 'do not use pivot_root' },
  { name: 'lsm-profile', type: 'string', describe: 'LSM profile for the restored process' },
  { name: 'lsm-mount-context', type: 'string', describe: 'SELinux mount context' }],
  async run(a) {
    const { restoreContainer } = await import('../criu/restore');
    return restoreContainer({
      ...criuFlags(a), root: String(a.root), id: String(a.id), bundle: (a.bundle as string | undefined) ?? '.',
      detach: a.detach === true, pidFile: a['pid-file'] as string | undefined, consoleSocket: a['console-socket'] as string | undefined,
      noSubreaper: a['no-subreaper'] === true, noPivot: a['no-pivot'] === true, systemdCgroup: a['systemd-cgroup'] === true,
      lsmProfile: a['lsm-profile'] as string | undefined, lsmMountContext: a['lsm-mount-context'] as string | undefined,
    }, logWarn);
  },
};

export const COMMANDS: CommandSpec[] = [
  create, run, L.start, L.state, L.kill, L.delete, exec, L.list, spec, L.features, bundle, L.pause, L.resume, L.ps, L.events, update, checkpoint, restore,
];
