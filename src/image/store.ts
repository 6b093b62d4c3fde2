// The layer store: each layer unpacked once, in overlay form, in a directory named by its
// diff_id (the sha256 of the uncompressed tar, which the verified image config lists), so
// every bundle of every image with that layer shares the same directory.
//
//   STORE/lock                       flock(LOCK_EX) around every change below
//   STORE/sha256/HEX/diff/           the layer's files (overlay lowerdir, never written)
//   STORE/sha256/HEX/refs/BUNDLE-ID  one file per bundle using the layer (its path inside)
//   STORE/tmp/                       layers being unpacked or removed
//
// A layer is unpacked outside the lock into tmp/ and renamed into place under it; a
// bundle's references are added under the lock in the same critical section that checks
// the layer is there, and the last reference's removal deletes the layer, so a layer in
// use is never removed and two bundles never unpack into the same directory.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ImageError } from './errors';
import { flockExclusive, funlock } from './sys';

/** Where layers live when --store is not given. */
export const DEFAULT_STORE = '/var/lib/tsrt/layers';

export class LayerStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    if (/[,:\\]/.test(this.root)) throw new ImageError(`--store ${root}: the path may not contain ',', ':' or '\\' (overlay mount options)`);
  }

  init(): void {
    for (const d of [this.root, join(this.root, 'sha256'), join(this.root, 'sha512'), this.tmp]) mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  get tmp(): string {
    return join(this.root, 'tmp');
  }

  layerDir(diffId: string): string {
    const [alg, hex] = diffId.split(':');
    return join(this.root, alg!, hex!);
  }

  /** The overlay lowerdir of a layer. */
  diffDir(diffId: string): string {
    return join(this.layerDir(diffId), 'diff');
  }

  has(diffId: string): boolean {
    return existsSync(this.diffDir(diffId));
  }

  /** Runs fn holding the store's lock. */
  locked<T>(fn: () => T): T {
    this.init();
    const fd = openSync(join(this.root, 'lock'), 'a', 0o600);
    try {
      flockExclusive(fd, `${this.root}/lock`);
      return fn();
    } finally {
      funlock(fd);
      closeSync(fd);
    }
  }

  private addRef(diffId: string, bundleId: string, bundlePath: string): void {
    const refs = join(this.layerDir(diffId), 'refs');
    mkdirSync(refs, { recursive: true });
    writeFileSync(join(refs, bundleId), `${bundlePath}\n`);
  }

  /**
   * Gives the bundle a reference to every layer, unpacking (with `unpack`, into an
   * empty directory) the ones the store does not have yet.
   */
  async acquire(diffIds: string[], bundleId: string, bundlePath: string, unpack: (diffId: string, dir: string) => Promise<void>): Promise<void> {
    const missing = this.locked(() => {
      const out: string[] = [];
      for (const d of new Set(diffIds)) {
        if (this.has(d)) this.addRef(d, bundleId, bundlePath);
        else out.push(d);
      }
      return out;
    });
    for (const d of missing) {
      const tmp = mkdtempSync(join(this.tmp, 'unpack-'));
      try {
        mkdirSync(join(tmp, 'diff'), 0o755);
        await unpack(d, join(tmp, 'diff'));
        this.locked(() => {
          if (!this.has(d)) {
            mkdirSync(join(this.root, d.split(':')[0]!), { recursive: true });
            renameSync(tmp, this.layerDir(d));
          }
          this.addRef(d, bundleId, bundlePath);
        });
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  }

  /** Drops the bundle's references; layers nobody references any more are deleted. */
  release(diffIds: string[], bundleId: string): string[] {
    const doomed: string[] = [];
    this.locked(() => {
      for (const d of new Set(diffIds)) {
        const refs = join(this.layerDir(d), 'refs');
        rmSync(join(refs, bundleId), { force: true });
        let left: string[] = [];
        try {
          left = readdirSync(refs);
        } catch {
          left = [];
        }
        if (left.length === 0 && existsSync(this.layerDir(d))) {
          const trash = mkdtempSync(join(this.tmp, 'remove-'));
          renameSync(this.layerDir(d), join(trash, 'layer'));
          doomed.push(trash);
        }
      }
    });
    for (const t of doomed) rmSync(t, { recursive: true, force: true });
    return doomed;
  }

  /** The bundles (paths) that reference a layer. */
  users(diffId: string): string[] {
    try {
      return readdirSync(join(this.layerDir(diffId), 'refs'));
    } catch {
      return [];
    }
  }
}
