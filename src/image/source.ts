// Reading an image: an OCI image layout directory, an OCI archive (a tar of a layout, as
// `podman save --format oci-archive` writes) or a docker archive (`docker save`, `podman
// save`). Every blob read is checked against its digest and size; the manifest for this
// machine's platform is chosen from an index. Archives are read in place: their tar
// headers are indexed once and blobs are streamed from their offsets.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { posix, resolve as resolvePath } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { ImageError } from './errors';
import { indexTarFile, type TarMember } from './tar';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** The image config (application/vnd.oci.image.config.v1+json, or docker's). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: {
    User?: string;
    ExposedPorts?: Record<string, unknown> | null;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, unknown> | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: unknown[];
}

export interface Layer {
  index: number;
  /** digest of the blob as stored (compressed), when the image names it */
  digest?: string;
  size?: number;
  mediaType: string;
  /** digest of the uncompressed tar, from the config */
  diffId: string;
  /** the blob's bytes as stored; the stream fails if they do not match digest/size */
  open(): Readable;
  /** the first bytes of the blob (to tell gzip from plain tar) */
  head(n: number): Buffer;
}

export interface Image {
  kind: 'oci-layout' | 'oci-archive' | 'docker-archive';
  path: string;
  refName?: string;
  manifestDigest?: string;
  configDigest: string;
  configBytes: Buffer;
  config: ImageConfig;
  layers: Layer[];
}

/** Files of an image, from a directory or an indexed tar. */
interface Files {
  has(name: string): boolean;
  read(name: string, limit: number): Buffer;
  open(name: string): Readable;
  head(name: string, n: number): Buffer;
  size(name: string): number;
}

function safeName(name: string, what: string): string {
  const n = posix.normalize(name.replace(/^(\.\/)+/, ''));
  if (n.startsWith('/') || n === '..' || n.startsWith('../')) throw new ImageError(`${what}: path ${JSON.stringify(name)} leaves the image`);
  return n;
}

function dirFiles(root: string): Files {
  const p = (name: string): string => posix.join(root, safeName(name, root));
  return {
    has: (name) => existsSync(p(name)),
    read: (name, limit) => {
      if (statSync(p(name)).size > limit) throw new ImageError(`${p(name)}: larger than ${limit} bytes`);
      return readFileSync(p(name));
    },
    open: (name) => createReadStream(p(name)),
    head: (name, n) => readHead(p(name), 0, n),
    size: (name) => statSync(p(name)).size,
  };
}

function readHead(path: string, offset: number, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, offset));
  } finally {
    closeSync(fd);
  }
}

function tarFiles(archive: string): Files {
  const index = indexTarFile(archive);
  // A member may be a symlink or hard link to another (docker archives link layer.tar).
  const find = (name: string): TarMember | undefined => {
    let n = safeName(name, archive);
    for (let hops = 0; hops < 8; hops++) {
      const m = index.get(n);
      if (!m || m.type === 'file') return m;
      if (m.type === 'symlink') n = safeName(posix.join(posix.dirname(n), m.linkname), archive);
      else if (m.type === 'link') n = safeName(m.linkname, archive);
      else return undefined;
    }
    return undefined;
  };
  const member = (name: string): TarMember => {
    const m = find(name);
    if (!m) throw new ImageError(`${archive}: no file ${JSON.stringify(name)} in the archive`);
    return m;
  };
  return {
    has: (name) => find(name) !== undefined,
    read: (name, limit) => {
      const m = member(name);
      if (m.size > limit) throw new ImageError(`${archive}: ${name} is larger than ${limit} bytes`);
      return readHead(archive, m.offset, m.size);
    },
    open: (name) => {
      const m = member(name);
      return m.size === 0 ? createReadStream(archive, { start: 1, end: 0 }) : createReadStream(archive, { start: m.offset, end: m.offset + m.size - 1 });
    },
    head: (name, n) => {
      const m = member(name);
      return readHead(archive, m.offset, Math.min(n, m.size));
    },
    size: (name) => member(name).size,
  };
}

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function checkDigest(d: unknown, what: string): string {
  if (typeof d !== 'string' || !DIGEST.test(d)) throw new ImageError(`${what}: unsupported or malformed digest ${JSON.stringify(d)}`);
  return d;
}

