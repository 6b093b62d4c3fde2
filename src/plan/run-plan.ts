// Loads a plan into native memory and starts it in a new process with libc clone():
// the child runs the trampoline over the plan and never touches the V8 heap. Without
// CLONE_VM the child gets its own copy of the plan, so the parent frees it at once.
import { readSync } from 'node:fs';
import { libc } from '../libc/libc';
import { syscallTable } from '../libc/syscalls';
import { describeErrno } from '../libc/errno';
import { CHECK_NR, FLAG, HEADER_BYTES, STEP_WORDS, type Arg, type Plan, Blob } from './plan';
import { TRAMPOLINE_X86_64 } from './trampoline-x86_64';
import { TRAMPOLINE_AARCH64 } from './trampoline-aarch64';
import { TsrtError } from '../util/errors';

const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
const MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_STACK = 0x20000;
const STACK_BYTES = 64 * 1024;

/** Messages the plan sends on the report pipe: index words at or above 2^32. */
export const MSG = { READY: 0x100000001n, PID: 0x100000002n, HOOKS: 0x100000003n } as const;

let trampolineAddr: bigint | undefined;

function trampoline(): bigint {
  if (trampolineAddr === undefined) {
    const code = process.arch === 'arm64' ? TRAMPOLINE_AARCH64 : TRAMPOLINE_X86_64;
    const page = libc.mmap(4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    Buffer.from(koffiView(page, 4096)).set(code);
    libc.mprotect(page, 4096, PROT_READ | PROT_EXEC);
    trampolineAddr = page;
  }
  return trampolineAddr;
}

function koffiView(addr: bigint, len: number): ArrayBuffer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('koffi') as { view(p: bigint, n: number): ArrayBuffer }).view(addr, len);
}

function encodeArg(a: Arg, base: bigint): { value: bigint; indirect: boolean } {
  if (typeof a === 'number') return { value: BigInt.asUintN(64, BigInt(a)), indirect: false };
  if (typeof a === 'bigint') return { value: BigInt.asUintN(64, a), indirect: false };
  if (a instanceof Blob) return { value: base + BigInt(a.offset), indirect: false };
  if ('load' in a) return { value: base + BigInt(a.load.offset + (a.plus ?? 0)), indirect: true };
  return { value: base + BigInt(a.ptrTo.offset + a.plus), indirect: false };
}

/**
 * Writes header, steps and data into `mem`, which will live at address `addr`, with the
 * syscall numbers of `arch` (node's names: x64, arm64). Exported for the trampoline tests,
 * which run a plan under each architecture.
 */
export function encodePlan(plan: Plan, errFd: number, addr: bigint, mem: Buffer, arch: string = process.arch): void {
  const table = syscallTable(arch);
  const dataBase = addr + BigInt(HEADER_BYTES + plan.steps.length * STEP_WORDS * 8);
  const data = plan.layoutData(dataBase);
  // Word stores through a BigUint64Array over the (page-aligned) region: Buffer's
  // writeBigUInt64LE range-checks and splits every value, about 3 ms for a plan's 5,000
  // words. Native byte order is the plan's little-endian: x86-64 and aarch64 only.
  const words = new BigUint64Array(mem.buffer, mem.byteOffset, mem.length >> 3);
  words[0] = BigInt(errFd);
  words[1] = BigInt(plan.steps.length);
  plan.steps.forEach((s, i) => {
    const at = HEADER_BYTES / 8 + i * STEP_WORDS;
    const w = (k: number, v: bigint) => { words[at + k] = v; };
    w(0, s.nr === 'check' ? CHECK_NR : BigInt(table[s.nr]));
    let flags = 0n;
    s.args.forEach((a, j) => {
      const { value, indirect } = encodeArg(a, dataBase);
      w(1 + j, value);
      if (indirect) flags |= FLAG.INDIRECT0 << BigInt(j);
    });
    const o = s.opts;
    if (o.ignoreError) flags |= FLAG.IGNORE_ERROR;
    if (o.store) { flags |= FLAG.STORE; w(8, dataBase + BigInt(o.store.offset + (o.storeOffset ?? 0))); }
    if (o.jumpIfNonzero) {
      if (o.jumpIfNonzero.index < 0) throw new Error(`plan label ${o.jumpIfNonzero.name} never placed`);
      flags |= FLAG.JUMP_IF_NONZERO;
      w(9, BigInt(o.jumpIfNonzero.index));
    }
    w(7, flags);
    w(10, BigInt(o.okErrno ?? 0));
  });
  data.copy(mem, Number(dataBase - addr));
}

