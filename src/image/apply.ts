// Applying one layer tar to a directory, in one of two forms:
//
//   overlay  the layer is unpacked on its own into an empty directory, in overlayfs's
//            form: `.wh.NAME` becomes a 0/0 character device NAME and `.wh..wh..opq`
//            sets trusted.overlay.opaque=y on its directory.
//   copy     the layer is applied onto the tree the lower layers made: `.wh.NAME`
//            deletes NAME, `.wh..wh..opq` deletes what the lower layers put in its
//            directory, and an entry replaces what was there, as overlayfs would show it.
//
// Safety: every entry path is relative and has no `..`; every parent of an entry must be
// a real directory. A parent that is a symlink or a file made by this same layer is
// refused (a "symlink, then write through it" layer); in copy mode one that a lower layer
// made is replaced by a directory, which is what the merged overlay view shows. Files are
// created with O_EXCL|O_NOFOLLOW after removing what was there, hard-link targets obey
// the same rules, and symlinks are created but never followed. The target directory is
// private to the caller while this runs, so checks and writes cannot race.
import { chmodSync, closeSync, fsyncSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, writeSync, constants as C } from 'node:fs';
import { join } from 'node:path';
import { UnsafeLayerError } from './errors';
import { isWhiteout, lstatOrUndefined, OPAQUE_XATTR } from './layered';
import { lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from './sys';
import type { TarEntry, TarReader } from './tar';

export type ApplyMode = 'overlay' | 'copy';

export interface ApplyOptions {
  mode: ApplyMode;
  /** the directory the layer goes into */
  root: string;
  /** names the layer in messages */
  what: string;
  warn(msg: string): void;
}

const WH = '.wh.';
const OPQ = '.wh..wh..opq';

/** Splits an entry path into components; refuses absolute paths and `..`. */
export function entryParts(name: string, what: string, label = 'entry'): string[] {
  if (name.startsWith('/')) throw new UnsafeLayerError(`${what}: ${label} ${JSON.stringify(name)} is an absolute path: refused`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(`${what}: ${label} ${JSON.stringify(name)} contains "..": refused (it would leave the layer)`);
  return parts;
}

class Applier {
  private readonly touched = new Set<string>();
  private readonly realDirs = new Set<string>(['']);
  private readonly opaque = new Set<string>();
  /** whiteouts this layer made (overlay mode: 0/0 devices that a later entry may replace) */
  private readonly whiteouts = new Set<string>();
  private readonly dirTimes: [string, number][] = [];
  private xattrWarned = new Set<string>();

  constructor(private readonly o: ApplyOptions) {}

  private abs(rel: string): string {
    return rel ? join(this.o.root, rel) : this.o.root;
  }

  private underOpaque(rel: string): boolean {
    for (let i = rel.lastIndexOf('/'); ; i = rel.lastIndexOf('/', i - 1)) {
      const parent = i < 0 ? '' : rel.slice(0, i);
      if (this.opaque.has(parent)) return true;
      if (i <= 0) return false;
    }
  }

  /** rm -rf of rel (never following a symlink), forgetting what we knew below it. */
  private remove(rel: string): void {
    rmSync(this.abs(rel), { recursive: true, force: true });
    for (const d of this.realDirs) if (d === rel || d.startsWith(rel + '/')) this.realDirs.delete(d);
  }

  /** Makes sure every component of parts is a real directory, as described above. */
  private ensureDirs(parts: string[], entry: string): void {
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.realDirs.has(rel)) continue;
      const p = this.abs(rel);
      const st = lstatOrUndefined(p);
      const lower = !this.touched.has(rel) && this.o.mode === 'copy';
      if (st && !st.isDirectory() && this.whiteouts.has(rel)) {
        // `.wh.D` then `D/x` in one layer: a new D that hides the lower one, i.e. opaque
        this.remove(rel);
        this.newOpaqueDir(rel);
      } else if (st && !st.isDirectory()) {
        if (!lower) {
          const kind = st.isSymbolicLink() ? 'a symlink' : 'not a directory';
          throw new UnsafeLayerError(`${this.o.what}: entry ${JSON.stringify(entry)}: its parent ${JSON.stringify(rel)} is ${kind} in this layer: refused (no writing through links)`);
        }
        this.remove(rel);
        mkdirSync(p, 0o755);
      } else if (!st) {
        mkdirSync(p, 0o755);
      } else if (lower && this.underOpaque(rel)) {
        // a lower layer's directory under a directory this layer made opaque: hidden
        this.remove(rel);
        mkdirSync(p, 0o755);
      }
      this.realDirs.add(rel);
      this.touched.add(rel);
    }
  }

  /** Clears the place for a new entry at rel (keeps a directory for a directory). */
  private clear(rel: string, keepDir: boolean): boolean {
    const st = lstatOrUndefined(this.abs(rel));
    if (!st) return false;
    if (keepDir && st.isDirectory()) {
      if (this.o.mode === 'copy' && !this.touched.has(rel) && this.underOpaque(rel)) {
        this.remove(rel);
        return false;
      }
      return true;
    }
    this.remove(rel);
    return false;
  }

  private prune(rel: string): void {
    // Copy mode's opaque directory: drop everything this layer did not make.
    for (const name of readdirSync(this.abs(rel))) {
      const child = rel ? `${rel}/${name}` : name;
      if (!this.touched.has(child)) this.remove(child);
      else if (lstatSync(this.abs(child)).isDirectory()) this.prune(child);
    }
  }

  private whiteout(parts: string[], name: string, entry: string): void {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw new UnsafeLayerError(`${this.o.what}: entry ${JSON.stringify(entry)} is not a valid whiteout: refused`);
    }
    this.ensureDirs(parts, entry);
    const rel = [...parts, name].join('/');
    if (this.touched.has(rel)) {
      // The layer's own entry of that name stays; only what is below goes (OCI layer
      // spec): for a directory of this layer, that makes it opaque.
      if (lstatOrUndefined(this.abs(rel))?.isDirectory()) this.makeOpaque(rel.split('/'), `${rel}/${OPQ}`);
      return;
    }
    if (this.o.mode === 'overlay') {
      this.whiteouts.add(rel);
      mknod(this.abs(rel), S_IFCHR | 0o000, 0n);
    } else if (lstatOrUndefined(this.abs(rel))) {
      this.remove(rel);
    }
    this.touched.add(rel);
  }

  /** mkdir of a directory that replaces this layer's whiteout of the same name. */
  private newOpaqueDir(rel: string): void {
    mkdirSync(this.abs(rel), 0o755);
    this.whiteouts.delete(rel);
    if (this.o.mode === 'overlay') lsetxattr(this.abs(rel), OPAQUE_XATTR, Buffer.from('y'));
  }

  private makeOpaque(parts: string[], entry: string): void {
    this.ensureDirs(parts, entry);
    const rel = parts.join('/');
    if (this.o.mode === 'overlay') {
      lsetxattr(this.abs(rel), OPAQUE_XATTR, Buffer.from('y'));
    } else {
      this.opaque.add(rel);
      this.prune(rel);
    }
  }

  private attrs(rel: string, e: TarEntry): void {
    const p = this.abs(rel);
    lchownSync(p, e.uid, e.gid);
    if (e.type !== 'symlink') chmodSync(p, e.mode & 0o7777);
    for (const [k, v] of e.xattrs) {
      if (k.startsWith('trusted.overlay.')) {
        this.o.warn(`${this.o.what}: entry ${JSON.stringify(e.name)}: xattr ${k} ignored (overlayfs's own)`);
        continue;
      }
      try {
        lsetxattr(p, k, v);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EPERM') throw err;
        if (!this.xattrWarned.has(k)) this.o.warn(`${this.o.what}: xattr ${k} not kept (${code})`);
        this.xattrWarned.add(k);
      }
    }
    if (e.type === 'dir') this.dirTimes.push([p, e.mtime]);
    else lutimesSync(p, e.mtime, e.mtime);
  }

  async entry(e: TarEntry, tar: TarReader): Promise<void> {
    const parts = entryParts(e.name, this.o.what);
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith(WH)) {
      if (base === OPQ) this.makeOpaque(parts.slice(0, -1), e.name);
      else if (base.startsWith(`${WH}${WH}`)) return; // other aufs metadata (.wh..wh.plnk...)
      else this.whiteout(parts.slice(0, -1), base.slice(WH.length), e.name);
      return;
    }
    if (parts.length === 0) {
      if (e.type !== 'dir') throw new UnsafeLayerError(`${this.o.what}: entry ${JSON.stringify(e.name)} names the root but is not a directory: refused`);
      this.attrs('', e);
      return;
    }
    this.ensureDirs(parts.slice(0, -1), e.name);
    const rel = parts.join('/');
    const p = this.abs(rel);
    switch (e.type) {
      case 'dir':
        if (this.whiteouts.has(rel)) {
          this.clear(rel, false);
          this.newOpaqueDir(rel);
        } else if (!this.clear(rel, true)) {
          mkdirSync(p, 0o700);
        }
        this.realDirs.add(rel);
        break;
      case 'file': {
        this.clear(rel, false);
        const fd = openSync(p, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        try {
          await tar.readData((b) => {
            let off = 0;
            while (off < b.length) off += writeSync(fd, b, off, b.length - off);
          });
          if (process.env.TSRT_FSYNC_LAYERS) fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink':
        this.clear(rel, false);
        symlinkSync(e.linkname, p);
        break;
      case 'link': {
        const target = entryParts(e.linkname, `${this.o.what}: hard link ${JSON.stringify(e.name)}`, 'target');
        const trel = target.join('/');
        if (!trel || trel === rel) throw new UnsafeLayerError(`${this.o.what}: hard link ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)}: bad target: refused`);
        this.checkRealParents(target.slice(0, -1), e.name);
        const tst = lstatOrUndefined(this.abs(trel));
        if (!tst || tst.isDirectory() || (this.o.mode === 'overlay' && !this.touched.has(trel))) {
          throw new UnsafeLayerError(`${this.o.what}: hard link ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)}: the target is not a file ${this.o.mode === 'overlay' ? 'of this layer' : 'of the image'}`);
        }
        this.clear(rel, false);
        linkSync(this.abs(trel), p);
        this.whiteouts.delete(rel);
        this.touched.add(rel);
        return; // a hard link shares the target's inode and attributes
      }
      case 'char':
      case 'block':
      case 'fifo': {
        this.clear(rel, false);
        const fmt = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
        mknod(p, fmt | 0o600, e.type === 'fifo' ? 0n : makedev(e.devmajor, e.devminor));
        break;
      }
    }
    this.whiteouts.delete(rel);
    this.touched.add(rel);
    this.attrs(rel, e);
  }

  /** Hard-link targets: every parent must be a real directory (nothing is created). */
  private checkRealParents(parts: string[], entry: string): void {
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.realDirs.has(rel)) continue;
      const st = lstatOrUndefined(this.abs(rel));
      if (!st || !st.isDirectory()) {
        throw new UnsafeLayerError(`${this.o.what}: hard link ${JSON.stringify(entry)}: ${JSON.stringify(rel)} in its target path is not a directory: refused`);
      }
    }
  }

  finish(): void {
    // Directory times last: creating their entries changed them.
    for (const [p, mtime] of this.dirTimes.reverse()) lutimesSync(p, mtime, mtime);
  }
}

/** Reads every entry of tar and applies it to opts.root. */
export async function applyLayer(tar: TarReader, opts: ApplyOptions): Promise<void> {
  const a = new Applier(opts);
  for (;;) {
    const e = await tar.next();
    if (!e) break;
    await a.entry(e, tar);
  }
  a.finish();
}

/** Whether st is overlay's form of a whiteout (for callers that only have a path). */
export function isWhiteoutPath(p: string): boolean {
  const st = lstatOrUndefined(p);
  return !!st && isWhiteout(st);
}
