// The differential test: a table of bundles, each run under runc and under tsrt the same
// way, comparing what a user can observe (docs/parity.md: how to add a row, the rows, the
// known differences). New behaviour cases go into this table first.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, Sandbox, USERNS_MAPPINGS, waitUntil } from './helpers/tsrt.mjs';
import { CAP_BITS, hostBoundingSet } from './helpers/security.mjs';
import { HAVE_RUNC, RUNC, installHooks, observe, runcAsSpecified, sectionDiffs, todosFor } from './helpers/parity.mjs';

// --- building blocks for rows ------------------------------------------------------------

/** Exactly these namespaces (no hostname without a UTS namespace: runc refuses that). */
const onlyNs = (...types) => (c) => {
  c.linux.namespaces = types.map((type) => ({ type }));
  if (!types.includes('uts')) delete c.hostname;
};
const withArgs = (...a) => (c) => { c.process.args = a; };
const userNs = (c) => {
  c.linux.namespaces.push({ type: 'user' });
  Object.assign(c.linux, structuredClone(USERNS_MAPPINGS));
};
const all = (...fns) => (c, side) => { for (const f of fns) f(c, side); };
const writable = (c) => { c.root.readonly = false; };
const addMount = (m) => (c, side) => { c.mounts.push(typeof m === 'function' ? m(side) : m); };
const user1000 = (c) => { c.process.user = { uid: 1000, gid: 1000 }; };
const seccomp = (profile) => (c) => { c.linux.seccomp = profile; };

/** A directory with one file in the side's bundle dir (a bind source). */
function sourceDir(side, name = 'src') {
  const d = path.join(side.dir, name);
  fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(d, 'file'), 'hello\n');
  return d;
}
const bind = (options) => addMount((side) => ({ destination: '/mnt/bind', type: 'bind', source: sourceDir(side), options }));

