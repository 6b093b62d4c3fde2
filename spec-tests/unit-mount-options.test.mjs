// Unit tests for src/linux/mount-options.ts: OCI mount options → mount(2) / mount_setattr(2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import lib from '../dist/lib.js';

const { parseMountOptions, isBindMount, describeMountFlags } = lib;

// Kernel UAPI values, written out here so the test does not trust the module's own table.
const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20,
  MANDLOCK: 0x40, DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800,
  BIND: 0x1000, REC: 0x4000, SILENT: 0x8000, UNBINDABLE: 0x20000, PRIVATE: 0x40000,
  SLAVE: 0x80000, SHARED: 0x100000, RELATIME: 0x200000, I_VERSION: 0x800000,
  STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
};
const ATTR = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, ATIME: 0x70, RELATIME: 0, NOATIME: 0x10,
  STRICTATIME: 0x20, NODIRATIME: 0x80, NOSYMFOLLOW: 0x200000,
};

test('no options: nothing to do', () => {
  for (const options of [undefined, [], ['defaults'], ['']]) {
    assert.deepEqual(parseMountOptions(options), {
      flags: 0, clearFlags: 0, propagation: [], bind: false, recursive: false, data: '',
      recAttrSet: 0, recAttrClear: 0, idmap: false, idmapRecursive: false, tmpcopyup: false,
    });
  }
});

test('each flag-setting option sets its MS_* flag', () => {
  const cases = {
    ro: MS.RDONLY, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC,
    sync: MS.SYNCHRONOUS, dirsync: MS.DIRSYNC, remount: MS.REMOUNT, mand: MS.MANDLOCK,
    nodiratime: MS.NODIRATIME, lazytime: MS.LAZYTIME, iversion: MS.I_VERSION,
    silent: MS.SILENT, nosymfollow: MS.NOSYMFOLLOW,
  };
  for (const [opt, flag] of Object.entries(cases)) {
    const p = parseMountOptions([opt]);
    assert.equal(p.flags, flag, opt);
    assert.equal(p.clearFlags, 0, opt);
    assert.equal(p.data, '', opt);
  }
});

test('each flag-clearing option records the flag in clearFlags', () => {
  const cases = {
    rw: MS.RDONLY, suid: MS.NOSUID, dev: MS.NODEV, exec: MS.NOEXEC, async: MS.SYNCHRONOUS,
    nomand: MS.MANDLOCK, atime: MS.NOATIME, diratime: MS.NODIRATIME,
    norelatime: MS.RELATIME, nostrictatime: MS.STRICTATIME, nolazytime: MS.LAZYTIME,
    noiversion: MS.I_VERSION, loud: MS.SILENT, symfollow: MS.NOSYMFOLLOW,
  };
  for (const [opt, flag] of Object.entries(cases)) {
    const p = parseMountOptions([opt]);
    assert.equal(p.flags, 0, opt);
    assert.equal(p.clearFlags, flag, opt);
    assert.equal(p.data, '', opt);
  }
});

test('a later option overrides an earlier one', () => {
  let p = parseMountOptions(['ro', 'rw']);
  assert.equal(p.flags & MS.RDONLY, 0);
  assert.equal(p.clearFlags & MS.RDONLY, MS.RDONLY);
  p = parseMountOptions(['rw', 'ro']);
  assert.equal(p.flags & MS.RDONLY, MS.RDONLY);
  assert.equal(p.clearFlags & MS.RDONLY, 0);
  p = parseMountOptions(['nosuid', 'suid', 'nosuid', 'exec', 'noexec']);
  assert.equal(p.flags, MS.NOSUID | MS.NOEXEC);
  assert.equal(p.clearFlags, 0);
});

test('noatime / relatime / strictatime are one setting: choosing one clears the others', () => {
  let p = parseMountOptions(['noatime']);
  assert.equal(p.flags, MS.NOATIME);
  assert.equal(p.clearFlags, MS.RELATIME | MS.STRICTATIME);
  p = parseMountOptions(['noatime', 'strictatime']);
  assert.equal(p.flags, MS.STRICTATIME);
  assert.equal(p.clearFlags, MS.RELATIME | MS.NOATIME);
  p = parseMountOptions(['strictatime', 'relatime']);
  assert.equal(p.flags, MS.RELATIME);
  assert.equal(p.clearFlags, MS.NOATIME | MS.STRICTATIME);
  p = parseMountOptions(['nodiratime', 'relatime']);
  assert.equal(p.flags, MS.RELATIME | MS.NODIRATIME, 'diratime is independent of the atime mode');
});

test('bind and rbind', () => {
  let p = parseMountOptions(['bind']);
  assert.equal(p.flags, MS.BIND);
  assert.equal(p.bind, true);
  assert.equal(p.recursive, false);
  p = parseMountOptions(['rbind', 'ro']);
  assert.equal(p.flags, MS.BIND | MS.REC | MS.RDONLY);
  assert.equal(p.bind, true);
  assert.equal(p.recursive, true);
  p = parseMountOptions(['rbind', 'bind']);
  assert.equal(p.recursive, true, 'rbind is not undone by a later bind');
  assert.equal(p.flags, MS.BIND | MS.REC);
});

test('propagation options are kept in order, separate from the mount flags', () => {
  const p = parseMountOptions([
    'rbind', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable',
  ]);
  assert.equal(p.flags, MS.BIND | MS.REC);
  assert.deepEqual(p.propagation, [
    MS.PRIVATE, MS.PRIVATE | MS.REC, MS.SHARED, MS.SHARED | MS.REC,
    MS.SLAVE, MS.SLAVE | MS.REC, MS.UNBINDABLE, MS.UNBINDABLE | MS.REC,
  ]);
});

