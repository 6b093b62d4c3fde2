// Capability names to numbers (linux/capability.h). The list is the kernel's; which
// of them this host knows is /proc/sys/kernel/cap_last_cap.
import { readFileSync } from 'node:fs';
import { quote } from '../util/quote';
import type { LinuxCapabilities } from '../oci/spec-types';

export const CAPABILITY_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4,
  CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10, CAP_NET_BROADCAST: 11, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14, CAP_IPC_OWNER: 15, CAP_SYS_MODULE: 16, CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18, CAP_SYS_PTRACE: 19, CAP_SYS_PACCT: 20, CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22, CAP_SYS_NICE: 23, CAP_SYS_RESOURCE: 24, CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26, CAP_MKNOD: 27, CAP_LEASE: 28, CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30, CAP_SETFCAP: 31, CAP_MAC_OVERRIDE: 32, CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34, CAP_WAKE_ALARM: 35, CAP_BLOCK_SUSPEND: 36, CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38, CAP_BPF: 39, CAP_CHECKPOINT_RESTORE: 40,
};

let lastCap: number | undefined;

/** The highest capability number the running kernel supports. */
export function hostLastCap(): number {
  if (lastCap === undefined) {
    try {
      lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    } catch {
      lastCap = 40;
    }
  }
  return lastCap;
}

const CAPABILITY_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;

/**
 * Removes, in place, the names this kernel has no capability for (unknown to tsrt, or
 * above /proc/sys/kernel/cap_last_cap), with one warning per set naming the field.
 * config.md: an unknown or unsupported capability "MUST be logged as a warning by the
 * runtime. Runtimes SHOULD NOT fail"; runc ignores them the same way with a warning.
 */
export function dropUnavailableCapabilities(caps: LinuxCapabilities | undefined, field: string, warn: (msg: string) => void): void {
  if (!caps) return;
  for (const set of CAPABILITY_SETS) {
    const names = caps[set];
    if (!names) continue;
    const dropped = names.filter((n) => !isAvailable(n));
    if (!dropped.length) continue;
    caps[set] = names.filter(isAvailable);
    warn(`${field}.${set}: ignoring unknown or unavailable capabilities ${dropped.slice(0, 5).map((n) => quote(n)).join(', ')}${dropped.length > 5 ? ` and ${dropped.length - 5} more` : ''}`);
  }
}

function isAvailable(name: string): boolean {
  const n = Object.hasOwn(CAPABILITY_NUMBERS, name) ? CAPABILITY_NUMBERS[name] : undefined;
  return n !== undefined && n <= hostLastCap();
}

/** A 64-bit mask of the named capabilities; names the config field on an unknown one. */
export function capMask(names: string[] | undefined, field: string): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const n = CAPABILITY_NUMBERS[name];
    if (n === undefined) throw new Error(`${field}: unknown capability ${quote(name)}`);
    if (n > hostLastCap()) {
      throw new Error(`${field}: ${name} is not supported by this kernel (last capability is ${hostLastCap()})`);
    }
    mask |= 1n << BigInt(n);
  }
  return mask;
}
