// containerd.task.v2.Task, served by one shim for one container or a whole pod
// (docs/shim.md). Every lifecycle step calls tsrt's own code in this process
// (src/container/): create and exec clone their plans from here, so the shim is the
// parent of each container process and learns its exit from waitpid (reaper.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContainer } from '../container/create';
import { startContainer } from '../container/start';
import { containerPids, killContainer } from '../container/kill';
import { deleteContainer } from '../container/delete';
import { pauseContainer, resumeContainer } from '../container/pause';
import { startExecProcess } from '../container/exec';
import { updateContainer } from '../container/update';
import { StateStore } from '../container/state-store';
import { statusOf } from '../container/status';
import type { LinuxResources } from '../oci/spec-types';
import { Code, RpcError, type Method } from './ttrpc';
import { timestamp } from './proto';
import type { Publisher } from './events';
import { ProcessIo, type StdioPaths } from './stdio';
import { mountRootfs, unmountRootfs, type TaskMount } from './rootfs';
import type { Reaper } from './reaper';
import { metricsOf } from './metrics';
import type { ShimLog } from './log';
import type { Lifetime } from './lifetime';

/** containerd.v1.types.Status */
const STATUS = { created: 1, running: 2, stopped: 3, paused: 4 } as const;

interface Proc {
  execId: string;
  pid: number;
  io: ProcessIo;
  status: 'created' | 'running' | 'stopped';
  exitStatus: number;
  exitedAt: number;
  exited: Promise<void>;
  markExited(status: number): void;
  /** exec: the OCI process to start (JSON) */
  spec?: string;
}

interface Task {
  id: string;
  bundle: string;
  mounted: boolean;
  init: Proc;
  execs: Map<string, Proc>;
  /**
   * The init's exit leaves processes to kill: the container has no pid namespace of its own
   * (the host's, or one it joined), as the runc shim's shouldKillAllOnExit. With its own, the
   * kernel killed them all with the init.
   */
  killAllOnExit: boolean;
  /** TaskStart went out: TaskExit waits for it, so containerd sees them in order */
  startPublished: Promise<void>;
  oom?: import('../cgroups/oom').OomWatch;
}

export interface ServiceOptions {
  /** tsrt's state root for this namespace */
  root: string;
  publisher: Publisher;
  reaper: Reaper;
  log(msg: string): void;
  /** each task's log fifo (attached at Create, detached at its Shutdown, containerd's last call for it) */
  logs: Pick<ShimLog, 'attach' | 'detach'>;
  /** the daemon's exit (lifetime.ts): Create takes its task's claim, Shutdown may end it */
  lifetime: Pick<Lifetime, 'claimed' | 'shutdown'>;
}

export interface TaskService {
  methods: Record<string, Method>;
  /** no task served and none being created: the daemon may go */
  idle(): boolean;
}

function newProc(execId: string, io: ProcessIo): Proc {
  let resolve!: () => void;
  const exited = new Promise<void>((r) => { resolve = r; });
  const p: Proc = {
    execId, pid: 0, io, status: 'created', exitStatus: 0, exitedAt: 0, exited,
    markExited(status) {
      p.status = 'stopped';
      p.exitStatus = status;
      p.exitedAt = Date.now();
      p.io.close();
      resolve();
    },
  };
  return p;
}

