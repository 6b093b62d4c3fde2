// Images to bundles, end to end, with images made by podman from the demo rootfs:
// `tsrt bundle create --from` an OCI archive and a docker archive, `tsrt run` of the
// result; the layer store shared between bundles (same inodes), `bundle rm` keeping the
// other bundle runnable and the last one emptying the store; the image's layers
// byte-for-byte unchanged after the container writes and deletes; `bundle diff`; and
// `bundle commit` to an image that runs again with the changes.
// Podman runs with storage in the test's temp dir (vfs), never the host's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, show } from './helpers/tsrt.mjs';
import { havePodman, lowerDirsOf, podmanDemoImage, snapshot, tarNames } from './helpers/image.mjs';

const NO_PODMAN = havePodman() ? false : 'podman is not installed (apt-get install podman)';
const CMD = ['sh', '-c', 'echo hello from the image; cat /etc/hostname; id -u'];

/** A sandbox with its own layer store, and the podman-made demo image. */
function setup(t) {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const images = podmanDemoImage(sb.dir, CMD);
  return { sb, store, ...images };
}

function create(sb, store, dir, from, extra = [], rest) {
  return sb.ok(['bundle', 'create', dir, '--from', from, '--store', store, ...extra, ...(rest ? ['--', ...rest] : [])], { noRoot: true });
}

function run(sb, dir) {
  const r = sb.tsrt(['run', '--bundle', dir, sb.id('img')]);
  assert.equal(r.status, 0, show(r));
  return r.stdout;
}

/** Layer dirs of the store (sha256/HEX). */
function storeLayers(store) {
  const d = path.join(store, 'sha256');
  return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}

test('image: podman OCI archive and docker archive become bundles that tsrt runs', { skip: NO_PODMAN }, (t) => {
  const { sb, store, ociArchive, dockerArchive } = setup(t);
  for (const [name, from] of [['oci', ociArchive], ['docker', dockerArchive]]) {
    const dir = path.join(sb.dir, `b-${name}`);
    create(sb, store, dir, from, ['--hostname', `h-${name}`]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(config.process.args, CMD, 'process.args is the image Cmd');
    assert.equal(config.root.path, 'rootfs');
    assert.ok(config.linux.namespaces.some((n) => n.type === 'network'), 'a network namespace');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'rootfs')), [], 'rootfs is an empty mount point on the host');
    assert.equal(run(sb, dir), `hello from the image\nh-${name}\n0\n`);
  }
  // Both archives hold the same layer: one layer dir in the store, used by both bundles.
  const layers = storeLayers(store);
  assert.equal(layers.length, 1, `store layers: ${layers}`);
  assert.equal(fs.readdirSync(path.join(store, 'sha256', layers[0], 'refs')).length, 2);
  // Arguments after -- replace the Cmd.
  const dir = path.join(sb.dir, 'b-args');
  create(sb, store, dir, ociArchive, ['--rootfs', 'copy'], ['echo', 'from', 'args', '007', '-root']);
  assert.equal(run(sb, dir), 'from args 007 -root\n');
  for (const b of ['b-oci', 'b-docker', 'b-args']) sb.ok(['bundle', 'rm', path.join(sb.dir, b)], { noRoot: true });
  assert.deepEqual(storeLayers(store), [], 'the last bundle removed its layers from the store');
});

test('image: two bundles share layer dirs (same inodes); removing one keeps the other runnable', { skip: NO_PODMAN }, async (t) => {
  const { sb, store, ociArchive } = setup(t);
  // Three creates at once: the store's lock makes them share one unpacked layer.
  const dirs = ['b1', 'b2', 'b3'].map((n) => path.join(sb.dir, n));
  const rs = await Promise.all(dirs.map((d) => sb.tsrtAsync(['bundle', 'create', d, '--from', ociArchive, '--store', store], { noRoot: true })));
  for (const r of rs) assert.equal(r.status, 0, show(r));
  assert.equal(storeLayers(store).length, 1);
  const lowers = dirs.map(lowerDirsOf);
  assert.deepEqual(lowers[0].slice(1), lowers[1].slice(1), 'same image lowerdirs');
  assert.notEqual(lowers[0][0], lowers[1][0], 'each bundle has its own init layer');
  const busybox = (l) => fs.statSync(path.join(l[1], 'bin', 'busybox'));
  assert.equal(busybox(lowers[0]).ino, busybox(lowers[1]).ino, 'the same busybox inode');
  assert.equal(fs.statSync(lowers[0][1]).ino, fs.statSync(lowers[2][1]).ino, 'the same layer dir inode');
  sb.ok(['bundle', 'rm', dirs[0]], { noRoot: true });
  sb.ok(['bundle', 'rm', dirs[2]], { noRoot: true });
  assert.ok(!fs.existsSync(dirs[0]), 'bundle dir removed');
  assert.ok(fs.existsSync(lowers[1][1]), 'the layer stays while a bundle uses it');
  assert.equal(run(sb, dirs[1]), `hello from the image\n${JSON.parse(fs.readFileSync(path.join(dirs[1], 'tsrt-bundle.json'), 'utf8')).hostname}\n0\n`);
  sb.ok(['bundle', 'rm', dirs[1]], { noRoot: true });
  assert.ok(!fs.existsSync(lowers[1][1]), 'the last user removed the layer');
  assert.deepEqual(fs.readdirSync(path.join(store, 'tmp')), []);
});

