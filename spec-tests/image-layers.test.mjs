// Images to bundles with layers written by hand (helpers/image.mjs writes the tars and
// the OCI layouts): whiteouts and opaque directories give exactly the right files in
// both rootfs modes; modes, owners, xattrs, hard links, symlinks and device nodes are
// kept; hostile layers are refused with nothing written outside the store; the image
// config becomes config.json (args, env, cwd, user, annotations, volumes); an index is
// resolved to this machine's platform or a --ref; a corrupted blob is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Sandbox, show } from './helpers/tsrt.mjs';
import { busyboxLayer, hostArch, listTree, lowerDirsOf, makeTar, snapshot, writeLayout, xattrs } from './helpers/image.mjs';

const MODES = ['overlay', 'copy'];

function create(sb, store, dir, from, extra = [], rest) {
  return sb.tsrt(['bundle', 'create', dir, '--from', from, '--store', store, ...extra, ...(rest ? ['--', ...rest] : [])], { noRoot: true });
}

function createOk(sb, store, dir, from, extra, rest) {
  const r = create(sb, store, dir, from, extra, rest);
  assert.equal(r.status, 0, show(r));
  return r;
}

function run(sb, dir) {
  const r = sb.tsrt(['run', '--bundle', dir, sb.id('lay')]);
  assert.equal(r.status, 0, show(r));
  return r.stdout;
}

const LOWER = [
  { name: 'a/', type: 'dir' }, { name: 'a/1', data: 'one' }, { name: 'a/2', data: 'two' },
  { name: 'a/sub/', type: 'dir' }, { name: 'a/sub/deep', data: 'deep' },
  { name: 'b/', type: 'dir' }, { name: 'b/x', data: 'x' }, { name: 'b/y', data: 'y' }, { name: 'b/keep/', type: 'dir' }, { name: 'b/keep/k', data: 'k' },
  { name: 'c', data: 'c' },
  { name: 'e/', type: 'dir' }, { name: 'e/old', data: 'old' },
  { name: 'f', data: 'a file that becomes a directory' },
  { name: 'g/', type: 'dir' }, { name: 'g/old', data: 'old' }, { name: 'h/', type: 'dir' }, { name: 'h/old', data: 'old' },
];
const UPPER = [
  { name: 'a/.wh.1' }, { name: 'a/2', data: 'new' },
  { name: 'b/', type: 'dir', mode: 0o750 }, { name: 'b/.wh..wh..opq' }, { name: 'b/z', data: 'z' },
  { name: '.wh.c' }, { name: 'd', data: 'd' },
  // the opaque marker after a sibling of the same layer: that sibling stays
  { name: 'e/g', data: 'g' }, { name: 'e/.wh..wh..opq' },
  { name: 'f/', type: 'dir' }, { name: 'f/inner', data: 'inner' },
  // a whiteout and an entry of the same name in one layer: only the lower g, h go
  { name: '.wh.g' }, { name: 'g/n', data: 'n' }, { name: 'h/n', data: 'n' }, { name: '.wh.h' },
];
const SHOW = 'find /a /b /c /d /e /f /g /h 2>/dev/null | sort; cat /a/2; echo; stat -c %a /b; true';
const EXPECTED = ['/a', '/a/2', '/a/sub', '/a/sub/deep', '/b', '/b/z', '/d', '/e', '/e/g', '/f', '/f/inner', '/g', '/g/n', '/h', '/h/n', 'new', '750', ''].join('\n');

