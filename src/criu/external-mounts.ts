// The mounts CRIU must be told about: those whose source lies outside the container
// (bind mounts, the host's /dev/null on masked files, device nodes bound from the host,
// the container's cgroup directories bound on /sys/fs/cgroup). CRIU cannot dump such a
// mount's content; it records it under a key (the destination, as runc keys it) and on
// restore mounts what tsrt maps that key to. Keys are destinations resolved inside the
// rootfs as the container saw them (symlinks followed, staying in the rootfs).
import { statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { isBindMount } from '../linux/mount-options';
import { hostCgroupMounts } from '../cgroups/layout';
import { secureJoin } from '../util/secure-join';

export interface ExtMount { key: string; val: string }

/** The devices every container gets besides linux.devices (runc's defaults). */
const DEFAULT_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];

/** A destination as the container resolved it: the key runc gives CRIU. */
export function mountKey(rootfs: string, dest: string): string {
  const root = resolve(rootfs);
  try {
    const p = secureJoin(root, dest);
    return p.slice(root.length) || '/';
  } catch {
    return posix.normalize(`/${dest}`);
  }
}

function hasNewCgroupNs(spec: Spec): boolean {
  return (spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup' && !n.path);
}

/**
 * The cgroup directories tsrt binds on a cgroup mount when the container has no cgroup
 * namespace of its own (rootfs.ts mountCgroup): destination -> host directory of `paths`.
 */
export function cgroupBinds(spec: Spec, paths: Record<string, string> | undefined): { dest: string; host: string }[] {
  if (hasNewCgroupNs(spec)) return [];
  const out: { dest: string; host: string }[] = [];
  const hier = hostCgroupMounts().filter((h) => h.mountpoint.startsWith('/sys/fs/cgroup'));
  const unified = hier.length === 1 && hier[0]!.version === 2 && hier[0]!.mountpoint === '/sys/fs/cgroup';
  const v2Only = paths?.unified !== undefined && Object.keys(paths).every((k) => k === 'unified');
  for (const m of spec.mounts ?? []) {
    if (m.type !== 'cgroup' && m.type !== 'cgroup2') continue;
    if (unified) {
      if (paths?.unified) out.push({ dest: m.destination, host: paths.unified });
      continue;
    }
    for (const h of hier) {
      if (h.mountpoint === '/sys/fs/cgroup' || (h.version === 2 && !v2Only)) continue;
      const host = h.version === 2 ? paths?.unified : h.controllers.map((c) => paths?.[c]).find((p) => p !== undefined);
      if (host) out.push({ dest: posix.join(m.destination, posix.basename(h.mountpoint)), host });
    }
  }
  return out;
}

function devicePaths(spec: Spec): string[] {
  return [...new Set([...DEFAULT_DEVICES, ...(spec.linux?.devices ?? []).map((d) => d.path)])];
}

/**
 * What a dump declares (key = value = destination): binds, cgroup binds, masked files
 * (not directories: those are tmpfs mounts CRIU dumps) and device nodes. `rootOfInit` is
 * /proc/PID/root of the container's init, where masked paths are looked at.
 */
export function dumpExternalMounts(spec: Spec, rootfs: string, cgroupPaths: Record<string, string> | undefined, rootOfInit: string): ExtMount[] {
  const keys: string[] = [];
  for (const m of spec.mounts ?? []) if (isBindMount(m)) keys.push(mountKey(rootfs, m.destination));
  for (const b of cgroupBinds(spec, cgroupPaths)) keys.push(mountKey(rootfs, b.dest));
  const ext = keys.map((k) => ({ key: k, val: k }));
  for (const p of spec.linux?.maskedPaths ?? []) {
    try {
      if (statSync(posix.join(rootOfInit, p)).isDirectory()) continue;
    } catch {
      continue; // not there: nothing was masked
    }
    ext.push({ key: p, val: '/dev/null' });
  }
  for (const d of devicePaths(spec)) ext.push({ key: mountKey(rootfs, d), val: mountKey(rootfs, d) });
  return dedupe(ext);
}

/** What a restore maps each key to: bind sources, the new cgroup dirs, /dev/null, the host's device nodes. */
export function restoreExternalMounts(spec: Spec, bundle: string, rootfs: string, cgroupPaths: Record<string, string> | undefined): ExtMount[] {
  const ext: ExtMount[] = [];
  for (const m of spec.mounts ?? []) {
    if (isBindMount(m) && m.source !== undefined) ext.push({ key: mountKey(rootfs, m.destination), val: resolve(bundle, m.source) });
  }
  for (const b of cgroupBinds(spec, cgroupPaths)) ext.push({ key: mountKey(rootfs, b.dest), val: b.host });
  if ((spec.linux?.maskedPaths ?? []).length) ext.push({ key: '/dev/null', val: '/dev/null' });
  for (const d of devicePaths(spec)) ext.push({ key: mountKey(rootfs, d), val: d });
  return dedupe(ext);
}

function dedupe(ext: ExtMount[]): ExtMount[] {
  const seen = new Set<string>();
  return ext.filter((e) => (seen.has(e.key) ? false : (seen.add(e.key), true)));
}
