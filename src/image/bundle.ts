// `tsrt bundle create` and `tsrt bundle rm`: an OCI bundle from an image.
//
// A bundle made in overlay mode (the default) looks like this:
//
//   DIR/config.json        root.path "rootfs"; mounts[0] is the overlay on "/"
//   DIR/rootfs/            empty: the runtime mounts the overlay onto it
//   DIR/init/              the init layer: etc/hosts, etc/resolv.conf, etc/hostname and
//                          mount points (the top lowerdir, above the image's layers)
//   DIR/upper/, DIR/work/  the container's writable layer and overlay's work dir
//   DIR/volumes/N/         anonymous volumes
//   DIR/tsrt-bundle.json   what this bundle was made from (for diff, commit and rm)
//
// The image's layers are lowerdirs in the layer store (store.ts), shared by every bundle
// and never written. In copy mode DIR/rootfs/ is a plain directory with the layers
// applied in order and the init files written into it, and nothing is shared.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import type { Mount } from '../oci/spec-types';
import { secureJoin } from '../util/secure-join';
import { applyLayer, type ApplyMode } from './apply';
import { BundleError } from './errors';
import { homeOf, imageSpec, resolveUser } from './image-spec';
import { lookupLayered, lstatOrUndefined, readLayered } from './layered';
import { openImage, openLayerTar, type Image, type Layer } from './source';
import { LayerStore } from './store';
import { TarReader } from './tar';

export const META_FILE = 'tsrt-bundle.json';
/** The image config, kept for `bundle commit`. */
export const IMAGE_CONFIG_FILE = 'image-config.json';
/** Files of the init layer that are this container's, never the image's. */
export const INIT_FILES = ['etc/hosts', 'etc/resolv.conf', 'etc/hostname'];

export interface BundleMeta {
  version: 1;
  /** names this bundle in the store's reference lists */
  id: string;
  mode: ApplyMode;
  store?: string;
  image: { path: string; kind: Image['kind']; ref?: string; manifestDigest?: string; configDigest: string };
  /** diff_ids, bottom layer first */
  layers: string[];
  hostname: string;
  /** container paths of volumes (kept out of diff and commit) */
  volumes: string[];
  created: string;
}

export interface CreateOptions {
  dir: string;
  from: string;
  ref?: string;
  store: string;
  mode: ApplyMode;
  volumes: string[];
  args?: string[];
  hostname?: string;
  warn(msg: string): void;
}

interface Volume {
  source?: string;
  destination: string;
  readonly: boolean;
}

export function parseVolume(spec: string): Volume {
  const parts = spec.split(':');
  const bad = (why: string): never => {
    throw new BundleError(`--volume ${JSON.stringify(spec)}: ${why} (HOST:CTR[:ro|rw] or CTR)`);
  };
  let v: Volume;
  if (parts.length === 1) v = { destination: parts[0]!, readonly: false };
  else if (parts.length === 2 || parts.length === 3) {
    const opt = parts[2];
    if (opt !== undefined && opt !== 'ro' && opt !== 'rw') bad(`unknown option ${JSON.stringify(opt)}`);
    v = { source: resolve(parts[0]!), destination: parts[1]!, readonly: opt === 'ro' };
    if (!existsSync(v.source!)) bad(`${v.source} does not exist`);
  } else return bad('too many ":"');
  if (!v.destination.startsWith('/')) bad('the container path must be absolute');
  v.destination = posix.normalize(v.destination).replace(/\/+$/, '') || '/';
  if (v.destination === '/') bad('a volume cannot be mounted on /');
  return v;
}

export function readMeta(dir: string): BundleMeta {
  const file = join(dir, META_FILE);
  let meta: BundleMeta;
  try {
    meta = JSON.parse(readFileSync(file, 'utf8')) as BundleMeta;
  } catch {
    throw new BundleError(`${dir}: not a bundle made by "tsrt bundle create" (no readable ${META_FILE})`);
  }
  if (meta.version !== 1 || !Array.isArray(meta.layers)) throw new BundleError(`${file}: unknown format`);
  return meta;
}

function writeAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

/** Unpacks one layer of the image into dir (overlay form, or applied onto it). */
async function unpackLayer(layer: Layer, dir: string, mode: ApplyMode, image: Image, warn: (m: string) => void): Promise<void> {
  const what = `${image.path}: layer ${layer.index} (${layer.diffId})`;
  const stream = openLayerTar(layer, what);
  try {
    await applyLayer(new TarReader(stream, what), { mode, root: dir, what, warn });
  } finally {
    stream.destroy();
  }
}

function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
}

/** The host's resolver settings, minus loopback nameservers (the container has its own lo). */
function resolvConf(): string {
  let text = '';
  try {
    text = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
  return text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$|::1$)/.test(l)).join('\n');
}

