// cgroups with the host's own layout (on this project's machines: v1 controllers plus
// cgroup2 at /sys/fs/cgroup/unified holding hugetlb; in the VM lane, cgroup2 alone, from
// the root cgroup or a service's leaf: docs/vm-lane.md): where a container's cgroups go,
// that its limits hold inside real containers, and the commands built on cgroups
// (pause/resume, ps, kill --all, events, update). Each test uses its own --root and ids;
// cleanup (delete --force) runs even when a test fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox, TSRT, isAlive, show, sleep, waitUntil } from './helpers/tsrt.mjs';
import { V1, V2, addCaps, bundle, cgFiles, cgroupMounts, cgroupPaths, containerHasFiles, ctrlDir, eventsStream, ownCgroup, readCg, relativeBase, removeCgroupDirsLater, started, v2Controllers } from './helpers/cgroups.mjs';

const isRoot = process.getuid?.() === 0;
const skipUnlessRoot = isRoot ? false : 'needs root';

function procCgroupLines(pid) {
  return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
}

function ps(sb, id) {
  return JSON.parse(sb.ok(['ps', '--format', 'json', id]).stdout);
}

test('cgroups: without cgroupsPath the container gets <own cgroup>/<id> in every hierarchy (v2 alone: <parent of own>/<id>), and delete removes them', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sleep', '1000']);
  const v1 = V1();
  for (const m of v1) {
    for (const c of m.controllers) {
      const want = path.join(m.mountpoint, relativeBase(m), id);
      assert.equal(paths[c], want, `${c} directory`);
      assert.ok(fs.existsSync(want), `${want} exists`);
    }
  }
  const v2 = V2();
  if (v2) assert.equal(paths.unified, path.join(v2.mountpoint, relativeBase(v2), id));
  // The init is in each of them (/proc/PID/cgroup names the same paths).
  for (const line of procCgroupLines(pid)) {
    const [, , p] = line.split(/:(.*?):/);
    assert.equal(path.basename(p), id, `init's cgroup line ${line}`);
  }
  const dirs = Object.values(paths);
  sb.ok(['delete', '--force', id]);
  for (const d of dirs) assert.ok(!fs.existsSync(d), `${d} removed by delete`);
});

test('cgroups: an absolute cgroupsPath is taken from the root of each hierarchy, a relative one from tsrt\'s own cgroup', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const top = `tsrt-test-${randomBytes(4).toString('hex')}`;
  const parents = [...V1(), V2()].filter(Boolean).map((m) => path.join(m.mountpoint, top));
  removeCgroupDirsLater(t, parents);
  const abs = started(sb, ['sleep', '1000'], (c) => { c.linux.cgroupsPath = `/${top}/../${top}/abs`; });
  for (const m of V1()) assert.equal(abs.paths[m.controllers[0]], path.join(m.mountpoint, top, 'abs'), `${m.mountpoint}: ".." cannot climb, the path starts at the root`);
  if (V2()) assert.equal(abs.paths.unified, path.join(V2().mountpoint, top, 'abs'));
  const rel = started(sb, ['sleep', '1000'], (c) => { c.linux.cgroupsPath = `${top}/rel`; });
  const relParents = [...V1(), V2()].filter(Boolean).map((m) => path.join(m.mountpoint, relativeBase(m), top));
  removeCgroupDirsLater(t, relParents);
  for (const m of V1()) assert.equal(rel.paths[m.controllers[0]], path.join(m.mountpoint, relativeBase(m), top, 'rel'));
  if (V2()) assert.equal(rel.paths.unified, path.join(V2().mountpoint, relativeBase(V2()), top, 'rel'));
  sb.ok(['delete', '--force', abs.id]);
  sb.ok(['delete', '--force', rel.id]);
  for (const d of [...Object.values(abs.paths), ...Object.values(rel.paths)]) assert.ok(!fs.existsSync(d), `${d} removed`);
  // Like runc, delete leaves the parents it did not name as the container's own.
  assert.ok(fs.existsSync(parents[0]), 'parent of the absolute path is left');
});

// --systemd-cgroup asks systemd for the scope: spec-tests/systemd-cgroup.test.mjs (the VM
// lane with systemd as PID 1) checks where it goes. A malformed path is refused first.
test('cgroups: --systemd-cgroup refuses a cgroupsPath that is not slice:prefix:name', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const bad = bundle(sb, ['true'], (c) => { c.linux.cgroupsPath = 'no-colons'; });
  const id = sb.id('sd');
  const r = sb.tsrt(['--systemd-cgroup', 'create', '--bundle', bad.dir, id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /linux\.cgroupsPath: with --systemd-cgroup the path must be \\"slice:prefix:name\\", got \\"no-colons\\"/);
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'nothing left');
});

