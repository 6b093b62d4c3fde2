// cgroup v2 device control: the device state of devices.ts compiled to an eBPF program of
// type BPF_PROG_TYPE_CGROUP_DEVICE, loaded with bpf(BPF_PROG_LOAD) and attached to the
// cgroup directory with bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE). Facts used (kernel UAPI
// include/uapi/linux/bpf.h and Documentation/bpf/):
//
// - the program sees struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
//   where access_type = (access << 16) | type, type 1 = block, 2 = char, access bits
//   1 = mknod, 2 = read, 4 = write; it returns 1 to allow, 0 to deny;
// - an instruction is 8 bytes: u8 opcode, u8 (src_reg << 4 | dst_reg), s16 offset, s32 imm;
//   a jump's offset counts instructions from the one after it;
// - with BPF_F_ALLOW_MULTI every attached program must allow an access, so a new program
//   is attached before the old ones are detached (no moment without a filter).
import { closeSync, constants, openSync } from 'node:fs';
import { errnoName, strerror } from '../libc/errno';
import { CgroupError } from './cgfs';
import type { DeviceState } from './devices';

// Opcodes (class | op | source).
const LDX_MEM_W = 0x61; // dst = *(u32 *)(src + off)
const ALU64_MOV_X = 0xbf; // dst = src
const ALU64_MOV_K = 0xb7; // dst = imm
const ALU32_AND_K = 0x54; // dst = (u32)dst & imm
const ALU32_RSH_K = 0x74; // dst = (u32)dst >> imm
const JMP32_JNE_K = 0x56; // if (u32)dst != imm goto +off
const JMP32_JEQ_K = 0x16; // if (u32)dst == imm goto +off
const JMP_EXIT = 0x95;

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

interface Insn { op: number; dst: number; src: number; off: number; imm: number }
const insn = (op: number, dst: number, src: number, off: number, imm: number): Insn => ({ op, dst, src, off, imm });

/**
 * The program for a device state. Deny-by-default: allowed when one exception matches the
 * device and holds every requested access bit. Allow-by-default: denied when one exception
 * matches the device and shares an access bit with the request. (The kernel's v1 check.)
 */
export function deviceProgram(st: DeviceState): Insn[] {
  const p: Insn[] = [
    insn(LDX_MEM_W, R2, R1, 0, 0), // r2 = access_type
    insn(ALU64_MOV_X, R3, R2, 0, 0), // r3 = access_type
    insn(ALU32_AND_K, R2, 0, 0, 0xffff), // r2 = device type
    insn(ALU32_RSH_K, R3, 0, 0, 16), // r3 = requested access
    insn(LDX_MEM_W, R4, R1, 4, 0), // r4 = major
    insn(LDX_MEM_W, R5, R1, 8, 0), // r5 = minor
  ];
  for (const e of st.exceptions) {
    const block: Insn[] = [];
    // Each jump to "next" is patched once the block's length is known.
    const skips: number[] = [];
    skips.push(block.length);
    block.push(insn(JMP32_JNE_K, R2, 0, 0, e.type === 'b' ? 1 : 2));
    if (e.major !== -1) { skips.push(block.length); block.push(insn(JMP32_JNE_K, R4, 0, 0, e.major | 0)); }
    if (e.minor !== -1) { skips.push(block.length); block.push(insn(JMP32_JNE_K, R5, 0, 0, e.minor | 0)); }
    block.push(insn(ALU64_MOV_X, R1, R3, 0, 0));
    if (st.defaultAllow) {
      // A deny exception: any requested bit it holds denies.
      block.push(insn(ALU32_AND_K, R1, 0, 0, e.access));
      skips.push(block.length);
      block.push(insn(JMP32_JEQ_K, R1, 0, 0, 0));
      block.push(insn(ALU64_MOV_K, R0, 0, 0, 0));
    } else {
      // An allow exception: it must hold every requested bit.
      block.push(insn(ALU32_AND_K, R1, 0, 0, ~e.access & 7));
      skips.push(block.length);
      block.push(insn(JMP32_JNE_K, R1, 0, 0, 0));
      block.push(insn(ALU64_MOV_K, R0, 0, 0, 1));
    }
    block.push(insn(JMP_EXIT, 0, 0, 0, 0));
    for (const i of skips) block[i]!.off = block.length - (i + 1);
    p.push(...block);
  }
  p.push(insn(ALU64_MOV_K, R0, 0, 0, st.defaultAllow ? 1 : 0), insn(JMP_EXIT, 0, 0, 0, 0));
  return p;
}

