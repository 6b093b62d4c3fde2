// Process attributes (personality, scheduler, I/O priority, memory policy, CPU affinity),
// LSM labels, Intel RDT and network devices: applied as configured, or refused before
// any process is started with an error that names the field and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox, show } from './helpers/tsrt.mjs';
import { assertRefused } from './helpers/security.mjs';

function run(t, patch) {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('proc')]);
  return { sb, b, r };
}

/** Fields of /proc/self/stat after the command name: [state, ppid, ...]; nice is [16], policy [38]. */
const STAT = 'cat /proc/self/stat | sed "s/.*) //"';

test('personality: LINUX32 makes uname report a 32-bit machine', (t) => {
  const { r } = run(t, (c) => {
    c.linux.personality = { domain: 'LINUX32' };
    c.process.args = ['uname', '-m'];
  });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout.trim(), 'i686');
});

test('personality: flags are refused (the spec defines none)', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.linux.personality = { domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] }; } });
  assertRefused(sb, b, { field: 'linux.personality.flags', why: /not supported/ });
});

test('scheduler: SCHED_BATCH with nice 7 (policy and nice in /proc/self/stat)', (t) => {
  const { r } = run(t, (c) => {
    c.process.scheduler = { policy: 'SCHED_BATCH', nice: 7 };
    c.process.args = ['sh', '-c', STAT];
  });
  assert.equal(r.status, 0, show(r));
  const f = r.stdout.trim().split(' ');
  assert.equal(f[16], '7', 'nice');
  assert.equal(f[38], '3', 'policy SCHED_BATCH');
});

test('scheduler: SCHED_FIFO priority 10 (a real-time policy needs CAP_SYS_NICE: set before the capability drop)', (t) => {
  const { r } = run(t, (c) => {
    c.process.scheduler = { policy: 'SCHED_FIFO', priority: 10 };
    // A new cpu cgroup gets no real-time budget of its own (cgroup v1 rt_runtime_us 0).
    c.linux.resources = { ...c.linux.resources, cpu: { realtimeRuntime: 10000, realtimePeriod: 1000000 } };
    c.process.args = ['sh', '-c', STAT];
  });
  if (r.status !== 0 && /process\.scheduler\): EPERM/.test(r.stderr)) {
    t.skip('this host allows no real-time scheduling for tsrt\'s cgroup');
    return;
  }
  assert.equal(r.status, 0, show(r));
  const f = r.stdout.trim().split(' ');
  assert.equal(f[38], '1', 'policy SCHED_FIFO');
  assert.equal(f[37], '10', 'rt_priority');
});

test('scheduler: impossible settings are refused by name', (t) => {
  const sb = new Sandbox(t);
  const cases = [
    [{ policy: 'SCHED_ISO' }, 'process.scheduler.policy', /not implemented by Linux/],
    [{ policy: 'SCHED_FIFO', priority: 0 }, 'process.scheduler.priority', /1 to 99/],
    [{ policy: 'SCHED_OTHER', priority: 5 }, 'process.scheduler.priority', /must be 0/],
    [{ policy: 'SCHED_OTHER', nice: 40 }, 'process.scheduler.nice', /-20 to 19/],
    [{ policy: 'SCHED_DEADLINE' }, 'process.scheduler', /SCHED_DEADLINE needs/],
  ];
  for (const [scheduler, field, why] of cases) {
    assertRefused(sb, sb.bundle({ patch: (c) => { c.process.scheduler = scheduler; } }), { field, why });
  }
});

test('ioPriority: the idle class and best-effort level 3', (t) => {
  const idle = run(t, (c) => {
    c.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 };
    c.process.args = ['ionice', '-p', '1'];
  }).r;
  assert.equal(idle.status, 0, show(idle));
  assert.equal(idle.stdout.trim(), 'idle');
  const be = run(t, (c) => {
    c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 3 };
    c.process.args = ['ionice', '-p', '1'];
  }).r;
  assert.equal(be.status, 0, show(be));
  assert.equal(be.stdout.trim(), 'best-effort: prio 3');
});

test('memoryPolicy: MPOL_INTERLEAVE on node 0 is the process\'s policy (numa_maps)', { skip: !fs.existsSync('/proc/self/numa_maps') && 'no NUMA support in this kernel' }, (t) => {
  const { r } = run(t, (c) => {
    c.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE', nodes: '0' };
    c.process.args = ['sh', '-c', 'head -1 /proc/self/numa_maps'];
  });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /interleave:0/);
});

test('memoryPolicy: a node list the kernel refuses fails naming the field', (t) => {
  const sb = new Sandbox(t);
  assertRefused(sb, sb.bundle({ patch: (c) => { c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '3-1' }; } }), { field: 'linux.memoryPolicy.nodes', why: /goes backwards/ });
  assertRefused(sb, sb.bundle({ patch: (c) => { c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '1000' }; } }), { field: 'linux.memoryPolicy', why: /EINVAL/ });
});

