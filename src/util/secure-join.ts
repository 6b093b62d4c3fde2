// Resolving a container path (a mount destination, a device node...) to a host path inside
// the rootfs, as the container would see it with the rootfs as `/`: symlinks are followed
// but an absolute target restarts at the rootfs and `..` stops at it, so a hostile image
// cannot make the runtime touch a host file. The walk is one lstat per component; it does
// not protect against a concurrent writer swapping a directory for a symlink after the
// check (openat2 RESOLVE_IN_ROOT does, where the caller can use file descriptors).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TsrtError } from './errors';

/** Symlinks followed in one resolution before giving up, like the kernel's ELOOP. */
const MAX_SYMLINKS = 255;
/** A component that vanishes again right after mkdir is retried this often. */
const MAX_CREATE_ATTEMPTS = 8;

type Missing = 'keep' | 'mkdir' | 'file';

/** The host path of container path `unsafe` inside `root`; missing components are kept as
 * written. Throws (code ELOOP) after more than 255 symlinks. */
export function secureJoin(root: string, unsafe: string): string {
  return walk(root, unsafe, 'keep', 0);
}

/** Like secureJoin, and creates every missing directory (with exactly `mode`, whatever the
 * umask); throws (code ENOTDIR) if a component exists and is not a directory. */
export function mkdirAllInRoot(root: string, unsafe: string, mode = 0o755): string {
  return walk(root, unsafe, 'mkdir', mode);
}

/** Like mkdirAllInRoot for the parents; the last component is created as an empty regular
 * file if missing (a bind mount target for a file source). Throws (code EISDIR) if it is a
 * directory; any other existing non-directory is returned as is. */
export function ensureFileInRoot(root: string, unsafe: string): string {
  return walk(root, unsafe, 'file', 0o755);
}

function walk(rootIn: string, unsafe: string, missing: Missing, mode: number): string {
  const root = path.resolve(rootIn);
  const done: string[] = []; // resolved components, each an existing non-symlink (or kept lexically)
  const todo = components(unsafe); // still to resolve, first component first
  let symlinks = 0;
  let attempts = 0; // creations of the current component
  const containerPath = (parts: string[]): string => '/' + parts.join('/');

  while (todo.length > 0) {
    const name = todo.shift() as string;
    if (name === '..') {
      done.pop(); // at the root this is a no-op, which is what keeps us inside
      continue;
    }
    const isLast = todo.length === 0;
    const hostPath = path.join(root, ...done, name);
    const st = lstatOrNull(hostPath);

    if (st === null) {
      if (missing === 'keep') {
        done.push(name);
        continue;
      }
      if (++attempts > MAX_CREATE_ATTEMPTS) {
        throw new TsrtError('EAGAIN', `${unsafe}: ${containerPath([...done, name])} keeps changing while being created`);
      }
      if (missing === 'file' && isLast) createFile(hostPath);
      else createDir(hostPath, mode);
      todo.unshift(name); // look again: whatever is there now is what gets resolved
      continue;
    }

    if (st.isSymbolicLink()) {
      if (++symlinks > MAX_SYMLINKS) {
        throw new TsrtError('ELOOP', `${unsafe}: too many levels of symbolic links (more than ${MAX_SYMLINKS}) inside ${root}`);
      }
      const target = fs.readlinkSync(hostPath);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...components(target));
      continue;
    }

    const mustBeDir = missing === 'mkdir' || (missing === 'file' && !isLast);
    if (mustBeDir && !st.isDirectory()) {
      throw new TsrtError('ENOTDIR', `${unsafe}: ${containerPath([...done, name])} is not a directory`);
    }
    done.push(name);
    attempts = 0;
  }
  const result = path.join(root, ...done);
  // checked at the end rather than per component so that `/`, `a/..` are caught too
  if (missing === 'file' && fs.lstatSync(result).isDirectory()) {
    throw new TsrtError('EISDIR', `${unsafe}: ${containerPath(done)} is a directory`);
  }
  return result;
}

/** Path components without empty and `.` ones; `..` is kept for the walk to interpret. */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** lstat, or null when the path (or a parent, being a non-directory) does not exist. */
function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** mkdir, then fix the mode through a no-follow descriptor so a symlink that raced in is
 * never chmod'ed; losing a race to someone else's mkdir is fine (the caller re-checks). */
function createDir(p: string, mode: number): void {
  try {
    fs.mkdirSync(p, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') return; // replaced: re-checked
    throw e;
  }
  try {
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates an empty file; O_EXCL also refuses to follow a symlink at the last component. */
function createFile(p: string): void {
  try {
    const { O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
    fs.closeSync(fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL, 0o644));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
}
