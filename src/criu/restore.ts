// `restore`: a new container from a checkpoint, as runc's Restore does. The bundle's
// config gives the container its id, state, cgroups and hooks as `create` would; CRIU
// (RESTORE over `criu swrk`) recreates the processes, their mount namespace on a bind of
// the rootfs, and puts them into the cgroups tsrt made for the new container (CRIU itself
// is moved there first, and told to re-root the dumped cgroups there). The restored init
// is tsrt's child (rst_sibling); afterwards it is an ordinary tsrt container: state,
// exec, kill, pause, events, delete. Every step undoes itself when a later one fails.
import { existsSync, mkdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { StateStore, hookState, writePidFile, type SavedState } from '../container/state-store';
import { procStat } from '../container/status';
import { claimId, openBundle } from '../container/create-stages';
import { runStages, type Stage } from '../container/pipeline';
import { plannedCgroupPaths, setupCgroups, type CgroupSetup } from '../cgroups/setup';
import { libc } from '../libc/libc';
import { MNT_DETACH, MS } from '../libc/constants';
import { ConfigError, TsrtError } from '../util/errors';
import { logDebug } from '../cli/log';
import { commonCriuOpts, imagePathOf, refuseUnsupported, type CriuFlags } from './options';
import { restoreExternalMounts } from './external-mounts';
import { criuSwrk } from './swrk';
import { explainCriuFailure, openDir } from './failure';
import { makeRestoreMountPoints } from './restore-mountpoints';
import { DESCRIPTORS_FILE } from './checkpoint';

export interface RestoreOptions extends CriuFlags {
  root: string;
  id: string;
  bundle: string;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  noSubreaper: boolean;
  noPivot: boolean;
  systemdCgroup: boolean;
  lsmProfile?: string;
  lsmMountContext?: string;
}

interface RestoreCtx {
  o: RestoreOptions;
  warn: (msg: string) => void;
  spec: Spec;
  bundle: string;
  rootfs: string;
  images: string;
  descriptors: string[];
  store: StateStore;
  state: SavedState;
  criuRoot: string;
  cgroups?: CgroupSetup;
  /** the pty master CRIU handed over (orphan-pts-master), for a foreground restore */
  master?: number;
  fds: number[];
}

const loadBundle: Stage<RestoreCtx> = {
  name: 'load-bundle',
  run(c) {
    const { o } = c;
    ({ bundle: c.bundle, spec: c.spec, rootfs: c.rootfs } = openBundle(o.bundle, o.consoleSocket, !o.detach));
    c.images = imagePathOf(o);
    const file = join(c.images, DESCRIPTORS_FILE);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`--image-path ${c.images}: cannot read ${DESCRIPTORS_FILE} (${(e as NodeJS.ErrnoException).code ?? e}): not a checkpoint made by tsrt or runc`);
    }
    try {
      const d = JSON.parse(text) as unknown;
      if (!Array.isArray(d) || !d.every((x) => typeof x === 'string')) throw new Error('not an array of strings');
      c.descriptors = d as string[];
    } catch (e) {
      throw new ConfigError(`${file}: ${(e as Error).message}`);
    }
    c.store = new StateStore(o.root);
  },
};

/** On disk, with the planned cgroups, before CRIU or a cgroup exists: `delete --force` finds what a killed restore left. */
const recordState: Stage<RestoreCtx> = {
  name: 'record-state',
  run(c) {
    const { o, spec } = c;
    c.state = {
      ociVersion: spec.ociVersion, id: o.id, pid: 0, pidStartTime: '', bundle: c.bundle, rootfs: c.rootfs,
      created: new Date().toISOString(), owner: '', annotations: spec.annotations, creating: true,
      cgroupPaths: plannedCgroupPaths(spec, o.id, { systemdCgroup: o.systemdCgroup }), config: spec,
    };
    c.store.save(c.state);
  },
};

/** CRIU wants its root to be a mount point whose parent is not overmounted: a bind of the rootfs in the state dir (runc's criu-root). */
const criuRoot: Stage<RestoreCtx> = {
  name: 'criu-root',
  run(c) {
    c.criuRoot = join(c.store.dir(c.o.id), 'criu-root');
    mkdirSync(c.criuRoot, 0o755);
    libc.mount(c.rootfs, c.criuRoot, null, MS.BIND | MS.REC, `bind the rootfs ${c.rootfs} on ${c.criuRoot}`);
  },
  undo: (c) => releaseCriuRoot(c),
};

