// The cgroup v2 driver on its own. On a hybrid host (this project's machines: cgroup2 at
// /sys/fs/cgroup/unified with only hugetlb) the containers are created with
// TSRT_CGROUP_LAYOUT=unified, so tsrt uses nothing but the v2 hierarchy: freezing through
// cgroup.freeze, device control through an eBPF program, hugetlb limits. The memory,
// cpu, io and pids tests run only where v2 owns those controllers and are skipped, with
// the reason, elsewhere (here they are v1 controllers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox, TSRT, show, sleep, waitUntil } from './helpers/tsrt.mjs';
import { V1, V2, addCaps, bundle, containerHasFiles, eventsStream, ownCgroup, readCg, relativeBase, removeCgroupDirsLater, started, v2Controllers, wholeDiskOf } from './helpers/cgroups.mjs';

const v2 = V2();
const isRoot = process.getuid?.() === 0;
const skipAll = !isRoot ? 'needs root' : !v2 ? 'no cgroup2 file system is mounted' : false;
// A hybrid host: ask tsrt to use the v2 hierarchy alone.
const env = { ...process.env, ...(V1().length ? { TSRT_CGROUP_LAYOUT: 'unified' } : {}) };
const owned = v2Controllers();
const unlessOwned = (ctrl) => skipAll || (owned.has(ctrl) ? false : `cgroup v2 does not own the ${ctrl} controller on this host (v2 has: ${[...owned].join(' ') || 'none'}; v1 mounts the rest)`);

function run(sb, args, patch) {
  const b = bundle(sb, args, patch);
  return sb.tsrt(['run', '--bundle', b.dir, sb.id('v2')], { env });
}

test('v2: the container has one cgroup, in the v2 hierarchy, removed by delete', { skip: skipAll }, (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sleep', '1000'], undefined, { env });
  assert.deepEqual(Object.keys(paths), ['unified']);
  // tsrt uses v2 alone (TSRT_CGROUP_LAYOUT=unified on a hybrid host): a relative path is
  // under the parent of our own cgroup, as runc's v2 driver puts it.
  const base = relativeBase(v2, { v2Only: true });
  assert.equal(paths.unified, path.join(v2.mountpoint, base, id));
  assert.ok(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`0::${path.join(base, id)}\n`));
  sb.ok(['delete', '--force', id], { env });
  assert.ok(!fs.existsSync(paths.unified));
});

test('v2: pause / resume through cgroup.freeze (cgroup.events says frozen 1)', { skip: skipAll }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sh', '-c', 'while :; do :; done'], undefined, { env });
  const ticks = () => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[11]);
  sb.ok(['pause', id], { env });
  assert.equal(readCg(paths.unified, 'cgroup.freeze'), '1');
  assert.match(readCg(paths.unified, 'cgroup.events'), /^frozen 1$/m);
  assert.equal(sb.state(id).status, 'paused');
  // A frozen busy loop uses no CPU.
  const before = ticks();
  await sleep(300);
  assert.equal(ticks(), before, 'no CPU time while frozen');
  sb.ok(['resume', id], { env });
  assert.match(readCg(paths.unified, 'cgroup.events'), /^frozen 0$/m);
  assert.equal(sb.state(id).status, 'running');
  await sleep(300);
  assert.ok(ticks() > before, 'runs again after resume');
  // kill --all freezes and thaws through the same file.
  sb.ok(['kill', '--all', id, 'KILL']);
  assert.ok(await sb.waitDead(pid, 5000));
  assert.equal(readCg(paths.unified, 'cgroup.freeze'), '0');
});

