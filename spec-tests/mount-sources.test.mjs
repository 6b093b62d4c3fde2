// Mounts runc accepts and tsrt used to refuse or break (issue 13 item 7): a read-only
// tmpfs on /dev (and any read-only tmpfs with mounts under it), a bind of the host's
// /proc, bind sources a user namespace cannot reach; compared with runc on the same
// bundle when runc is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, runToFiles, show, withUserNs } from './helpers/tsrt.mjs';
import { which } from './helpers/clients.mjs';
import { addCaps } from './helpers/cgroups.mjs';

const RUNC = which('runc');

/** Runs the bundle under tsrt, and under runc when it is installed; returns both results. */
function both(sb, dir) {
  const tsrt = sb.tsrt(['run', '--bundle', dir, sb.id('mnt')]);
  let runc;
  if (RUNC) {
    const id = sb.id('mnt-runc');
    const root = `${sb.dir}/runc-state`;
    runc = runToFiles(RUNC, ['--root', root, 'run', '--bundle', dir, id], { ...sb.ioFiles() });
    runToFiles(RUNC, ['--root', root, 'delete', '--force', id], { ...sb.ioFiles() });
  }
  return { tsrt, runc };
}

const RO_PROBE = [
  'grep -E " /(dev|tmp|tmp/sub) " /proc/self/mountinfo | cut -d" " -f5,6 | sed "s/,relatime//"',
  'ls /dev | sort | tr "\\n" " "; echo',
  'touch /dev/x 2>/dev/null || echo "dev: read-only"',
  'touch /tmp/x 2>/dev/null || echo "tmp: read-only"',
  'touch /tmp/sub/x && echo "sub: writable"',
].join('; ');

for (const userns of [false, true]) {
  test(`a read-only tmpfs on /dev and on /tmp with a tmpfs under it: made, then read-only, as runc${userns ? ' (user namespace)' : ''}`, (t) => {
    const sb = new Sandbox(t);
    fs.chmodSync(sb.dir, 0o755); // the mapped root walks to the rootfs
    const b = sb.bundle({ copyRootfs: true, patch: (c) => {
      c.mounts.find((m) => m.destination === '/dev').options.push('ro');
      c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid'] });
      c.mounts.push({ destination: '/tmp/sub', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] });
      if (userns) withUserNs(c);
      c.process.args = ['sh', '-c', RO_PROBE];
    } });
    const { tsrt, runc } = both(sb, b.dir);
    assert.equal(tsrt.status, 0, show(tsrt));
    assert.match(tsrt.stdout, /^\/dev ro,nosuid$/m, show(tsrt));
    assert.match(tsrt.stdout, /^\/tmp ro,nosuid$/m, show(tsrt));
    assert.match(tsrt.stdout, /^\/tmp\/sub rw,nosuid$/m, show(tsrt));
    assert.match(tsrt.stdout, /\bpts\b.*\bshm\b/, 'the devices and submounts of /dev are there');
    assert.match(tsrt.stdout, /^dev: read-only$/m);
    assert.match(tsrt.stdout, /^tmp: read-only$/m);
    assert.match(tsrt.stdout, /^sub: writable$/m);
    if (runc) {
      assert.equal(runc.status, 0, show(runc));
      assert.equal(tsrt.stdout, runc.stdout, `tsrt and runc differ:\n${show(tsrt)}\n${show(runc)}`);
    }
  });
}

test('/proc bound from the host\'s procfs (user namespace, no pid namespace: rootless podman --pid=host): accepted, as runc', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    withUserNs(c);
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid');
    const i = c.mounts.findIndex((m) => m.destination === '/proc');
    c.mounts[i] = { destination: '/proc', type: 'bind', source: '/proc', options: ['rbind', 'nosuid', 'noexec', 'nodev'] };
    c.process.args = ['sh', '-c', 'echo "pid 1: $(cat /proc/1/comm)"; grep " /proc " /proc/self/mountinfo | cut -d" " -f4,5,6'];
  } });
  const { tsrt, runc } = both(sb, b.dir);
  assert.equal(tsrt.status, 0, show(tsrt));
  assert.match(tsrt.stdout, new RegExp(`^pid 1: ${fs.readFileSync('/proc/1/comm', 'utf8').trim()}$`, 'm'), 'the host\'s pid 1, through the host\'s procfs');
  assert.match(tsrt.stdout, /^\/ \/proc rw,nosuid,nodev,noexec/m, show(tsrt));
  if (runc) {
    assert.equal(runc.status, 0, show(runc));
    assert.equal(tsrt.stdout, runc.stdout, `tsrt and runc differ:\n${show(tsrt)}\n${show(runc)}`);
  }
});