test('image layers: whiteouts and opaque directories, in overlay and copy modes', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const { dir: layout } = writeLayout(path.join(sb.dir, 'layout'), [{ layers: [busyboxLayer(), makeTar(LOWER), makeTar(UPPER)], config: { Cmd: ['sh', '-c', SHOW] } }]);
  for (const mode of MODES) {
    const dir = path.join(sb.dir, `b-${mode}`);
    createOk(sb, store, dir, layout, ['--rootfs', mode]);
    assert.equal(run(sb, dir), EXPECTED, `${mode}: exactly the right files`);
  }
  // The overlay form in the store: whiteouts are 0/0 character devices, opaque dirs
  // carry trusted.overlay.opaque=y, and the .wh. names themselves are gone.
  const top = lowerDirsOf(path.join(sb.dir, 'b-overlay'))[1];
  for (const p of ['a/1', 'c']) {
    const st = fs.lstatSync(path.join(top, p));
    assert.ok(st.isCharacterDevice() && st.rdev === 0, `${p} is a whiteout device`);
  }
  for (const p of ['b', 'e', 'g', 'h']) assert.equal(xattrs(path.join(top, p))['trusted.overlay.opaque'], Buffer.from('y').toString('hex'), `${p} is opaque`);
  assert.deepEqual(listTree(top), ['a', 'a/1', 'a/2', 'b', 'b/z', 'c', 'd', 'e', 'e/g', 'f', 'f/inner', 'g', 'g/n', 'h', 'h/n']);
  // Copy mode has the merged result in a plain directory, with no whiteouts left.
  const copy = path.join(sb.dir, 'b-copy', 'rootfs');
  assert.deepEqual(listTree(copy).filter((p) => /^[a-h](\/|$)/.test(p)), ['a', 'a/2', 'a/sub', 'a/sub/deep', 'b', 'b/z', 'd', 'e', 'e/g', 'f', 'f/inner', 'g', 'g/n', 'h', 'h/n']);
});

test('image layers: modes, owners, xattrs, hard links, symlinks, devices and fifos are kept', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const layer = makeTar([
    { name: 'k/', type: 'dir', mode: 0o1777 },
    { name: 'k/suid', data: 'suid', mode: 0o4755, uid: 1000, gid: 1000 },
    { name: 'k/h1', data: 'linked', mode: 0o640, uid: 1000, gid: 65534, xattrs: { 'user.tsrt': 'hello' } },
    { name: 'k/h2', type: 'link', linkname: 'k/h1' },
    { name: 'k/sl', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'k/null2', type: 'char', major: 1, minor: 3, mode: 0o666 },
    { name: 'k/loop9', type: 'block', major: 7, minor: 9, mode: 0o660, gid: 6 },
    { name: 'k/fifo', type: 'fifo', mode: 0o600 },
    { name: `k/${'long-name-'.repeat(12)}`, data: 'long' },
  ]);
  const { dir: layout } = writeLayout(path.join(sb.dir, 'layout'), [{ layers: [busyboxLayer(), layer], config: { Cmd: ['sh', '-c', 'cd /k; stat -c "%n %a %u %g %h %F %t %T" * | sort; readlink sl'] } }]);
  const want = [
    'fifo 600 0 0 1 fifo 0 0',
    'h1 640 1000 65534 2 regular file 0 0',
    'h2 640 1000 65534 2 regular file 0 0',
    `${'long-name-'.repeat(12)} 644 0 0 1 regular file 0 0`,
    'loop9 660 0 6 1 block special file 7 9',
    'null2 666 0 0 1 character special file 1 3',
    'sl 777 0 0 1 symbolic link 0 0',
    'suid 4755 1000 1000 1 regular file 0 0',
    '/etc/passwd', '',
  ].join('\n');
  for (const mode of MODES) {
    const dir = path.join(sb.dir, `b-${mode}`);
    createOk(sb, store, dir, layout, ['--rootfs', mode]);
    assert.equal(run(sb, dir), want, mode);
    const k = mode === 'copy' ? path.join(dir, 'rootfs', 'k') : path.join(lowerDirsOf(dir)[1], 'k');
    assert.equal(xattrs(path.join(k, 'h1'))['user.tsrt'], Buffer.from('hello').toString('hex'), `${mode}: xattr kept`);
    assert.equal(fs.statSync(path.join(k, 'h1')).ino, fs.statSync(path.join(k, 'h2')).ino, `${mode}: hard link`);
    assert.equal(fs.readFileSync(path.join(k, 'h2'), 'utf8'), 'linked');
    assert.equal(fs.statSync(k).mode & 0o7777, 0o1777, `${mode}: directory mode`);
  }
});