test('v2: kill --all KILL writes cgroup.kill (the kernel kills the whole tree at once, nothing frozen), as runc', { skip: skipAll }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sh', '-c', 'sleep 1000 & sleep 1000 & while :; do sleep 0.1; done'], undefined, { env });
  if (!fs.existsSync(path.join(paths.unified, 'cgroup.kill'))) return t.skip('this kernel has no cgroup.kill (before 5.14)');
  if (spawnSync('strace', ['-V']).status !== 0) return t.skip('strace is not installed: it shows which cgroup file kill --all writes');
  await waitUntil(() => readCg(paths.unified, 'cgroup.procs').split('\n').length >= 3, 10_000, 'the two sleeps');
  const trace = path.join(sb.dir, 'kill.strace');
  const r = spawnSync('strace', ['-f', '-qq', '--seccomp-bpf', '-e', 'trace=openat', '-o', trace, TSRT, '--root', sb.root, 'kill', '--all', id, 'KILL'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, show(r));
  const opened = fs.readFileSync(trace, 'utf8');
  assert.match(opened, /\/cgroup\.kill", O_WRONLY/, 'cgroup.kill written');
  assert.doesNotMatch(opened, /\/cgroup\.freeze", O_WRONLY/, 'no freeze around it');
  assert.ok(await sb.waitDead(pid, 5000));
  await waitUntil(() => readCg(paths.unified, 'cgroup.procs') === '', 10_000, 'every process of the cgroup gone');
  assert.equal(readCg(paths.unified, 'cgroup.freeze'), '0');
});

test('v2: hugetlb limits (hugetlb.<size>.max) are written and enforced', { skip: unlessOwned('hugetlb') }, async (t) => {
  const sb = new Sandbox(t);
  const sizes = fs.readdirSync('/sys/kernel/mm/hugepages').map((d) => Number(/(\d+)kB/.exec(d)[1]));
  if (!sizes.includes(2048)) {
    t.skip('no 2MB huge pages on this kernel');
    return;
  }
  const MB2 = 2 * 1024 * 1024;
  const { id, paths } = started(sb, ['sleep', '1000'], (c) => { c.linux.resources.hugepageLimits = [{ pageSize: '2MB', limit: MB2 }]; }, { env });
  assert.equal(readCg(paths.unified, 'hugetlb.2MB.max'), String(MB2));
  if (fs.existsSync(path.join(paths.unified, 'hugetlb.2MB.rsvd.max'))) assert.equal(readCg(paths.unified, 'hugetlb.2MB.rsvd.max'), String(MB2));
  sb.ok(['update', '--resources', '-', id], { env, input: JSON.stringify({ hugepageLimits: [{ pageSize: '2MB', limit: 2 * MB2 }] }) });
  assert.equal(readCg(paths.unified, 'hugetlb.2MB.max'), String(2 * MB2));
  const ev = JSON.parse(sb.ok(['events', '--stats', id], { env }).stdout);
  assert.ok(ev.data.hugetlb['2MB'], JSON.stringify(ev.data.hugetlb));
  sb.ok(['delete', '--force', id], { env });
  // Enforcement needs huge pages in the pool: 4 pages are added for the test if the pool
  // has fewer free ones, and the pool is set back afterwards.
  const nrFile = '/proc/sys/vm/nr_hugepages';
  const free = Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))[1]);
  if (free < 2) {
    const orig = fs.readFileSync(nrFile, 'utf8').trim();
    t.after(() => fs.writeFileSync(nrFile, orig));
    fs.writeFileSync(nrFile, String(Number(orig) + 4));
  }
  const r = run(sb, ['sh', '-c', 'busybox fallocate -l 2097152 /dev/hugepages/a && echo first=ok; busybox fallocate -l 2097152 /dev/hugepages/b 2>&1; echo second=$?'], (c) => {
    c.mounts.push({ destination: '/dev/hugepages', type: 'hugetlbfs', source: 'hugetlbfs', options: ['pagesize=2M'] });
    c.linux.resources.hugepageLimits = [{ pageSize: '2MB', limit: MB2 }];
  });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /first=ok/, 'one 2MB page fits the limit');
  assert.match(r.stdout, /second=1/, 'the second page is over the limit');
  assert.match(r.stdout, /No space left on device/);
});