test('execCPUAffinity: `exec` runs on the final CPU list (the init ignores it, as the spec says)', { skip: os.cpus().length < 2 && 'needs two CPUs' }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    c.process.execCPUAffinity = { initial: '1', final: '0' };
    c.process.args = ['sleep', '1000'];
  } });
  const id = sb.id('affinity');
  sb.ok(['run', '--detach', '--bundle', b.dir, id]);
  const init = sb.tsrt(['exec', id, 'cat', '/proc/1/status']);
  assert.equal(init.status, 0, show(init));
  const mine = JSON.parse(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')).process;
  const procFile = path.join(sb.dir, 'process.json');
  fs.writeFileSync(procFile, JSON.stringify({ ...mine, args: ['grep', 'Cpus_allowed_list', '/proc/self/status'] }));
  const r = sb.tsrt(['exec', '--process', procFile, id]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^Cpus_allowed_list:\s+0$/m);
  assert.doesNotMatch(init.stdout, /^Cpus_allowed_list:\s+0$/m, 'the init keeps the default affinity');
  sb.ok(['delete', '--force', id]);
});

// --- LSM labels and Intel RDT: this host has neither -------------------------------------

const APPARMOR = (() => { try { return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y'; } catch { return false; } })();
const SELINUX = fs.existsSync('/sys/fs/selinux/enforce');
const RESCTRL = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - resctrl ');

test('apparmorProfile: refused when AppArmor is not enabled on the host', { skip: APPARMOR && 'AppArmor is enabled here' }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.apparmorProfile = 'tsrt-test-profile'; } });
  assertRefused(sb, b, { field: 'process.apparmorProfile', why: /AppArmor is not enabled on this host/ });
});

test('selinuxLabel and mountLabel: refused when SELinux is not enabled on the host', { skip: SELINUX && 'SELinux is enabled here' }, (t) => {
  const sb = new Sandbox(t);
  const label = 'system_u:system_r:container_t:s0:c1,c2';
  assertRefused(sb, sb.bundle({ patch: (c) => { c.process.selinuxLabel = label; } }), { field: 'process.selinuxLabel', why: /SELinux is not enabled on this host/ });
  assertRefused(sb, sb.bundle({ patch: (c) => { c.linux.mountLabel = 'system_u:object_r:container_file_t:s0:c1,c2'; } }), { field: 'linux.mountLabel', why: /SELinux is not enabled on this host/ });
});

test('intelRdt: refused where no resctrl filesystem is mounted', { skip: RESCTRL && 'resctrl is mounted here' }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.linux.intelRdt = { closID: 'tsrt-test', l3CacheSchema: 'L3:0=ff' }; } });
  assertRefused(sb, b, { field: 'linux.intelRdt', why: /no resctrl filesystem is mounted/ });
});

// --- netDevices ---------------------------------------------------------------------------

const HAVE_IP = spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0;
let ifCounter = 0;

/**
 * A test interface on the host with a permanent global address, removed after the test:
 * a dummy where the kernel has the driver, else one end of a veth pair.
 */
function dummyInterface(t) {
  const name = `tsrttest${process.pid % 1000}${ifCounter++}`.slice(0, 13);
  const ip = (...args) => spawnSync('ip', args, { encoding: 'utf8' });
  let add = ip('link', 'add', name, 'type', 'dummy');
  if (add.status !== 0) add = ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  if (add.status !== 0) throw new Error(`ip link add ${name}: ${add.stderr}`);
  t.after(() => {
    for (const n of [name, `${name}p`]) if (fs.existsSync(`/sys/class/net/${n}`)) ip('link', 'del', n);
  });
  const addr = ip('addr', 'add', '10.213.77.5/24', 'dev', name);
  if (addr.status !== 0) throw new Error(`ip addr add: ${addr.stderr}`);
  return name;
}

test('netDevices: a host interface is moved into the container, renamed, up, with its address', { skip: !HAVE_IP && 'needs iproute2' }, (t) => {
  const host = dummyInterface(t);
  const { r } = run(t, (c) => {
    c.linux.netDevices = { [host]: { name: 'ctr0' } };
    c.process.args = ['sh', '-c', 'ls /sys/class/net; echo "flags $(cat /sys/class/net/ctr0/flags)"; grep -c "10.213.77.5" /proc/net/fib_trie'];
  });
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes('ctr0'), `ctr0 is in the container:\n${r.stdout}`);
  assert.ok(!lines.includes(host), 'under its new name only');
  const flags = Number(/^flags (0x[0-9a-f]+)$/m.exec(r.stdout)?.[1]);
  assert.equal(flags & 1, 1, 'IFF_UP');
  assert.match(r.stdout, /^[1-9]\d*$/m, 'the permanent address came along');
  // A virtual device dies with the container's network namespace (the spec leaves that
  // to the kernel); it is not on the host any more.
  for (let i = 0; i < 100 && fs.existsSync(`/sys/class/net/${host}`); i++) spawnSync('sleep', ['0.05']);
  assert.equal(fs.existsSync(`/sys/class/net/${host}`), false);
});

test('netDevices: refused without a network namespace, for a missing interface, and for a name taken inside', { skip: !HAVE_IP && 'needs iproute2' }, (t) => {
  const sb = new Sandbox(t);
  const host = dummyInterface(t);
  assertRefused(sb, sb.bundle({ patch: (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network');
    c.linux.netDevices = { [host]: {} };
  } }), { field: 'linux.netDevices', why: /needs a new network namespace/ });
  assertRefused(sb, sb.bundle({ patch: (c) => { c.linux.netDevices = { tsrtnosuch0: {} }; } }), { field: 'linux.netDevices.tsrtnosuch0', why: /no network interface/ });
  assertRefused(sb, sb.bundle({ patch: (c) => { c.linux.netDevices = { [host]: { name: 'lo' } }; } }), { field: `linux.netDevices.${host}`, why: /a device named lo already exists/ });
  assert.ok(fs.existsSync(`/sys/class/net/${host}`), 'the refused device stayed on the host');
});
