// Helpers for the image tests (image*.test.mjs): a small tar writer and OCI image layout
// writer to build images by hand (whiteouts, opaque dirs, hostile layers), podman with
// storage private to the test, and snapshots of directory trees (type, mode, owner,
// content, link target, device, xattrs) to prove layers are never written. Not a test file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { REPO, ROOTFS } from './tsrt.mjs';

// --- tar ---------------------------------------------------------------------------------

const TYPEFLAG = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(h, off, len, v) {
  h.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function header(name, typeflag, e, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? (typeflag === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? 1700000000);
  h.write(typeflag, 156, 1, 'latin1');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 8, 'latin1');
  octal(h, 329, 8, e.major ?? 0);
  octal(h, 337, 8, e.minor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

const pad = (n) => Buffer.alloc((512 - (n % 512)) % 512);

function paxRecord(key, value) {
  const v = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
  const base = Buffer.byteLength(key) + v.length + 3;
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), v, Buffer.from('\n')]);
}

/**
 * A tar archive of entries {name, type (file|dir|symlink|link|char|block|fifo), data,
 * mode, uid, gid, linkname, major, minor, xattrs: {name: string|Buffer}}, names written
 * exactly as given (so tests can write "../x" or "/abs").
 */
export function makeTar(entries) {
  const parts = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const records = [];
    if (Buffer.byteLength(e.name) > 100) records.push(paxRecord('path', e.name));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    if (records.length) {
      const pax = Buffer.concat(records);
      parts.push(header('PaxHeaders/x', 'x', {}, pax.length), pax, pad(pax.length));
    }
    parts.push(header(e.name.slice(0, 100), TYPEFLAG[type], e, data.length), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The names in a (possibly gzip'd) tar, in order. */
export function tarNames(buf) {
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  const out = [];
  let pos = 0;
  let paxPath;
  while (pos + 512 <= buf.length) {
    const h = buf.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    const str = (o, l) => { const s = h.subarray(o, o + l); const z = s.indexOf(0); return (z >= 0 ? s.subarray(0, z) : s).toString(); };
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156]);
    const data = buf.subarray(pos + 512, pos + 512 + size);
    pos += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString());
      paxPath = m ? m[1] : undefined;
      continue;
    }
    const prefix = h.subarray(257, 263).toString('latin1') === 'ustar\0' ? str(345, 155) : '';
    out.push(paxPath ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100)));
    paxPath = undefined;
  }
  return out;
}

let baseTar;
/** The demo busybox rootfs as one uncompressed layer tar (GNU tar). */
export function busyboxLayer() {
  if (!baseTar) {
    const r = spawnSync('tar', ['--numeric-owner', '-C', ROOTFS, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`tar of ${ROOTFS}: ${r.stderr}`);
    baseTar = r.stdout;
  }
  return baseTar;
}

// --- OCI image layouts --------------------------------------------------------------------

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function hostArch() {
  return { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;
}

function writeBlob(dir, data) {
  const digest = sha(data);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

/**
 * Writes an OCI image layout with one or more images. Each image: {layers: [tar
 * buffers, bottom first], config: the `config` object (Cmd, Env...), gzip (default
 * true), arch, ref, platformInIndex}. Returns {dir, manifests: [{digest, configDigest,
 * layerDigests}]}.
 */
export function writeLayout(dir, images) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const descs = [];
  const info = [];
  for (const img of images) {
    const gzip = img.gzip ?? true;
    const layerDescs = img.layers.map((t) => ({
      mediaType: gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar',
      ...writeBlob(dir, gzip ? zlib.gzipSync(t) : t),
    }));
    const arch = img.arch ?? hostArch();
    const config = {
      created: '2024-01-01T00:00:00Z', architecture: arch, os: 'linux', config: img.config ?? {},
      rootfs: { type: 'layers', diff_ids: img.layers.map(sha) },
      history: img.layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test' })),
    };
    const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(dir, Buffer.from(JSON.stringify(config))) };
    const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: layerDescs };
    const mDesc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...writeBlob(dir, Buffer.from(JSON.stringify(manifest))) };
    if (img.platformInIndex !== false) mDesc.platform = { os: 'linux', architecture: arch };
    if (img.ref) mDesc.annotations = { 'org.opencontainers.image.ref.name': img.ref };
    descs.push(mDesc);
    info.push({ digest: mDesc.digest, configDigest: configDesc.digest, layerDigests: layerDescs.map((l) => l.digest) });
  }
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: descs }));
  return { dir, manifests: info };
}