test('cgroups: a cgroup another container uses is refused, and its limits stay', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const shared = `tsrt-test-shared-${randomBytes(4).toString('hex')}`;
  const first = started(sb, ['sleep', '1000'], (c) => { c.linux.cgroupsPath = shared; c.linux.resources.pids = { limit: 77 }; });
  const b = bundle(sb, ['true'], (c) => { c.linux.cgroupsPath = shared; c.linux.resources.pids = { limit: 5 }; });
  const id = sb.id('second');
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /linux\.cgroupsPath: container's cgroup is not empty: 1 process\(es\) found/, r.stderr);
  const files = cgFiles(first.paths);
  assert.equal(files.pidsMax(), '77');
  assert.ok(fs.existsSync(files.dir('pids')), 'the first container\'s cgroup is untouched');
  assert.deepEqual(ps(sb, first.id), [first.pid]);
});

/**
 * Fields whose file depends on the kernel or hardware: [field path, controller (v1 name),
 * its v1 files, its v2 files (any one will do), value]. v2 has no real-time bandwidth
 * control at all (no file): tsrt refuses those fields there by name.
 */
const KERNEL_DEPENDENT = [
  ['blockIO.weight', 'blkio', ['blkio.weight', 'blkio.bfq.weight'], ['io.bfq.weight', 'io.weight'], 300],
  ['cpu.burst', 'cpu', ['cpu.cfs_burst_us'], ['cpu.max.burst'], 10000],
  ['cpu.realtimePeriod', 'cpu', ['cpu.rt_period_us'], [], 1000000],
  ['cpu.realtimeRuntime', 'cpu', ['cpu.rt_runtime_us'], [], 10000],
];

function setField(resources, field, value) {
  const [group, key] = field.split('.');
  resources[group] ??= {};
  resources[group][key] = value;
}

/** Each kernel-dependent field with the files of the version that holds its controller here, and whether a container's cgroup has one. */
function kernelSupport(sb) {
  const onV1 = new Set(V1().flatMap((m) => m.controllers));
  const fields = KERNEL_DEPENDENT.map(([field, ctrl, v1Files, v2Files, value]) => ({ field, ctrl, v1: onV1.has(ctrl), files: onV1.has(ctrl) ? v1Files : v2Files, value }));
  const wanted = {};
  for (const k of fields) (wanted[k.ctrl] ??= []).push(...k.files);
  const have = containerHasFiles(sb, wanted);
  return fields.map((k) => ({ ...k, has: k.files.some((f) => have.has(f)) }));
}

test('cgroups: the v1 files of memory, cpu, pids and blockIO get their values', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const mounted = new Set(V1().flatMap((m) => m.controllers));
  for (const c of ['memory', 'cpu', 'cpuset', 'pids', 'blkio']) {
    if (!mounted.has(c)) {
      t.skip(`the ${c} controller is not a v1 hierarchy here`);
      return;
    }
  }
  // Only the fields this kernel has files for; the next test covers the others.
  const supported = kernelSupport(sb).filter((k) => k.has);
  // The device of the root file system, for the per-device block IO settings.
  const dev = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/').split(' ')[2];
  const [major, minor] = dev.split(':').map(Number);
  const realDisk = fs.existsSync(`/sys/dev/block/${major}:${minor}`);
  const { paths } = started(sb, ['sleep', '1000'], (c) => {
    c.linux.resources.memory = { limit: 100 << 20, reservation: 50 << 20, swap: 200 << 20, swappiness: 10, disableOOMKiller: false, useHierarchy: true };
    c.linux.resources.cpu = { shares: 256, quota: 50000, period: 100000, idle: 0, cpus: '0', mems: '0' };
    c.linux.resources.pids = { limit: 64 };
    c.linux.resources.blockIO = {};
    for (const k of supported) setField(c.linux.resources, k.field, k.value);
    if (realDisk) Object.assign(c.linux.resources.blockIO, { throttleReadBpsDevice: [{ major, minor, rate: 1048576 }], throttleWriteIOPSDevice: [{ major, minor, rate: 100 }] });
  });
  const expect = {
    memory: { 'memory.limit_in_bytes': String(100 << 20), 'memory.soft_limit_in_bytes': String(50 << 20), 'memory.swappiness': '10', 'memory.use_hierarchy': '1' },
    cpu: { 'cpu.shares': '256', 'cpu.cfs_quota_us': '50000', 'cpu.cfs_period_us': '100000' },
    cpuset: { 'cpuset.cpus': '0', 'cpuset.mems': '0' },
    pids: { 'pids.max': '64' },
  };
  if (fs.existsSync(path.join(paths.memory, 'memory.memsw.limit_in_bytes'))) expect.memory['memory.memsw.limit_in_bytes'] = String(200 << 20);
  for (const [ctrl, files] of Object.entries(expect)) {
    for (const [f, v] of Object.entries(files)) assert.equal(readCg(paths[ctrl], f), v, f);
  }
  for (const k of supported) {
    const ctrl = k.files[0].split('.')[0];
    const file = k.files.find((f) => fs.existsSync(path.join(paths[ctrl], f)));
    assert.match(readCg(paths[ctrl], file), new RegExp(`\\b${k.value}\\b`), `${k.field}: ${file}`);
  }
  assert.match(readCg(paths.memory, 'memory.oom_control'), /^oom_kill_disable 0$/m);
  if (realDisk) {
    assert.equal(readCg(paths.blkio, 'blkio.throttle.read_bps_device'), `${major}:${minor} 1048576`);
    assert.equal(readCg(paths.blkio, 'blkio.throttle.write_iops_device'), `${major}:${minor} 100`);
  }
});