test('image layers: hostile layers are refused and nothing outside the store is written', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const outside = sb.mkdir('outside');
  fs.writeFileSync(path.join(outside, 'victim'), 'untouched');
  const before = snapshot(outside);
  const relOut = path.relative(path.join(store, 'tmp', 'unpack-xxxxxx', 'diff'), outside);
  const cases = {
    'dot-dot path': [{ name: `../../../../../..${outside}/escaped`, data: 'x' }],
    'dot-dot in the middle': [{ name: 'a/../../b', data: 'x' }],
    'absolute path': [{ name: `${outside}/abs`, data: 'x' }],
    'symlink out, then a write through it': [{ name: 'ln', type: 'symlink', linkname: outside }, { name: 'ln/pwned', data: 'x' }],
    'relative symlink out, then a write through it': [{ name: 'ln', type: 'symlink', linkname: relOut }, { name: 'ln/pwned', data: 'x' }],
    'symlink out, then a directory through it': [{ name: 'ln', type: 'symlink', linkname: outside }, { name: 'ln/sub/', type: 'dir' }],
    'symlink out, then a whiteout through it': [{ name: 'ln', type: 'symlink', linkname: outside }, { name: 'ln/.wh.victim' }],
    'symlink out, then an opaque marker through it': [{ name: 'ln', type: 'symlink', linkname: outside }, { name: 'ln/.wh..wh..opq' }],
    'hard link out': [{ name: 'hl', type: 'link', linkname: `../../../../../..${outside}/victim` }],
    'hard link to an absolute path': [{ name: 'hl', type: 'link', linkname: `${outside}/victim` }],
  };
  for (const [what, entries] of Object.entries(cases)) {
    const { dir: layout } = writeLayout(sb.mkdir('layout'), [{ layers: [makeTar(entries)], config: { Cmd: ['true'] } }]);
    for (const mode of MODES) {
      const dir = path.join(sb.dir, `b-${mode}`);
      const r = create(sb, store, dir, layout, ['--rootfs', mode]);
      assert.notEqual(r.status, 0, `${what} (${mode}) must fail:\n${show(r)}`);
      assert.match(r.stderr, /refused/, `${what} (${mode}): a clear error\n${show(r)}`);
      assert.deepEqual(snapshot(outside), before, `${what} (${mode}): nothing written outside`);
      assert.ok(!fs.existsSync(dir), `${what} (${mode}): no bundle left behind`);
      if (fs.existsSync(store)) {
        assert.deepEqual(fs.readdirSync(path.join(store, 'sha256')), [], `${what} (${mode}): no layer in the store`);
        assert.deepEqual(fs.readdirSync(path.join(store, 'tmp')), [], `${what} (${mode}): no unpack dir left`);
      }
    }
  }
});

test('image layers: the image config becomes config.json (args, env, cwd, user, annotations)', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const group = 'root:x:0:\nwheel:x:10:root,user\nuser:x:1000:\nstaff:x:50:user\nnogroup:x:65534:\n';
  const { dir: layout } = writeLayout(path.join(sb.dir, 'layout'), [{
    layers: [busyboxLayer(), makeTar([{ name: 'etc/group', data: group }])],
    config: {
      Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo "$GREETING from $(pwd) as $(id -u):$(id -g):$(id -G) home=$HOME"'],
      Env: ['GREETING=hi', 'PATH=/bin:/usr/bin'], WorkingDir: '/home/user', User: 'user', StopSignal: 'SIGINT',
      ExposedPorts: { '80/tcp': {}, '53/udp': {} }, Labels: { 'com.example.k': 'v', 'org.opencontainers.image.os': 'from-label' },
    },
  }]);
  const dir = path.join(sb.dir, 'b');
  createOk(sb, store, dir, layout);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.deepEqual(config.process.user, { uid: 1000, gid: 1000, additionalGids: [10, 50] });
  assert.equal(config.process.cwd, '/home/user');
  assert.deepEqual(config.process.env, ['GREETING=hi', 'PATH=/bin:/usr/bin', 'HOME=/home/user']);
  assert.equal(config.annotations['org.opencontainers.image.exposedPorts'], '80/tcp,53/udp');
  assert.equal(config.annotations['com.example.k'], 'v');
  assert.equal(config.annotations['org.opencontainers.image.os'], 'from-label', 'Labels win over implicit annotations');
  assert.equal(config.annotations['org.opencontainers.image.stopSignal'], 'SIGINT');
  assert.equal(config.annotations['org.opencontainers.image.architecture'], hostArch());
  assert.equal(run(sb, dir), 'hi from /home/user as 1000:1000:1000 10 50 home=/home/user\n');
  // After --: the Entrypoint stays, the Cmd is replaced.
  const dir2 = path.join(sb.dir, 'b2');
  createOk(sb, store, dir2, layout, [], ['echo replaced $(id -un)']);
  assert.equal(run(sb, dir2), 'replaced user\n');
  // A user the image does not have is an error.
  const { dir: bad } = writeLayout(sb.mkdir('bad'), [{ layers: [busyboxLayer()], config: { Cmd: ['true'], User: 'nosuch' } }]);
  const r = create(sb, store, path.join(sb.dir, 'b3'), bad);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /no user \\?"nosuch\\?" in the image's \/etc\/passwd/);
});