export function encodeProgram(p: Insn[]): Buffer {
  const b = Buffer.alloc(p.length * 8);
  p.forEach((i, n) => {
    b.writeUInt8(i.op, n * 8);
    b.writeUInt8(((i.src & 0xf) << 4) | (i.dst & 0xf), n * 8 + 1);
    b.writeInt16LE(i.off, n * 8 + 2);
    b.writeInt32LE(i.imm | 0, n * 8 + 4);
  });
  return b;
}

// bpf(2) commands and constants.
const BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9, BPF_PROG_GET_FD_BY_ID = 13, BPF_PROG_QUERY = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
const BPF_CGROUP_DEVICE = 6;
const BPF_F_ALLOW_MULTI = 2;
const SYS_BPF: Record<string, number> = { x64: 321, arm64: 280 };

type Fn = (...args: unknown[]) => number | bigint;
let sysFn: Fn | undefined;

/** Native scratch memory (the attr's pointers must be real addresses): one mmap'd page set. */
class Scratch {
  readonly addr: bigint;
  readonly mem: Buffer;
  constructor(readonly size: number) {
    const { libc } = require('../libc/libc') as typeof import('../libc/libc');
    this.addr = libc.mmap(size, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */);
    const { koffi } = require('../libc/libc') as typeof import('../libc/libc');
    this.mem = Buffer.from((koffi() as unknown as { view(p: bigint, n: number): ArrayBuffer }).view(this.addr, size));
  }
  free(): void {
    const { libc } = require('../libc/libc') as typeof import('../libc/libc');
    libc.munmap(this.addr, this.size);
  }
}

function bpf(cmd: number, attr: Scratch, attrOffset: number, size: number, what: string): number {
  if (!sysFn) {
    const { koffi } = require('../libc/libc') as typeof import('../libc/libc');
    sysFn = koffi().load('libc.so.6').func('long syscall(long nr, ...)') as Fn;
  }
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) throw new CgroupError(`bpf(2): unsupported architecture ${process.arch}`);
  const r = Number(sysFn(nr, 'int', cmd, 'uintptr_t', attr.addr + BigInt(attrOffset), 'unsigned int', size));
  if (r < 0) {
    const { errno } = require('../libc/libc') as typeof import('../libc/libc');
    const e = errno();
    const err = new CgroupError(`${what}: ${errnoName(e)} (${strerror(e)})`);
    (err as CgroupError & { errno?: number }).errno = e;
    throw err;
  }
  return r;
}

/** Ids of the device programs attached to the cgroup directory fd. */
function attachedPrograms(mem: Scratch, cgFd: number, dir: string): number[] {
  const ATTR = 0, IDS = 256, MAX = 64;
  mem.mem.fill(0, 0, IDS + MAX * 4);
  mem.mem.writeUInt32LE(cgFd, ATTR);
  mem.mem.writeUInt32LE(BPF_CGROUP_DEVICE, ATTR + 4);
  mem.mem.writeBigUInt64LE(mem.addr + BigInt(IDS), ATTR + 16);
  mem.mem.writeUInt32LE(MAX, ATTR + 24);
  bpf(BPF_PROG_QUERY, mem, ATTR, 40, `linux.resources.devices: bpf(BPF_PROG_QUERY) on ${dir}`);
  const n = mem.mem.readUInt32LE(ATTR + 24);
  return Array.from({ length: Math.min(n, MAX) }, (_, i) => mem.mem.readUInt32LE(IDS + i * 4));
}

/**
 * Loads the program for `st` and attaches it to the cgroup v2 directory, then detaches the
 * device programs that were there before (an update replaces the filter).
 */