test('v2: device rules become an eBPF program attached to the container\'s cgroup', { skip: skipAll }, async (t) => {
  const { countDeviceFilters } = await import('../dist/lib.js');
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sh', '-c', 'mknod /dev/k c 1 11; mknod /dev/l b 7 0; sleep 1000'], (c) => {
    addCaps(c, 'CAP_MKNOD');
    c.linux.resources.devices = [{ allow: false, access: 'rwm' }];
  }, { env });
  assert.equal(countDeviceFilters(paths.unified), 1);
  await waitUntil(() => fs.existsSync(`/proc/${pid}/root/dev/l`), 10_000, 'the nodes made inside');
  // The filter applies to the tasks of the cgroup: a shell joins it and looks at the
  // container's /dev through /proc/PID/root.
  const inCg = (cmd) => spawnSync('sh', ['-c', `echo $$ > ${paths.unified}/cgroup.procs && exec chroot /proc/${pid}/root sh -c '${cmd}'`], { encoding: 'utf8' });
  let r = inCg('(: < /dev/k) 2>&1; echo kmsg=$?; head -c 3 /dev/zero | wc -c; (echo x > /dev/l) 2>&1; echo loop=$?');
  assert.match(r.stdout, /can't open '?\/dev\/k'?: Operation not permitted/, r.stdout + r.stderr);
  assert.match(r.stdout, /kmsg=[12]/, r.stdout);
  assert.match(r.stdout, /^3$/m, '/dev/zero (a default rule) works');
  assert.match(r.stdout, /loop=[12]/, r.stdout);
  // update replaces the program (still one attached) and the new rules hold at once.
  sb.ok(['update', '--resources', '-', id], { env, input: JSON.stringify({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'r' }] }) });
  assert.equal(countDeviceFilters(paths.unified), 1);
  r = inCg('(: < /dev/k) 2>&1; echo kmsg=$?');
  assert.match(r.stdout, /kmsg=0/, r.stdout + r.stderr);
});

test('v2: the eBPF device program denies mknod of a blocked device (the rules alone, on a test cgroup)', { skip: skipAll }, async (t) => {
  const { attachDeviceFilter, deviceState, deviceProgram, countDeviceFilters } = await import('../dist/lib.js');
  const dir = path.join(v2.mountpoint, ownCgroup(v2), `tsrt-test-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir);
  removeCgroupDirsLater(t, [dir]);
  // Allow only /dev/null; deny-by-default.
  const st = deviceState([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 9, access: 'r' }], undefined, false);
  assert.ok(deviceProgram(st).length > 6);
  attachDeviceFilter(dir, st);
  assert.equal(countDeviceFilters(dir), 1);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-test-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const r = spawnSync('sh', ['-c', [
    `echo $$ > ${dir}/cgroup.procs`,
    `mknod ${tmp}/null c 1 3 && echo null=ok`,
    `mknod ${tmp}/zero c 1 5 2>&1; echo zero=$?`,
    `head -c 1 /dev/urandom > /dev/null && echo urandom-read=ok`,
    `echo x > /dev/urandom 2>/dev/null; echo urandom-write=$?`,
  ].join('; ')], { encoding: 'utf8' });
  assert.match(r.stdout, /null=ok/, r.stdout + r.stderr);
  assert.match(r.stdout, /Operation not permitted/, r.stdout);
  assert.match(r.stdout, /zero=1/, r.stdout);
  assert.match(r.stdout, /urandom-read=ok/, 'access r allows reading');
  assert.match(r.stdout, /urandom-write=[12]/, 'but not writing');
  assert.ok(!fs.existsSync(`${tmp}/zero`));
  // An allow-by-default state denies only its exceptions.
  const allow = deviceState([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'm' }], undefined, false);
  attachDeviceFilter(dir, allow);
  assert.equal(countDeviceFilters(dir), 1, 'the old program was detached');
  const r2 = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs; mknod ${tmp}/zero2 c 1 5 2>/dev/null; echo zero=$?; mknod ${tmp}/full c 1 7 && echo full=ok`], { encoding: 'utf8' });
  assert.match(r2.stdout, /zero=1/, r2.stdout);
  assert.match(r2.stdout, /full=ok/, r2.stdout);
});

test('v2: unified keys are written; a key of a controller v2 does not have is refused', { skip: skipAll }, (t) => {
  const sb = new Sandbox(t);
  const { paths } = started(sb, ['sleep', '1000'], (c) => { c.linux.resources.unified = { 'cgroup.max.descendants': '3', 'cgroup.max.depth': '2' }; }, { env });
  assert.equal(readCg(paths.unified, 'cgroup.max.descendants'), '3');
  assert.equal(readCg(paths.unified, 'cgroup.max.depth'), '2');
  const missing = ['memory', 'pids', 'cpu', 'io'].find((c) => !owned.has(c));
  if (missing) {
    const r = run(sb, ['true'], (c) => { c.linux.resources.unified = { [`${missing}.max`]: '10' }; });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`the ${missing} controller is (a cgroup v1 controller on this host|not enabled)`), r.stderr);
  }
});

