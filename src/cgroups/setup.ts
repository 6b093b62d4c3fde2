// The seam between container creation and the cgroup manager: create calls
// setupCgroups() while the init waits at its first sync point, so limits hold from the
// init's first instruction; delete/kill/status read the saved paths.
import type { Spec } from '../oci/spec-types';

export interface CgroupSetup {
  /** controller (or "unified") -> absolute directory, saved in state.json */
  paths: Record<string, string>;
  /** removes what setup created (a failed create) */
  rollback(): void;
}

/**
 * Creates the container's cgroups, applies linux.resources and moves `pid` into them.
 * Not yet implemented: the container stays in tsrt's own cgroups.
 */
export function setupCgroups(_spec: Spec, _id: string, _pid: number, _opts: { systemdCgroup: boolean }): CgroupSetup {
  return { paths: {}, rollback() {} };
}