test('cgroups: a field whose file this kernel lacks (no BFQ weight, no RT group scheduling, no CFS burst) fails the create naming the field and the file, as runc', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const missing = kernelSupport(sb).filter((k) => !k.has);
  if (!missing.length) {
    t.skip(`this kernel has a file for each of ${KERNEL_DEPENDENT.map(([f]) => f).join(', ')}`);
    return;
  }
  for (const k of missing) {
    const b = bundle(sb, ['true'], (c) => { setField(c.linux.resources, k.field, k.value); });
    const id = sb.id('nofile');
    const r = sb.tsrt(['create', '--bundle', b.dir, id]);
    assert.notEqual(r.status, 0, `${k.field}: ${show(r)}`);
    const escaped = k.field.replace('.', '\\.');
    const want = k.files.length
      // v2's weight is named with the file it went to: "blockIO.weight (as io.weight)".
      ? new RegExp(`linux\\.resources\\.${escaped}( \\(as [\\w.]+\\))?: writing \\S+/(${k.files.join('|').replace(/\./g, '\\.')}): ENOENT`)
      : new RegExp(`linux\\.resources\\.${escaped}: cgroup v2 has no real-time bandwidth control`);
    assert.match(r.stderr, want, `${k.field}\n${show(r)}`);
    assert.ok(!fs.existsSync(sb.stateDir(id)), `${k.field}: no state left`);
    for (const m of cgroupMounts()) assert.ok(!fs.existsSync(path.join(m.mountpoint, relativeBase(m), id)), `${k.field}: ${m.mountpoint}: no ${id} left`);
  }
});

test('cgroups: rdma limits go to rdma.max; without the controller or the device, create fails naming the field', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const has = containerHasFiles(sb, { rdma: ['rdma.max'] }).has('rdma.max');
  let devs = [];
  try { devs = fs.readdirSync('/sys/class/infiniband'); } catch { /* no RDMA stack */ }
  // A real device gets its limit; else a name no host has, which the kernel refuses.
  const dev = devs[0] ?? `tsrtnodev${randomBytes(2).toString('hex')}`;
  const b = bundle(sb, ['sleep', '1000'], (c) => { c.linux.resources.rdma = { [dev]: { hcaHandles: 3, hcaObjects: 30 } }; });
  const id = sb.id('rdma');
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  if (has && devs.length) {
    assert.equal(r.status, 0, show(r));
    sb.ids.add(id);
    assert.match(readCg(ctrlDir(cgroupPaths(sb, id), 'rdma'), 'rdma.max'), new RegExp(`^${dev} hca_handle=3 hca_object=30$`, 'm'));
    return;
  }
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, has
    ? new RegExp(`linux\\.resources\\.rdma\\.${dev}: writing \\S+/rdma\\.max: E[A-Z]+`)
    : /linux\.resources\.rdma: no rdma controller for this container/, show(r));
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'no state left');
  for (const m of cgroupMounts()) assert.ok(!fs.existsSync(path.join(m.mountpoint, relativeBase(m), id)), `${m.mountpoint}: no ${id} left`);
  t.diagnostic(has ? `no RDMA device here: the kernel's refusal of ${dev} is checked` : 'no rdma controller for containers here: the error is checked');
});

test('cgroups: memory.limit 32M OOM-kills a 64M allocation and events reports the OOM', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const limit = 32 * 1024 * 1024;
  // dd's 64M buffer is filled from /dev/zero: every page of it is touched.
  const { id, pid, paths } = started(sb, ['sh', '-c', 'while [ ! -e /dev/shm/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?; sleep 1000'],
    // swappiness 0: on a host with swap but no swap accounting (no memory.memsw.*, where
    // tsrt ignores `swap` with a warning) the allocation would go to swap, not to the OOM killer.
    (c) => { c.linux.resources.memory = { limit, swap: limit, swappiness: 0 }; });
  const files = cgFiles(paths);
  assert.equal(files.memoryLimit(), String(limit));
  const events = eventsStream(t, sb, ['--interval', '200ms', id]);
  await waitUntil(() => events.lines.some((e) => e.type === 'stats'), 10_000, 'the first stats event (events is listening)');
  fs.writeFileSync(`/proc/${pid}/root/dev/shm/go`, '');
  await waitUntil(() => files.oomKills() > 0, 10_000, 'an OOM kill in memory.oom_control (v1) or memory.events (v2)');
  await waitUntil(() => events.lines.some((e) => e.type === 'oom'), 10_000, 'the oom event');
  // Usage reached the limit (memory.failcnt stays 0 on this machine's 6.x kernel: not checked).
  assert.equal(files.memoryPeak(), String(limit));
  sb.ok(['delete', '--force', id]);
  const code = await events.done;
  assert.equal(code, 0, events.stderr());
  const { lines } = events;
  assert.ok(lines.some((e) => e.type === 'oom' && e.id === id && e.data === undefined), JSON.stringify(lines.filter((e) => e.type !== 'stats')));
  const stats = lines.find((e) => e.type === 'stats');
  assert.equal(stats.data.memory.usage.limit, limit);
});

