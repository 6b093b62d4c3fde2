// Unit tests of the cgroup code that needs no kernel: cgroupsPath rules, the value
// syntaxes of update/events, the v1 -> v2 conversions and the device rule semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  resolveCgroupsPath, systemdPath, expandSlice, parseMemory, parseDuration, cpuSharesToWeight,
  blkioWeightToIoWeight, swapMax, deviceState, deviceAllowed, exceptionLine, deviceProgram, encodeProgram, ACCESS,
} from '../dist/lib.js';

test('cgroupsPath: absolute, relative, default and cleaned', () => {
  assert.deepEqual(resolveCgroupsPath('/a/b', 'id', false), { path: '/a/b', absolute: true });
  assert.deepEqual(resolveCgroupsPath('/a/../../b/', 'id', false), { path: '/b', absolute: true });
  assert.deepEqual(resolveCgroupsPath('a/b', 'id', false), { path: 'a/b', absolute: false });
  assert.deepEqual(resolveCgroupsPath('../../x', 'id', false), { path: 'x', absolute: false }, 'a relative path cannot climb out of tsrt\'s cgroup');
  assert.deepEqual(resolveCgroupsPath(undefined, 'c1', false), { path: 'c1', absolute: false }, 'runc\'s default: the id under its own cgroup');
  assert.throws(() => resolveCgroupsPath('/', 'id', false), /root cgroup/);
  assert.throws(() => resolveCgroupsPath('..', 'id', false), /own cgroup/);
});

