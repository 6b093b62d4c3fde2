// Per-process kernel attributes from config.json, as plan steps: linux.personality
// (personality(2)), process.scheduler (sched_setattr(2)), process.ioPriority
// (ioprio_set(2)), linux.memoryPolicy (set_mempolicy(2)) and process.execCPUAffinity
// (sched_setaffinity(2)). All are inherited across fork and kept across execve, so the
// init sets them on itself; they go before the capability drop because raising a
// real-time policy or the RT I/O class needs CAP_SYS_NICE / CAP_SYS_ADMIN.
import type { CPUAffinity, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality, Scheduler } from '../oci/spec-types';
import type { Plan } from '../plan/plan';
import { ConfigError } from '../util/errors';

const PERSONALITY_DOMAIN: Record<string, number> = { LINUX: 0x0000, LINUX32: 0x0008 };

export function buildPersonalitySteps(plan: Plan, p: LinuxPersonality | undefined): void {
  if (!p) return;
  const domain = PERSONALITY_DOMAIN[p.domain];
  if (domain === undefined) throw new ConfigError(`linux.personality.domain: unknown domain ${JSON.stringify(p.domain)} (expected LINUX or LINUX32)`);
  if (p.flags?.length) {
    throw new ConfigError(`linux.personality.flags: ${JSON.stringify(p.flags[0])} is not supported (the runtime spec defines no personality flags)`);
  }
  plan.add('personality', [domain], `set the execution domain ${p.domain} (linux.personality)`);
}

const SCHED_POLICY: Record<string, number> = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
};
const SCHED_FLAG: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08, SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

export function buildSchedulerSteps(plan: Plan, s: Scheduler | undefined): void {
  if (!s) return;
  if (s.policy === 'SCHED_ISO') throw new ConfigError('process.scheduler.policy: SCHED_ISO is reserved and not implemented by Linux');
  const policy = SCHED_POLICY[s.policy];
  if (policy === undefined) throw new ConfigError(`process.scheduler.policy: unknown policy ${JSON.stringify(s.policy)}`);
  const nice = s.nice ?? 0;
  const prio = s.priority ?? 0;
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new ConfigError(`process.scheduler.nice: must be -20 to 19, got ${nice}`);
  const realtime = policy === 1 || policy === 2;
  if (realtime && (prio < 1 || prio > 99)) throw new ConfigError(`process.scheduler.priority: ${s.policy} needs a priority from 1 to 99, got ${prio}`);
  if (!realtime && prio !== 0) throw new ConfigError(`process.scheduler.priority: must be 0 for ${s.policy} (only SCHED_FIFO and SCHED_RR have priorities), got ${prio}`);
  let flags = 0;
  (s.flags ?? []).forEach((f, i) => {
    const bit = SCHED_FLAG[f];
    if (bit === undefined) throw new ConfigError(`process.scheduler.flags[${i}]: unknown flag ${JSON.stringify(f)}`);
    flags |= bit;
  });
  if (policy === 6) {
    const { runtime = 0, deadline = 0, period = 0 } = s;
    if (!(runtime > 0 && runtime <= deadline && (period === 0 || deadline <= period))) {
      throw new ConfigError('process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period (period 0 means deadline)');
    }
  }
  // struct sched_attr (SCHED_ATTR_SIZE_VER1): size, policy, flags, nice, priority,
  // runtime, deadline, period, util_min, util_max.
  const a = Buffer.alloc(56);
  a.writeUInt32LE(56, 0);
  a.writeUInt32LE(policy, 4);
  a.writeBigUInt64LE(BigInt(flags), 8);
  a.writeInt32LE(nice, 16);
  a.writeUInt32LE(prio, 20);
  a.writeBigUInt64LE(BigInt(s.runtime ?? 0), 24);
  a.writeBigUInt64LE(BigInt(s.deadline ?? 0), 32);
  a.writeBigUInt64LE(BigInt(s.period ?? 0), 40);
  a.writeUInt32LE(0, 48);
  a.writeUInt32LE(1024, 52);
  plan.add('sched_setattr', [0, plan.blob(a, 'sched_attr'), 0], `set the scheduler ${s.policy} (nice ${nice}, priority ${prio}) (process.scheduler)`);
}