export function digestOf(data: Buffer, alg = 'sha256'): string {
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}

/** A pass-through stream that fails at its end unless the bytes had this digest and size. */
export function verifying(digest: string | undefined, size: number | undefined, what: string): Transform {
  const alg = digest?.split(':')[0] ?? 'sha256';
  const h = createHash(alg);
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const got = `${alg}:${h.digest('hex')}`;
      if (size !== undefined && n !== size) cb(new ImageError(`${what}: size mismatch: ${n} bytes, the image says ${size}`));
      else if (digest !== undefined && got !== digest) cb(new ImageError(`${what}: digest mismatch: content is ${got}, the image says ${digest}`));
      else cb();
    },
  });
}

/** a.pipe(b), and b fails when a does (pipe() does not forward errors). */
export function piped<T extends NodeJS.WritableStream & Readable>(a: Readable, b: T): T {
  a.on('error', (e) => b.destroy(e));
  return a.pipe(b);
}

const blobName = (d: string): string => `blobs/${d.replace(':', '/')}`;

function readVerified(files: Files, desc: Descriptor, what: string, limit = 16 << 20): Buffer {
  const digest = checkDigest(desc.digest, what);
  const name = blobName(digest);
  if (!files.has(name)) throw new ImageError(`${what}: blob ${digest} is missing from the image`);
  const data = files.read(name, limit);
  if (typeof desc.size === 'number' && data.length !== desc.size) throw new ImageError(`${what}: blob ${digest} is ${data.length} bytes, the image says ${desc.size}`);
  const got = digestOf(data, digest.split(':')[0]);
  if (got !== digest) throw new ImageError(`${what}: digest mismatch: blob content is ${got}, the image says ${digest}`);
  return data;
}

function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (e) {
    throw new ImageError(`${what}: not valid JSON (${(e as Error).message})`);
  }
}

/** This machine as an OCI platform. */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  return { os: 'linux', architecture, ...(architecture === 'arm64' ? { variant: 'v8' } : {}) };
}

function platformMatches(p: { os?: string; architecture?: string; variant?: string } | undefined): boolean {
  if (!p) return true;
  const host = hostPlatform();
  if (p.os && p.os !== host.os) return false;
  if (p.architecture && p.architecture !== host.architecture) return false;
  if (host.architecture === 'arm64' && p.variant && p.variant !== 'v8') return false;
  return true;
}

const platformText = (p: { os?: string; architecture?: string; variant?: string }): string =>
  `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? '/' + p.variant : ''}`;

interface Candidate {
  desc: Descriptor;
  refName?: string;
}

function collectManifests(files: Files, descs: Descriptor[], refName: string | undefined, depth: number, what: string): Candidate[] {
  if (depth > 4) throw new ImageError(`${what}: indexes nested too deeply`);
  const out: Candidate[] = [];
  for (const d of descs ?? []) {
    const name = d.annotations?.[REF_NAME] ?? d.annotations?.['io.containerd.image.name'] ?? refName;
    if (d.mediaType === MEDIA.ociIndex || d.mediaType === MEDIA.dockerList) {
      if (!platformMatches(d.platform)) continue;
      const sub = parseJson<{ manifests?: Descriptor[] }>(readVerified(files, d, `${what}: index ${d.digest}`), `index ${d.digest}`);
      out.push(...collectManifests(files, sub.manifests ?? [], name, depth + 1, what));
    } else if (!d.mediaType || d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest) {
      if (platformMatches(d.platform)) out.push({ desc: d, refName: name });
    }
  }
  return out;
}

function refMatches(c: string | undefined, ref: string): boolean {
  if (!c) return false;
  return c === ref || c.endsWith(`:${ref}`) || c === `${ref}:latest` || c.endsWith(`/${ref}:latest`) || c.endsWith(`/${ref}`);
}

function checkConfigPlatform(config: ImageConfig, what: string): void {
  if ((config.os || config.architecture) && !platformMatches({ os: config.os, architecture: config.architecture, variant: config.variant })) {
    throw new ImageError(`${what}: the image is for ${platformText(config)}, this machine is ${platformText(hostPlatform())}`);
  }
}