test('cgroups: pids.limit 20 stops a fork bomb', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  // A bounded bomb: 50 background sleeps from a child shell, which dies at the first
  // failed fork; the main shell counts them with builtins only (no fork left for it).
  const b = bundle(sb, ['sh', '-c', 'sh -c \'i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); echo $i > /dev/shm/n; done\' 2>/dev/null; read n < /dev/shm/n; set -- /proc/[0-9]*; echo started=$n procs=$#'],
    (c) => { c.linux.resources.pids = { limit: 20 }; });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('pids')]);
  assert.equal(r.status, 0, show(r));
  const m = /started=(\d+) procs=(\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  // 20 tasks: the main shell, the child shell and 18 sleeps.
  assert.equal(Number(m[1]), 18, r.stdout);
  assert.ok(Number(m[2]) <= 20, r.stdout);
});

test('cgroups: cpu quota 20% holds a busy loop to about 0.2 CPU', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const { paths } = started(sb, ['sh', '-c', 'while :; do :; done'], (c) => { c.linux.resources.cpu = { quota: 20000, period: 100000 }; });
  const files = cgFiles(paths);
  const usage = () => files.cpuUsageNs();
  await sleep(300);
  const u0 = usage();
  const t0 = process.hrtime.bigint();
  await sleep(2000);
  const used = (usage() - u0) / Number(process.hrtime.bigint() - t0);
  assert.ok(used > 0.1 && used < 0.35, `busy loop used ${used.toFixed(3)} CPU (quota 0.2)`);
  assert.equal(files.cpuQuota(), '20000');
  assert.ok(files.cpuThrottled() > 0, readCg(files.dir('cpu'), 'cpu.stat'));
});

test('cgroups: cpuset.cpus 0 pins the container to CPU 0', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const b = bundle(sb, ['sh', '-c', 'grep Cpus_allowed_list /proc/self/status'], (c) => { c.linux.resources.cpu = { cpus: '0', mems: '0' }; });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('cpuset')]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^Cpus_allowed_list:\s+0$/m);
});

test('cgroups: device rules deny a blocked device (after runc\'s default rules, which allow mknod of any node)', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const b = bundle(sb, ['sh', '-c', 'mknod /dev/k c 1 11 && echo mknod=ok; head -c 1 /dev/k >/dev/null 2>&1; echo kmsg=$?; head -c 3 /dev/zero | wc -c; mknod /dev/l b 7 0; echo x 2>/dev/null > /dev/l; echo loop=$?'], (c) => {
    addCaps(c, 'CAP_MKNOD');
    c.linux.resources.devices = [{ allow: false, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 11, access: 'rwm' }];
  });
  const id = sb.id('dev');
  const r = sb.tsrt(['run', '--bundle', b.dir, id]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /mknod=ok/, 'c *:* m is among the default rules (runc and crun have it)');
  assert.match(r.stdout, /kmsg=1/, 'reading a denied char device fails');
  assert.match(r.stdout, /^3$/m, '/dev/zero (default rule) works');
  assert.match(r.stdout, /loop=[12]/, 'writing a block device fails');
});

test('cgroups: v1 devices rules deny mknod of a blocked device (the rules alone, on a test cgroup)', { skip: skipUnlessRoot || (!V1().some((m) => m.controllers.includes('devices')) && 'no v1 devices hierarchy') }, async (t) => {
  const { deviceState, exceptionLine } = await import('../dist/lib.js');
  const m = V1().find((x) => x.controllers.includes('devices'));
  const dir = path.join(m.mountpoint, ownCgroup(m), `tsrt-test-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir);
  removeCgroupDirsLater(t, [dir]);
  const st = deviceState([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }], undefined, false);
  fs.writeFileSync(path.join(dir, 'devices.deny'), 'a');
  for (const e of st.exceptions) fs.writeFileSync(path.join(dir, 'devices.allow'), exceptionLine(e));
  assert.equal(readCg(dir, 'devices.list'), 'c 1:3 rwm');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-test-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const r = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && mknod ${tmp}/null c 1 3 && echo null=ok; mknod ${tmp}/zero c 1 5 2>&1; echo zero=$?`], { encoding: 'utf8' });
  assert.match(r.stdout, /null=ok/, r.stdout + r.stderr);
  assert.match(r.stdout, /Operation not permitted/, r.stdout);
  assert.match(r.stdout, /zero=1/, r.stdout);
  assert.ok(!fs.existsSync(`${tmp}/zero`));
});

