// The protobuf messages the shim speaks, as a protobufjs JSON descriptor: ttrpc's frame
// payloads (ttrpc/request.proto), containerd's Task service messages (runtime/v2/task/
// shim_messages.proto), its task events (api/events/task.proto) and the cgroup v1/v2
// metrics `ctr task metrics` decodes (containerd/cgroups stats/v1, cgroup2/stats).
// Field numbers are containerd's; only the fields the shim reads or writes are listed
// (protobuf skips unknown fields on decode).
import { Root, type Type } from 'protobufjs/light';

type Fields = Record<string, { type: string; id: number; rule?: 'repeated' }>;
const msg = (fields: Fields): { fields: Fields } => ({ fields });
const f = (type: string, id: number): { type: string; id: number } => ({ type, id });
const rep = (type: string, id: number): { type: string; id: number; rule: 'repeated' } => ({ type, id, rule: 'repeated' });

/** the fields of containerd's cgroups v1 Metrics the shim fills */
const cgroupsV1 = {
  Metrics: msg({ hugetlb: rep('HugetlbStat', 1), pids: f('PidsStat', 2), cpu: f('CPUStat', 3), memory: f('MemoryStat', 4) }),
  HugetlbStat: msg({ usage: f('uint64', 1), max: f('uint64', 2), failcnt: f('uint64', 3), pagesize: f('string', 4) }),
  PidsStat: msg({ current: f('uint64', 1), limit: f('uint64', 2) }),
  CPUStat: msg({ usage: f('CPUUsage', 1), throttling: f('Throttle', 2) }),
  CPUUsage: msg({ total: f('uint64', 1), kernel: f('uint64', 2), user: f('uint64', 3), perCpu: rep('uint64', 4) }),
  Throttle: msg({ periods: f('uint64', 1), throttledPeriods: f('uint64', 2), throttledTime: f('uint64', 3) }),
  MemoryStat: msg({
    cache: f('uint64', 1), rss: f('uint64', 2), mappedFile: f('uint64', 4), pgFault: f('uint64', 9), pgMajFault: f('uint64', 10),
    inactiveAnon: f('uint64', 11), activeAnon: f('uint64', 12), inactiveFile: f('uint64', 13), activeFile: f('uint64', 14),
    unevictable: f('uint64', 15), usage: f('MemoryEntry', 33), swap: f('MemoryEntry', 34), kernel: f('MemoryEntry', 35),
  }),
  MemoryEntry: msg({ limit: f('uint64', 1), usage: f('uint64', 2), max: f('uint64', 3), failcnt: f('uint64', 4) }),
};

/**
 * The keys of cgroup v2's memory.stat that containerd's v2 MemoryStat carries, as fields 1
 * to 31 in this order under the same names (the CRI plugin's working set is usage minus
 * inactive_file).
 */
export const V2_MEMORY_STAT_KEYS = [
  'anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'anon_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable',
  'pgfault', 'pgmajfault', 'workingset_refault', 'workingset_activate', 'workingset_nodereclaim', 'pgrefill', 'pgscan',
  'pgsteal', 'pgactivate', 'pgdeactivate', 'pglazyfree', 'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc',
] as const;

/** the fields of containerd's cgroups v2 Metrics the shim fills */
const cgroupsV2 = {
  Metrics: msg({ pids: f('PidsStat', 1), cpu: f('CPUStat', 2), memory: f('MemoryStat', 4) }),
  PidsStat: msg({ current: f('uint64', 1), limit: f('uint64', 2) }),
  CPUStat: msg({
    usageUsec: f('uint64', 1), userUsec: f('uint64', 2), systemUsec: f('uint64', 3),
    nrPeriods: f('uint64', 4), nrThrottled: f('uint64', 5), throttledUsec: f('uint64', 6),
  }),
  MemoryStat: msg({
    ...Object.fromEntries(V2_MEMORY_STAT_KEYS.map((k, i) => [k, f('uint64', i + 1)])),
    usage: f('uint64', 32), usageLimit: f('uint64', 33),
  }),
};

const Mount = msg({ type: f('string', 1), source: f('string', 2), target: f('string', 3), options: rep('string', 4) });