function diffIds(config: ImageConfig, count: number, what: string): string[] {
  const ids = config.rootfs?.diff_ids ?? [];
  if (ids.length !== count) throw new ImageError(`${what}: the config lists ${ids.length} layer diff_ids for ${count} layers`);
  return ids.map((d, i) => checkDigest(d, `${what}: rootfs.diff_ids[${i}]`));
}

function openOci(files: Files, path: string, kind: Image['kind'], ref: string | undefined): Image {
  const layout = parseJson<{ imageLayoutVersion?: string }>(files.read('oci-layout', 1 << 16), `${path}: oci-layout`);
  if (typeof layout.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
    throw new ImageError(`${path}: unsupported image layout version ${JSON.stringify(layout.imageLayoutVersion)}`);
  }
  const index = parseJson<{ manifests?: Descriptor[] }>(files.read('index.json', 16 << 20), `${path}: index.json`);
  let cands = collectManifests(files, index.manifests ?? [], undefined, 0, path);
  if (ref !== undefined) cands = cands.filter((c) => refMatches(c.refName, ref));
  const names = (): string => cands.map((c) => c.refName ?? c.desc.digest).join(', ');
  // Manifests without a platform in the index: look at their configs.
  if (cands.length > 1) {
    const fitting = cands.filter((c) => {
      if (c.desc.platform) return true;
      const m = parseJson<{ config: Descriptor }>(readVerified(files, c.desc, `${path}: manifest`), 'manifest');
      const cfg = parseJson<ImageConfig>(readVerified(files, m.config, `${path}: config`), 'config');
      return platformMatches({ os: cfg.os, architecture: cfg.architecture, variant: cfg.variant });
    });
    if (fitting.length) cands = fitting;
  }
  if (cands.length === 0) {
    throw new ImageError(ref !== undefined ? `${path}: no image named ${JSON.stringify(ref)} for ${platformText(hostPlatform())}` : `${path}: no image for ${platformText(hostPlatform())} in the index`);
  }
  if (cands.length > 1) throw new ImageError(`${path} holds ${cands.length} images for this platform (${names()}): choose one with --ref NAME`);
  const chosen = cands[0]!;
  const manifestBytes = readVerified(files, chosen.desc, `${path}: manifest`);
  const manifest = parseJson<{ config?: Descriptor; layers?: Descriptor[] }>(manifestBytes, `${path}: manifest ${chosen.desc.digest}`);
  if (!manifest.config) throw new ImageError(`${path}: manifest ${chosen.desc.digest} has no config`);
  const configBytes = readVerified(files, manifest.config, `${path}: config`);
  const config = parseJson<ImageConfig>(configBytes, `${path}: config ${manifest.config.digest}`);
  checkConfigPlatform(config, path);
  const descs = manifest.layers ?? [];
  const ids = diffIds(config, descs.length, path);
  const layers = descs.map((d, i): Layer => {
    const digest = checkDigest(d.digest, `${path}: layer ${i}`);
    const name = blobName(digest);
    const what = `${path}: layer ${i} (${digest})`;
    if (!files.has(name)) throw new ImageError(`${what}: blob is missing from the image`);
    if (d.mediaType && /zstd/.test(d.mediaType) && !hasZstd()) throw new ImageError(`${what}: zstd-compressed layers need a Node.js with zlib zstd support`);
    return {
      index: i, digest, size: d.size, mediaType: d.mediaType ?? MEDIA.ociLayer, diffId: ids[i]!,
      open: () => piped(files.open(name), verifying(digest, d.size, what)),
      head: (n) => files.head(name, n),
    };
  });
  return { kind, path, refName: chosen.refName, manifestDigest: chosen.desc.digest, configDigest: manifest.config.digest, configBytes, config, layers };
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function openDocker(files: Files, path: string, ref: string | undefined): Image {
  const entries = parseJson<DockerManifestEntry[]>(files.read('manifest.json', 16 << 20), `${path}: manifest.json`);
  if (!Array.isArray(entries) || entries.length === 0) throw new ImageError(`${path}: manifest.json lists no images`);
  let cands = entries;
  if (ref !== undefined) cands = cands.filter((e) => (e.RepoTags ?? []).some((t) => refMatches(t, ref)));
  if (cands.length === 0) throw new ImageError(`${path}: no image named ${JSON.stringify(ref)}`);
  if (cands.length > 1) throw new ImageError(`${path} holds ${cands.length} images (${cands.map((e) => (e.RepoTags ?? [e.Config]).join(' ')).join(', ')}): choose one with --ref NAME`);
  const e = cands[0]!;
  const configName = safeName(e.Config, path);
  const configBytes = files.read(configName, 16 << 20);
  const configDigest = digestOf(configBytes);
  // The config's file name is its sha256 (<hex>.json, or blobs/sha256/<hex>).
  const named = /([a-f0-9]{64})(\.json)?$/.exec(configName);
  if (named && `sha256:${named[1]}` !== configDigest) throw new ImageError(`${path}: config ${configName}: digest mismatch: content is ${configDigest}`);
  const config = parseJson<ImageConfig>(configBytes, `${path}: ${configName}`);
  checkConfigPlatform(config, path);
  const ids = diffIds(config, e.Layers.length, path);
  const layers = e.Layers.map((l, i): Layer => {
    const name = safeName(l, path);
    const what = `${path}: layer ${i} (${name})`;
    if (!files.has(name)) throw new ImageError(`${what}: missing from the archive`);
    const m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(name);
    const digest = m ? checkDigest(`${m[1]}:${m[2]}`, what) : undefined;
    const size = files.size(name);
    return {
      index: i, digest, size, mediaType: MEDIA.ociLayer, diffId: ids[i]!,
      open: () => piped(files.open(name), verifying(digest, size, what)),
      head: (n) => files.head(name, n),
    };
  });
  return { kind: 'docker-archive', path, refName: e.RepoTags?.[0], configDigest, configBytes, config, layers };
}

/** Opens an image layout dir, OCI archive or docker archive (gzip'd archives too). */
export function openImage(pathIn: string, ref?: string, tmpDir?: string): Image {
  const path = resolvePath(pathIn);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ImageError(`${pathIn}: no such image (an OCI layout directory or an image archive)`);
  }
  let files: Files;
  let kind: Image['kind'];
  if (st.isDirectory()) {
    files = dirFiles(path);
    kind = 'oci-layout';
  } else {
    let archive = path;
    const magic = readHead(path, 0, 4);
    if (magic[0] === 0x1f && magic[1] === 0x8b) archive = gunzipToTemp(path, tmpDir);
    files = tarFiles(archive);
    kind = 'oci-archive';
  }
  if (files.has('oci-layout') && files.has('index.json')) return openOci(files, path, kind, ref);
  if (files.has('manifest.json')) return openDocker(files, path, ref);
  throw new ImageError(`${pathIn}: not an image: no oci-layout and index.json (OCI) and no manifest.json (docker archive)`);
}

function gunzipToTemp(path: string, tmpDir: string | undefined): string {
  const { mkdtempSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const dir = mkdtempSync(posix.join(tmpDir ?? tmpdir(), 'tsrt-archive-'));
  const out = posix.join(dir, 'archive.tar');
  writeFileSync(out, zlib.gunzipSync(readFileSync(path)));
  process.once('exit', () => {
    try {
      (require('node:fs') as typeof import('node:fs')).rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  });
  return out;
}

export function hasZstd(): boolean {
  return typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
}

/**
 * The uncompressed tar of a layer as a stream: the blob's digest and the diff_id are
 * both checked, and the stream errors at its end when either does not match.
 */
export function openLayerTar(layer: Layer, what: string): Readable {
  const magic = layer.head(4);
  const raw = layer.open();
  let out: Readable = raw;
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    out = piped(raw, zlib.createGunzip());
  } else if (magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd) {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) throw new ImageError(`${what}: zstd-compressed layers need a Node.js with zlib zstd support`);
    out = piped(raw, z.createZstdDecompress());
  }
  return piped(out, verifying(layer.diffId, undefined, `${what}: uncompressed content (diff_id)`));
}