/** A bundle (private rootfs copy) whose user-namespace container binds `source` on /vol. */
function usernsVolume(sb, source, options, args) {
  fs.chmodSync(sb.dir, 0o755); // the rootfs stays reachable; the source's dir is not
  return sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    withUserNs(c);
    fs.mkdirSync(path.join(rootfs, 'vol'));
    c.mounts.push({ destination: '/vol', type: 'bind', source, options });
    addCaps(c, 'CAP_SYS_ADMIN');
    c.process.args = ['sh', '-c', args];
  } });
}

test('user namespace: a bind source behind a directory its root cannot search is mounted (opened on the host side), as runc', (t) => {
  const sb = new Sandbox(t);
  const hidden = sb.mkdir('hidden', 0o700);
  const vol = path.join(hidden, 'vol');
  fs.mkdirSync(vol, { mode: 0o777 });
  fs.chmodSync(vol, 0o777);
  fs.writeFileSync(path.join(vol, 'from-host'), 'host data\n');
  const b = usernsVolume(sb, vol, ['rbind', 'rw'], 'cat /vol/from-host; echo made > /vol/made-inside-$0 && echo written; grep " /vol " /proc/self/mountinfo | cut -d" " -f4,5,6');
  const { tsrt, runc } = both(sb, b.dir);
  assert.equal(tsrt.status, 0, show(tsrt));
  assert.match(tsrt.stdout, /^host data$/m);
  assert.match(tsrt.stdout, /^written$/m);
  assert.equal(fs.statSync(path.join(vol, 'made-inside-sh')).uid, 100000, 'the file belongs to the mapped root on the host');
  assert.equal(fs.statSync(hidden).mode & 0o777, 0o700, 'the directory on the way was not opened up');
  if (runc) {
    assert.equal(runc.status, 0, show(runc));
    assert.equal(tsrt.stdout, runc.stdout, `tsrt and runc differ:\n${show(tsrt)}\n${show(runc)}`);
  }
});

test('user namespace: a source opened on the host side keeps its host mount\'s read-only lock (remounting it rw fails inside)', (t) => {
  const sb = new Sandbox(t);
  const hidden = sb.mkdir('hidden', 0o700);
  const vol = path.join(hidden, 'vol');
  fs.mkdirSync(vol, { mode: 0o777 });
  fs.writeFileSync(path.join(vol, 'decoy'), 'original\n');
  // the host's own mount of the source is read-only
  const r0 = runToFiles('sh', ['-c', `mount --bind '${vol}' '${vol}' && mount -o remount,bind,ro '${vol}'`], { ...sb.ioFiles() });
  assert.equal(r0.status, 0, show(r0));
  // control: the container may flip a mount of its own between ro and rw
  const control = 'mount -t tmpfs own /tmp && mount -o remount,bind,ro /tmp && mount -o remount,bind,rw /tmp && echo "control ok"';
  const attack = `${control}; mount -o remount,bind,rw /vol 2>&1; echo "remount rc=$?"; echo changed > /vol/decoy 2>&1; echo "write rc=$?"`;
  const b = usernsVolume(sb, vol, ['rbind'], attack);
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('locked')]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^control ok$/m, show(r));
  assert.match(r.stdout, /^remount rc=[1-9]/m, `the container made the host's read-only mount writable:\n${show(r)}`);
  assert.match(r.stdout, /^write rc=[1-9]/m, show(r));
  assert.equal(fs.readFileSync(path.join(vol, 'decoy'), 'utf8'), 'original\n', 'the host file behind the read-only mount is unchanged');
});
