// A streaming tar reader and writer (POSIX ustar with pax extended headers; GNU long
// names and base-256 numbers are read too), enough for image layers and image archives.
// Layouts from POSIX.1-2001 (pax) and the GNU tar manual's description of its format.
import { closeSync, openSync, readSync } from 'node:fs';
import { ImageError } from './errors';

export const BLOCK = 512;

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** the path as written in the archive (pax / GNU long names applied) */
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch (pax may give a fraction) */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* and LIBARCHIVE.xattr.* records, raw values */
  xattrs: Map<string, Buffer>;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString('utf8');
}

function num(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256: big-endian two's complement in the whole field, high bit as the marker
    let v = BigInt(b[off]! & 0x7f);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(b[off + i]!);
    if (b[off] === 0xff) v -= 1n << BigInt(len * 8 - 1);
    return Number(v);
  }
  const s = str(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new ImageError(`tar header: bad number ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8);
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

/** A header as read: the entry's fields, with the raw typeflag and no xattrs yet. */
type RawHeader = Omit<TarEntry, 'type' | 'xattrs'> & { typeflag: string };

function parseHeader(h: Buffer, where: string): RawHeader {
  if (!checksumOk(h)) throw new ImageError(`${where}: not a tar archive (bad header checksum)`);
  const magic = h.subarray(257, 263).toString('latin1');
  let name = str(h, 0, 100);
  // Only POSIX ustar has the prefix field; GNU tar keeps atime/ctime there.
  if (magic === 'ustar\0') {
    const prefix = str(h, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name, typeflag: String.fromCharCode(h[156]!), mode: num(h, 100, 8), uid: num(h, 108, 8), gid: num(h, 116, 8),
    size: num(h, 124, 12), mtime: num(h, 136, 12), linkname: str(h, 157, 100), devmajor: num(h, 329, 8), devminor: num(h, 337, 8),
  };
}

/** pax records "LEN KEY=VALUE\n"; values stay bytes (xattr values are binary). */
function parsePax(data: Buffer, where: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const sp = data.indexOf(0x20, pos);
    const len = sp > pos ? parseInt(data.subarray(pos, sp).toString('latin1'), 10) : NaN;
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) throw new ImageError(`${where}: malformed pax header`);
    const rec = data.subarray(sp + 1, pos + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new ImageError(`${where}: malformed pax record`);
    out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    pos += len;
  }
  return out;
}

function applyPax(h: RawHeader, pax: Map<string, Buffer>, xattrs: Map<string, Buffer>, where: string): void {
  for (const [k, v] of pax) {
    const s = (): string => v.toString('utf8');
    if (k === 'path') h.name = s();
    else if (k === 'linkpath') h.linkname = s();
    else if (k === 'size') h.size = Number(s());
    else if (k === 'uid') h.uid = Number(s());
    else if (k === 'gid') h.gid = Number(s());
    else if (k === 'mtime') h.mtime = Number(s());
    else if (k === 'SCHILY.devmajor') h.devmajor = Number(s());
    else if (k === 'SCHILY.devminor') h.devminor = Number(s());
    else if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), Buffer.from(v));
    else if (k.startsWith('LIBARCHIVE.xattr.')) xattrs.set(decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(s(), 'base64'));
    else if (k.startsWith('GNU.sparse.')) throw new ImageError(`${where}: sparse files are not supported`);
  }
  for (const f of ['size', 'uid', 'gid', 'mtime'] as const) {
    if (!Number.isFinite(h[f]) || (f !== 'mtime' && h[f] < 0)) throw new ImageError(`${where}: bad pax ${f}`);
  }
}

/** Bytes from an async source, taken by exact counts. */
class ByteQueue {
  private chunks: Buffer[] = [];
  private len = 0;
  private ended = false;
  private readonly it: AsyncIterator<Buffer | string>;

  constructor(src: AsyncIterable<Buffer | string>) {
    this.it = src[Symbol.asyncIterator]();
  }

  get available(): number {
    return this.len;
  }

  /** Reads until n bytes are queued; false if the source ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.len < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      if (b.length) {
        this.chunks.push(b);
        this.len += b.length;
      }
    }
    return this.len >= n;
  }

  /** Up to max queued bytes (at least one when any are queued), without copying. */
  takeSome(max: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length <= max) {
      this.chunks.shift();
      this.len -= first.length;
      return first;
    }
    this.chunks[0] = first.subarray(max);
    this.len -= max;
    return first.subarray(0, max);
  }

  /** Exactly n bytes (the caller made sure they are queued). */
  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const b = this.takeSome(need);
      parts.push(b);
      need -= b.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** Reads the source to its end (so that hashes over it are complete). */
  async drain(): Promise<void> {
    this.chunks = [];
    this.len = 0;
    while (!this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
    }
  }
}

const MAX_META = 64 << 20;

/** Reads entries one at a time; an entry's data must be read (or is skipped) before next(). */
export class TarReader {
  private q: ByteQueue;
  private remaining = 0;
  private padding = 0;
  private globalPax = new Map<string, Buffer>();
  private done = false;

  constructor(src: AsyncIterable<Buffer | string>, private readonly what: string) {
    this.q = new ByteQueue(src);
  }

  private async need(n: number, ctx: string): Promise<void> {
    if (!(await this.q.fill(n))) throw new ImageError(`${this.what}: unexpected end of archive ${ctx}`);
  }

  private async skip(n: number): Promise<void> {
    while (n > 0) {
      await this.need(1, 'in entry data');
      n -= this.q.takeSome(n).length;
    }
  }

  private async readMeta(size: number, ctx: string): Promise<Buffer> {
    if (size > MAX_META) throw new ImageError(`${this.what}: ${ctx} of ${size} bytes is too large`);
    await this.need(size, ctx);
    const b = this.q.take(size);
    await this.skip((BLOCK - (size % BLOCK)) % BLOCK);
    return b;
  }

  /** The next entry, or null at the end of the archive. */
  async next(): Promise<TarEntry | null> {
    if (this.done) return null;
    await this.skip(this.remaining + this.padding);
    this.remaining = this.padding = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax = new Map<string, Buffer>();
    for (;;) {
      if (!(await this.q.fill(BLOCK))) {
        if (this.q.available === 0) return this.finish();
        throw new ImageError(`${this.what}: unexpected end of archive in a header`);
      }
      const block = this.q.take(BLOCK);
      if (isZero(block)) return this.finish();
      const h = parseHeader(block, this.what);
      if (h.typeflag === 'x' || h.typeflag === 'g') {
        const records = parsePax(await this.readMeta(h.size, 'pax header'), this.what);
        if (h.typeflag === 'g') for (const [k, v] of records) this.globalPax.set(k, v);
        else for (const [k, v] of records) pax.set(k, v);
        continue;
      }
      if (h.typeflag === 'L' || h.typeflag === 'K') {
        const b = await this.readMeta(h.size, 'GNU long name');
        const nul = b.indexOf(0);
        const s = (nul >= 0 ? b.subarray(0, nul) : b).toString('utf8');
        if (h.typeflag === 'L') longName = s;
        else longLink = s;
        continue;
      }
      const xattrs = new Map<string, Buffer>();
      const merged = new Map([...this.globalPax, ...pax]);
      pax = new Map();
      if (longName !== undefined) h.name = longName;
      if (longLink !== undefined) h.linkname = longLink;
      applyPax(h, merged, xattrs, `${this.what}: entry ${JSON.stringify(h.name)}`);
      let type = TYPES[h.typeflag];
      if (!type) throw new ImageError(`${this.what}: entry ${JSON.stringify(h.name)} has unsupported tar type ${JSON.stringify(h.typeflag)}`);
      if (type === 'file' && h.name.endsWith('/') && h.typeflag !== '7') type = 'dir'; // pre-POSIX directories
      this.remaining = h.size;
      this.padding = (BLOCK - (h.size % BLOCK)) % BLOCK;
      return {
        name: h.name, type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, size: h.size, mtime: h.mtime,
        linkname: h.linkname, devmajor: h.devmajor, devminor: h.devminor, xattrs,
      };
    }
  }

  private async finish(): Promise<null> {
    this.done = true;
    await this.q.drain();
    return null;
  }

  /** Passes the current entry's data to onChunk, in order. */
  async readData(onChunk: (b: Buffer) => void): Promise<void> {
    while (this.remaining > 0) {
      await this.need(1, 'in file data');
      const b = this.q.takeSome(this.remaining);
      this.remaining -= b.length;
      onChunk(b);
    }
  }

  /** The current entry's data as one buffer (for small files). */
  async readAll(limit = MAX_META): Promise<Buffer> {
    if (this.remaining > limit) throw new ImageError(`${this.what}: entry is larger than ${limit} bytes`);
    const parts: Buffer[] = [];
    await this.readData((b) => parts.push(b));
    return Buffer.concat(parts);
  }
}

export interface TarMember {
  offset: number;
  size: number;
  type: EntryType;
  linkname: string;
}

/**
 * The members of an uncompressed tar file and where their data starts, read from the
 * headers only (image archives: blobs are then read in place).
 */
export function indexTarFile(path: string): Map<string, TarMember> {
  const out = new Map<string, TarMember>();
  const fd = openSync(path, 'r');
  try {
    const block = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let pax = new Map<string, Buffer>();
    const readAt = (buf: Buffer, at: number): number => readSync(fd, buf, 0, buf.length, at);
    for (;;) {
      const n = readAt(block, pos);
      if (n === 0) break;
      if (n < BLOCK) throw new ImageError(`${path}: truncated tar archive`);
      if (isZero(block)) break;
      const h = parseHeader(block, path);
      const dataAt = pos + BLOCK;
      pos = dataAt + Math.ceil(h.size / BLOCK) * BLOCK;
      if (h.typeflag === 'x' || h.typeflag === 'L') {
        if (h.size > MAX_META) throw new ImageError(`${path}: header data too large`);
        const data = Buffer.alloc(h.size);
        if (readAt(data, dataAt) !== h.size) throw new ImageError(`${path}: truncated tar archive`);
        if (h.typeflag === 'x') pax = parsePax(data, path);
        else longName = str(data, 0, data.length);
        continue;
      }
      if (h.typeflag === 'g' || h.typeflag === 'K') continue;
      if (longName !== undefined) h.name = longName;
      applyPax(h, pax, new Map(), path);
      if (pax.has('size')) pos = dataAt + Math.ceil(h.size / BLOCK) * BLOCK;
      longName = undefined;
      pax = new Map();
      const type = TYPES[h.typeflag];
      if (!type) continue;
      const name = h.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      out.set(name, { offset: dataAt, size: h.size, type, linkname: h.linkname });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

// --- writing -------------------------------------------------------------------------

export interface WriteEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const base = Buffer.byteLength(key) + value.length + 3;
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function writeOctal(b: Buffer, off: number, len: number, v: number): void {
  b.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

const TYPEFLAG: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function ustarHeader(name: string, typeflag: string, e: { mode: number; uid: number; gid: number; size: number; mtime: number; linkname?: string; devmajor?: number; devminor?: number }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  writeOctal(h, 100, 8, e.mode & 0o7777);
  writeOctal(h, 108, 8, e.uid);
  writeOctal(h, 116, 8, e.gid);
  writeOctal(h, 124, 12, e.size);
  writeOctal(h, 136, 12, Math.max(0, Math.floor(e.mtime)));
  h.write(typeflag, 156, 1, 'latin1');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(h, 329, 8, e.devmajor ?? 0);
  writeOctal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

const fits = (s: string, n: number): boolean => Buffer.byteLength(s) <= n && /^[\x20-\x7e]*$/.test(s);

/** The header blocks of one entry (a pax header first when ustar cannot hold it). */
export function entryHeader(e: WriteEntry): Buffer {
  const name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  const records: Buffer[] = [];
  if (!fits(name, 100)) records.push(paxRecord('path', Buffer.from(name)));
  if (e.linkname && !fits(e.linkname, 100)) records.push(paxRecord('linkpath', Buffer.from(e.linkname)));
  if (e.uid > 0o7777777) records.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.gid > 0o7777777) records.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (e.size > 0o77777777777) records.push(paxRecord('size', Buffer.from(String(e.size))));
  for (const [k, v] of e.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const main = ustarHeader(fits(name, 100) ? name : name.slice(-99).replace(/^[^\x20-\x7e]+/, ''), TYPEFLAG[e.type], {
    ...e, uid: Math.min(e.uid, 0o7777777), gid: Math.min(e.gid, 0o7777777), size: Math.min(e.size, 0o77777777777),
    linkname: e.linkname && fits(e.linkname, 100) ? e.linkname : '',
  });
  if (!records.length) return main;
  const data = Buffer.concat(records);
  const paxName = `PaxHeaders/${name.replace(/\/$/, '').split('/').pop() ?? ''}`.slice(0, 99).replace(/[^\x20-\x7e]/g, '_');
  const ph = ustarHeader(paxName, 'x', { mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: e.mtime });
  return Buffer.concat([ph, data, padding(data.length), main]);
}

export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);