test('pause / resume: freezes every process, state says paused, resume thaws', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sh', '-c', 'sleep 1000 & sleep 1000 & wait']);
  const freezeFile = cgFiles(paths).freezer();
  sb.ok(['pause', id]);
  assert.equal(sb.state(id).status, 'paused');
  assert.equal(readCg(freezeFile[0], freezeFile[1]), freezeFile[2]);
  // Every task of the cgroup is frozen (the kernel shows frozen tasks as sleeping; the
  // cgroup's own report is authoritative).
  assert.equal(ps(sb, id).length, 3);
  let r = sb.tsrt(['pause', id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /container not running/);
  sb.ok(['resume', id]);
  assert.equal(sb.state(id).status, 'running');
  assert.equal(readCg(freezeFile[0], freezeFile[1]), freezeFile[3]);
  r = sb.tsrt(['resume', id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /container not paused/);
  assert.ok(isAlive(pid));
  // A paused container is deleted with --force (thawed so that SIGKILL lands).
  sb.ok(['pause', id]);
  sb.ok(['delete', '--force', id]);
  assert.ok(await sb.waitDead(pid));
  for (const d of Object.values(paths)) assert.ok(!fs.existsSync(d), `${d} removed`);
});

test('pause: a created container can be paused too (state paused), like runc', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const { id } = started(sb, ['sleep', '1000'], undefined, { noStart: true });
  sb.ok(['pause', id]);
  assert.equal(sb.state(id).status, 'paused');
  const r = sb.tsrt(['start', id]);
  assert.notEqual(r.status, 0, 'start refuses a paused container');
  sb.ok(['resume', id]);
  assert.equal(sb.state(id).status, 'created');
});

test('ps: json lists the host pids of the cgroup; table is ps -ef\'s lines for them', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sh', '-c', 'sleep 1001 & sleep 1002 & wait']);
  await waitUntil(() => ps(sb, id).length === 3, 10_000, 'three processes');
  const pids = ps(sb, id);
  const procs = fs.readFileSync(path.join(paths.pids ?? paths.unified, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number).sort((a, b) => a - b);
  assert.deepEqual(pids, procs);
  assert.ok(pids.includes(pid));
  const table = sb.ok(['ps', id]).stdout.trim().split('\n');
  assert.match(table[0], /^UID\s+PID\s+PPID/);
  assert.equal(table.length, 4, table.join('\n'));
  assert.ok(table.some((l) => l.includes('sleep 1001')) && table.some((l) => l.includes('sleep 1002')));
  // ps options after the id replace -ef.
  const custom = sb.ok(['ps', id, '-o', 'pid,comm']).stdout.trim().split('\n');
  assert.match(custom[0], /PID\s+COMMAND/);
  assert.deepEqual(custom.slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).sort((a, b) => a - b), pids);
});

test('kill --all: signals every process of the container (frozen meanwhile)', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  // No PID namespace: the children would not die with the init by themselves.
  const { id, pid } = started(sb, ['sh', '-c', 'sleep 1001 & sleep 1002 & sleep 1003 & wait'], (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid');
  });
  await waitUntil(() => ps(sb, id).length === 4, 10_000, 'four processes');
  const pids = ps(sb, id);
  pids.forEach((p) => sb.track(p));
  sb.ok(['kill', '--all', id, 'KILL']);
  for (const p of pids) assert.ok(await sb.waitDead(p, 5000), `pid ${p} killed`);
  assert.equal(sb.state(id).status, 'stopped');
  // containerd sends kill --all after the init died: that succeeds.
  sb.ok(['kill', '--all', id, 'KILL']);
  assert.ok(!isAlive(pid));
});

test('kill --all KILL also ends a paused container', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid } = started(sb, ['sh', '-c', 'sleep 1000 & wait']);
  sb.ok(['pause', id]);
  sb.ok(['kill', '--all', id, '9']);
  assert.ok(await sb.waitDead(pid, 5000));
  assert.equal(sb.state(id).status, 'stopped');
});