test('image: the layers are unchanged by the container; bundle diff and commit', { skip: NO_PODMAN }, (t) => {
  const { sb, store, ociArchive } = setup(t);
  const dir = path.join(sb.dir, 'b');
  const script = [
    'echo new > /etc/newfile', 'echo more >> /etc/passwd', 'rm /linuxrc', 'rm -r /home/user',
    'mkdir -p /usr/local/lib/x', 'echo deep > /usr/local/lib/x/f', 'chmod 700 /tmp', 'ln -s /etc/newfile /etc/link',
    'rm -rf /root && mkdir /root && echo r > /root/only', 'echo 10.0.0.1 other >> /etc/hosts', 'echo done',
  ].join('; ');
  create(sb, store, dir, ociArchive, [], ['sh', '-c', script]);
  const layerDir = lowerDirsOf(dir)[1];
  const before = snapshot(layerDir);
  assert.equal(run(sb, dir), 'done\n');
  assert.deepEqual(snapshot(layerDir), before, 'the image layer is byte-for-byte unchanged');

  const diff = sb.ok(['bundle', 'diff', dir], { noRoot: true }).stdout;
  assert.equal(diff, [
    'C /etc', 'A /etc/link', 'A /etc/newfile', 'C /etc/passwd', 'C /home', 'D /home/user', 'D /linuxrc',
    'C /root', 'A /root/only', 'C /tmp', 'C /usr', 'A /usr/local', 'A /usr/local/lib', 'A /usr/local/lib/x', 'A /usr/local/lib/x/f', '',
  ].join('\n'), 'diff lists the changes, not the init layer\'s /etc/hosts');

  const out = path.join(sb.dir, 'committed');
  sb.ok(['bundle', 'commit', dir, '--to', out, '--ref', 'v2'], { noRoot: true });
  const index = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'));
  assert.equal(index.manifests.length, 1);
  assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'v2');
  const blob = (d) => fs.readFileSync(path.join(out, 'blobs', ...d.split(':')));
  const manifest = JSON.parse(blob(index.manifests[0].digest));
  assert.equal(manifest.layers.length, 2, 'the image layer and the new one');
  const names = tarNames(blob(manifest.layers[1].digest));
  for (const n of ['etc/newfile', 'etc/.wh.hosts', 'home/.wh.user', '.wh.linuxrc', 'root/', 'root/.wh..wh..opq', 'usr/local/lib/x/f']) {
    if (n === 'etc/.wh.hosts') assert.ok(!names.includes(n) && !names.includes('etc/hosts'), 'init files are not committed');
    else assert.ok(names.includes(n), `${n} in the new layer: ${names.join(' ')}`);
  }

  const dir2 = path.join(sb.dir, 'b2');
  create(sb, store, dir2, out, [], ['sh', '-c', 'cat /etc/newfile /usr/local/lib/x/f; tail -1 /etc/passwd; ls /home; ls /root; ls /linuxrc 2>&1; stat -c %a /tmp; readlink /etc/link; grep -c other /etc/hosts || true']);
  assert.equal(run(sb, dir2), 'new\ndeep\nmore\nonly\nls: /linuxrc: No such file or directory\n700\n/etc/newfile\n0\n');
  assert.equal(storeLayers(store).length, 2, 'the base layer is shared with the committed image');
  sb.ok(['bundle', 'rm', dir], { noRoot: true });
  sb.ok(['bundle', 'rm', dir2], { noRoot: true });
  assert.deepEqual(storeLayers(store), []);
});
