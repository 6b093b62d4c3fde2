// Device access rules: linux.resources.devices, then the devices every container gets
// (never linux.devices: making a node is not granting access to it), reduced to the state the v1 devices controller would end up in
// (Documentation/admin-guide/cgroup-v1/devices.rst). That one state drives both drivers:
// v1 writes it to devices.deny / devices.allow, v2 compiles it to an eBPF program
// (bpf-devices.ts), so a rule list means the same thing on both.
import type { LinuxDevice, LinuxDeviceCgroup } from '../oci/spec-types';
import { ConfigError } from '../util/errors';
import { writeCg } from './cgfs';

export const ACCESS = { m: 1, r: 2, w: 4 } as const; // BPF_DEVCG_ACC_* values
export const ALL_ACCESS = 7;

/** One exception of the kernel's list: b or c, -1 = any major / minor. */
export interface DeviceException {
  type: 'b' | 'c';
  major: number;
  minor: number;
  access: number;
}

export interface DeviceState {
  /** behaviour for devices no exception matches */
  defaultAllow: boolean;
  exceptions: DeviceException[];
}

interface Rule {
  allow: boolean;
  type: 'a' | 'b' | 'c';
  major: number;
  minor: number;
  access: number;
}

// Allowed in every container after the user's rules: runc's AllowedDevices (specconv),
// mknod of any node, the standard character devices, ptys and /dev/net/tun. As in runc,
// a default with a path that linux.devices also lists is dropped (the spec's entry takes
// its place, and gets no rule of its own: only linux.resources.devices grants access).
const DEFAULT_RULES: (Rule & { path?: string })[] = [
  { allow: true, type: 'c', major: -1, minor: -1, access: ACCESS.m },
  { allow: true, type: 'b', major: -1, minor: -1, access: ACCESS.m },
  ...([['/dev/null', 1, 3], ['/dev/random', 1, 8], ['/dev/full', 1, 7], ['/dev/tty', 5, 0], ['/dev/zero', 1, 5], ['/dev/urandom', 1, 9],
    [undefined, 136, -1], [undefined, 5, 2], [undefined, 10, 200]] as const).map(([path, major, minor]) => (
    { allow: true, type: 'c' as const, major, minor, access: ALL_ACCESS, path })),
];

function parseAccess(s: string | undefined, field: string): number {
  if (s === undefined || s === '') return ALL_ACCESS;
  let a = 0;
  for (const ch of s) {
    const bit = ACCESS[ch as keyof typeof ACCESS];
    if (!bit) throw new ConfigError(`${field}.access: ${JSON.stringify(s)} is not a combination of r, w and m`);
    a |= bit;
  }
  return a;
}

function toRules(d: LinuxDeviceCgroup, field: string): Rule[] {
  const type = (d.type ?? 'a') as Rule['type'];
  if (!['a', 'b', 'c'].includes(type)) throw new ConfigError(`${field}.type: ${JSON.stringify(d.type)} is not a, b or c`);
  const num = (v: number | undefined, what: string) => {
    if (v === undefined || v === null || v === -1) return -1;
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ConfigError(`${field}.${what}: ${v} is not a device number`);
    return v;
  };
  const r: Rule = { allow: d.allow, type, major: num(d.major, 'major'), minor: num(d.minor, 'minor'), access: parseAccess(d.access, field) };
  // The kernel reads any rule starting with "a" as "everything": a partial "a" rule is
  // split into its block and character halves instead of widening to all devices.
  if (type === 'a' && !(r.major === -1 && r.minor === -1 && r.access === ALL_ACCESS)) {
    return [{ ...r, type: 'c' }, { ...r, type: 'b' }];
  }
  return [r];
}

function applyRule(st: DeviceState, r: Rule): void {
  if (r.type === 'a') {
    st.defaultAllow = r.allow;
    st.exceptions = [];
    return;
  }
  const same = (e: DeviceException) => e.type === r.type && e.major === r.major && e.minor === r.minor;
  if (r.allow === st.defaultAllow) {
    // Agrees with the default: takes the access bits out of an exception for exactly this device.
    for (const e of st.exceptions) if (same(e)) e.access &= ~r.access;
    st.exceptions = st.exceptions.filter((e) => e.access !== 0);
  } else {
    const e = st.exceptions.find(same);
    if (e) e.access |= r.access;
    else st.exceptions.push({ type: r.type, major: r.major, minor: r.minor, access: r.access });
  }
}

/**
 * The device state a container gets: its linux.resources.devices, then the defaults not
 * replaced by a linux.devices entry of the same path (runc's rule). Starts from deny-all.
 */
export function deviceState(rules: LinuxDeviceCgroup[] | undefined, devices: LinuxDevice[] | undefined, withDefaults = true): DeviceState {
  const st: DeviceState = { defaultAllow: false, exceptions: [] };
  (rules ?? []).forEach((d, i) => toRules(d, `linux.resources.devices[${i}]`).forEach((r) => applyRule(st, r)));
  if (withDefaults) {
    const listed = new Set((devices ?? []).map((d) => d.path));
    for (const { path, ...r } of DEFAULT_RULES) if (!path || !listed.has(path)) applyRule(st, r);
  }
  return st;
}

/** Whether the state lets `access` (ACCESS bits) to the device through: the kernel's check. */
export function deviceAllowed(st: DeviceState, type: 'b' | 'c', major: number, minor: number, access: number): boolean {
  const matches = (e: DeviceException) => e.type === type && (e.major === -1 || e.major === major) && (e.minor === -1 || e.minor === minor);
  if (st.defaultAllow) return !st.exceptions.some((e) => matches(e) && (e.access & access) !== 0);
  return st.exceptions.some((e) => matches(e) && (access & ~e.access) === 0);
}

export function accessString(a: number): string {
  return `${a & ACCESS.r ? 'r' : ''}${a & ACCESS.w ? 'w' : ''}${a & ACCESS.m ? 'm' : ''}`;
}

export function exceptionLine(e: DeviceException): string {
  const n = (v: number) => (v === -1 ? '*' : String(v));
  return `${e.type} ${n(e.major)}:${n(e.minor)} ${accessString(e.access)}`;
}

/**
 * v1: reset to the default ("a" into devices.deny or devices.allow, which also clears the
 * exceptions) and write each exception, one per write.
 */
export function writeDevicesV1(dir: string, st: DeviceState): void {
  const field = 'linux.resources.devices';
  writeCg(dir, st.defaultAllow ? 'devices.allow' : 'devices.deny', 'a', field);
  const file = st.defaultAllow ? 'devices.deny' : 'devices.allow';
  for (const e of st.exceptions) writeCg(dir, file, exceptionLine(e), `${field} (${exceptionLine(e)})`);
}
