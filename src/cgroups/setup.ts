// The seam between container creation and the cgroup manager: create calls
// setupCgroups() while the init waits at its first sync point, so limits hold from the
// init's first instruction; delete/kill/status read the saved paths.
//
// Steps: find the hierarchies the host mounts (layout.ts), resolve linux.cgroupsPath in
// each (cgroups-path.ts), create the directories (v1 cpuset: a new level inherits its
// parent's cpus and mems, or no task could join it; v2: the ancestors enable the
// controllers they offer in cgroup.subtree_control from the root down, as runc does), apply linux.resources,
// and only then move the init in, so it never runs unlimited.
import { accessSync, constants as fsConstants, mkdirSync, rmdirSync } from 'node:fs';
import { posix } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { CgroupError, errCode, pidsBelow, readCg, sleepMs, writeCg } from './cgfs';
import { resolveCgroupsPath } from './cgroups-path';
import { cgroupOf, detectLayout, dirIn, procCgroups, type Hierarchy, type Layout } from './layout';
import { CgroupManager, type Warn } from './manager';

export interface CgroupSetup {
  /** controller (or "unified") -> absolute directory, saved in state.json */
  paths: Record<string, string>;
  /** removes what setup created (a failed create) */
  rollback(): void;
}

function defaultWarn(msg: string): void {
  (require('../cli/log') as typeof import('../cli/log')).logWarn(msg);
}

/** mkdir -p that records each directory it made (deepest last). */
function makeDirs(root: string, dir: string, created: string[], eachLevel?: (d: string, parent: string) => void): void {
  const rel = posix.relative(root, dir);
  let cur = root;
  for (const part of rel.split('/').filter(Boolean)) {
    const parent = cur;
    cur = posix.join(cur, part);
    try {
      mkdirSync(cur, 0o755);
      created.push(cur);
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw new CgroupError(`linux.cgroupsPath: creating ${cur}: ${errCode(e)}`);
    }
    eachLevel?.(cur, parent);
  }
}

/** A v1 cpuset level starts with empty cpus and mems: copy the parent's. */
function inheritCpuset(dir: string, parent: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if ((readCg(dir, f) ?? '').trim() !== '') continue;
    const v = (readCg(parent, f) ?? '').trim();
    if (v) writeCg(dir, f, v, `linux.cgroupsPath: copying ${f} from ${parent}`);
  }
}

/** Why a v2 controller could not be enabled: controller -> the failed write, topmost first. */
export type WhyMissing = Map<string, string>;

/** Why the kernel refuses to enable a controller in a cgroup's subtree_control. */
function subtreeHint(code: string): string | undefined {
  if (code === 'EBUSY') return 'that cgroup has processes of its own: cgroup v2 enables controllers only for cgroups without (the no-internal-process rule)';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `that cgroup is not delegated to uid ${process.geteuid?.()}`;
  if (code === 'EOPNOTSUPP' || code === 'ENOTSUP') return 'that cgroup is threaded: only threaded controllers can be enabled there';
  return undefined;
}

/**
 * Enables in `parent` every controller it offers that its subtree does not have yet (runc
 * enables them all, from the root down). A controller the kernel refuses is recorded in
 * `why` with the reason; only the resources that need it fail, naming it.
 */