export function taskService(o: ServiceOptions): TaskService {
  const store = new StateStore(o.root);
  const tasks = new Map<string, Task>();
  /** Creates in progress (not yet in tasks) */
  let creating = 0;
  const warn = (m: string) => o.log(m);
  /** create and exec clone from this process one at a time (their plans are built around one fd table) */
  let launching: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const r = launching.then(f, f);
    launching = r.catch(() => {});
    return r;
  };

  /**
   * One locking operation at a time per container. tsrt's container lock is a flock,
   * and start, delete and update hold it across awaits: a kill or pause of the same
   * container from this one process (an RPC, or the init's exit) would wait for it
   * synchronously, for ever, with the holder never resumed.
   */
  const queues = new Map<string, Promise<unknown>>();
  const exclusive = <T>(id: string, f: () => T | Promise<T>): Promise<T> => {
    const r = (queues.get(id) ?? Promise.resolve()).then(f, f);
    const tail = r.catch(() => {});
    queues.set(id, tail);
    void tail.then(() => {
      if (queues.get(id) === tail) queues.delete(id);
    });
    return r;
  };

  const task = (id: string): Task => {
    const t = tasks.get(id);
    if (!t) throw new RpcError(Code.NotFound, `task ${id} not found`);
    return t;
  };
  const proc = (id: string, execId: string): Proc => {
    const t = task(id);
    if (!execId) return t.init;
    const p = t.execs.get(execId);
    if (!p) throw new RpcError(Code.NotFound, `exec ${execId} of task ${id} not found`);
    return p;
  };

  const watchExit = (t: Task, p: Proc) => {
    o.reaper.watch(p.pid, (status) => {
      p.markExited(status);
      const exit = { containerId: t.id, id: p.execId || t.id, pid: p.pid, exitStatus: status, exitedAt: timestamp(p.exitedAt) };
      if (p === t.init) {
        // The OOM watch polls every 100 ms: read the count now, while the cgroup is still there, so
        // TaskOOM precedes TaskExit and a Delete arriving before the next poll cannot lose it.
        t.oom?.check();
        t.oom?.close();
        t.oom = undefined;
        // what the init leaves in a pid namespace it shares (before TaskExit, as the runc shim)
        if (t.killAllOnExit) void exclusive(t.id, () => killContainer(store, t.id, 9, true)).catch(() => { /* stopped, removed */ });
      }
      void t.startPublished.then(() => o.publisher.publish('TaskExit', exit));
    });
  };

  async function create(req: { id: string; bundle: string; rootfs: TaskMount[]; terminal: boolean } & StdioPaths): Promise<{ pid: number }> {
    if (tasks.has(req.id)) throw new RpcError(Code.AlreadyExists, `task ${req.id} already exists`);
    o.logs.attach(req.id, req.bundle);
    mountRootfs(req.bundle, req.rootfs);
    const io = (() => {
      try {
        return new ProcessIo(req);
      } catch (e) {
        unmountRootfs(req.bundle);
        throw e;
      }
    })();
    let created;
    try {
      created = await serial(() => exclusive(req.id, () => createContainer({ root: o.root, id: req.id, bundle: req.bundle, stdio: io.given, consoleFd: io.console?.[1] })));
    } catch (e) {
      io.abandon();
      if (req.rootfs.length) unmountRootfs(req.bundle);
      throw e;
    }
    io.started();
    if (req.terminal) io.attachTerminal();
    const init = newProc('', io);
    init.pid = created.state.pid;
    let started!: () => void;
    const ownPidNs = (created.state.config.linux?.namespaces ?? []).some((n) => n.type === 'pid' && !n.path);
    const t: Task = {
      id: req.id, bundle: req.bundle, mounted: req.rootfs.length > 0, init, execs: new Map(), killAllOnExit: !ownPidNs,
      startPublished: new Promise((r) => { started = r; }),
    };
    (t as Task & { started: () => void }).started = started;
    tasks.set(req.id, t);
    watchExit(t, init);
    void o.publisher.publish('TaskCreate', {
      containerId: req.id, bundle: req.bundle, rootfs: req.rootfs,
      io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal }, pid: init.pid,
    });
    return { pid: init.pid };
  }

  const methods: Record<string, (req: any) => Promise<object> | object> = {
    async Create(req: { id: string; bundle: string; rootfs: TaskMount[]; terminal: boolean } & StdioPaths) {
      creating++;
      try {
        return await create(req);
      } finally {
        creating--;
        o.lifetime.claimed(req.id);
      }
    },

    async Start(req: { id: string; execId: string }) {
      const t = task(req.id);
      const p = proc(req.id, req.execId);
      if (p.status !== 'created') throw new RpcError(Code.FailedPrecondition, `${req.execId ? `exec ${req.execId}` : `task ${req.id}`} is ${p.status}`);
      if (!req.execId) {
        await exclusive(req.id, () => startContainer(store, req.id));
        // the init may have run and exited (reaped) before startContainer's last await returned
        if (p.status === 'created') p.status = 'running';
        await o.publisher.publish('TaskStart', { containerId: req.id, pid: p.pid });
        (t as Task & { started: () => void }).started();
        // the launcher writes the V8 code cache once the hot path was compiled (scripts/shim-launcher.cjs)
        (globalThis as { tsrtShimWarm?: () => void }).tsrtShimWarm?.();
        if (t.init.status === 'running') watchOom(t);
        return { pid: p.pid };
      }
      try {
        p.pid = await serial(() => exclusive(req.id, () => startExecProcess(store, req.id, {
          processFile: p.spec, args: [], env: [], additionalGids: [], caps: [], noNewPrivs: false, tty: false,
          detach: true, preserveFds: 0, ignorePaused: false, stdio: p.io.given, consoleFd: p.io.console?.[1],
        })));
      } catch (e) {
        p.io.abandon();
        t.execs.delete(req.execId);
        throw e;
      }
      p.io.started();
      if (p.io.console) p.io.attachTerminal();
      p.status = 'running';
      watchExit(t, p);
      void o.publisher.publish('TaskExecStarted', { containerId: req.id, execId: req.execId, pid: p.pid });
      return { pid: p.pid };
    },

    State(req: { id: string; execId: string }) {
      const t = task(req.id);
      const p = proc(req.id, req.execId);
      let status: number = STATUS[p.status];
      if (p.status === 'running' && !req.execId) {
        try {
          if (statusOf(store, store.load(req.id)) === 'paused') status = STATUS.paused;
        } catch { /* deleted meanwhile */ }
      }
      const { stdin, stdout, stderr, terminal } = p.io.paths;
      return {
        id: req.execId || req.id, bundle: t.bundle, pid: p.pid, status, stdin, stdout, stderr, terminal,
        exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt), execId: req.execId,
      };
    },

    async Wait(req: { id: string; execId: string }) {
      const p = proc(req.id, req.execId);
      await p.exited;
      return { exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt) };
    },

    async Kill(req: { id: string; execId: string; signal: number; all: boolean }) {
      const p = proc(req.id, req.execId);
      if (!req.execId && req.all) {
        await exclusive(req.id, () => killContainer(store, req.id, req.signal, true));
        return {};
      }
      if (p.status === 'stopped' || p.pid === 0) throw new RpcError(Code.NotFound, `process already finished`);
      process.kill(p.pid, req.signal);
      return {};
    },

    async Delete(req: { id: string; execId: string }) {
      const t = task(req.id);
      const p = proc(req.id, req.execId);
      if (req.execId) {
        if (p.status === 'running') throw new RpcError(Code.FailedPrecondition, `exec ${req.execId} is still running`);
        if (p.status === 'created') p.io.abandon();
        t.execs.delete(req.execId);
        return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt) };
      }
      if (p.status === 'running') {
        let paused = false;
        try { paused = statusOf(store, store.load(req.id)) === 'paused'; } catch { /* gone */ }
        if (!paused) throw new RpcError(Code.FailedPrecondition, `task ${req.id} is still running`);
      }
      await exclusive(req.id, () => deleteContainer(store, req.id, true, warn));
      if (p.status !== 'stopped') await p.exited;
      if (t.mounted) unmountRootfs(t.bundle);
      tasks.delete(req.id);
      const res = { pid: p.pid, exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt) };
      void o.publisher.publish('TaskDelete', { containerId: req.id, pid: p.pid, exitStatus: p.exitStatus, exitedAt: res.exitedAt, id: req.id });
      return res;
    },

    Exec(req: { id: string; execId: string; spec?: { typeUrl: string; value: Buffer } } & StdioPaths) {
      const t = task(req.id);
      if (t.execs.has(req.execId)) throw new RpcError(Code.AlreadyExists, `exec ${req.execId} already exists`);
      if (t.init.status === 'stopped') throw new RpcError(Code.FailedPrecondition, `task ${req.id} has stopped`);
      const p = newProc(req.execId, new ProcessIo(req));
      // the process JSON, as `tsrt exec --process FILE` reads it (validated there)
      const dir = join(store.dir(req.id), 'shim-exec');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      p.spec = join(dir, `${req.execId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
      writeFileSync(p.spec, req.spec?.value ?? '{}', { mode: 0o600 });
      t.execs.set(req.execId, p);
      void o.publisher.publish('TaskExecAdded', { containerId: req.id, execId: req.execId });
      return {};
    },

    Pids(req: { id: string }) {
      const t = task(req.id);
      const s = store.load(req.id);
      return { processes: containerPids(s.cgroupPaths, t.init.pid).map((pid) => ({ pid })) };
    },

    async Pause(req: { id: string }) {
      task(req.id);
      await exclusive(req.id, () => pauseContainer(store, req.id));
      await o.publisher.publish('TaskPaused', { containerId: req.id });
      return {};
    },

    async Resume(req: { id: string }) {
      task(req.id);
      await exclusive(req.id, () => resumeContainer(store, req.id));
      await o.publisher.publish('TaskResumed', { containerId: req.id });
      return {};
    },

    ResizePty(req: { id: string; execId: string; width: number; height: number }) {
      proc(req.id, req.execId).io.resize(req.width, req.height);
      return {};
    },

    CloseIO(req: { id: string; execId: string; stdin: boolean }) {
      if (req.stdin) proc(req.id, req.execId).io.closeStdin();
      return {};
    },

    async Update(req: { id: string; resources?: { value: Buffer } }) {
      task(req.id);
      const upd = JSON.parse(req.resources?.value?.toString() || '{}') as LinuxResources;
      await exclusive(req.id, () => updateContainer(store, req.id, upd, warn));
      return {};
    },

    Stats(req: { id: string }) {
      task(req.id);
      return { stats: metricsOf(store.load(req.id).cgroupPaths) };
    },

    Connect(req: { id: string }) {
      const t = tasks.get(req.id);
      return { shimPid: process.pid, taskPid: t?.init.pid ?? 0, version: 'tsrt' };
    },

    // containerd's last call for a task, after its Delete (or a failed Create): the daemon
    // serves the others, and goes once none is left (after its linger: lifetime.ts)
    Shutdown(req: { id: string; now: boolean }) {
      o.logs.detach(req.id);
      o.lifetime.shutdown(req.now);
      return {};
    },

    Checkpoint() {
      throw new RpcError(Code.Unimplemented, 'checkpoint is not supported by the tsrt shim');
    },
  };

  function watchOom(t: Task): void {
    const s = store.load(t.id);
    // Only a container with a memory limit of its own polls for OOM kills (the host's OOM killer is the host's business).
    if (!s.config.linux?.resources?.memory?.limit) return;
    const { watchOom: watch } = require('../cgroups/oom') as typeof import('../cgroups/oom');
    const { managerFor } = require('../cgroups/manager') as typeof import('../cgroups/manager');
    try {
      t.oom = watch(managerFor(s.cgroupPaths), () => void o.publisher.publish('TaskOOM', { containerId: t.id }));
    } catch (e) {
      o.log(`oom watch of ${t.id}: ${(e as Error).message}`);
    }
  }

  const T = 'containerd.task.v2.';
  const types: Record<string, [string, string]> = {
    State: ['StateRequest', 'StateResponse'], Create: ['CreateTaskRequest', 'CreateTaskResponse'], Start: ['StartRequest', 'StartResponse'],
    Delete: ['DeleteRequest', 'DeleteResponse'], Pids: ['PidsRequest', 'PidsResponse'], Pause: ['PauseRequest', 'Empty'],
    Resume: ['ResumeRequest', 'Empty'], Checkpoint: ['Empty', 'Empty'], Kill: ['KillRequest', 'Empty'], Exec: ['ExecProcessRequest', 'Empty'],
    ResizePty: ['ResizePtyRequest', 'Empty'], CloseIO: ['CloseIORequest', 'Empty'], Update: ['UpdateTaskRequest', 'Empty'],
    Wait: ['WaitRequest', 'WaitResponse'], Stats: ['StatsRequest', 'StatsResponse'], Connect: ['ConnectRequest', 'ConnectResponse'],
    Shutdown: ['ShutdownRequest', 'Empty'],
  };
  const full = (n: string) => (n === 'Empty' ? 'google.protobuf.Empty' : T + n);
  return {
    methods: Object.fromEntries(Object.entries(types).map(([name, [rq, rs]]) => [name, { request: full(rq), response: full(rs), call: methods[name]! }])),
    idle: () => tasks.size === 0 && creating === 0,
  };
}