test('image layers: volumes (bind, read-only, anonymous, the image\'s) stay out of the diff', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const host = sb.mkdir('hostdir');
  fs.writeFileSync(path.join(host, 'file'), 'from the host\n');
  const hostRw = sb.mkdir('hostrw');
  const script = 'cat /ro/file; echo c > /ro/c 2>/dev/null || echo read-only; echo w > /rw/w; echo a > /anon/a; echo d > /data/d; echo x > /x';
  const { dir: layout } = writeLayout(path.join(sb.dir, 'layout'), [{ layers: [busyboxLayer()], config: { Cmd: ['sh', '-c', script], Volumes: { '/data': {} } } }]);
  const dir = path.join(sb.dir, 'b');
  createOk(sb, store, dir, layout, ['--volume', `${host}:/ro:ro`, '--volume', `${hostRw}:/rw`, '--volume', '/anon']);
  assert.equal(run(sb, dir), 'from the host\nread-only\n');
  assert.equal(fs.readFileSync(path.join(hostRw, 'w'), 'utf8'), 'w\n');
  assert.equal(fs.readFileSync(path.join(dir, 'volumes', '0', 'a'), 'utf8'), 'a\n', '--volume /anon is bundle/volumes/0');
  assert.equal(fs.readFileSync(path.join(dir, 'volumes', '1', 'd'), 'utf8'), 'd\n', 'the image\'s /data is bundle/volumes/1');
  assert.deepEqual(fs.readdirSync(host).sort(), ['file']);
  assert.equal(sb.ok(['bundle', 'diff', dir], { noRoot: true }).stdout, 'A /x\n');
});

test('image layers: the index entry for this platform, --ref, and corrupted blobs', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const other = hostArch() === 'amd64' ? 'arm64' : 'amd64';
  const { dir: multi } = writeLayout(path.join(sb.dir, 'multi'), [
    { layers: [busyboxLayer()], arch: other, config: { Cmd: ['echo', 'wrong platform'] } },
    { layers: [busyboxLayer()], config: { Cmd: ['echo', 'this platform'] } },
  ]);
  const dir = path.join(sb.dir, 'b');
  createOk(sb, store, dir, multi);
  assert.equal(run(sb, dir), 'this platform\n');

  const { dir: refs } = writeLayout(path.join(sb.dir, 'refs'), [
    { layers: [busyboxLayer()], ref: 'one', config: { Cmd: ['echo', 'one'] } },
    { layers: [busyboxLayer()], ref: 'two', config: { Cmd: ['echo', 'two'] } },
  ]);
  let r = create(sb, store, path.join(sb.dir, 'b-noref'), refs);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--ref/);
  createOk(sb, store, path.join(sb.dir, 'b-two'), refs, ['--ref', 'two']);
  assert.equal(run(sb, path.join(sb.dir, 'b-two')), 'two\n');

  // One flipped byte in a layer blob: refused, and no layer is kept.
  const store2 = path.join(sb.dir, 'store2');
  const { dir: bad, manifests } = writeLayout(path.join(sb.dir, 'bad'), [{ layers: [busyboxLayer()], gzip: false, config: { Cmd: ['true'] } }]);
  const blob = path.join(bad, 'blobs', 'sha256', manifests[0].layerDigests[0].slice(7));
  const data = fs.readFileSync(blob);
  data[Math.floor(data.length / 2)] ^= 1;
  fs.writeFileSync(blob, data);
  for (const mode of MODES) {
    r = create(sb, store2, path.join(sb.dir, `b-bad-${mode}`), bad, ['--rootfs', mode]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /digest mismatch/, show(r));
    assert.ok(!fs.existsSync(path.join(sb.dir, `b-bad-${mode}`)));
  }
  assert.deepEqual(fs.readdirSync(path.join(store2, 'sha256')), []);
  assert.deepEqual(fs.readdirSync(path.join(store2, 'tmp')), []);
});