test('cgroupsPath with --systemd-cgroup: slice:prefix:name', () => {
  assert.deepEqual(resolveCgroupsPath('machine.slice:libpod:abc', 'id', true), { path: '/machine.slice/libpod-abc.scope', absolute: true });
  assert.deepEqual(resolveCgroupsPath(undefined, 'c1', true), { path: '/system.slice/tsrt-c1.scope', absolute: true });
  assert.equal(systemdPath(':cri-containerd:xyz'), '/system.slice/cri-containerd-xyz.scope', 'empty slice: system.slice');
  assert.equal(systemdPath('kubepods-besteffort-pod1.slice:cri:x'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-x.scope');
  assert.equal(systemdPath('system.slice::x'), '/system.slice/x.scope');
  assert.equal(systemdPath('system.slice:p:sub.slice'), '/system.slice/sub.slice', 'a name ending in .slice is a slice');
  assert.equal(expandSlice('-.slice'), '/');
  assert.throws(() => systemdPath('a:b'), /slice:prefix:name/);
  assert.throws(() => systemdPath('nota-slice:p:n'), /invalid systemd slice/);
  assert.throws(() => systemdPath('a--b.slice:p:n'), /invalid systemd slice/);
  assert.throws(() => systemdPath('a/b.slice:p:n'), /invalid systemd slice/);
});

test('update\'s memory sizes are parsed as runc parses them', () => {
  assert.equal(parseMemory('32m', '--memory'), 33554432);
  assert.equal(parseMemory('32M', '--memory'), 33554432);
  assert.equal(parseMemory('1.5g', '--memory'), 1610612736);
  assert.equal(parseMemory('100kb', '--memory'), 102400);
  assert.equal(parseMemory('100KiB', '--memory'), 102400);
  assert.equal(parseMemory('512 MB', '--memory'), 536870912);
  assert.equal(parseMemory('4096', '--memory'), 4096);
  assert.equal(parseMemory('-1', '--memory'), -1);
  for (const bad of ['', '12q', 'm', '-2', '1.5.x']) assert.throws(() => parseMemory(bad, '--memory'), /--memory/, bad);
});

test('events --interval takes Go durations', () => {
  assert.equal(parseDuration('5s', '--interval'), 5000);
  assert.equal(parseDuration('500ms', '--interval'), 500);
  assert.equal(parseDuration('1m30s', '--interval'), 90000);
  assert.equal(parseDuration('1.5h', '--interval'), 5400000);
  assert.equal(parseDuration('250us', '--interval'), 0.25);
  assert.equal(parseDuration('0', '--interval'), 0);
  for (const bad of ['5', 's', '5 s', '5x', '']) assert.throws(() => parseDuration(bad, '--interval'), /--interval/, bad);
});

test('v1 -> v2 conversions (runc\'s formulas)', () => {
  assert.equal(cpuSharesToWeight(2), 1);
  assert.equal(cpuSharesToWeight(1024), 39);
  assert.equal(cpuSharesToWeight(262144), 10000);
  assert.equal(cpuSharesToWeight(0), 0);
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(500), 4950);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
  assert.equal(swapMax(100, 300), '200', 'memory.swap.max = swap - limit');
  assert.equal(swapMax(100, -1), 'max');
  assert.equal(swapMax(100, undefined), undefined);
  assert.equal(swapMax(100, 100), '0');
  assert.throws(() => swapMax(undefined, 300), /needs a memory limit/);
  assert.throws(() => swapMax(300, 100), /below/);
});

test('device rules: the kernel\'s v1 semantics, then runc\'s defaults', () => {
  const C = (maj, min, a) => ['c', maj, min, a];
  const rwm = ACCESS.r | ACCESS.w | ACCESS.m;
  // deny all, allow null: deny-by-default with one exception
  let st = deviceState([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }], undefined, false);
  assert.equal(st.defaultAllow, false);
  assert.deepEqual(st.exceptions.map(exceptionLine), ['c 1:3 rwm']);
  assert.ok(deviceAllowed(st, ...C(1, 3, ACCESS.r | ACCESS.w)));
  assert.ok(!deviceAllowed(st, ...C(1, 5, ACCESS.r)));
  // access bits of one device add up; a deny of one bit takes it away again
  st = deviceState([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'w' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'w' }], undefined, false);
  assert.deepEqual(st.exceptions.map(exceptionLine), ['c 1:5 r']);
  assert.ok(deviceAllowed(st, ...C(1, 5, ACCESS.r)));
  assert.ok(!deviceAllowed(st, ...C(1, 5, ACCESS.r | ACCESS.w)), 'every requested bit must be allowed');
  // an allow-all start: deny rules are the exceptions
  st = deviceState([{ allow: true, access: 'rwm' }, { allow: false, type: 'b', major: 8, access: 'w' }], undefined, false);
  assert.equal(st.defaultAllow, true);
  assert.deepEqual(st.exceptions.map(exceptionLine), ['b 8:* w']);
  assert.ok(!deviceAllowed(st, 'b', 8, 1, ACCESS.r | ACCESS.w));
  assert.ok(deviceAllowed(st, 'b', 8, 1, ACCESS.r));
  assert.ok(deviceAllowed(st, 'c', 8, 1, rwm));
  // a partial "a" rule is split into b and c rather than read as "everything"
  st = deviceState([{ allow: false, access: 'rwm' }, { allow: true, access: 'm' }], undefined, false);
  assert.equal(st.defaultAllow, false);
  assert.deepEqual(st.exceptions.map(exceptionLine), ['c *:* m', 'b *:* m']);
  // no rules at all: deny by default (as runc), with the defaults after; linux.devices
  // grants nothing (only linux.resources.devices does, as in runc)
  st = deviceState(undefined, [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }]);
  assert.equal(st.defaultAllow, false);
  for (const [maj, min] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 2], [10, 200], [136, 4]]) {
    assert.ok(deviceAllowed(st, 'c', maj, min, rwm), `c ${maj}:${min}`);
  }
  assert.ok(!deviceAllowed(st, 'c', 10, 229, ACCESS.r), 'a linux.devices entry is not allowed by that alone');
  assert.ok(deviceAllowed(st, 'c', 10, 229, ACCESS.m), 'only mknod, as any node');
  // a linux.devices entry on a default's path replaces that default, its rule included
  st = deviceState(undefined, [{ path: '/dev/zero', type: 'c', major: 1, minor: 5 }]);
  assert.ok(!deviceAllowed(st, 'c', 1, 5, ACCESS.r), 'runc drops the default /dev/zero rule');
  assert.ok(deviceAllowed(st, 'c', 1, 3, rwm));
  assert.ok(deviceAllowed(st, 'b', 7, 0, ACCESS.m), 'mknod of any node (runc\'s b *:* m)');
  assert.ok(!deviceAllowed(st, 'b', 7, 0, ACCESS.r));
  assert.ok(!deviceAllowed(st, 'c', 1, 11, ACCESS.r));
  assert.throws(() => deviceState([{ allow: true, type: 'x' }]), /devices\[0\]\.type/);
  assert.throws(() => deviceState([{ allow: true, access: 'rwx' }]), /devices\[0\]\.access/);
});

test('the eBPF device program: loads its context, one block per exception, ends in exit', () => {
  const st = deviceState([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', minor: 5, access: 'r' }], undefined, false);
  const p = deviceProgram(st);
  const code = encodeProgram(p);
  assert.equal(code.length, p.length * 8);
  assert.equal(code[0], 0x61, 'first: r2 = *(u32 *)(r1 + 0)');
  assert.equal(code[code.length - 8], 0x95, 'last: exit');
  assert.equal(code.readInt32LE(code.length - 12), 0, 'deny by default: r0 = 0');
  // Every jump stays inside the program.
  p.forEach((i, n) => {
    if ((i.op & 0x07) === 0x06 || ((i.op & 0x07) === 0x05 && i.op !== 0x95)) assert.ok(n + 1 + i.off < p.length && i.off >= 0, `jump at ${n}`);
  });
});