test('events --stats: one JSON line with runc\'s fields', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const { id } = started(sb, ['sh', '-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 1000'],
    (c) => { c.linux.resources.memory = { limit: 64 * 1024 * 1024 }; c.linux.resources.pids = { limit: 50 }; });
  const out = sb.ok(['events', '--stats', id]).stdout;
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 1);
  const e = JSON.parse(lines[0]);
  assert.equal(e.type, 'stats');
  assert.equal(e.id, id);
  assert.deepEqual(Object.keys(e.data), ['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
  assert.equal(e.data.pids.limit, 50);
  assert.ok(e.data.pids.current >= 1);
  assert.equal(e.data.memory.usage.limit, 64 * 1024 * 1024);
  assert.ok(e.data.memory.usage.usage > 0);
  assert.equal(typeof e.data.memory.usage.failcnt, 'number');
  assert.ok(e.data.cpu.usage.total > 0, JSON.stringify(e.data.cpu));
  assert.equal(typeof e.data.cpu.usage.kernel, 'number');
  assert.equal(typeof e.data.cpu.usage.user, 'number');
  assert.equal(e.data.network_interfaces, null);
  // Unlimited values are printed exactly (no rounding through a double).
  assert.match(out, /"hierarchical_memsw_limit":\d{19}\b|"swap":\{"limit":\d+/);
  const r = sb.tsrt(['events', '--stats', 'no-such-container']);
  assert.notEqual(r.status, 0);
});

test('events: streams stats at --interval until the container stops', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid } = started(sb, ['sleep', '1000']);
  const ev = eventsStream(t, sb, ['--interval', '100ms', id]);
  // How many arrive in a given time is the machine's business (no timing asserted):
  // several arrive, then the stream ends with the container.
  await waitUntil(() => ev.lines.length >= 3, 30_000, 'three stats events');
  process.kill(pid, 'SIGKILL');
  assert.equal(await ev.done, 0, ev.stderr());
  const lines = ev.lines;
  assert.ok(lines.every((l) => l.type === 'stats' && l.id === id), JSON.stringify(lines));
  const bad = sb.tsrt(['events', '--interval', 'soon', id]);
  assert.notEqual(bad.status, 0);
});

test('update: single-value flags (memory with units as runc parses them), --resources file and stdin', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const { id, paths } = started(sb, ['sleep', '1000'], (c) => { c.linux.resources.memory = { limit: 64 * 1024 * 1024 }; c.linux.resources.pids = { limit: 100 }; });
  const files = cgFiles(paths);
  sb.ok(['update', '--memory', '32m', '--pids-limit', '30', '--cpu-quota', '50000', '--cpu-period', '100000', '--cpu-share', '512', '--cpuset-cpus', '0', id]);
  assert.equal(files.memoryLimit(), String(32 * 1024 * 1024));
  assert.equal(files.pidsMax(), '30');
  assert.equal(files.cpuQuota(), '50000');
  // v2 has cpu.weight: runc's conversion of 512 shares is 1 + (512 - 2) * 9999 / 262142 = 20.
  assert.equal(files.cpuWeight(), files.v1('cpu') ? '512' : '20');
  assert.equal(files.cpusetCpus(), '0');
  sb.ok(['update', '--memory', '1.5g', id]);
  assert.equal(files.memoryLimit(), '1610612736');
  const file = path.join(sb.dir, 'res.json');
  fs.writeFileSync(file, JSON.stringify({ memory: { limit: 100 * 1024 * 1024, reservation: 50 * 1024 * 1024 }, pids: { limit: -1 } }));
  sb.ok(['update', '--resources', file, id]);
  assert.equal(files.memoryLimit(), String(100 * 1024 * 1024));
  assert.equal(files.memoryReservation(), String(50 * 1024 * 1024));
  assert.equal(files.pidsMax(), 'max');
  sb.ok(['update', '-r', '-', id], { input: JSON.stringify({ pids: { limit: 42 } }) });
  assert.equal(files.pidsMax(), '42');
  // The merged resources are kept: an update changes only what it names.
  const saved = JSON.parse(fs.readFileSync(path.join(sb.stateDir(id), 'state.json'), 'utf8')).config.linux.resources;
  assert.equal(saved.memory.limit, 100 * 1024 * 1024);
  assert.equal(saved.cpu.quota, 50000);
  assert.equal(saved.pids.limit, 42);
  // A paused container can be updated.
  sb.ok(['pause', id]);
  sb.ok(['update', '--pids-limit', '43', id]);
  assert.equal(files.pidsMax(), '43');
  sb.ok(['resume', id]);
  // Bad input.
  for (const args of [['--memory', '12q'], ['--pids-limit', 'x'], ['--blkio-weight', '5']]) {
    const r = sb.tsrt(['update', ...args, id]);
    assert.notEqual(r.status, 0, `${args.join(' ')} is refused`);
  }
  fs.writeFileSync(file, JSON.stringify({ memory: { limit: 'lots' } }));
  const r = sb.tsrt(['update', '--resources', file, id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /memory\.limit/);
});

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('update: a value the kernel refuses names the field, the file and the errno, and the old limit stays', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  // A 16M tmpfs file is charged to the container: on v1 a 4M limit below its usage is
  // refused (EBUSY); v2 takes it and reclaims, so there a cpuset of CPUs the machine
  // lacks is what the kernel refuses (EINVAL or ERANGE, on v1 too).
  const { id, pid, paths } = started(sb, ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/f bs=1M count=16 2>/dev/null; echo done > /dev/shm/ready; sleep 1000'],
    (c) => { c.linux.resources.memory = { limit: 64 * 1024 * 1024 }; c.linux.resources.cpu = { cpus: '0' }; });
  await waitUntil(() => fs.existsSync(`/proc/${pid}/root/dev/shm/ready`), 10_000, 'the 16M file');
  const files = cgFiles(paths);
  if (files.v1('memory')) {
    const r = sb.tsrt(['update', '--memory', '4m', id]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`linux\\.resources\\.memory\\.limit: writing ${escapeRe(paths.memory)}/memory\\.limit_in_bytes: EBUSY`), r.stderr);
  }
  assert.equal(files.memoryLimit(), String(64 * 1024 * 1024));
  const r = sb.tsrt(['update', '--cpuset-cpus', String(os.cpus().length + 64), id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`linux\\.resources\\.cpu\\.cpus: writing ${escapeRe(files.dir('cpuset'))}/cpuset\\.cpus: (EINVAL|ERANGE)`), r.stderr);
  assert.equal(files.cpusetCpus(), '0');
  assert.equal(sb.state(id).status, 'running');
});