test('recursive attribute options go to recAttrSet / recAttrClear', () => {
  const sets = {
    rro: ATTR.RDONLY, rnosuid: ATTR.NOSUID, rnodev: ATTR.NODEV, rnoexec: ATTR.NOEXEC,
    rnodiratime: ATTR.NODIRATIME, rnosymfollow: ATTR.NOSYMFOLLOW,
  };
  for (const [opt, attr] of Object.entries(sets)) {
    const p = parseMountOptions([opt]);
    assert.deepEqual([p.flags, p.clearFlags, p.recAttrSet, p.recAttrClear], [0, 0, attr, 0], opt);
  }
  const clears = {
    rrw: ATTR.RDONLY, rsuid: ATTR.NOSUID, rdev: ATTR.NODEV, rexec: ATTR.NOEXEC,
    rdiratime: ATTR.NODIRATIME, rsymfollow: ATTR.NOSYMFOLLOW,
  };
  for (const [opt, attr] of Object.entries(clears)) {
    const p = parseMountOptions([opt]);
    assert.deepEqual([p.flags, p.clearFlags, p.recAttrSet, p.recAttrClear], [0, 0, 0, attr], opt);
  }
  const p = parseMountOptions(['rro', 'rnosuid', 'rrw']);
  assert.equal(p.recAttrSet, ATTR.NOSUID);
  assert.equal(p.recAttrClear, ATTR.RDONLY);
});

test('recursive atime options pick one atime mode and clear the whole atime field', () => {
  const modes = {
    rnoatime: ATTR.NOATIME, ratime: ATTR.RELATIME, rrelatime: ATTR.RELATIME,
    rnorelatime: ATTR.STRICTATIME, rstrictatime: ATTR.STRICTATIME, rnostrictatime: ATTR.RELATIME,
  };
  for (const [opt, mode] of Object.entries(modes)) {
    const p = parseMountOptions([opt]);
    assert.equal(p.recAttrClear, ATTR.ATIME, opt);
    assert.equal(p.recAttrSet, mode, opt);
  }
  const p = parseMountOptions(['rnoatime', 'rnodiratime', 'rstrictatime']);
  assert.equal(p.recAttrSet, ATTR.STRICTATIME | ATTR.NODIRATIME);
  assert.equal(p.recAttrClear, ATTR.ATIME);
});

test('idmap, ridmap and tmpcopyup are recorded and not passed to mount(2)', () => {
  let p = parseMountOptions(['idmap']);
  assert.deepEqual([p.idmap, p.idmapRecursive, p.data, p.flags, p.recAttrSet], [true, false, '', 0, 0]);
  p = parseMountOptions(['rbind', 'ridmap']);
  assert.deepEqual([p.idmap, p.idmapRecursive, p.data], [true, true, '']);
  p = parseMountOptions(['tmpcopyup', 'mode=755']);
  assert.equal(p.tmpcopyup, true);
  assert.equal(p.data, 'mode=755');
});

test('unknown options become the data string, in order', () => {
  let p = parseMountOptions(['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  assert.equal(p.flags, MS.NOSUID | MS.STRICTATIME);
  assert.equal(p.data, 'mode=755,size=65536k');
  p = parseMountOptions(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  assert.equal(p.flags, MS.NOSUID | MS.NOEXEC);
  assert.equal(p.data, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  p = parseMountOptions(['RO', 'toString', '__proto__', 'constructor']);
  assert.equal(p.flags, 0, 'options are case-sensitive and object built-ins are not options');
  assert.equal(p.data, 'RO,toString,__proto__,constructor');
});

test('the default spec mounts parse as expected', () => {
  const p = parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro']);
  assert.equal(p.flags, MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY);
  const shm = parseMountOptions(['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']);
  assert.equal(shm.data, 'mode=1777,size=65536k');
});

test('isBindMount: by type or by option', () => {
  assert.equal(isBindMount({ type: 'bind' }), true);
  assert.equal(isBindMount({ type: 'none', options: ['rbind', 'ro'] }), true);
  assert.equal(isBindMount({ options: ['bind'] }), true);
  assert.equal(isBindMount({ type: 'tmpfs', options: ['nosuid'] }), false);
  assert.equal(isBindMount({ type: 'proc' }), false);
  assert.equal(isBindMount({}), false);
  assert.equal(isBindMount({ options: ['rbinder', 'mbind'] }), false);
});

test('describeMountFlags names flags, kind of mount first', () => {
  assert.equal(describeMountFlags(MS.RDONLY | MS.REC | MS.BIND), 'MS_BIND|MS_REC|MS_RDONLY');
  assert.equal(describeMountFlags(0), '0');
  assert.equal(describeMountFlags(MS.NOSUID | MS.NODEV | MS.NOEXEC), 'MS_NOSUID|MS_NODEV|MS_NOEXEC');
  assert.equal(describeMountFlags(MS.REMOUNT | MS.BIND | MS.RDONLY), 'MS_REMOUNT|MS_BIND|MS_RDONLY');
  assert.equal(describeMountFlags(MS.PRIVATE | MS.REC), 'MS_REC|MS_PRIVATE');
  assert.equal(describeMountFlags(MS.RDONLY | 0x40000000), 'MS_RDONLY|0x40000000');
  assert.equal(describeMountFlags(parseMountOptions(['rbind', 'ro', 'nosuid']).flags),
    'MS_BIND|MS_REC|MS_RDONLY|MS_NOSUID');
});
