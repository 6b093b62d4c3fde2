// Looking at a stack of overlay-form layer directories (top first) the way overlayfs
// merges them, without mounting: a 0/0 character device is a whiteout, a directory with
// trusted.overlay.opaque=y hides what is below it, a non-directory hides everything
// below, and directories merge. Symlinks are never followed.
import { lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { lgetxattr } from './sys';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** A whiteout in overlay form: a character device 0/0. */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function isOpaque(dir: string): boolean {
  return lgetxattr(dir, OPAQUE_XATTR)?.toString() === 'y';
}

export interface Found {
  /** host path of the top-most layer's copy */
  path: string;
  st: Stats;
  /** the layer directories where this path is a directory that merges (when it is one) */
  dirs: string[];
}

/** What `rel` is in the merged view of `layers` (top first), or undefined if absent. */
export function lookupLayered(layers: string[], rel: string): Found | undefined {
  const parts = rel.split('/').filter((p) => p && p !== '.');
  let cands = layers;
  let found: Found | undefined = { path: '', st: undefined as unknown as Stats, dirs: layers };
  if (parts.length === 0) {
    const st = layers.length ? lstatOrUndefined(layers[0]!) : undefined;
    return st ? { path: layers[0]!, st, dirs: mergeDirs(layers, '') } : undefined;
  }
  let prefix = '';
  for (const part of parts) {
    prefix = prefix ? `${prefix}/${part}` : part;
    found = undefined;
    const next: string[] = [];
    for (const layer of cands) {
      const p = join(layer, prefix);
      const st = lstatOrUndefined(p);
      if (!st) continue;
      if (isWhiteout(st)) break;
      if (!found) found = { path: p, st, dirs: next };
      if (!st.isDirectory()) break;
      if (!found.st.isDirectory()) break;
      next.push(layer);
      if (isOpaque(p)) break;
    }
    if (!found) return undefined;
    if (!found.st.isDirectory() && prefix !== parts.join('/')) return undefined;
    cands = next;
  }
  return found;
}

function mergeDirs(layers: string[], rel: string): string[] {
  const out: string[] = [];
  for (const layer of layers) {
    const p = join(layer, rel);
    const st = lstatOrUndefined(p);
    if (!st) continue;
    if (!st.isDirectory()) break;
    out.push(layer);
    if (isOpaque(p)) break;
  }
  return out;
}

/** The names in directory `rel` of the merged view (empty when it is not a directory). */
export function listLayered(layers: string[], rel: string): string[] {
  const f = lookupLayered(layers, rel);
  if (!f || !f.st.isDirectory()) return [];
  const seen = new Set<string>();
  const hidden = new Set<string>();
  for (const layer of f.dirs) {
    for (const name of readdirSync(join(layer, rel))) {
      if (seen.has(name) || hidden.has(name)) continue;
      const st = lstatOrUndefined(join(layer, rel, name));
      if (st && isWhiteout(st)) hidden.add(name);
      else seen.add(name);
    }
  }
  return [...seen].sort();
}

/** Reads a small regular file of the merged view (undefined if absent or not a file). */
export function readLayered(layers: string[], rel: string): Buffer | undefined {
  const f = lookupLayered(layers, rel);
  if (!f || !f.st.isFile()) return undefined;
  return readFileSync(f.path);
}
