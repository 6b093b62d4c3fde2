// `tsrt bundle diff` and `tsrt bundle commit`: what the container changed, read from the
// overlay's upper dir against the layers below it, and that change written as a new image
// layer (overlay's whiteouts and opaque directories turned back into `.wh.` entries).
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { bundleUsers, IMAGE_CONFIG_FILE, INIT_FILES, lowerDirs, readMeta, type BundleMeta } from './bundle';
import { BundleError, ImageError } from './errors';
import { isOpaque, isWhiteout, listLayered, lookupLayered } from './layered';
import { digestOf, MEDIA, openImage, REF_NAME, type Descriptor, type ImageConfig, type Layer } from './source';
import { LayerStore } from './store';
import { llistxattr, lgetxattr, splitDev } from './sys';
import { END_OF_ARCHIVE, entryHeader, padding, type WriteEntry } from './tar';

export interface Change {
  kind: 'A' | 'C' | 'D';
  rel: string;
  /** D: a whiteout in the upper dir (not a child hidden by an opaque directory) */
  whiteout?: boolean;
  opaque?: boolean;
}

function comparePaths(a: string, b: string): number {
  const pa = a.split('/'), pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * The changes in `top` (an upper dir, or a layer dir) over `lowers` (top first). A
 * directory is listed when it is new, opaque, has other attributes than below, or
 * has a listed change inside it.
 */
export function changes(top: string, lowers: string[], excluded: (rel: string) => boolean = () => false): Change[] {
  const out: Change[] = [];
  const walk = (rel: string): number => {
    let count = 0;
    for (const name of readdirSync(join(top, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (excluded(r)) continue;
      const p = join(top, r);
      const st = lstatSync(p);
      if (isWhiteout(st)) {
        out.push({ kind: 'D', rel: r, whiteout: true });
        count++;
        continue;
      }
      const lower = lowers.length ? lookupLayered(lowers, r) : undefined;
      if (!st.isDirectory()) {
        if (!st.isSocket()) {
          out.push({ kind: lower ? 'C' : 'A', rel: r });
          count++;
        }
        continue;
      }
      const opaque = isOpaque(p);
      const at = out.length;
      let inside = walk(r);
      if (opaque && lower?.st.isDirectory()) {
        const here = new Set(readdirSync(p));
        for (const n of listLayered(lowers, r)) {
          const child = `${r}/${n}`;
          if (!here.has(n) && !excluded(child)) {
            out.push({ kind: 'D', rel: child });
            inside++;
          }
        }
      }
      const attrsChanged = !!lower && (lower.st.mode !== st.mode || lower.st.uid !== st.uid || lower.st.gid !== st.gid);
      if (!lower || opaque || attrsChanged || inside > 0) {
        out.splice(at, 0, { kind: lower ? 'C' : 'A', rel: r, ...(opaque ? { opaque: true } : {}) });
        count++;
      }
    }
    return count;
  };
  walk('');
  return out.sort((a, b) => comparePaths(a.rel, b.rel));
}

/** Paths a bundle's container owns that are not part of its image: init files, volumes. */
function bundleExclusions(meta: BundleMeta): (rel: string) => boolean {
  const vols = meta.volumes.map((v) => v.replace(/^\/+/, ''));
  return (rel) => INIT_FILES.includes(rel) || vols.some((v) => rel === v || rel.startsWith(v + '/'));
}

function overlayBundle(dirIn: string): { dir: string; meta: BundleMeta } {
  const dir = resolve(dirIn);
  const meta = readMeta(dir);
  if (meta.mode !== 'overlay') throw new BundleError(`${dir}: diff and commit need a bundle made with --rootfs overlay (this one is ${meta.mode})`);
  return { dir, meta };
}

export function bundleDiff(dirIn: string): Change[] {
  const { dir, meta } = overlayBundle(dirIn);
  return changes(join(dir, 'upper'), lowerDirs(dir, meta), bundleExclusions(meta));
}

export function formatChanges(list: Change[]): string {
  return list.map((c) => `${c.kind} /${c.rel}\n`).join('');
}

function xattrsOf(p: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const k of llistxattr(p).sort()) {
    if (k.startsWith('trusted.overlay.')) continue;
    const v = lgetxattr(p, k);
    if (v) out.set(k, v);
  }
  return out;
}

function baseEntry(name: string, st: Stats, p: string): Omit<WriteEntry, 'type' | 'size'> {
  return { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: xattrsOf(p) };
}

/** A layer tar of `list` (from changes()) with the files read from `top`. */
export async function* layerTar(top: string, list: Change[]): AsyncGenerator<Buffer> {
  const links = new Map<string, string>();
  for (const ch of list) {
    const parent = posix.dirname(ch.rel) === '.' ? '' : `${posix.dirname(ch.rel)}/`;
    if (ch.kind === 'D') {
      if (ch.whiteout) yield entryHeader({ name: `${parent}.wh.${posix.basename(ch.rel)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
      continue;
    }
    const p = join(top, ch.rel);
    const st = lstatSync(p);
    const base = baseEntry(ch.rel, st, p);
    if (st.isDirectory()) {
      yield entryHeader({ ...base, type: 'dir', size: 0 });
      if (ch.opaque) yield entryHeader({ name: `${ch.rel}/.wh..wh..opq`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
    } else if (st.isSymbolicLink()) {
      yield entryHeader({ ...base, type: 'symlink', size: 0, linkname: readlinkSync(p) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      yield entryHeader({ ...base, type: st.isCharacterDevice() ? 'char' : 'block', size: 0, devmajor: major, devminor: minor });
    } else if (st.isFIFO()) {
      yield entryHeader({ ...base, type: 'fifo', size: 0 });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        yield entryHeader({ ...base, type: 'link', size: 0, linkname: first, xattrs: new Map() });
        continue;
      }
      if (st.nlink > 1) links.set(key, ch.rel);
      yield entryHeader({ ...base, type: 'file', size: st.size });
      const fd = openSync(p, 'r');
      try {
        let left = st.size;
        while (left > 0) {
          const buf = Buffer.alloc(Math.min(left, 1 << 20));
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n === 0) throw new BundleError(`${p} changed size while it was being read`);
          left -= n;
          yield buf.subarray(0, n);
        }
      } finally {
        closeSync(fd);
      }
      yield padding(st.size);
    }
  }
  yield END_OF_ARCHIVE;
}

function hashTap(alg: string): { tap: Transform; digest(): string; size(): number } {
  const h = createHash(alg);
  let n = 0;
  const tap = new Transform({
    transform(c: Buffer, _e, cb) {
      h.update(c);
      n += c.length;
      cb(null, c);
    },
  });
  let d: string | undefined;
  return { tap, digest: () => (d ??= `${alg}:${h.digest('hex')}`), size: () => n };
}

/** An OCI image layout being written: blobs, then index.json (atomically) last. */
class LayoutWriter {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
    if (existsSync(this.dir) && !existsSync(join(this.dir, 'oci-layout')) && readdirSync(this.dir).length) {
      throw new ImageError(`--to ${dir}: exists and is not an OCI image layout`);
    }
    mkdirSync(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    if (!existsSync(join(this.dir, 'oci-layout'))) writeFileSync(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  blobPath(d: string): string {
    return join(this.dir, 'blobs', ...d.split(':'));
  }

  writeBytes(data: Buffer, mediaType: string): Descriptor {
    const digest = digestOf(data);
    if (!existsSync(this.blobPath(digest))) {
      const tmp = `${this.blobPath(digest)}.tmp-${process.pid}`;
      writeFileSync(tmp, data);
      renameSync(tmp, this.blobPath(digest));
    }
    return { mediaType, digest, size: data.length };
  }

  /** Writes a stream as a blob; returns its digest and size (and the tapped digests). */
  async writeStream(parts: (NodeJS.ReadableStream | Transform)[], alg = 'sha256'): Promise<{ digest: string; size: number }> {
    const tmpDir = mkdtempSync(join(this.dir, 'blobs', '.tmp-'));
    try {
      const out = hashTap(alg);
      const tmp = join(tmpDir, 'blob');
      await pipeline([...parts, out.tap, createWriteStream(tmp)] as unknown as readonly NodeJS.ReadableStream[]);
      const digest = out.digest();
      mkdirSync(join(this.dir, 'blobs', alg), { recursive: true });
      if (!existsSync(this.blobPath(digest))) renameSync(tmp, this.blobPath(digest));
      return { digest, size: out.size() };
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
  }

  addManifest(desc: Descriptor, ref: string): void {
    const file = join(this.dir, 'index.json');
    const index = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { manifests?: Descriptor[] }) : {};
    const manifests = (index.manifests ?? []).filter((m) => m.annotations?.[REF_NAME] !== ref);
    manifests.push({ ...desc, annotations: { ...(desc.annotations ?? {}), [REF_NAME]: ref } });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, ...index, manifests }, null, 2) + '\n');
    renameSync(tmp, file);
  }
}

function layerMediaType(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return MEDIA.ociLayerGzip;
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return MEDIA.ociLayer;
}

/** Writes a directory's changes as a gzip'd layer blob; returns its descriptor and diff_id. */
async function writeLayer(out: LayoutWriter, top: string, list: Change[]): Promise<{ desc: Descriptor; diffId: string }> {
  const diff = hashTap('sha256');
  const { digest, size } = await out.writeStream([Readable.from(layerTar(top, list), { objectMode: false }), diff.tap, createGzip()]);
  return { desc: { mediaType: MEDIA.ociLayerGzip, digest, size }, diffId: diff.digest() };
}

export interface CommitOptions {
  dir: string;
  to: string;
  ref?: string;
  warn(msg: string): void;
}

export interface CommitResult {
  manifest: Descriptor;
  diffId: string;
  changes: number;
}

export async function commitBundle(o: CommitOptions): Promise<CommitResult> {
  const { dir, meta } = overlayBundle(o.dir);
  const users = bundleUsers(dir, meta);
  if (users.length) throw new BundleError(`${dir} is in use by a running container (pid ${users.join(', ')}): stop it before committing`);
  let configBytes: Buffer;
  try {
    configBytes = readFileSync(join(dir, IMAGE_CONFIG_FILE));
  } catch {
    throw new BundleError(`${dir}: ${IMAGE_CONFIG_FILE} is missing`);
  }
  if (digestOf(configBytes, meta.image.configDigest.split(':')[0]) !== meta.image.configDigest) throw new BundleError(`${dir}/${IMAGE_CONFIG_FILE} does not match the image config digest ${meta.image.configDigest}`);
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  const out = new LayoutWriter(o.to);

  // The base layers: the original blobs when the source image is still there and the
  // same; otherwise re-made from the layer store (same files, new digests).
  let sourceLayers: Layer[] | undefined;
  try {
    const img = openImage(meta.image.path, meta.image.ref);
    if (img.configDigest === meta.image.configDigest) sourceLayers = img.layers;
  } catch {
    sourceLayers = undefined;
  }
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  if (sourceLayers) {
    for (const l of sourceLayers) {
      const wrote = await out.writeStream([l.open()]);
      layers.push({ mediaType: layerMediaType(l.head(4)), digest: wrote.digest, size: wrote.size });
      diffIds.push(l.diffId);
    }
  } else {
    o.warn(`${meta.image.path}: the source image is gone or changed: re-making its layers from the layer store (their digests change)`);
    const store = new LayerStore(meta.store!);
    for (const d of meta.layers) {
      const top = store.diffDir(d);
      const w = await writeLayer(out, top, changes(top, []));
      layers.push(w.desc);
      diffIds.push(w.diffId);
    }
  }
  const list = changes(join(dir, 'upper'), lowerDirs(dir, meta), bundleExclusions(meta));
  const layer = await writeLayer(out, join(dir, 'upper'), list);
  layers.push(layer.desc);
  diffIds.push(layer.diffId);

  const now = new Date().toISOString();
  const newConfig: ImageConfig = { ...config, created: now, rootfs: { type: 'layers', diff_ids: diffIds } };
  if (Array.isArray(config.history)) newConfig.history = [...config.history, { created: now, created_by: 'tsrt bundle commit', comment: `from ${dir}` }];
  const configDesc = out.writeBytes(Buffer.from(JSON.stringify(newConfig)), MEDIA.ociConfig);
  const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: configDesc, layers };
  const manifestDesc = out.writeBytes(Buffer.from(JSON.stringify(manifest)), MEDIA.ociManifest);
  const platform = { os: config.os ?? 'linux', architecture: config.architecture ?? 'amd64', ...(config.variant ? { variant: config.variant } : {}) };
  out.addManifest({ ...manifestDesc, platform }, o.ref ?? 'latest');
  return { manifest: manifestDesc, diffId: layer.diffId, changes: list.length };
}
