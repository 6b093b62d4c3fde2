// Mounts runc accepts and tsrt used to refuse or break (issue 13 item 7): a read-only
// tmpfs on /dev (and any read-only tmpfs with mounts under it), each compared with runc
// on the same bundle when runc is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Sandbox, runToFiles, show, withUserNs } from './helpers/tsrt.mjs';
import { which } from './helpers/clients.mjs';

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