/** Makes a directory of the init layer with the attributes the image gives that path. */
function initDir(init: string, layers: string[], rel: string): boolean {
  const parts = rel.split('/').filter(Boolean);
  let prefix = '';
  for (const part of parts) {
    prefix = prefix ? `${prefix}/${part}` : part;
    const p = join(init, prefix);
    const found = lookupLayered(layers, prefix);
    if (found && !found.st.isDirectory()) return false; // the runtime resolves it in the container
    if (lstatOrUndefined(p)) continue;
    mkdirSync(p, 0o755);
    if (found) {
      lchownSync(p, found.st.uid, found.st.gid);
      chmodSync(p, found.st.mode & 0o7777);
      utimesSync(p, found.st.atime, found.st.mtime);
    }
  }
  return true;
}

function overlayOptions(): string[] {
  // The image layers are shared: no index (it ties lowers to one upper), and no
  // redirects or metacopy, so that the upper dir alone says what changed.
  const params = '/sys/module/overlay/parameters';
  const out: string[] = [];
  for (const [name, opt] of [['index', 'index=off'], ['redirect_dir', 'redirect_dir=off'], ['metacopy', 'metacopy=off']]) {
    if (existsSync(join(params, name!))) out.push(opt!);
  }
  return out;
}

function checkOverlayPath(p: string, what: string): void {
  if (/[,:\\]/.test(p)) throw new BundleError(`${what} ${p}: the path may not contain ',', ':' or '\\' (overlay mount options)`);
}

/** The overlay mount of a bundle (config.json's mounts[0]). */
export function overlayMount(dir: string, lowerdirs: string[]): Mount {
  const options = [`lowerdir=${lowerdirs.join(':')}`, `upperdir=${join(dir, 'upper')}`, `workdir=${join(dir, 'work')}`, ...overlayOptions()];
  const data = options.join(',');
  if (data.length > 4095) {
    throw new BundleError(`the overlay mount options are ${data.length} bytes, more than a page (4095): too many layers (${lowerdirs.length}) or too long a store path; use a shorter --store or --rootfs copy`);
  }
  return { destination: '/', type: 'overlay', source: 'overlay', options };
}

/**
 * The lowerdirs of an overlay bundle, top first: the init layer, then the image's. A
 * layer the image has twice is kept only where it is highest: the copy below adds
 * nothing the one above does not (and overlayfs refuses a lowerdir given twice).
 */
export function lowerDirs(dir: string, meta: BundleMeta): string[] {
  const store = new LayerStore(meta.store!);
  return [join(dir, 'init'), ...new Set([...meta.layers].reverse().map((d) => store.diffDir(d)))];
}

/** Reads a regular file of a plain rootfs without following a symlink out of it. */
function readInRoot(rootfs: string, rel: string): Buffer | undefined {
  try {
    const p = secureJoin(rootfs, `/${rel}`);
    return lstatSync(p).isFile() ? readFileSync(p) : undefined;
  } catch {
    return undefined;
  }
}