/** A tmpfs mounted on the host at src/sub (what a non-recursive bind leaves out); unmounted in teardown. */
function submountSetup(side) {
  const sub = path.join(sourceDir(side), 'sub');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'parity-sub', sub], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${sub}: ${r.stderr}`);
  fs.writeFileSync(path.join(sub, 'in-submount'), '');
  side.submount = sub;
}
function submountTeardown(side) {
  if (side.submount) spawnSync('umount', ['-l', side.submount], { stdio: 'ignore' });
}

/** A process in new namespaces (unshare FLAGS sleep) whose namespaces a row joins by path. */
async function sleeperSetup(side, flags) {
  const child = spawn('unshare', [...flags, 'sleep', '1000'], { stdio: 'ignore' });
  side.sleeper = child;
  await waitUntil(() => { try { return fs.readFileSync(`/proc/${child.pid}/comm`, 'utf8') === 'sleep\n'; } catch { return false; } }, 10_000, 'unshare did not exec sleep');
}
function sleeperTeardown(side) {
  if (side.sleeper && side.sleeper.exitCode === null) side.sleeper.kill('SIGKILL');
}
const joinNs = (flags, types) => ({
  setup: (side) => sleeperSetup(side, flags),
  teardown: sleeperTeardown,
  patch: (c, side) => {
    for (const type of types) {
      const file = { network: 'net', mount: 'mnt' }[type] ?? type;
      c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== type).concat({ type, path: `/proc/${side.sleeper.pid}/ns/${file}` });
    }
    if (types.includes('uts')) delete c.hostname;
  },
});

/** Hooks of these kinds (host or in-container), each logging what it sees; `fail` makes one exit 3. */
const hooks = (kinds, fail) => ({
  hooks: true,
  patch: (c, side) => {
    writable(c);
    const h = installHooks(side);
    c.hooks = {};
    for (const k of kinds) c.hooks[k] = [(k === 'startContainer' ? h.inside : h.host)(k, k === fail ? 3 : 0)];
  },
});

// A char device with no driver (major 240 is for local use), writable by all: opening it
// says ENXIO where the device cgroup allows it and EPERM where it does not, and touches nothing.
const DEVICE = { path: '/dev/parity-dev', type: 'c', major: 240, minor: 0, fileMode: 0o666, uid: 1000, gid: 1000 };
const DEVICE_PROBE = 'stat -c "%n %a %u %g %t:%T" /dev/parity-dev; (echo x > /dev/parity-dev) 2>&1 | sed "s/.*: //"; sort /sys/fs/cgroup/devices/devices.list';

/** The lifecycle the spec requires when start fails after create worked (a failing poststart hook). */
const FAILED_START_STEPS = [
  'create: ok',
  'state after create: {"keys":"bundle,created,id,ociVersion,owner,pid,rootfs,status","status":"created","id":"<ID>","pid":"<PID>","bundle":"<BUNDLE>","rootfs":"<BUNDLE>/rootfs","created":"<TIME>","owner":""}',
  'start: fails',
  'state after start: {"keys":"bundle,created,id,ociVersion,owner,pid,rootfs,status","status":"stopped","id":"<ID>","pid":0,"bundle":"<BUNDLE>","rootfs":"<BUNDLE>/rootfs","created":"<TIME>","owner":""}',
  'delete: ok',
  'state after delete: fails',
].join('\n');

// --- the table -----------------------------------------------------------------------------
// name: the test's name (the bundle). patch(config, side): changes runc's default spec (args
// are /probe.sh). mode: 'lifecycle' (default), 'run', 'terminal', 'rootless'. extra: shell
// lines run by the probe (section "extra"). refused: both runtimes must refuse it. noProbe:
// the process is not the probe. todo: {section: reason} for a known tsrt defect; todoAll:
// the whole row. runcDeviations: where runc breaks the spec. See docs/parity.md.
// runc 1.1 applies root.readonly in finalizeRootfs, which it runs only with a mount namespace.
const NO_MNTNS_READONLY = 'config.md, Root: "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container". runc 1.1 ignores it without a mount namespace of the container\'s own.';

const ROWS = [
  // the default bundle and the lifecycle
  { name: 'default spec' },
  { name: 'default spec, run in the foreground', mode: 'run' },
  // The pipes' owner: runc chowns them to the container's root, then its init to process.user.
  { name: 'run in the foreground: user 1000 in a user namespace', mode: 'run', patch: all(userNs, user1000), extra: 'stat -L -c "%n %F %u %g %a" /proc/$PPID/fd/0 /proc/$PPID/fd/1 /proc/$PPID/fd/2' },
  { name: 'run: exit code 42', mode: 'run', noProbe: true, patch: withArgs('sh', '-c', 'exit 42') },
  { name: 'run: killed by SIGKILL (no pid namespace)', mode: 'run', noProbe: true, patch: all(onlyNs('mount'), withArgs('sh', '-c', 'kill -KILL $$')) },
  { name: 'process exits before kill', noProbe: true, patch: withArgs('true') },
  { name: 'refused: executable not found', mode: 'run', refused: true, patch: withArgs('/nonexistent') },
  { name: 'refused: executable is not executable', mode: 'run', refused: true, patch: withArgs('/etc/passwd') },
  { name: 'refused: executable is a directory', mode: 'run', refused: true, patch: withArgs('/etc') },

  // namespaces
  { name: 'namespaces: mount only', patch: onlyNs('mount') },
  { name: 'namespaces: pid, mount', patch: onlyNs('pid', 'mount') },
  { name: 'namespaces: network, mount', patch: onlyNs('network', 'mount') },
  { name: 'namespaces: ipc, mount', patch: onlyNs('ipc', 'mount') },
  { name: 'namespaces: uts, mount', patch: onlyNs('uts', 'mount') },
  { name: 'namespaces: all with cgroup', patch: (c) => { c.linux.namespaces.push({ type: 'cgroup' }); } },
  // runc: "unable to restrict sys entries without a private MNT namespace"; the mounts land
  // in the host's namespace (under the bundle: the sandbox unmounts them).
  { name: 'namespaces: no mount namespace', patch: all(onlyNs('pid', 'uts'), (c) => { c.mounts = c.mounts.filter((m) => m.destination === '/proc'); c.linux.maskedPaths = []; c.linux.readonlyPaths = []; }),
    runcDeviations: [
      { section: 'mounts', spec: NO_MNTNS_READONLY, fix: (text) => text.replace(/^(\/ root=\S+) rw,/m, '$1 ro,') },
      { section: 'write', spec: NO_MNTNS_READONLY, fix: (text) => text.replace(/^(\/(?:tmp\/|dev\/)?probe-w) ok$/gm, '$1 refused') },
    ] },
  { name: 'namespaces: join a network namespace by path', ...joinNs(['--net'], ['network']) },
  { name: 'namespaces: join ipc and uts namespaces by path', ...joinNs(['--ipc', '--uts'], ['ipc', 'uts']) },
  { name: 'namespaces: join a mount namespace by path', ...joinNs(['--mount'], ['mount']) },
  { name: 'refused: unknown namespace type', refused: true, patch: (c) => { c.linux.namespaces.push({ type: 'bogus' }); } },
  { name: 'refused: hostname without a uts namespace', refused: true, patch: (c) => { onlyNs('pid', 'mount')(c); c.hostname = 'nouts'; } },

  // user namespaces and rootless
  { name: 'user namespace: 0 -> 100000, 65536 ids', patch: userNs },
  { name: 'user namespace: user 1000 with additional gids', patch: all(userNs, (c) => { c.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 100] }; }) },
  { name: 'user namespace: a host device bind-mounted in', patch: all(userNs, (c) => { c.linux.devices = [{ path: '/dev/kmsg', type: 'c', major: 1, minor: 11 }]; }), extra: 'stat -c "%n %a %u %g %t:%T" /dev/kmsg' },
  { name: 'refused: user namespace without mappings', refused: true, patch: (c) => { c.linux.namespaces.push({ type: 'user' }); } },
  { name: 'rootless spec (one id mapped), run as root', rootlessSpec: true },
  { name: 'rootless: runc spec --rootless, run by uid 43210', mode: 'rootless' },
  { name: 'rootless: with a bind mount of its own dir', mode: 'rootless', patch: bind(['rbind', 'rw']), extra: 'ls /mnt/bind' },

  // mounts and propagation
  { name: 'mount: bind, rw', patch: bind(['bind', 'rw']), extra: 'cat /mnt/bind/file; echo y > /mnt/bind/new && echo written' },
  { name: 'mount: bind, ro', patch: bind(['bind', 'ro']), extra: 'cat /mnt/bind/file; echo y > /mnt/bind/new && echo written' },
  { name: 'mount: bind (not recursive) of a dir with a submount', setup: submountSetup, teardown: submountTeardown, patch: bind(['bind']), extra: 'ls /mnt/bind/sub' },
  { name: 'mount: rbind of a dir with a submount', setup: submountSetup, teardown: submountTeardown, patch: bind(['rbind']), extra: 'ls /mnt/bind/sub' },
  { name: 'mount: bind nosuid, nodev, noexec', patch: bind(['bind', 'nosuid', 'nodev', 'noexec']) },
  { name: 'mount: bind of a file onto a new file', patch: addMount((side) => ({ destination: '/etc/bound', type: 'bind', source: path.join(sourceDir(side), 'file'), options: ['bind', 'ro'] })), extra: 'cat /etc/bound' },
  { name: 'mount: tmpfs with size, mode, uid and gid', patch: addMount({ destination: '/mnt/tmp', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'mode=700', 'uid=1000', 'gid=1000'] }), extra: 'stat -c "%a %u %g" /mnt/tmp' },
  { name: 'mount: tmpfs ro, nosuid, nodev, noexec', patch: addMount({ destination: '/mnt/tmp', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec'] }) },
  { name: 'mount: destination through a symlink in the rootfs', setup: (side) => fs.symlinkSync('/tmp', path.join(side.rootfs, 'lnk')), patch: addMount({ destination: '/lnk/x', type: 'tmpfs', source: 'tmpfs' }) },
  { name: 'mount: bind rshared', patch: bind(['rbind', 'rshared']) },
  { name: 'mount: bind rslave', patch: bind(['rbind', 'rslave']) },
  { name: 'mount: bind rprivate', patch: bind(['rbind', 'rprivate']) },
  { name: 'mount: bind runbindable', patch: bind(['rbind', 'runbindable']) },
  {
    name: 'rootfsPropagation: shared',
    patch: (c) => { c.linux.rootfsPropagation = 'shared'; },
    runcDeviations: [{
      section: 'mounts',
      spec: 'config-linux.md, Rootfs Mount Propagation: "rootfsPropagation (string, OPTIONAL) sets the rootfs\'s mount propagation. Its value is either shared, slave, private or unbindable." runc 1.1 makes the rootfs\'s parent mount private for pivot_root and leaves the container\'s / private.',
      fix: (text) => text.replace(/^(\/ root=\S+ \S+) private /m, '$1 shared '),
    }],
  },
  { name: 'rootfsPropagation: slave', patch: (c) => { c.linux.rootfsPropagation = 'slave'; } },
  { name: 'rootfsPropagation: private', patch: (c) => { c.linux.rootfsPropagation = 'private'; } },
  { name: 'mount: read-only tmpfs on /dev', patch: (c) => { c.mounts.find((m) => m.destination === '/dev').options.push('ro'); } },
  { name: 'refused: bind source does not exist', refused: true, patch: addMount((side) => ({ destination: '/mnt/bind', type: 'bind', source: path.join(side.dir, 'nonexistent'), options: ['bind'] })) },
  { name: 'refused: unknown file system type', refused: true, patch: addMount({ destination: '/mnt/x', type: 'nosuchfs', source: 'none' }) },

  // root file system, masked and read-only paths
  { name: 'root: writable', patch: writable },
  { name: 'paths: custom masked and read-only paths', patch: all(writable, (c) => { c.linux.maskedPaths = ['/home/user', '/etc/group', '/nonexistent']; c.linux.readonlyPaths = ['/var', '/nonexistent2']; }), extra: 'ls /home; cat /etc/group; echo x > /var/x && echo written', setup: (side) => fs.mkdirSync(path.join(side.rootfs, 'home', 'user', 'dir'), { recursive: true }) },
  { name: 'paths: no masked or read-only paths', patch: (c) => { c.linux.maskedPaths = []; c.linux.readonlyPaths = []; } },

  // devices
  { name: 'devices: a char device with mode and owner, allowed', patch: (c) => { c.linux.devices = [DEVICE]; c.linux.resources.devices.push({ allow: true, type: 'c', major: 240, minor: 0, access: 'rwm' }); }, extra: DEVICE_PROBE },
  { name: 'devices: a char device listed but denied by resources.devices', patch: (c) => { c.linux.devices = [DEVICE]; }, extra: DEVICE_PROBE },

  // rlimits
  { name: 'rlimits: several', patch: (c) => { c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 2048 }, { type: 'RLIMIT_CORE', soft: 0, hard: 1048576 }, { type: 'RLIMIT_STACK', soft: 4194304, hard: 8388608 }, { type: 'RLIMIT_MSGQUEUE', soft: 4096, hard: 8192 }]; } },
  { name: 'refused: unknown rlimit', refused: true, patch: (c) => { c.process.rlimits.push({ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }); } },
  { name: 'refused: rlimit soft above hard', refused: true, patch: (c) => { c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]; } },

  // capabilities, users, process attributes
  { name: 'capabilities: every one this host has', patch: (c) => { const caps = Object.keys(CAP_BITS).filter((n) => hostBoundingSet() & (1n << BigInt(CAP_BITS[n]))); c.process.capabilities = { bounding: caps, effective: caps, permitted: caps }; } },
  { name: 'capabilities: none', patch: (c) => { c.process.capabilities = {}; } },
  { name: 'capabilities: user 1000 with ambient CAP_NET_BIND_SERVICE', patch: all(user1000, (c) => { const k = ['CAP_NET_BIND_SERVICE']; c.process.capabilities = { bounding: k, effective: k, permitted: k, inheritable: k, ambient: k }; }) },
  { name: 'capabilities: an unknown name', patch: (c) => { c.process.capabilities.bounding.push('CAP_NOT_A_CAP'); } },
  { name: 'process: user 1000, umask 077, cwd /tmp, noNewPrivileges off', patch: all(user1000, (c) => { c.process.user.umask = 0o77; c.process.cwd = '/tmp'; c.process.noNewPrivileges = false; }) },
  { name: 'process: cwd that does not exist', patch: all(writable, (c) => { c.process.cwd = '/made/by/runtime'; }) },
  { name: 'process: empty environment', patch: (c) => { c.process.env = []; c.process.args = ['/bin/sh', '/probe.sh', 'wait']; } },
  { name: 'process: oomScoreAdj 100', patch: (c) => { c.process.oomScoreAdj = 100; } },
  { name: 'annotations and domainname', patch: (c) => { c.annotations = { 'org.example.parity': 'yes' }; c.domainname = 'example.org'; } },

  // seccomp
  { name: 'seccomp: the default profile', patch: (c) => { c.linux.seccomp = JSON.parse(fs.readFileSync(path.join(REPO, 'spec-tests', 'fixtures', 'seccomp-default.json'), 'utf8')); } },
  { name: 'seccomp: allow all but mkdir (EPERM)', patch: seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }), extra: 'mkdir /tmp/x' },
  { name: 'seccomp: errnoRet ENOSYS', patch: seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] }), extra: 'mkdir /tmp/x' },
  { name: 'seccomp: kill the process on sethostname', patch: seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_KILL_PROCESS' }] }), extra: 'hostname foo; echo "hostname exit $?"' },
  { name: 'seccomp: an unknown syscall name', patch: seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['not_a_syscall', 'mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO' }] }), extra: 'mkdir /tmp/x' },
  { name: 'refused: seccomp with an unknown action', refused: true, patch: seccomp({ defaultAction: 'SCMP_ACT_BOGUS' }) },

  // terminals
  { name: 'terminal: root', mode: 'terminal' },
  { name: 'terminal: user 1000', mode: 'terminal', patch: user1000 },
  { name: 'refused: terminal without a console socket', mode: 'terminal', noConsoleSocket: true, refused: true },

  // hooks
  { name: 'hooks: createRuntime, poststart, poststop', ...hooks(['createRuntime', 'poststart', 'poststop']) },
  { name: 'hooks: prestart', ...hooks(['prestart']) },
  { name: 'hooks: createContainer', ...hooks(['createContainer']) },
  { name: 'hooks: startContainer', ...hooks(['startContainer']) },
  { name: 'refused: failing createRuntime hook', refused: true, ...hooks(['createRuntime', 'poststop'], 'createRuntime') },
  {
    name: 'hooks: failing poststart',
    ...hooks(['poststart', 'poststop'], 'poststart'),
    runcDeviations: [{
      section: 'steps',
      spec: 'runtime.md, Lifecycle: "If any poststart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12." runc 1.1 runs poststart hooks in create, which then fails.',
      fix: (text) => (/^create: fails/.test(text) ? FAILED_START_STEPS : text),
    }],
  },
  { name: 'hooks: failing poststop', ...hooks(['poststop'], 'poststop') },

  // sysctl, cgroups
  { name: 'sysctl: namespaced values', patch: (c) => { c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000000', 'kernel.domainname': 'sysctl.example' }; }, extra: 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax' },
  { name: 'refused: network sysctl without a network namespace', refused: true, patch: (c) => { onlyNs('pid', 'mount', 'ipc', 'uts')(c); c.linux.sysctl = { 'net.ipv4.ip_forward': fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() }; } },
  { name: 'cgroups: cgroupsPath and limits', patch: (c, side) => { c.linux.cgroupsPath = `/${side.id}-cg`; c.linux.resources.pids = { limit: 50 }; c.linux.resources.memory = { limit: 67108864 }; }, extra: 'cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes' },

  // broken configs
  { name: 'refused: empty process.args', refused: true, patch: (c) => { c.process.args = []; } },
  { name: 'refused: root.path does not exist', refused: true, patch: (c) => { c.root.path = 'nonexistent'; } },
];

/** Compares one row: the sections without a known difference together, then one subtest per known difference. */
async function compareRow(t, row) {
  const sb = new Sandbox(t);
  const [runc, tsrt] = await Promise.all([observe(sb, row, 'runc'), observe(sb, row, 'tsrt')]);
  const config = runc.side.config;
  const want = runcAsSpecified(runc.sections, config, row);
  const got = tsrt.sections;
  if (!row.refused && !row.runcDeviations && !row.noProbe) {
    // A row runc cannot run tests nothing: the reference must have run the probe.
    assert.ok(want.exe !== undefined, `runc ran the bundle:\n${want.steps}\n${runc.stderr}`);
  }
  if (row.refused) {
    // Both refuse (and say why); neither leaves a container behind.
    for (const [name, o] of [['runc', runc], ['tsrt', tsrt]]) {
      assert.ok(/: fails$|exit [1-9]/m.test(o.sections.steps), `${name} refuses the bundle:\n${o.sections.steps}`);
      assert.ok(o.stderr.trim().length > 0, `${name} says why it refuses`);
    }
  }
  if (row.todoAll) {
    await t.test('everything', { todo: row.todoAll }, () => assert.equal(sectionDiffs(want, got, [...new Set([...Object.keys(want), ...Object.keys(got)])]), ''));
    return;
  }
  const todos = todosFor(row, config);
  let names = [...new Set([...Object.keys(want), ...Object.keys(got)])];
  // Only one side ran the probe (the other refused, or a runc deviation stopped it early):
  // what there is to compare is the lifecycle and the hooks.
  if ((want.exe === undefined) !== (got.exe === undefined)) names = names.filter((n) => n === 'steps' || n === 'hooks');
  const same = (keys) => {
    const d = sectionDiffs(want, got, keys);
    if (d) assert.fail(`tsrt differs from runc:\n${d}\n(runc stderr: ${runc.stderr.trim()})\n(tsrt stderr: ${tsrt.stderr.trim()})`);
  };
  await t.test('observations', () => same(names.filter((n) => !todos[n])));
  const byReason = new Map();
  for (const n of names.filter((x) => todos[x])) byReason.set(todos[n], [...(byReason.get(todos[n]) ?? []), n]);
  for (const [reason, keys] of byReason) {
    await t.test(keys.join(', '), { todo: reason }, () => same(keys));
  }
}

describe('parity with runc', { concurrency: 3, skip: HAVE_RUNC ? false : `no runc at ${RUNC}` }, () => {
  for (const row of ROWS) {
    test(row.name, { skip: row.skip?.() || false }, (t) => compareRow(t, row));
  }
});