export function planBytes(plan: Plan): number {
  let data = 0;
  for (const b of plan.blobs) data += (b.bytes.length + 7) & ~7;
  return HEADER_BYTES + plan.steps.length * STEP_WORDS * 8 + data;
}

/**
 * Starts the plan in a child created with the given clone flags (CLONE_NEW*, SIGCHLD).
 * errFd is the write end of the report pipe as the child sees it. Returns the pid.
 */
export function startPlan(plan: Plan, cloneFlags: number, errFd: number): number {
  const entry = trampoline();
  // CVE-2019-5736: the child is a copy of node until its execve and inherits this flag,
  // so it is non-dumpable from its first instruction (its /proc/PID/exe, mem, environ
  // and fds closed to container processes); tsrt itself stays so too. An unprivileged
  // tsrt clones first: it writes its child's id maps, which the /proc files of a
  // non-dumpable child (owned by root) would refuse; the plan makes the child
  // non-dumpable once the maps are written (init-plan.ts).
  const privileged = process.geteuid?.() === 0;
  if (privileged) libc.prctl(4 /* PR_SET_DUMPABLE */, 0);
  const size = (planBytes(plan) + 4095) & ~4095;
  const region = libc.mmap(size + STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK);
  try {
    const mem = Buffer.from(koffiView(region, size));
    encodePlan(plan, errFd, region, mem);
    const stackTop = region + BigInt(size + STACK_BYTES - 64);
    const pid = libc.clone(entry, stackTop, cloneFlags, region);
    if (pid < 0) {
      const { errno } = require('../libc/libc') as typeof import('../libc/libc');
      const e = errno();
      throw new TsrtError('ECLONE', `clone(${cloneFlagNames(cloneFlags)}): ${describeErrno(e)}`);
    }
    if (!privileged) libc.prctl(4 /* PR_SET_DUMPABLE */, 0);
    return pid;
  } finally {
    libc.munmap(region, size + STACK_BYTES);
  }
}

function cloneFlagNames(flags: number): string {
  const names: Record<number, string> = {
    0x20000: 'CLONE_NEWNS', 0x2000000: 'CLONE_NEWCGROUP', 0x4000000: 'CLONE_NEWUTS',
    0x8000000: 'CLONE_NEWIPC', 0x10000000: 'CLONE_NEWUSER', 0x20000000: 'CLONE_NEWPID',
    0x40000000: 'CLONE_NEWNET', 0x8000: 'CLONE_PARENT',
  };
  const out = Object.entries(names).filter(([bit]) => flags & Number(bit)).map(([, n]) => n);
  return out.length ? out.join('|') : 'SIGCHLD';
}

export type Report =
  | { kind: 'eof' }
  | { kind: 'ready' }
  | { kind: 'hooks' }
  | { kind: 'pid'; pid: number }
  | { kind: 'error'; message: string; step: number; errno: number };

/** Reads one 16-byte record from the report pipe (blocking). */
export function readReport(plan: Plan, fd: number): Report {
  const buf = Buffer.alloc(16);
  let got = 0;
  while (got < 16) {
    let n: number;
    try {
      n = readSync(fd, buf, got, 16 - got, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN' || (e as NodeJS.ErrnoException).code === 'EINTR') continue;
      throw e;
    }
    if (n === 0) return { kind: 'eof' };
    got += n;
  }
  const index = buf.readBigUInt64LE(0);
  const value = buf.readBigUInt64LE(8);
  if (index === MSG.READY) return { kind: 'ready' };
  if (index === MSG.HOOKS) return { kind: 'hooks' };
  if (index === MSG.PID) return { kind: 'pid', pid: Number(value) };
  const step = plan.steps[Number(index)];
  // A step that stores its raw result reports it as such (-errno: exec-failure.ts).
  const errno = value >= 1n << 63n ? Number(-BigInt.asIntN(64, value)) : Number(value);
  if (!step) return { kind: 'error', step: Number(index), errno, message: `container setup step ${index}: ${describeErrno(errno)}` };
  const message = step.explain ? step.explain(errno)
    : step.nr === 'check' ? `${step.describe}: check failed (0x${value.toString(16)})` : `${step.describe}: ${describeErrno(errno)}`;
  return { kind: 'error', step: Number(index), errno, message };
}