function releaseCriuRoot(c: RestoreCtx): void {
  try { libc.umount2(c.criuRoot, MNT_DETACH); } catch { /* not mounted */ }
  try { rmdirSync(c.criuRoot); } catch { /* gone */ }
}

/** The mount points the config needs in the rootfs (restore-mountpoints.ts). */
const mountPoints: Stage<RestoreCtx> = {
  name: 'mount-points',
  run: (c) => makeRestoreMountPoints(c.spec, c.bundle, c.rootfs),
};

/** Joined namespaces: net and pid handed to CRIU as fds (keys of the dump), the others by path. */
function namespaceOpts(spec: Spec, fds: number[], extra: number[]): Record<string, unknown> {
  const inherit: { key: string; fd: number }[] = [];
  const join_ns: { ns: string; ns_file: string }[] = [];
  const names: Record<string, string> = { network: 'net', pid: 'pid', ipc: 'ipc', uts: 'uts', mount: 'mnt', user: 'user', time: 'time', cgroup: 'cgroup' };
  for (const n of spec.linux?.namespaces ?? []) {
    if (!n.path) continue;
    if (n.type === 'network' || n.type === 'pid') {
      const fd = openDir(n.path, `linux.namespaces (${n.type}) path`, fds);
      inherit.push({ key: n.type === 'network' ? 'extRootNetNS' : 'extRootPidNS', fd: 4 + extra.length });
      extra.push(fd);
    } else if (n.type === 'cgroup') {
      throw new ConfigError(`linux.namespaces: a cgroup namespace to join by path (${n.path}) cannot be restored: CRIU has no way to join one`);
    } else join_ns.push({ ns: names[n.type] ?? n.type, ns_file: n.path });
  }
  return { inherit_fd: inherit, join_ns };
}