test('update: refused for a stopped container', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid } = started(sb, ['sleep', '1000']);
  process.kill(pid, 'SIGKILL');
  await sb.waitStatus(id, 'stopped');
  const r = sb.tsrt(['update', '--pids-limit', '10', id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /container not running/);
});

test('cgroups: unified keys go to the v2 directory where v2 owns the controller; others are refused clearly', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const v2 = V2();
  if (!v2) {
    const b = bundle(sb, ['true'], (c) => { c.linux.resources.unified = { 'pids.max': '10' }; });
    const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('uni')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /linux\.resources\.unified: cgroup v2 is not mounted/);
    return;
  }
  const owned = v2Controllers();
  const onV1 = V1().flatMap((m) => m.controllers).find((c) => ['memory', 'pids', 'cpu'].includes(c));
  if (onV1) {
    const b = bundle(sb, ['true'], (c) => { c.linux.resources.unified = { [`${onV1}.max`]: '10' }; });
    const id = sb.id('uni');
    const r = sb.tsrt(['run', '--bundle', b.dir, id]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`linux\\.resources\\.unified\\[\\\\?"${onV1}\\.max\\\\?"\\]: the ${onV1} controller is a cgroup v1 controller on this host`), r.stderr);
    assert.ok(!fs.existsSync(sb.stateDir(id)), 'nothing is left of the failed create');
  }
  // A core file works everywhere; a controller v2 owns here works.
  const unified = { 'cgroup.max.descendants': '5' };
  if (owned.has('hugetlb')) unified['hugetlb.2MB.max'] = String(4 * 1024 * 1024);
  const { id, paths } = started(sb, ['sleep', '1000'], (c) => { c.linux.resources.unified = unified; });
  for (const [k, v] of Object.entries(unified)) assert.equal(readCg(paths.unified, k), v);
  sb.ok(['delete', '--force', id]);
});

test('cgroups: a resource whose controller is not mounted fails the create, naming the field', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const mounted = new Set(V1().flatMap((m) => m.controllers));
  if (mounted.has('net_cls')) {
    t.skip('net_cls is mounted here');
    return;
  }
  const b = bundle(sb, ['true'], (c) => { c.linux.resources.network = { classID: 0x100001 }; });
  const id = sb.id('netcls');
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /linux\.resources\.network\.classID: no net_cls controller/);
  assert.ok(!fs.existsSync(sb.stateDir(id)));
  // Nothing of the container's cgroups is left either.
  for (const m of [...V1(), V2()].filter(Boolean)) assert.ok(!fs.existsSync(path.join(m.mountpoint, relativeBase(m), id)), `${m.mountpoint}: no ${id}`);
});

test('cgroups: the kernel\'s swap/warning behaviours: kernel memory settings only warn', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const b = bundle(sb, ['true'], (c) => { c.linux.resources.memory = { limit: 64 * 1024 * 1024, kernel: 1 << 20, kernelTCP: 1 << 20 }; });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('kmem')]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stderr, /level=warning msg=".*kernel.*ignored/);
});