function enableControllers(parent: string, why: WhyMissing): void {
  const offered = (readCg(parent, 'cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean);
  const enabled = new Set((readCg(parent, 'cgroup.subtree_control') ?? '').trim().split(/\s+/).filter(Boolean));
  const missing = offered.filter((c) => !enabled.has(c));
  if (!missing.length) return;
  try {
    writeCg(parent, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '), 'cgroup.subtree_control');
  } catch {
    // One at a time, so that one refused controller does not hold back the others.
    for (const c of missing) {
      try {
        writeCg(parent, 'cgroup.subtree_control', `+${c}`, `enabling ${c}`, subtreeHint);
      } catch (e) {
        if (!why.has(c)) why.set(c, (e as Error).message);
      }
    }
  }
}

function removeDirs(created: string[]): void {
  for (const dir of [...created].reverse()) {
    for (let i = 0; i < 200; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        // EBUSY while the killed init is still leaving the cgroup
        if (errCode(e) !== 'EBUSY') break;
        sleepMs(5);
      }
    }
  }
}

/** Moves pid into tsrt's own cgroup of every hierarchy (best effort). */
function returnToOwnCgroups(layout: ReturnType<typeof detectLayout>, pid: number): void {
  const self = procCgroups('self');
  for (const h of [...layout.v1, ...(layout.v2 ? [layout.v2] : [])]) {
    try {
      writeCg(dirIn(h, cgroupOf(h, self)), 'cgroup.procs', pid, 'rollback');
    } catch {
      // gone, or not movable: rmdir reports what is left
    }
  }
}

/**
 * Where the container's cgroup goes in each hierarchy: {root it is made under, its dir}.
 * A relative path is under tsrt's own cgroup, except on a v2-only host: there it goes
 * under the parent of tsrt's cgroup (runc's fs2 rule), because tsrt's own cgroup holds
 * tsrt and the kernel puts no process-holding cgroup above one with controllers.
 */
function placer(spec: Spec, id: string, systemdCgroup: boolean, layout: Layout): (h: Hierarchy) => { root: string; dir: string } {
  const target = resolveCgroupsPath(spec.linux?.cgroupsPath, id, systemdCgroup);
  const self = target.absolute ? [] : procCgroups('self');
  return (h) => {
    let base = target.absolute ? '/' : cgroupOf(h, self);
    if (!target.absolute && h.version === 2 && layout.mode === 'unified') base = posix.dirname(base);
    return { root: dirIn(h, base), dir: dirIn(h, posix.join(base, target.path)) };
  };
}

/**
 * Rootless (tsrt not root): only the hierarchies delegated to the user, i.e. where the
 * container's cgroup would be made is writable; the others are left alone. With none,
 * the container simply has no cgroup of its own, unless linux.resources asks for limits.
 */
function usableLayout(spec: Spec, layout: Layout, place: (h: Hierarchy) => { root: string }): Layout {
  if (process.geteuid?.() === 0) return layout;
  const writable = (h: Hierarchy) => {
    try {
      accessSync(place(h).root, fsConstants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  const usable: Layout = { ...layout, v1: layout.v1.filter(writable), v2: layout.v2 && writable(layout.v2) ? layout.v2 : undefined };
  const limits = Object.keys(spec.linux?.resources ?? {}).filter((k) => k !== 'devices');
  if (limits.length && !usable.v1.length && !usable.v2) {
    throw new CgroupError(`linux.resources.${limits[0]}: a rootless container can only have limits in a cgroup delegated to uid ${process.geteuid?.()} (none is writable here)`);
  }
  return usable;
}

/**
 * The paths setupCgroups will record (controller or "unified" -> directory), computed
 * without touching anything: the init's plan binds them on /sys/fs/cgroup.
 */
export function plannedCgroupPaths(spec: Spec, id: string, opts: { systemdCgroup: boolean }): Record<string, string> {
  const found = detectLayout();
  const place = placer(spec, id, opts.systemdCgroup, found);
  const layout = usableLayout(spec, found, place);
  const paths: Record<string, string> = {};
  for (const h of layout.v1) for (const c of h.controllers) paths[c] = place(h).dir;
  if (layout.v2) paths.unified = place(layout.v2).dir;
  return paths;
}

/**
 * Creates the container's cgroups, applies linux.resources and moves `pid` into them.
 * `warn` defaults to tsrt's log (warnings about ignored settings, as runc prints them).
 */
export function setupCgroups(spec: Spec, id: string, pid: number, opts: { systemdCgroup: boolean; warn?: Warn; scopeStarted?: boolean }): CgroupSetup {
  const warn = opts.warn ?? defaultWarn;
  const created: string[] = [];
  const paths: Record<string, string> = {};
  const existing: string[] = [];
  const found = detectLayout();
  const place = placer(spec, id, opts.systemdCgroup, found);
  const layout = usableLayout(spec, found, place);
  const why: WhyMissing = new Map();
  const rollback = () => removeDirs(created);
  let joining = false;
  try {
    for (const h of layout.v1) {
      const { root, dir } = place(h);
      const before = created.length;
      makeDirs(root, dir, created, h.controllers.includes('cpuset') ? inheritCpuset : undefined);
      if (created.length === before) existing.push(dir);
      for (const c of h.controllers) paths[c] = dir;
    }
    if (layout.v2) {
      const h = layout.v2;
      const { dir } = place(h);
      const before = created.length;
      // From the hierarchy's root down, each level's parent enables its controllers
      // before the level is made (or entered): a controller reaches the container's
      // cgroup only if every ancestor passes it on.
      makeDirs(h.mountpoint, dir, created, (_d, parent) => enableControllers(parent, why));
      if (created.length === before) existing.push(dir);
      paths.unified = dir;
    }
    const m = new CgroupManager(paths, why);
    // An existing cgroup is refused when processes use it or a cgroup below it (another
    // container: its limits would be overwritten and its delete would find ours) or when
    // it is frozen (the container would be frozen at birth), in runc's (1.2+) words.
    // Parents are shared freely.
    // A scope systemd just made holds the init already (systemd/driver.ts).
    for (const dir of opts.scopeStarted ? [] : existing) {
      const n = pidsBelow(dir).size;
      if (n) throw new CgroupError(`linux.cgroupsPath: container's cgroup is not empty: ${n} process(es) found (in ${dir})`);
    }
    if (existing.length && m.isFrozen()) throw new CgroupError(`linux.cgroupsPath: container's cgroup unexpectedly frozen (${existing[0]})`);
    m.apply(spec.linux?.resources ?? {}, { warn, devices: spec.linux?.devices });
    joining = true;
    m.join(pid);
  } catch (e) {
    // A join that failed half-way: the init goes back where it came from (tsrt's own
    // cgroups) so that the directories made for it can be removed.
    if (joining) returnToOwnCgroups(layout, pid);
    rollback();
    throw e;
  }
  return { paths, rollback };
}