/** cg_root: each of CRIU's own cgroups (the container's, it was moved there), where the dumped tree is re-rooted. */
function cgroupRoots(criuPid: number): { ctrl?: string; path: string }[] {
  const out: { ctrl?: string; path: string }[] = [];
  for (const line of readFileSync(`/proc/${criuPid}/cgroup`, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push(m[1] ? { ctrl: m[1], path: m[2]! } : { path: m[2]! });
  }
  return out;
}

const runCriu: Stage<RestoreCtx> = {
  name: 'criu-restore',
  async run(c) {
    const { o, spec } = c;
    const extra: number[] = [];
    const imagesFd = openDir(c.images, '--image-path', c.fds);
    const opts: Record<string, unknown> = {
      ...commonCriuOpts(o, spec), images_dir_fd: imagesFd, evasive_devices: true, log_file: 'restore.log',
      rst_sibling: true, root: c.criuRoot, ...namespaceOpts(spec, c.fds, extra),
    };
    let logDir = c.images;
    if (o.workPath) {
      mkdirSync(o.workPath, { recursive: true, mode: 0o700 });
      opts.work_dir_fd = openDir(o.workPath, '--work-path', c.fds);
      logDir = o.workPath;
    }
    if (o.lsmProfile) opts.lsm_profile = o.lsmProfile;
    if (o.lsmMountContext) opts.lsm_mount_context = o.lsmMountContext;
    // The init's pipes at checkpoint time: CRIU gives the restored process tsrt's stdio instead.
    (opts.inherit_fd as { key: string; fd: number }[]).push(...c.descriptors.flatMap((d, i) => (d.includes('pipe:') ? [{ key: d, fd: i }] : [])));
    const request = { type: 'RESTORE' as const, opts };
    try {
      await criuSwrk(request, {
        stdio: [0, 1, 2],
        extraFds: extra,
        beforeRequest(criuPid) {
          c.cgroups = setupCgroups(spec, o.id, criuPid, { systemdCgroup: o.systemdCgroup, warn: c.warn });
          c.state.cgroupPaths = c.cgroups.paths;
          c.store.save(c.state);
          opts.ext_mnt = restoreExternalMounts(spec, c.bundle, c.rootfs, c.cgroups.paths);
          opts.cg_root = cgroupRoots(criuPid);
        },
        onNotify: (script, pid, fd) => notified(c, script, pid, fd),
      });
      if (!c.state.pid) throw new TsrtError('ECRIU', 'restore: criu finished without reporting the restored process (no post-restore notification)');
    } catch (e) {
      // this stage's own undo: a failing stage is not undone by the pipeline
      removeRestored(c);
      throw explainCriuFailure(e, 'restore', join(logDir, 'restore.log'));
    }
  },
  undo: (c) => removeRestored(c),
};

/** Kills what CRIU restored (if anything) and removes the cgroups made for it. */
function removeRestored(c: RestoreCtx): void {
  const { killRemaining, removeCgroups } = require('../cgroups/cleanup') as typeof import('../cgroups/cleanup');
  if (c.state.pid > 0) {
    try { process.kill(c.state.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  killRemaining(c.state.cgroupPaths);
  removeCgroups(c.state.cgroupPaths, c.warn);
}

async function notified(c: RestoreCtx, script: string, pid: number, fd: number | undefined): Promise<void> {
  // only orphan-pts-master comes with an fd; any other is closed
  if (fd !== undefined && script !== 'orphan-pts-master') libc.closeFd(fd);
  switch (script) {
    case 'setup-namespaces': {
      // The processes exist in their namespaces: prestart and createRuntime hooks run as at create.
      const { runHooks } = await import('../hooks/run-hooks');
      const st = hookState({ ...c.state, pid }, 'creating');
      await runHooks(c.spec.hooks?.prestart, st, 'prestart', c.bundle);
      await runHooks(c.spec.hooks?.createRuntime, st, 'createRuntime', c.bundle);
      break;
    }
    case 'post-restore': {
      c.state.pid = pid;
      c.state.pidStartTime = procStat(pid)?.startTime ?? '';
      delete c.state.creating;
      c.store.save(c.state);
      if (c.o.pidFile) writePidFile(resolve(c.o.pidFile), pid);
      const mark = join(c.store.dir(c.o.id), 'checkpoint');
      if (existsSync(mark)) unlinkSync(mark);
      logDebug(`restore ${c.o.id}: restored init is pid ${pid}`);
      break;
    }
    case 'orphan-pts-master': {
      if (fd === undefined) throw new TsrtError('ECRIU', 'restore: criu sent orphan-pts-master without the terminal');
      if (c.o.consoleSocket) {
        const sock = libc.unixConnect(c.o.consoleSocket);
        try {
          libc.sendFd(sock, '/dev/ptmx', fd, `send the terminal to --console-socket ${c.o.consoleSocket}`);
        } finally {
          libc.closeFd(sock);
          libc.closeFd(fd);
        }
      } else c.master = fd;
      break;
    }
  }
}

const STAGES: Stage<RestoreCtx>[] = [loadBundle, claimId, recordState, criuRoot, mountPoints, runCriu];

/** Restores; returns the container's exit code in the foreground, 0 with --detach. */
export async function restoreContainer(o: RestoreOptions, warn: (msg: string) => void): Promise<number> {
  refuseUnsupported(o);
  const { PR } = await import('../libc/constants');
  if (!o.detach && !o.noSubreaper) libc.prctl(PR.SET_CHILD_SUBREAPER, 1);
  const c = { o, warn, fds: [] } as unknown as RestoreCtx;
  try {
    await runStages(`restore ${o.id}`, STAGES, c);
  } finally {
    for (const fd of c.fds) libc.closeFd(fd);
    if (c.criuRoot) releaseCriuRoot(c);
  }
  if (o.detach) return 0;
  return waitForeground(c);
}

async function waitForeground(c: RestoreCtx): Promise<number> {
  const { forwardSignals, exitCodeOf } = await import('../container/foreground');
  const { proxyTerminal } = await import('../console/proxy');
  const terminal = c.master !== undefined ? proxyTerminal(c.master) : undefined;
  const stop = forwardSignals(c.state.pid, { terminal: terminal !== undefined });
  const status = await libc.waitpidAsync(c.state.pid);
  await terminal?.finish();
  stop();
  const { removeContainer } = await import('../container/delete');
  await removeContainer(c.store, c.state, c.warn, c.state.bundle);
  return exitCodeOf(status);
}