test('cgroups: 200 create/delete cycles leave no cgroup directory behind', { skip: skipUnlessRoot }, async (t) => {
  const sb = new Sandbox(t);
  const limits = (c) => { c.linux.resources.pids = { limit: 10 }; c.linux.resources.memory = { limit: 64 * 1024 * 1024 }; };
  const live = bundle(sb, ['sleep', '1000'], limits);
  const quick = bundle(sb, ['true'], limits);
  const prefix = `leak${randomBytes(3).toString('hex')}`;
  const parents = [...V1(), V2()].filter(Boolean).map((m) => path.join(m.mountpoint, relativeBase(m)));
  const mine = () => parents.flatMap((p) => fs.readdirSync(p).filter((n) => n.startsWith(prefix)).map((n) => path.join(p, n)));
  // One cycle in four is create + delete --force of a live container (delete kills it and
  // waits for the cgroup to empty); the others are `run` of `true` (create, start, wait,
  // delete in one process), so the test stays fast on a small machine.
  const N = 200;
  const PARALLEL = 4;
  let next = 0;
  const failures = [];
  const worker = async () => {
    while (next < N) {
      const n = next++;
      const id = `${prefix}-${n}`;
      sb.ids.add(id);
      if (n % 4 === 0) {
        const c = await sb.tsrtAsync(['create', '--bundle', live.dir, id]);
        if (c.status !== 0) failures.push(show(c));
        const d = await sb.tsrtAsync(['delete', '--force', id]);
        if (d.status !== 0) failures.push(show(d));
      } else {
        const r = await sb.tsrtAsync(['run', '--bundle', quick.dir, id]);
        if (r.status !== 0) failures.push(show(r));
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  assert.deepEqual(failures, []);
  assert.deepEqual(mine(), [], 'no cgroup directory of these containers is left');
  assert.deepEqual(fs.readdirSync(sb.root).filter((n) => n.startsWith(prefix)), [], 'no state left');
});

test('cgroups: in a cgroup namespace the container sees its own cgroup as / (every hierarchy, exec too), and /sys/fs/cgroup is its cgroup', { skip: skipUnlessRoot }, (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sleep', '1000'], (c) => {
    if (!c.linux.namespaces.some((n) => n.type === 'cgroup')) c.linux.namespaces.push({ type: 'cgroup' });
  });
  assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/cgroup`), fs.readlinkSync('/proc/self/ns/cgroup'), 'a cgroup namespace of its own');
  const r = sb.tsrt(['exec', id, 'sh', '-c', 'cat /proc/1/cgroup; echo --; cat /proc/self/cgroup; echo --; cat /sys/fs/cgroup/cgroup.procs 2>/dev/null; true']);
  assert.equal(r.status, 0, show(r));
  const [init, self, procs] = r.stdout.split('--\n');
  for (const [who, text] of [['init', init], ['exec', self]]) {
    const lines = text.trim().split('\n');
    assert.ok(lines.length > 0, who);
    for (const line of lines) assert.match(line, /^\d+:[^:]*:\/$/, `${who}: ${line} (the host path is ${Object.values(paths)[0]})`);
  }
  // v2 alone: the cgroup2 mount inside is the container's cgroup (its init is pid 1 there).
  if (!V1().length) assert.match(procs, /^1$/m, `cgroup.procs inside:\n${procs}`);
});

test('cgroups: tsrt moves only the container: while `run` waits, tsrt itself is still in its caller\'s cgroups', { skip: skipUnlessRoot }, async (t) => {
  // create and exec write tsrt's own pid to its own cgroup.procs early (a move the kernel
  // skips: src/cgroups/warm-attach.ts); it must stay a no-op.
  const sb = new Sandbox(t);
  const b = bundle(sb, ['sh', '-c', 'while [ ! -e /dev/shm/go ]; do sleep 0.05; done']);
  const id = sb.id('own');
  // tsrt starts in a v2 cgroup of the test's own (not the root, where any move is a
  // move to where it is), through a shell that moves itself there and execs tsrt.
  const v2 = V2();
  const mine = v2 ? path.join(v2.mountpoint, ownCgroup(v2), `tsrt-own-${randomBytes(3).toString('hex')}`) : undefined;
  if (mine) {
    fs.mkdirSync(mine);
    removeCgroupDirsLater(t, [mine]);
  }
  const outFile = path.join(sb.dir, 'run.out');
  const out = fs.openSync(outFile, 'w');
  // stdio to a file, never a pipe: the container inherits it
  const args = ['--root', sb.root, 'run', '--bundle', b.dir, id];
  const tsrt = mine
    ? spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', mine, TSRT, ...args], { stdio: ['ignore', out, out] })
    : spawn(TSRT, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  sb.track(tsrt.pid);
  const exited = new Promise((resolve) => tsrt.on('exit', (code) => resolve(code)));
  await waitUntil(() => sb.tsrt(['state', id]).stdout.includes('"running"'), 10_000, 'the container runs');
  const expected = procCgroupLines(process.pid).map((l) => (mine && l.startsWith('0::') ? `0::${path.join(ownCgroup(v2), path.basename(mine))}` : l));
  assert.deepEqual(procCgroupLines(tsrt.pid), expected, 'tsrt\'s cgroups are where it started');
  const init = JSON.parse(sb.ok(['state', id]).stdout).pid;
  for (const line of procCgroupLines(init)) assert.ok(line.endsWith(`/${id}`), `the init is in the container's cgroup: ${line}`);
  sb.ok(['exec', id, 'touch', '/dev/shm/go']);
  assert.equal(await exited, 0, fs.readFileSync(outFile, 'utf8'));
});
