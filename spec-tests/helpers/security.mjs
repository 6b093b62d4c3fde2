// Helpers shared by the security tests: reading /proc/self/status of a container
// process, and checking that a refused config leaves nothing behind. Not a test file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ROOTFS, hostMounts, mountChanges, processesUsing, show } from './tsrt.mjs';

/** Capability name -> bit, as in linux/capability.h. */
export const CAP_BITS = {
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

/** The 16-hex-digit mask /proc/PID/status shows for a list of names. */
export function capHex(names = []) {
  let m = 0n;
  for (const n of names) m |= 1n << BigInt(CAP_BITS[n]);
  return m.toString(16).padStart(16, '0');
}

/** tsrt's own bounding set (what a container without a user namespace can get at most). */
export function hostBoundingSet() {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return BigInt('0x' + m[1]);
}

/** "Name:\tvalue" lines of /proc/self/status (as printed by the container) -> object. */
export function parseStatus(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

/**
 * Runs `tsrt run` on a config that must be refused: the command fails, its error names
 * `field` and matches `why`, and nothing is left (no state dir, no process using the
 * bundle, no new host mount).
 */
export function assertRefused(sb, bundle, { field, why }) {
  const before = hostMounts();
  const id = sb.id('refused');
  const r = sb.tsrt(['run', '--bundle', bundle.dir, id]);
  assert.notEqual(r.status, 0, `the config is refused:\n${show(r)}`);
  assert.ok(r.stderr.includes(field), `the error names ${field}:\n${show(r)}`);
  if (why) assert.match(r.stderr, why, `the error says why:\n${show(r)}`);
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
  // (the shared demo rootfs may be in use by other test runs on this machine)
  if (bundle.rootfs !== ROOTFS) assert.deepEqual(processesUsing(bundle.rootfs), [], 'no process is left in the rootfs');
  assert.deepEqual(mountChanges(before, sb.dir), { added: [], removed: [] }, 'no host mount is left');
  return r;
}
