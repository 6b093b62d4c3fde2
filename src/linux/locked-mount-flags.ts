// The per-mount flags a remount must repeat inside a user namespace. A mount the
// container's mount namespace copied from a more privileged one has its nosuid, nodev,
// noexec and atime flags locked: a MS_REMOUNT|MS_BIND that would clear one is refused
// with EPERM (systemd's /tmp is nosuid,nodev). runc re-reads them with statfs(2) and
// passes them along; tsrt reads them from /proc/self/mountinfo when it builds the plan.
import { readFileSync, realpathSync } from 'node:fs';
import { MS } from '../libc/constants';

const LOCKABLE: Record<string, number> = {
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
};

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The lockable MS_ flags of the mount that holds `path` (0 when it cannot be told). */
export function lockedMountFlags(path: string): number {
  let real: string;
  let info: string;
  try {
    real = realpathSync(path);
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return 0;
  }
  // The deepest mount point above `path`; the last one listed is on top.
  let best = '';
  let options = '';
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    const mp = unescape(f[4]!);
    const covers = mp === '/' || real === mp || real.startsWith(mp + '/');
    if (covers && mp.length >= best.length) {
      best = mp;
      options = f[5]!;
    }
  }
  let flags = 0;
  for (const o of options.split(',')) flags |= LOCKABLE[o] ?? 0;
  return flags;
}
