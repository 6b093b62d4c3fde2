// User namespaces: container uid 0 is host uid 100000 (uidMappings/gidMappings
// containerID 0 -> hostID 100000, size 65536).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, show, withUserNs, nsLink } from './helpers/tsrt.mjs';

test('userns: root inside, the configured maps in /proc/self/{uid,gid}_map', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    withUserNs(c);
    c.process.args = ['sh', '-c', 'id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; readlink /proc/self/ns/user'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('userns')]);
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.equal(lines[0], '0', 'id -u');
  assert.equal(lines[1], '0', 'id -g');
  assert.equal(lines[2], '0 100000 65536', 'uid_map');
  assert.equal(lines[3], '0 100000 65536', 'gid_map');
  assert.notEqual(lines[4], nsLink('self', 'user'), 'a user namespace of its own');
});

test('userns: the container process runs as host uid 100000', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    withUserNs(c);
    c.process.args = ['sleep', '1000'];
  } });
  const id = sb.id('userns');
  const { pid } = sb.create(id, b.dir);
  sb.ok(['start', id]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+100000\s+100000\s+100000\s+100000$/m, 'real, effective, saved and fs uid on the host');
  assert.match(status, /^Gid:\s+100000\s+100000\s+100000\s+100000$/m);
  sb.ok(['delete', '--force', id]);
  assert.ok(await sb.waitDead(pid));
});

test('userns: a file created on a bind mount is owned by host uid 100000', (t) => {
  const sb = new Sandbox(t);
  // The mapped root is not the host's root: it needs search permission on the way to
  // the bind source, and write permission in it.
  fs.chmodSync(sb.dir, 0o755);
  const shared = sb.mkdir('shared', 0o777);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    withUserNs(c);
    // runc makes missing mount points as the container's root, which may not write in
    // a rootfs owned by the host's root: give it one.
    fs.mkdirSync(path.join(rootfs, 'shared'));
    c.mounts.push({ destination: '/shared', type: 'bind', source: shared, options: ['rbind', 'rw'] });
    c.process.args = ['sh', '-c', 'echo hi > /shared/made-inside && mkdir /shared/dir-inside && ls -ln /shared'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('userns-bind')]);
  assert.equal(r.status, 0, show(r));
  for (const name of ['made-inside', 'dir-inside']) {
    const st = fs.statSync(path.join(shared, name));
    assert.equal(st.uid, 100000, `${name} uid on the host`);
    assert.equal(st.gid, 100000, `${name} gid on the host`);
  }
  assert.equal(fs.readFileSync(path.join(shared, 'made-inside'), 'utf8'), 'hi\n');
  // Inside, the same files belong to root (uid 0 in the namespace).
  for (const line of r.stdout.split('\n').filter((l) => l.includes('inside'))) {
    assert.match(line, /^\S+\s+\d+\s+0\s+0\s/, `owned by 0:0 inside: ${line}`);
  }
});

test('userns: host files outside the mapping appear as the overflow id inside', (t) => {
  const sb = new Sandbox(t);
  // The shared rootfs belongs to host root, which has no mapping in the namespace.
  const b = sb.bundle({ patch: (c) => {
    withUserNs(c);
    c.process.args = ['sh', '-c', 'stat -c "%u %g" /bin/busybox; cat /proc/sys/kernel/overflowuid'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('userns-overflow')]);
  assert.equal(r.status, 0, show(r));
  const [owner, overflow] = r.stdout.split('\n');
  assert.equal(fs.statSync(path.join(b.rootfs, 'bin', 'busybox')).uid, 0);
  assert.equal(owner, `${overflow.trim()} ${overflow.trim()}`);
});

test('userns: /dev/mqueue of a new ipc namespace belongs to the container\'s root uid (as runc)', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    withUserNs(c);
    if (!c.mounts.some((m) => m.destination === '/dev/mqueue')) c.mounts.push({ destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] });
    c.process.args = ['sh', '-c', 'stat -c "%u %g" /dev/mqueue; readlink /proc/self/ns/ipc'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('userns-mqueue')]);
  assert.equal(r.status, 0, show(r));
  const [owner, ipc] = r.stdout.trim().split('\n');
  // uid: the namespace's root, not the overflow uid; gid: the overflow gid, as under runc
  // (it creates the ipc namespace after setting the uid, before setting the gid)
  assert.equal(owner, '0 65534', 'the ipc namespace was made by the mapped root uid');
  assert.notEqual(ipc, nsLink('self', 'ipc'), 'an ipc namespace of its own');
});