export function attachDeviceFilter(dir: string, st: DeviceState): void {
  const code = encodeProgram(deviceProgram(st));
  const LOG_SIZE = 65536;
  const ATTR = 0, LICENSE = 128, INSNS = 256, LOG = INSNS + code.length + (8 - (code.length % 8)) % 8;
  const size = Math.ceil((LOG + LOG_SIZE) / 4096) * 4096;
  const mem = new Scratch(size);
  let cgFd = -1;
  let progFd = -1;
  try {
    cgFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    const before = attachedPrograms(mem, cgFd, dir);
    mem.mem.fill(0, 0, INSNS);
    code.copy(mem.mem, INSNS);
    mem.mem.write('Apache-2.0\0', LICENSE);
    mem.mem.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, ATTR);
    mem.mem.writeUInt32LE(code.length / 8, ATTR + 4);
    mem.mem.writeBigUInt64LE(mem.addr + BigInt(INSNS), ATTR + 8);
    mem.mem.writeBigUInt64LE(mem.addr + BigInt(LICENSE), ATTR + 16);
    mem.mem.writeUInt32LE(1, ATTR + 24); // log_level: the verifier explains a refusal
    mem.mem.writeUInt32LE(LOG_SIZE, ATTR + 28);
    mem.mem.writeBigUInt64LE(mem.addr + BigInt(LOG), ATTR + 32);
    mem.mem.write('tsrt_devices', ATTR + 48); // prog_name (16 bytes with the NUL)
    mem.mem.writeUInt32LE(BPF_CGROUP_DEVICE, ATTR + 68); // expected_attach_type
    try {
      progFd = bpf(BPF_PROG_LOAD, mem, ATTR, 128, 'linux.resources.devices: loading the device filter (bpf BPF_PROG_LOAD)');
    } catch (e) {
      const log = mem.mem.subarray(LOG, LOG + LOG_SIZE).toString('utf8').replace(/\0[\s\S]*$/, '').trim();
      if (log) (e as Error).message += `; verifier: ${log.split('\n').slice(-3).join(' | ')}`;
      throw e;
    }
    mem.mem.fill(0, ATTR, ATTR + 32);
    mem.mem.writeUInt32LE(cgFd, ATTR);
    mem.mem.writeUInt32LE(progFd, ATTR + 4);
    mem.mem.writeUInt32LE(BPF_CGROUP_DEVICE, ATTR + 8);
    mem.mem.writeUInt32LE(BPF_F_ALLOW_MULTI, ATTR + 12);
    bpf(BPF_PROG_ATTACH, mem, ATTR, 20, `linux.resources.devices: attaching the device filter to ${dir} (bpf BPF_PROG_ATTACH)`);
    for (const id of before) {
      let oldFd = -1;
      try {
        mem.mem.fill(0, ATTR, ATTR + 32);
        mem.mem.writeUInt32LE(id, ATTR);
        oldFd = bpf(BPF_PROG_GET_FD_BY_ID, mem, ATTR, 12, `linux.resources.devices: bpf(BPF_PROG_GET_FD_BY_ID ${id})`);
        mem.mem.fill(0, ATTR, ATTR + 32);
        mem.mem.writeUInt32LE(cgFd, ATTR);
        mem.mem.writeUInt32LE(oldFd, ATTR + 4);
        mem.mem.writeUInt32LE(BPF_CGROUP_DEVICE, ATTR + 8);
        bpf(BPF_PROG_DETACH, mem, ATTR, 20, `linux.resources.devices: detaching the old device filter from ${dir}`);
      } finally {
        if (oldFd >= 0) closeSync(oldFd);
      }
    }
  } catch (e) {
    if (e instanceof CgroupError) throw e;
    throw new CgroupError(`linux.resources.devices: device filter for ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message ?? e}`);
  } finally {
    if (progFd >= 0) closeSync(progFd);
    if (cgFd >= 0) closeSync(cgFd);
    mem.free();
  }
}

/** How many device programs are attached to a cgroup v2 directory (for tests and diagnostics). */
export function countDeviceFilters(dir: string): number {
  const mem = new Scratch(4096);
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return attachedPrograms(mem, fd, dir).length;
  } finally {
    closeSync(fd);
    mem.free();
  }
}