test('v2: events --stats reports the v2 counters', { skip: skipAll }, (t) => {
  const sb = new Sandbox(t);
  const { id } = started(sb, ['sh', '-c', 'i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; sleep 1000'], undefined, { env });
  const e = JSON.parse(sb.ok(['events', '--stats', id], { env }).stdout);
  assert.equal(e.type, 'stats');
  // cpu.stat's usage lines exist on v2 even without the cpu controller.
  assert.ok(e.data.cpu.usage.total > 0, JSON.stringify(e.data.cpu));
  if (owned.has('pids')) assert.ok(e.data.pids.current >= 1);
  if (owned.has('memory')) assert.ok(e.data.memory.usage.usage > 0);
});

// --- controllers v2 owns only on some hosts -------------------------------------------

test('v2 memory: limit -> memory.max, swap -> memory.swap.max (swap - limit), OOM kill reported', { skip: unlessOwned('memory') }, async (t) => {
  const sb = new Sandbox(t);
  const limit = 32 * 1024 * 1024;
  const { id, pid, paths } = started(sb, ['sh', '-c', 'while [ ! -e /dev/shm/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000'],
    (c) => { c.linux.resources.memory = { limit, swap: limit, reservation: limit / 2 }; }, { env });
  assert.equal(readCg(paths.unified, 'memory.max'), String(limit));
  assert.equal(readCg(paths.unified, 'memory.low'), String(limit / 2));
  // Without swap accounting (no memory.swap.max) a host with swap pages the allocation out
  // instead of OOM-killing it: nothing to observe then.
  const swapOn = fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;
  if (swapOn && !fs.existsSync(path.join(paths.unified, 'memory.swap.max'))) {
    t.skip('swap is on and this kernel has no cgroup v2 swap accounting (memory.swap.max): no OOM kill to observe');
    return;
  }
  if (fs.existsSync(path.join(paths.unified, 'memory.swap.max'))) assert.equal(readCg(paths.unified, 'memory.swap.max'), '0');
  const events = eventsStream(t, sb, ['--interval', '200ms', id], env);
  await waitUntil(() => events.lines.some((e) => e.type === 'stats'), 10_000, 'the first stats event');
  fs.writeFileSync(`/proc/${pid}/root/dev/shm/go`, '');
  await waitUntil(() => /oom_kill [1-9]/.test(readCg(paths.unified, 'memory.events')), 10_000, 'oom_kill in memory.events');
  await waitUntil(() => events.lines.some((e) => e.type === 'oom'), 10_000, 'the oom event');
  sb.ok(['update', '--memory', '48m', '--memory-swap', '64m', id], { env });
  assert.equal(readCg(paths.unified, 'memory.max'), String(48 * 1024 * 1024));
  if (fs.existsSync(path.join(paths.unified, 'memory.swap.max'))) assert.equal(readCg(paths.unified, 'memory.swap.max'), String(16 * 1024 * 1024));
});

test('v2 cpu: shares -> cpu.weight, quota/period -> cpu.max, and the quota holds', { skip: unlessOwned('cpu') }, async (t) => {
  const sb = new Sandbox(t);
  const { id, paths } = started(sb, ['sh', '-c', 'while :; do :; done'], (c) => { c.linux.resources.cpu = { shares: 1024, quota: 20000, period: 100000 }; }, { env });
  // 1 + (1024 - 2) * 9999 / 262142 = 39 (runc's conversion)
  assert.equal(readCg(paths.unified, 'cpu.weight'), '39');
  assert.equal(readCg(paths.unified, 'cpu.max'), '20000 100000');
  const usage = () => Number(/usage_usec (\d+)/.exec(readCg(paths.unified, 'cpu.stat'))[1]);
  await sleep(300);
  const u0 = usage();
  const t0 = Date.now();
  await sleep(2000);
  const used = (usage() - u0) / 1000 / (Date.now() - t0);
  assert.ok(used > 0.1 && used < 0.35, `busy loop used ${used.toFixed(3)} CPU (quota 0.2)`);
  sb.ok(['update', '--cpu-quota', '-1', id], { env });
  assert.equal(readCg(paths.unified, 'cpu.max'), 'max 100000');
});