const IOPRIO_CLASS: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };

export function buildIoPrioritySteps(plan: Plan, io: LinuxIOPriority | undefined): void {
  if (!io) return;
  const cls = IOPRIO_CLASS[io.class];
  if (cls === undefined) throw new ConfigError(`process.ioPriority.class: unknown class ${JSON.stringify(io.class)}`);
  if (!Number.isInteger(io.priority) || io.priority < 0 || io.priority > 7) {
    throw new ConfigError(`process.ioPriority.priority: must be 0 (highest) to 7 (lowest), got ${io.priority}`);
  }
  // IOPRIO_WHO_PROCESS of ourselves: children inherit it, so it covers the container.
  plan.add('ioprio_set', [1, 0, (cls << 13) | io.priority], `set the I/O priority ${io.class} ${io.priority} (process.ioPriority)`);
}

const MPOL_MODE: Record<string, number> = {
  MPOL_DEFAULT: 0, MPOL_PREFERRED: 1, MPOL_BIND: 2, MPOL_INTERLEAVE: 3, MPOL_LOCAL: 4,
  MPOL_PREFERRED_MANY: 5, MPOL_WEIGHTED_INTERLEAVE: 6,
};
const MPOL_FLAG: Record<string, number> = {
  MPOL_F_NUMA_BALANCING: 1 << 13, MPOL_F_RELATIVE_NODES: 1 << 14, MPOL_F_STATIC_NODES: 1 << 15,
};
const MASK_BITS = 1024;

/** "0-3,7" -> a bitmask of MASK_BITS bits (unsigned longs, little-endian). */
export function parseCpuList(list: string, field: string, what: string): Buffer {
  const mask = Buffer.alloc(MASK_BITS / 8);
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw new ConfigError(`${field}: ${JSON.stringify(list)} is not a ${what} list such as "0-3,7"`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo) throw new ConfigError(`${field}: range ${part.trim()} goes backwards`);
    if (hi >= MASK_BITS) throw new ConfigError(`${field}: ${what} ${hi} is out of range (at most ${MASK_BITS - 1})`);
    for (let i = lo; i <= hi; i++) mask[i >> 3]! |= 1 << (i & 7);
  }
  return mask;
}

export function buildMemoryPolicySteps(plan: Plan, mp: LinuxMemoryPolicy | undefined): void {
  if (!mp) return;
  const mode = MPOL_MODE[mp.mode];
  if (mode === undefined) throw new ConfigError(`linux.memoryPolicy.mode: unknown mode ${JSON.stringify(mp.mode)}`);
  let flags = 0;
  (mp.flags ?? []).forEach((f, i) => {
    const bit = MPOL_FLAG[f];
    if (bit === undefined) throw new ConfigError(`linux.memoryPolicy.flags[${i}]: unknown flag ${JSON.stringify(f)}`);
    flags |= bit;
  });
  const nodes = mp.nodes ?? '';
  if (nodes === '') {
    plan.add('set_mempolicy', [mode | flags, 0, 0], `set the memory policy ${mp.mode} (linux.memoryPolicy)`);
    return;
  }
  const mask = parseCpuList(nodes, 'linux.memoryPolicy.nodes', 'node');
  // maxnode counts one more bit than the mask holds (the kernel reads maxnode - 1 bits).
  plan.add('set_mempolicy', [mode | flags, plan.blob(mask, 'nodemask'), MASK_BITS + 1],
    `set the memory policy ${mp.mode} on nodes ${nodes} (linux.memoryPolicy)`);
}

/**
 * process.execCPUAffinity: `initial` is the affinity of the process while it is set up,
 * before it is moved into the container's cgroup; `final` is set once it is in there.
 */
export function buildCpuAffinitySteps(plan: Plan, a: CPUAffinity | undefined, which: 'initial' | 'final'): void {
  const list = a?.[which];
  if (!list) return;
  const mask = parseCpuList(list, `process.execCPUAffinity.${which}`, 'CPU');
  plan.add('sched_setaffinity', [0, mask.length, plan.blob(mask, `cpu set ${list}`)], `set the CPU affinity to ${list} (process.execCPUAffinity.${which})`);
}