export async function createBundle(o: CreateOptions): Promise<BundleMeta> {
  const dir = resolve(o.dir);
  if (o.mode === 'overlay') checkOverlayPath(dir, 'bundle directory');
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length)) throw new BundleError(`${dir} exists and is not an empty directory`);
  const volumes = o.volumes.map(parseVolume);
  const store = o.mode === 'overlay' ? new LayerStore(o.store) : undefined;
  store?.init();
  // Manifest, config and platform are read and verified before anything is written.
  const image = openImage(o.from, o.ref, store?.tmp);
  let created = false;
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    created = true;
  }
  const id = randomBytes(16).toString('hex');
  const hostname = o.hostname ?? id.slice(0, 12);
  for (const v of Object.keys(image.config.config?.Volumes ?? {})) {
    const dest = posix.normalize(v).replace(/\/+$/, '');
    if (dest.startsWith('/') && dest !== '/' && !volumes.some((x) => x.destination === dest)) volumes.push({ destination: dest, readonly: false });
  }
  const meta: BundleMeta = {
    version: 1, id, mode: o.mode, ...(store ? { store: store.root } : {}),
    image: { path: image.path, kind: image.kind, ref: image.refName, manifestDigest: image.manifestDigest, configDigest: image.configDigest },
    layers: image.layers.map((l) => l.diffId), hostname, volumes: volumes.map((v) => v.destination), created: new Date().toISOString(),
  };
  try {
    // Written first, so that `bundle rm` can undo whatever a failed create left.
    writeAtomic(join(dir, META_FILE), JSON.stringify(meta, null, 2) + '\n');
    writeAtomic(join(dir, IMAGE_CONFIG_FILE), image.configBytes);
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs, 0o755);
    let readFile: (rel: string) => Buffer | undefined;
    const rootMounts: Mount[] = [];
    const volumeMounts: Mount[] = [];
    if (store) {
      const byDiff = new Map(image.layers.map((l) => [l.diffId, l]));
      await store.acquire(meta.layers, id, dir, (diffId, into) => unpackLayer(byDiff.get(diffId)!, into, 'overlay', image, o.warn));
      const lowers = lowerDirs(dir, meta);
      const imageLayers = lowers.slice(1);
      readFile = (rel) => readLayered(imageLayers, rel);
      // The init layer, made for this container.
      const init = lowers[0]!;
      mkdirSync(init, 0o755);
      if (initDir(init, imageLayers, 'etc')) {
        writeFileSync(join(init, 'etc/hosts'), hostsFile(hostname), { mode: 0o644 });
        writeFileSync(join(init, 'etc/resolv.conf'), resolvConf(), { mode: 0o644 });
        writeFileSync(join(init, 'etc/hostname'), `${hostname}\n`, { mode: 0o644 });
      }
      // Mount points, so that making them never writes the container's layer.
      for (const d of ['proc', 'sys', 'dev']) initDir(init, imageLayers, d);
      for (const v of volumes) {
        const isFile = v.source !== undefined && !statSync(v.source).isDirectory();
        const parent = posix.dirname(v.destination).slice(1);
        if (!isFile) initDir(init, imageLayers, v.destination.slice(1));
        else if (initDir(init, imageLayers, parent) && !lookupLayered(imageLayers, v.destination.slice(1))) {
          writeFileSync(join(init, v.destination.slice(1)), '', { mode: 0o644 });
        }
      }
      mkdirSync(join(dir, 'upper'), 0o755);
      mkdirSync(join(dir, 'work'), 0o700);
      // overlayfs takes the root's attributes from the upper dir: give it the image's.
      const top = lookupLayered(imageLayers, '');
      if (top) {
        lchownSync(join(dir, 'upper'), top.st.uid, top.st.gid);
        chmodSync(join(dir, 'upper'), top.st.mode & 0o7777);
      }
      for (const p of [join(dir, 'upper'), join(dir, 'work'), init]) checkOverlayPath(p, 'overlay directory');
      rootMounts.push(overlayMount(dir, lowers));
    } else {
      for (const layer of image.layers) await unpackLayer(layer, rootfs, 'copy', image, o.warn);
      readFile = (rel) => readInRoot(rootfs, rel);
      const etc = secureJoin(rootfs, '/etc');
      if (!lstatOrUndefined(etc)) mkdirSync(etc, 0o755);
      if (lstatSync(etc).isDirectory()) {
        for (const [name, text] of [['hosts', hostsFile(hostname)], ['resolv.conf', resolvConf()], ['hostname', `${hostname}\n`]] as const) {
          rmSync(join(etc, name), { force: true, recursive: true });
          writeFileSync(join(etc, name), text, { mode: 0o644 });
        }
      }
    }
    let n = 0;
    for (const v of volumes) {
      let source = v.source;
      if (source === undefined) {
        source = join(dir, 'volumes', String(n++));
        mkdirSync(source, { recursive: true, mode: 0o755 });
      }
      volumeMounts.push({ destination: v.destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(v.readonly ? ['ro'] : [])] });
    }
    const user = resolveUser(image.config.config?.User, readFile);
    const spec = imageSpec({ config: image.config, args: o.args, hostname, user, home: homeOf(user.uid, readFile), rootMounts, volumeMounts });
    writeAtomic(join(dir, 'config.json'), JSON.stringify(spec, null, 2) + '\n');
    return meta;
  } catch (e) {
    try {
      store?.release(meta.layers, id);
    } finally {
      if (created) rmSync(dir, { recursive: true, force: true });
      else for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });
    }
    throw e;
  }
}

/** Pids whose mount namespace has the bundle's overlay mounted (or whose root is its copy-mode rootfs). */
export function bundleUsers(dir: string, meta: BundleMeta): number[] {
  const upper = `upperdir=${join(dir, 'upper').replace(/ /g, '\\040')}`;
  let rootfs: { dev: number; ino: number } | undefined;
  try {
    rootfs = statSync(join(dir, 'rootfs'));
  } catch {
    rootfs = undefined;
  }
  const seenNs = new Set<string>();
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (meta.mode === 'copy') {
        // The root of a process in another mount namespace has no path here: compare inodes.
        const r = statSync(`/proc/${name}/root`);
        if (rootfs && r.dev === rootfs.dev && r.ino === rootfs.ino) out.push(Number(name));
        continue;
      }
      const ns = readlinkSync(`/proc/${name}/ns/mnt`);
      if (seenNs.has(ns)) continue;
      seenNs.add(ns);
      const mi = readFileSync(`/proc/${name}/mountinfo`, 'utf8');
      if (mi.includes(`${upper},`) || mi.includes(`${upper}\n`)) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

export function removeBundle(dirIn: string): void {
  const dir = resolve(dirIn);
  const meta = readMeta(dir);
  const users = bundleUsers(dir, meta);
  if (users.length) throw new BundleError(`${dir} is in use by a running container (pid ${users.join(', ')}): stop it first`);
  rmSync(dir, { recursive: true, force: true });
  if (meta.mode === 'overlay' && meta.store) new LayerStore(meta.store).release(meta.layers, meta.id);
}