test('v2 cpu.idle and memory.oom.group: cpu.idle 1 (and update --cpu-idle 0), the unified key memory.oom.group kills the whole container on an OOM', { skip: unlessOwned('cpu') || unlessOwned('memory') }, async (t) => {
  const sb = new Sandbox(t);
  const { id, pid, paths } = started(sb, ['sh', '-c', 'sleep 1000 & while [ ! -e /dev/shm/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000'], (c) => {
    c.linux.resources.cpu = { idle: 1 };
    c.linux.resources.memory = { limit: 32 << 20, swap: 32 << 20 };
    c.linux.resources.unified = { 'memory.oom.group': '1' };
  }, { env });
  if (!fs.existsSync(path.join(paths.unified, 'cpu.idle'))) return t.skip('this kernel has no cpu.idle (before 5.15)');
  assert.equal(readCg(paths.unified, 'cpu.idle'), '1');
  sb.ok(['update', '--cpu-idle', '0', id], { env });
  assert.equal(readCg(paths.unified, 'cpu.idle'), '0');
  assert.equal(readCg(paths.unified, 'memory.oom.group'), '1');
  // dd's OOM kill takes every task of the cgroup with it: the init and the other sleep.
  fs.writeFileSync(`/proc/${pid}/root/dev/shm/go`, '');
  assert.ok(await sb.waitDead(pid, 10_000), 'the init died with the OOM group');
  await waitUntil(() => readCg(paths.unified, 'cgroup.procs') === '', 10_000, 'every task of the group killed');
  assert.match(readCg(paths.unified, 'memory.events'), /^oom_group_kill [1-9]/m);
});

test('v2 io: blockIO.weight -> io.bfq.weight (or io.weight converted), throttles -> io.max', { skip: unlessOwned('io') }, (t) => {
  const sb = new Sandbox(t);
  // The disk under the temp dir (the VM lane's /tmp is a virtio-blk disk), else under /.
  const disk = wholeDiskOf(os.tmpdir()) ?? wholeDiskOf('/');
  // BFQ's io.bfq.weight and iocost's io.weight depend on the kernel and the devices.
  const have = containerHasFiles(sb, { blkio: ['io.bfq.weight', 'io.weight'] }, { env });
  const weightFiles = ['io.bfq.weight', 'io.weight'].filter((f) => have.has(f));
  if (!weightFiles.length) {
    // Neither BFQ nor the iocost controller: the weight cannot be set, and create says so.
    const b = bundle(sb, ['true'], (c) => { c.linux.resources.blockIO = { weight: 500 }; });
    const r = sb.tsrt(['create', '--bundle', b.dir, sb.id('noweight')], { env });
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /linux\.resources\.blockIO\.weight \(as io\.weight\): writing \S+\/io\.weight: ENOENT/, show(r));
  }
  if (!weightFiles.length && !disk) return t.skip('no io weight file (no BFQ, no iocost) and no block device under the temp dir or /');
  const { paths } = started(sb, ['sleep', '1000'], (c) => {
    c.linux.resources.blockIO = {};
    if (weightFiles.length) c.linux.resources.blockIO.weight = 500;
    if (disk) Object.assign(c.linux.resources.blockIO, { throttleReadBpsDevice: [{ ...disk, rate: 1048576 }], throttleWriteIOPSDevice: [{ ...disk, rate: 100 }] });
  }, { env });
  if (weightFiles[0] === 'io.bfq.weight') assert.match(readCg(paths.unified, 'io.bfq.weight'), /500/);
  else if (weightFiles.length) assert.match(readCg(paths.unified, 'io.weight'), /default 4950\b/); // 1 + (500 - 10) * 9999 / 990
  if (!disk) return t.skip('io.max: neither the temp dir nor / is on a block device here');
  assert.match(readCg(paths.unified, 'io.max'), new RegExp(`^${disk.major}:${disk.minor} rbps=1048576 wbps=max riops=max wiops=100$`, 'm'));
});

test('v2 pids: pids.limit -> pids.max stops a fork bomb', { skip: unlessOwned('pids') }, (t) => {
  const sb = new Sandbox(t);
  const r = run(sb, ['sh', '-c', 'sh -c \'i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); echo $i > /dev/shm/n; done\' 2>/dev/null; read n < /dev/shm/n; echo started=$n'],
    (c) => { c.linux.resources.pids = { limit: 20 }; });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /started=18/);
});
