// linux.cgroupsPath -> one directory per hierarchy, with runc's rules:
//
// - absolute ("/a/b"): from the root of every hierarchy;
// - relative ("a/b"): under tsrt's own cgroup in each hierarchy (/proc/self/cgroup);
// - absent: the container id, relative. This is what runc does when it is not asked for
//   systemd: checked on this project's machine, `runc run` of a bundle without
//   cgroupsPath put container rc1 in /sys/fs/cgroup/<ctrl>/rc1 and, for the memory
//   hierarchy where runc itself sat in /process_api/X, in memory/process_api/X/rc1. The
//   default does not embed the runtime's name, so there is nothing to rename;
// - with --systemd-cgroup: "slice:prefix:name" (as runc, podman and containerd send it)
//   names the unit prefix-name.scope in the slice, and the slice expands the way systemd
//   nests slices ("a-b.slice" -> "a.slice/a-b.slice"): the directory systemd gives the
//   unit, absolute (/system.slice/prefix-name.scope). tsrt asks systemd for the unit over
//   D-Bus (systemd/driver.ts) and then works in that directory. Absent:
//   "system.slice:tsrt:<id>" (runc uses its own name as the prefix).
import { posix } from 'node:path';
import { ConfigError } from '../util/errors';

export interface CgroupTarget {
  /** "/a/b" from the hierarchy root, or "a/b" under tsrt's own cgroup */
  path: string;
  absolute: boolean;
}

/** Normalises a path so that ".." cannot climb above where it starts. */
function clean(p: string): string {
  return posix.normalize('/' + p).replace(/\/+$/, '') || '/';
}

export function resolveCgroupsPath(cgroupsPath: string | undefined, id: string, systemd: boolean): CgroupTarget {
  if (systemd) return { path: systemdPath(cgroupsPath || `system.slice:tsrt:${id}`), absolute: true };
  if (cgroupsPath === undefined || cgroupsPath === '') return { path: clean(id).slice(1), absolute: false };
  if (cgroupsPath.includes('\0')) throw new ConfigError('linux.cgroupsPath: contains a NUL byte');
  if (cgroupsPath.startsWith('/')) {
    const p = clean(cgroupsPath);
    if (p === '/') throw new ConfigError('linux.cgroupsPath: "/" is the root cgroup: a container needs a cgroup of its own');
    return { path: p, absolute: true };
  }
  const p = clean(cgroupsPath).slice(1);
  if (!p) throw new ConfigError(`linux.cgroupsPath: ${JSON.stringify(cgroupsPath)} names tsrt's own cgroup: a container needs a cgroup of its own`);
  return { path: p, absolute: false };
}

/** "a-b.slice" -> "/a.slice/a-b.slice" (systemd's nesting of dashed slice names). */
export function expandSlice(slice: string): string {
  const bad = () => new ConfigError(`linux.cgroupsPath: invalid systemd slice ${JSON.stringify(slice)}`);
  if (!slice.endsWith('.slice') || slice.includes('/')) throw bad();
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '/';
  if (!name || name.startsWith('-') || name.endsWith('-') || name.includes('--')) throw bad();
  let path = '';
  let prefix = '';
  for (const part of name.split('-')) {
    path += `/${prefix}${part}.slice`;
    prefix += `${part}-`;
  }
  return path;
}

/** The systemd unit a container gets: "slice:prefix:name" -> {slice, unit} ("prefix-name.scope", or "name" for a slice). */
export function systemdUnit(cgroupsPath: string | undefined, id: string): { slice: string; unit: string } {
  const spec = cgroupsPath || `system.slice:tsrt:${id}`;
  const parts = spec.split(':');
  if (parts.length !== 3) {
    throw new ConfigError(`linux.cgroupsPath: with --systemd-cgroup the path must be "slice:prefix:name", got ${JSON.stringify(spec)}`);
  }
  const [slice, prefix, name] = parts as [string, string, string];
  if (!name || name.includes('/')) throw new ConfigError(`linux.cgroupsPath: invalid unit name ${JSON.stringify(name)} in ${JSON.stringify(spec)}`);
  if (prefix.includes('/')) throw new ConfigError(`linux.cgroupsPath: invalid prefix ${JSON.stringify(prefix)} in ${JSON.stringify(spec)}`);
  // A name ending in .slice asks for a slice, not a scope (runc's rule).
  return { slice: slice || 'system.slice', unit: name.endsWith('.slice') ? name : `${prefix ? `${prefix}-` : ''}${name}.scope` };
}

/** "slice:prefix:name" -> "/slice-path/prefix-name.scope" (or the slice itself for "x.slice" names). */
export function systemdPath(spec: string): string {
  const { slice, unit } = systemdUnit(spec, '');
  return posix.join(expandSlice(slice), unit);
}