// --- podman with storage of its own ------------------------------------------------------

export function havePodman() {
  return spawnSync('podman', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs podman with root, runroot and tmp dirs under `dir` (vfs driver, no events), in a
 * mount namespace of its own where /var/lib and /run are empty tmpfs: podman's other
 * state (the blob info cache in /var/lib/containers/cache, /run/containers/networks)
 * goes there and vanishes, and the host's podman state is never touched.
 */
export function podman(dir, args) {
  const base = ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--tmpdir', path.join(dir, 'tmp'),
    '--storage-driver', 'vfs', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
  const script = 'mount -t tmpfs tsrt-test /var/lib && mount -t tmpfs tsrt-test /run && exec podman "$@"';
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...base, ...args],
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TMPDIR: path.join(dir, 'tmp') } });
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * An image of the demo rootfs made with `podman import` (Cmd as given), saved as an OCI
 * archive and as a docker archive. Returns {ociArchive, dockerArchive}.
 */
export function podmanDemoImage(dir, cmd) {
  const pdir = path.join(dir, 'podman');
  fs.mkdirSync(path.join(pdir, 'tmp'), { recursive: true });
  const rootTar = path.join(pdir, 'rootfs.tar');
  fs.writeFileSync(rootTar, busyboxLayer());
  const name = 'localhost/tsrt-test-demo:latest';
  podman(pdir, ['import', '--change', `CMD ${JSON.stringify(cmd)}`, rootTar, name]);
  const ociArchive = path.join(dir, 'demo-oci.tar');
  const dockerArchive = path.join(dir, 'demo-docker.tar');
  podman(pdir, ['save', '--format', 'oci-archive', '-o', ociArchive, name]);
  podman(pdir, ['save', '-o', dockerArchive, name]);
  return { ociArchive, dockerArchive };
}

// --- trees --------------------------------------------------------------------------------

const require = createRequire(path.join(REPO, 'package.json'));
let xattrFns;
function xattrLib() {
  if (!xattrFns) {
    const koffi = require('koffi');
    const lib = koffi.load('libc.so.6');
    xattrFns = {
      list: lib.func('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
      get: lib.func('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
    };
  }
  return xattrFns;
}

/** A file's xattrs as {name: hex value}. */
export function xattrs(p) {
  const { list, get } = xattrLib();
  const buf = Buffer.alloc(65536);
  const n = Number(list(p, buf, buf.length));
  if (n <= 0) return {};
  const out = {};
  for (const name of buf.subarray(0, n).toString('latin1').split('\0').filter(Boolean)) {
    const v = Buffer.alloc(65536);
    const m = Number(get(p, name, v, v.length));
    out[name] = m >= 0 ? v.subarray(0, m).toString('hex') : '?';
  }
  return out;
}

/** Everything about a tree that a write could change, as {relpath: description}. */
export function snapshot(root) {
  const out = {};
  const walk = (rel) => {
    const p = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(p, { bigint: true });
    const d = { mode: Number(st.mode).toString(8), uid: Number(st.uid), gid: Number(st.gid), ino: String(st.ino), nlink: Number(st.nlink), xattrs: xattrs(p) };
    if (st.isFile()) d.sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    if (st.isSymbolicLink()) d.link = fs.readlinkSync(p);
    if (st.isCharacterDevice() || st.isBlockDevice()) d.rdev = String(st.rdev);
    d.mtime = String(st.mtimeNs);
    out[rel || '.'] = d;
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(rel ? `${rel}/${n}` : n);
  };
  walk('');
  return out;
}

/** Every path (relative) under root, sorted, including empty directories. */
export function listTree(root) {
  return Object.keys(snapshot(root)).filter((k) => k !== '.').sort();
}

/** The lowerdirs of a bundle made in overlay mode, top first. */
export function lowerDirsOf(bundleDir) {
  const config = JSON.parse(fs.readFileSync(path.join(bundleDir, 'config.json'), 'utf8'));
  const m = config.mounts[0];
  if (m.destination !== '/' || m.type !== 'overlay') throw new Error(`mounts[0] is not the overlay on /: ${JSON.stringify(m)}`);
  return m.options.find((o) => o.startsWith('lowerdir=')).slice('lowerdir='.length).split(':');
}