const descriptor = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: msg({ typeUrl: f('string', 1), value: f('bytes', 2) }),
            Timestamp: msg({ seconds: f('int64', 1), nanos: f('int32', 2) }),
            Empty: msg({}),
          },
        },
        rpc: { nested: { Status: msg({ code: f('int32', 1), message: f('string', 2), details: rep('google.protobuf.Any', 3) }) } },
      },
    },
    ttrpc: {
      nested: {
        Request: msg({ service: f('string', 1), method: f('string', 2), payload: f('bytes', 3), timeoutNano: f('int64', 4), metadata: rep('KeyValue', 5) }),
        Response: msg({ status: f('google.rpc.Status', 1), payload: f('bytes', 2) }),
        KeyValue: msg({ key: f('string', 1), value: f('string', 2) }),
      },
    },
    containerd: {
      nested: {
        types: { nested: { Mount } },
        v1: { nested: { types: { nested: { ProcessInfo: msg({ pid: f('uint32', 1), info: f('google.protobuf.Any', 2) }) } } } },
        task: {
          nested: {
            v2: {
              nested: {
                CreateTaskRequest: msg({
                  id: f('string', 1), bundle: f('string', 2), rootfs: rep('containerd.types.Mount', 3), terminal: f('bool', 4),
                  stdin: f('string', 5), stdout: f('string', 6), stderr: f('string', 7), checkpoint: f('string', 8),
                  parentCheckpoint: f('string', 9), options: f('google.protobuf.Any', 10),
                }),
                CreateTaskResponse: msg({ pid: f('uint32', 1) }),
                DeleteRequest: msg({ id: f('string', 1), execId: f('string', 2) }),
                DeleteResponse: msg({ pid: f('uint32', 1), exitStatus: f('uint32', 2), exitedAt: f('google.protobuf.Timestamp', 3) }),
                ExecProcessRequest: msg({
                  id: f('string', 1), execId: f('string', 2), terminal: f('bool', 3), stdin: f('string', 4), stdout: f('string', 5),
                  stderr: f('string', 6), spec: f('google.protobuf.Any', 7),
                }),
                ResizePtyRequest: msg({ id: f('string', 1), execId: f('string', 2), width: f('uint32', 3), height: f('uint32', 4) }),
                StateRequest: msg({ id: f('string', 1), execId: f('string', 2) }),
                StateResponse: msg({
                  id: f('string', 1), bundle: f('string', 2), pid: f('uint32', 3), status: f('uint32', 4), stdin: f('string', 5),
                  stdout: f('string', 6), stderr: f('string', 7), terminal: f('bool', 8), exitStatus: f('uint32', 9),
                  exitedAt: f('google.protobuf.Timestamp', 10), execId: f('string', 11),
                }),
                KillRequest: msg({ id: f('string', 1), execId: f('string', 2), signal: f('uint32', 3), all: f('bool', 4) }),
                CloseIORequest: msg({ id: f('string', 1), execId: f('string', 2), stdin: f('bool', 3) }),
                PidsRequest: msg({ id: f('string', 1) }),
                PidsResponse: msg({ processes: rep('containerd.v1.types.ProcessInfo', 1) }),
                UpdateTaskRequest: msg({ id: f('string', 1), resources: f('google.protobuf.Any', 2) }),
                StartRequest: msg({ id: f('string', 1), execId: f('string', 2) }),
                StartResponse: msg({ pid: f('uint32', 1) }),
                WaitRequest: msg({ id: f('string', 1), execId: f('string', 2) }),
                WaitResponse: msg({ exitStatus: f('uint32', 1), exitedAt: f('google.protobuf.Timestamp', 2) }),
                StatsRequest: msg({ id: f('string', 1) }),
                StatsResponse: msg({ stats: f('google.protobuf.Any', 1) }),
                ConnectRequest: msg({ id: f('string', 1) }),
                ConnectResponse: msg({ shimPid: f('uint32', 1), taskPid: f('uint32', 2), version: f('string', 3) }),
                ShutdownRequest: msg({ id: f('string', 1), now: f('bool', 2) }),
                PauseRequest: msg({ id: f('string', 1) }),
                ResumeRequest: msg({ id: f('string', 1) }),
              },
            },
          },
        },
        events: {
          nested: {
            TaskIO: msg({ stdin: f('string', 1), stdout: f('string', 2), stderr: f('string', 3), terminal: f('bool', 4) }),
            TaskCreate: msg({
              containerId: f('string', 1), bundle: f('string', 2), rootfs: rep('containerd.types.Mount', 3), io: f('TaskIO', 4),
              checkpoint: f('string', 5), pid: f('uint32', 6),
            }),
            TaskStart: msg({ containerId: f('string', 1), pid: f('uint32', 2) }),
            TaskDelete: msg({ containerId: f('string', 1), pid: f('uint32', 2), exitStatus: f('uint32', 3), exitedAt: f('google.protobuf.Timestamp', 4), id: f('string', 5) }),
            TaskExit: msg({ containerId: f('string', 1), id: f('string', 2), pid: f('uint32', 3), exitStatus: f('uint32', 4), exitedAt: f('google.protobuf.Timestamp', 5) }),
            TaskOOM: msg({ containerId: f('string', 1) }),
            TaskExecAdded: msg({ containerId: f('string', 1), execId: f('string', 2) }),
            TaskExecStarted: msg({ containerId: f('string', 1), execId: f('string', 2), pid: f('uint32', 3) }),
            TaskPaused: msg({ containerId: f('string', 1) }),
            TaskResumed: msg({ containerId: f('string', 1) }),
          },
        },
        services: {
          nested: {
            events: {
              nested: {
                ttrpc: {
                  nested: {
                    v1: {
                      nested: {
                        Envelope: msg({ timestamp: f('google.protobuf.Timestamp', 1), namespace: f('string', 2), topic: f('string', 3), event: f('google.protobuf.Any', 4) }),
                        ForwardRequest: msg({ envelope: f('Envelope', 1) }),
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    io: { nested: { containerd: { nested: { cgroups: { nested: { v1: { nested: cgroupsV1 }, v2: { nested: cgroupsV2 } } } } } } },
  },
};

const root = Root.fromJSON(descriptor);
const cache = new Map<string, Type>();

/** The message type of a fully qualified name ("containerd.task.v2.CreateTaskRequest"). */
export function type(name: string): Type {
  let t = cache.get(name);
  if (!t) {
    t = root.lookupType(name);
    cache.set(name, t);
  }
  return t;
}

/** Encodes a plain object as the named message. */
export function encode(name: string, value: object): Uint8Array {
  const t = type(name);
  return t.encode(t.fromObject(value)).finish();
}

/** Decodes the named message into a plain object (longs as numbers, defaults filled). */
export function decode<T = Record<string, unknown>>(name: string, bytes: Uint8Array): T {
  const t = type(name);
  return t.toObject(t.decode(bytes), { longs: Number, defaults: true, bytes: Buffer }) as T;
}

/** A google.protobuf.Any of a message: containerd's type URLs are the bare message names. */
export function any(name: string, value: object): { typeUrl: string; value: Uint8Array } {
  return { typeUrl: name, value: encode(name, value) };
}

/** A google.protobuf.Timestamp of a Date.now()-style millisecond time. */
export function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