test('image layers: a layer the image has twice, in both modes', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const a = makeTar([{ name: 'dup', data: 'v1' }]);
  const b = makeTar([{ name: '.wh.dup' }, { name: 'other', data: 'o' }]);
  const { dir: layout } = writeLayout(path.join(sb.dir, 'layout'), [{ layers: [busyboxLayer(), a, b, a], config: { Cmd: ['sh', '-c', 'cat /dup /other'] } }]);
  for (const mode of MODES) {
    const dir = path.join(sb.dir, `b-${mode}`);
    createOk(sb, store, dir, layout, ['--rootfs', mode]);
    assert.equal(run(sb, dir), 'v1o', mode);
  }
});

test('image layers: bundle rm refuses while a container uses the bundle', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const { dir: layout } = writeLayout(path.join(sb.dir, 'layout'), [{ layers: [busyboxLayer()], config: { Cmd: ['sleep', '30'] } }]);
  for (const mode of MODES) {
    const dir = path.join(sb.dir, `b-${mode}`);
    createOk(sb, store, dir, layout, ['--rootfs', mode]);
    const id = sb.id('busy');
    sb.create(id, dir);
    const r = sb.tsrt(['bundle', 'rm', dir], { noRoot: true });
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /in use by a running container/);
    assert.ok(fs.existsSync(path.join(dir, 'config.json')));
    sb.ok(['delete', '--force', id]);
    sb.ok(['bundle', 'rm', dir], { noRoot: true });
    assert.ok(!fs.existsSync(dir));
  }
  assert.deepEqual(fs.readdirSync(path.join(store, 'sha256')), []);
});

test('image layers: a docker archive (layer behind a symlink, the archive gzip\'d)', (t) => {
  const sb = new Sandbox(t);
  const store = path.join(sb.dir, 'store');
  const src = sb.mkdir('docker');
  const layer = makeTar([{ name: 'hello', data: 'from a docker archive\n' }]);
  const hex = (b) => createHash('sha256').update(b).digest('hex');
  const config = Buffer.from(JSON.stringify({
    architecture: hostArch(), os: 'linux', config: { Cmd: ['cat', '/hello'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${hex(busyboxLayer())}`, `sha256:${hex(layer)}`] },
  }));
  fs.writeFileSync(path.join(src, `${hex(config)}.json`), config);
  const layers = [];
  for (const [i, data] of [busyboxLayer(), layer].entries()) {
    fs.mkdirSync(path.join(src, `id${i}`));
    fs.writeFileSync(path.join(src, `${hex(data)}.tar`), data);
    fs.symlinkSync(`../${hex(data)}.tar`, path.join(src, `id${i}`, 'layer.tar'));
    layers.push(`id${i}/layer.tar`);
  }
  fs.writeFileSync(path.join(src, 'manifest.json'), JSON.stringify([{ Config: `${hex(config)}.json`, RepoTags: ['example/hello:1'], Layers: layers }]));
  const archive = path.join(sb.dir, 'docker.tar');
  const r = spawnSync('tar', ['-C', src, '-cf', archive, '.']);
  assert.equal(r.status, 0, String(r.stderr));
  fs.writeFileSync(`${archive}.gz`, zlib.gzipSync(fs.readFileSync(archive)));
  for (const [mode, from] of [['overlay', archive], ['copy', `${archive}.gz`]]) {
    const dir = path.join(sb.dir, `b-${mode}`);
    createOk(sb, store, dir, from, ['--rootfs', mode, '--ref', 'example/hello:1']);
    assert.equal(run(sb, dir), 'from a docker archive\n', mode);
  }
  // A config whose content does not match its name is refused.
  fs.writeFileSync(path.join(src, `${hex(config)}.json`), Buffer.concat([config, Buffer.from(' ')]));
  spawnSync('tar', ['-C', src, '-cf', archive, '.']);
  const bad = create(sb, store, path.join(sb.dir, 'b-bad'), archive);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /digest mismatch/);
});
