// The systemd cgroup driver (--systemd-cgroup), as runc's: the container's cgroup is a
// transient scope unit that systemd makes (StartTransientUnit with the init's pid,
// Delegate=yes and the resource properties systemd knows), in the slice cgroupsPath
// names; tsrt then writes the rest of linux.resources to the scope's cgroup files
// (setup.ts, as for any cgroup). `delete` stops the unit; `update` sets the properties
// again (SetUnitProperties) before writing the files.
import type { LinuxDevice, LinuxResources, Spec } from '../../oci/spec-types';
import { systemdUnit } from '../cgroups-path';
import { detectLayout } from '../layout';
import { SystemdConnection, SystemdError } from './bus';
import { resourceProperties, scopeProperties, type UnitProperty } from './properties';

/** Properties older systemds refuse, and the version that added each (runc's checks). */
const SINCE: Record<string, number> = { CPUQuotaPeriodUSec: 242, AllowedCPUs: 244, AllowedMemoryNodes: 244 };

function forVersion(props: UnitProperty[], version: number): UnitProperty[] {
  return props.filter(([name]) => (SINCE[name] ?? 0) <= version);
}

/** The unified hierarchy alone: v2 property names; hybrid/legacy: the v1 ones. */
function unifiedOnly(): boolean {
  return detectLayout().mode === 'unified';
}

async function withSystemd<T>(fn: (c: SystemdConnection) => Promise<T>): Promise<T> {
  const c = await SystemdConnection.connect();
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** The unit of a container (throws on a malformed cgroupsPath). */
export function containerUnit(spec: Spec, id: string): { slice: string; unit: string } {
  return systemdUnit(spec.linux?.cgroupsPath, id);
}

/** Fails with what was tried when systemd cannot be reached; run before anything is made. */
export async function checkSystemd(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    throw new SystemdError(`--systemd-cgroup: rootless containers would need systemd's user instance (uid ${process.geteuid?.()}), which tsrt does not drive; use cgroupfs (no --systemd-cgroup)`);
  }
  await withSystemd(async () => {});
}

/** Starts the container's scope with `pid` in it and waits for systemd's job to end. */
export async function startContainerScope(spec: Spec, id: string, pid: number): Promise<string> {
  const { slice, unit } = containerUnit(spec, id);
  const v2 = unifiedOnly();
  await withSystemd(async (c) => {
    const props = [...scopeProperties(unit, slice, pid, v2), ...resourceProperties(spec.linux?.resources ?? {}, spec.linux?.devices, v2)];
    await c.startTransientUnit(unit, forVersion(props, await c.version()));
  });
  return unit;
}

/** Stops a container's unit (gone already is fine) and clears a failed state. */
export async function stopContainerUnit(unit: string): Promise<void> {
  await withSystemd((c) => c.stopUnit(unit));
}

/**
 * `update`: the resource properties systemd knows, set on the running unit. The device
 * rules cannot change in an update; on v1 they are not sent again, since systemd applies
 * them there by denying everything first (runc freezes the container around it).
 */
export async function setUnitResources(unit: string, r: LinuxResources, devices: LinuxDevice[] | undefined): Promise<void> {
  const v2 = unifiedOnly();
  const props = resourceProperties(r, devices, v2).filter(([name]) => v2 || (name !== 'DevicePolicy' && name !== 'DeviceAllow'));
  await withSystemd(async (c) => c.setUnitProperties(unit, forVersion(props, await c.version())));
}
