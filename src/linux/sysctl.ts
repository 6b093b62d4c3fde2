// linux.sysctl: only parameters that belong to a namespace the container has of its own
// may be set, otherwise the write would change the host (the rules runc validates):
//   kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*  -> an ipc namespace
//   net.*                                              -> a network namespace (not the host's)
//   kernel.hostname, kernel.domainname                 -> a uts namespace
// Anything else is refused. The writes go through the container's /proc/sys.
import { statSync } from 'node:fs';
import type { Spec } from '../oci/spec-types';
import { O } from '../libc/constants';
import type { Plan } from '../plan/plan';
import { ConfigError } from '../util/errors';
import type { NamespacePlan } from './namespaces';
import { quote } from '../util/quote';

const IPC_KEYS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/**
 * The path under /proc/sys of a key, dotted (net.ipv4.ip_forward) or written with '/'
 * (net/ipv4/conf/eth0.100/forwarding, where a dot is part of a name).
 */
function keyPath(key: string, field: string): string {
  const path = key.includes('/') ? key : key.replace(/\./g, '/');
  if (path.split('/').some((p) => p === '' || p === '.' || p === '..' || p.includes('\0'))) {
    throw new ConfigError(`${field}: not a valid sysctl name`);
  }
  return path;
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Throws naming linux.sysctl.<key> when the key is not namespaced for this container. */
export function checkSysctl(spec: Spec, ns: NamespacePlan): void {
  for (const key of Object.keys(spec.linux?.sysctl ?? {})) {
    const field = `linux.sysctl.${key}`;
    const k = keyPath(key, field).replace(/\//g, '.');
    if (IPC_KEYS.has(k) || k.startsWith('fs.mqueue.')) {
      if (!ns.has('ipc')) throw new ConfigError(`${field}: needs an ipc namespace (the container shares the host's, so the write would change the host)`);
      continue;
    }
    if (k.startsWith('net.')) {
      if (!ns.has('network')) throw new ConfigError(`${field}: needs a network namespace (the container shares the host's, so the write would change the host)`);
      const joined = ns.joined.find((j) => j.type === 'network');
      if (joined && sameFile(joined.path, '/proc/self/ns/net')) {
        throw new ConfigError(`${field}: the network namespace ${joined.path} is the host's, so the write would change the host`);
      }
      continue;
    }
    if (k === 'kernel.hostname' || k === 'kernel.domainname') {
      if (!ns.has('uts')) throw new ConfigError(`${field}: needs a uts namespace (the container shares the host's, so the write would change the host)`);
      continue;
    }
    throw new ConfigError(`${field}: not a namespaced kernel parameter (only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.* and kernel.hostname/domainname can be set per container)`);
  }
}

/** The writes, after pivot_root and before /proc/sys is made read-only (readonlyPaths). */
export function buildSysctlSteps(plan: Plan, spec: Spec, ns: NamespacePlan): void {
  checkSysctl(spec, ns);
  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
    const path = '/proc/sys/' + keyPath(key, `linux.sysctl.${key}`);
    const fd = plan.slot(`fd of ${path}`);
    plan.add('openat', [-100, plan.cstr(path), O.WRONLY | O.CLOEXEC, 0], `linux.sysctl.${key}: open ${path}`, { store: fd });
    plan.add('write', [{ load: fd }, plan.cstr(value), Buffer.byteLength(value)], `linux.sysctl.${key}: write ${quote(value)}`);
    plan.add('close', [{ load: fd }], `close ${path}`);
  }
}
