// `checkpoint`: dump a running container's processes with CRIU (DUMP or PRE_DUMP over
// `criu swrk`), as runc's Checkpoint does: the container's rootfs is CRIU's root, its
// freezer cgroup stops the tasks, external mounts and namespaces are declared, and
// descriptors.json (what the init's fds 0-2 were) is written beside the images for
// restore. Without --leave-running or --pre-dump the container is gone afterwards (CRIU
// killed its processes; tsrt removes its cgroups and state, as runc destroys it).
import { closeSync, mkdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StateStore, SavedState } from '../container/state-store';
import { statusOf } from '../container/status';
import { ContainerError, TsrtError, UsageError } from '../util/errors';
import { commonCriuOpts, imagePathOf, refuseUnsupported, type CriuFlags } from './options';
import { dumpExternalMounts } from './external-mounts';
import { criuSwrk } from './swrk';
import { explainCriuFailure, openDir } from './failure';

export interface CheckpointOptions extends CriuFlags {
  leaveRunning: boolean;
  preDump: boolean;
  parentPath?: string;
  pageServer?: string;
  statusFd?: string;
}

export const DESCRIPTORS_FILE = 'descriptors.json';

/** --page-server ADDRESS:PORT, as runc splits it. */
function pageServerOf(v: string | undefined): { address: string; port: number } | undefined {
  if (!v) return undefined;
  const parts = v.split(':');
  const port = Number(parts[1]);
  if (parts.length !== 2 || !parts[0]) throw new UsageError(`--page-server ${JSON.stringify(v)}: use --page-server ADDRESS:PORT`);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`--page-server ${JSON.stringify(v)}: invalid port number`);
  return { address: parts[0], port };
}

/** Namespaces the container joined by path (net, pid): CRIU leaves them alone, restore hands them back. */
function externalNamespaces(s: SavedState): string[] {
  const out: string[] = [];
  for (const n of s.config.linux?.namespaces ?? []) {
    if (!n.path || (n.type !== 'network' && n.type !== 'pid')) continue;
    const name = n.type === 'network' ? 'net' : 'pid';
    const ino = statSync(n.path).ino;
    out.push(`${name}[${ino}]:extRoot${name === 'net' ? 'Net' : 'Pid'}NS`);
  }
  return out;
}

/** What the init's stdio was (runc records it at start; its fds 0-2 now, here). */
function stdioDescriptors(pid: number): string[] {
  return [0, 1, 2].map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '/dev/null';
    }
  });
}

/** The cgroup CRIU freezes the tasks with: v1's freezer, or the container's v2 cgroup. */
function freezeCgroupOf(s: SavedState): string | undefined {
  return s.cgroupPaths?.freezer ?? s.cgroupPaths?.unified;
}

export async function checkpointContainer(store: StateStore, id: string, o: CheckpointOptions, warn: (msg: string) => void): Promise<void> {
  refuseUnsupported(o);
  if (o.statusFd !== undefined) throw new UsageError('--status-fd goes with --lazy-pages, which tsrt does not support');
  const ps = pageServerOf(o.pageServer);
  const s = store.load(id);
  await store.withLock(id, async () => {
    const status = statusOf(store, s);
    if (status !== 'running' && status !== 'paused') throw new ContainerError('ESTATE', `container cannot be checkpointed in ${status} state`);
    const images = imagePathOf(o);
    mkdirSync(images, { recursive: true, mode: 0o700 });
    const fds: number[] = [];
    try {
      const imagesFd = openDir(images, '--image-path', fds);
      const opts: Record<string, unknown> = {
        ...commonCriuOpts(o, s.config), images_dir_fd: imagesFd, log_file: 'dump.log', root: s.rootfs, pid: s.pid,
        leave_running: o.leaveRunning, external: externalNamespaces(s),
      };
      let logDir = images;
      if (o.workPath) {
        mkdirSync(o.workPath, { recursive: true, mode: 0o700 });
        opts.work_dir_fd = openDir(o.workPath, '--work-path', fds);
        logDir = o.workPath;
      }
      const freeze = freezeCgroupOf(s);
      if (freeze) opts.freeze_cgroup = freeze;
      if (ps) opts.ps = ps;
      if (o.parentPath) {
        opts.parent_img = o.parentPath;
        opts.track_mem = true;
      }
      if (o.preDump) await requireMemTrack();
      else {
        opts.ext_mnt = dumpExternalMounts(s.config, s.rootfs, s.cgroupPaths, `/proc/${s.pid}/root`);
        writeFileSync(join(images, DESCRIPTORS_FILE), JSON.stringify(stdioDescriptors(s.pid)), { mode: 0o600 });
      }
      try {
        await criuSwrk({ type: o.preDump ? 'PRE_DUMP' : 'DUMP', opts }, {
          onNotify(script, _pid, fd) {
            if (fd !== undefined) closeSync(fd);
            // runc marks a checkpointed container in its state directory
            if (script === 'post-dump') writeFileSync(join(store.dir(id), 'checkpoint'), '');
          },
        });
      } catch (e) {
        throw explainCriuFailure(e, 'checkpoint', join(logDir, 'dump.log'));
      }
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    if (!o.leaveRunning && !o.preDump) {
      const { removeContainer } = await import('../container/delete');
      await removeContainer(store, s, warn);
    }
  });
}

/** --pre-dump needs CRIU's memory tracking (soft-dirty bits), as runc checks first. */
async function requireMemTrack(): Promise<void> {
  let ok = false;
  try {
    const r = await criuSwrk({ type: 'FEATURE_CHECK', features: { mem_track: true } });
    ok = r.features?.mem_track === true;
  } catch (e) {
    throw explainCriuFailure(e, 'checkpoint --pre-dump');
  }
  if (!ok) throw new TsrtError('ECRIU', 'checkpoint --pre-dump: criu is missing features: MemTrack (the kernel has no soft-dirty page tracking)');
}

