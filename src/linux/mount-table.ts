// The caller's mount table (/proc/self/mountinfo), read when a plan is built: the init is
// cloned into a copy of this mount namespace, so what is mounted where is known in advance
// and the plan can name mount points (the mount holding the rootfs, the host's proc and
// sysfs mounts to detach with --no-pivot) without parsing anything in the child.
import { readFileSync, realpathSync } from 'node:fs';

export interface MountEntry {
  /** mount point, octal escapes decoded */
  mountpoint: string;
  /** the mounted directory inside its file system ("/" for a full mount) */
  root: string;
  fstype: string;
  /** optional fields: "shared:N", "master:N"... */
  optional: string[];
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(' ');
    if (f.length < 6) continue;
    out.push({ root: unescape(f[3]!), mountpoint: unescape(f[4]!), optional: f.slice(6), fstype: line.slice(sep + 3).split(' ')[0]! });
  }
  return out;
}

export function ownMounts(): MountEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

function under(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

/**
 * The mount point of the mount that holds `path` (symlinks resolved): the longest mount
 * point it is under. When several mounts are stacked there, they share the mount point.
 */
export function mountPointHolding(path: string, mounts: MountEntry[] = ownMounts()): string {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // the rootfs check reports a missing rootfs; keep the path as given
  }
  let best = '/';
  for (const m of mounts) {
    if (under(real, m.mountpoint) && m.mountpoint.length > best.length) best = m.mountpoint;
  }
  return best;
}

/**
 * Full mounts (of the file system's root) of proc and sysfs outside `dir`: while one of
 * them stays in a mount namespace, the kernel lets a user namespace made there mount a
 * fresh proc or sysfs (mount_too_revealing() finds a fully visible one).
 */
export function fullProcSysMountsOutside(dir: string, mounts: MountEntry[] = ownMounts()): string[] {
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    // as above
  }
  const out: string[] = [];
  for (const m of mounts) {
    if (m.root !== '/' || (m.fstype !== 'proc' && m.fstype !== 'sysfs')) continue;
    if (under(m.mountpoint, real)) continue;
    if (!out.includes(m.mountpoint)) out.push(m.mountpoint);
  }
  return out;
}
