// The -ENOSYS stub put in front of a seccomp program, as runc does: a syscall numbered
// above the highest one the profile names (for that architecture) is newer than the
// profile, and gets ENOSYS ("not implemented") instead of the default action (usually
// EPERM). glibc and others fall back to an older syscall only on ENOSYS (clone3 -> clone,
// faccessat2 -> faccessat, ...), so a profile older than the libc in the image must not
// answer EPERM for the syscalls it has never heard of.
//
// The stub is classic BPF over struct seccomp_data { int nr; u32 arch; ... }. It reads the
// architecture, and for each one the profile lists, compares the syscall number with that
// architecture's highest; everything else falls through to libseccomp's program, which
// loads what it needs itself.

/** AUDIT_ARCH_X86_64: x32 syscalls arrive with this arch and bit 30 set in nr. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const ENOSYS = 38;
const RET_ERRNO_ENOSYS = 0x00050000 | ENOSYS;

// BPF opcodes (linux/bpf_common.h): class | size | mode | source.
const LD_W_ABS = 0x20;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JSET_K = 0x45;
const RET_K = 0x06;

/** seccomp_data offsets */
const NR = 0;
const ARCH = 4;

/**
 * One architecture of the profile, by the value the kernel puts in seccomp_data.arch.
 * On x86_64, amd64 and x32 share that value and are told apart by bit 30 of nr: each
 * mode has its own highest syscall (x32 numbers include bit 30).
 */
export interface EnosysArch {
  auditArch: number;
  /** highest syscall number of the plain ABI (amd64 on x86_64); undefined: not listed */
  max?: number;
  /** x86_64 only: highest x32 syscall number (bit 30 included); undefined: not listed */
  maxX32?: number;
}

interface Insn { code: number; k: number; jt?: string; jf?: string; ja?: string }

/** A few instructions with symbolic jump targets, resolved to relative offsets at the end. */
class Assembler {
  private insns: Insn[] = [];
  private labels = new Map<string, number>();
  emit(i: Insn): void { this.insns.push(i); }
  place(label: string): void { this.labels.set(label, this.insns.length); }

  bytes(): Buffer {
    const out = Buffer.alloc(this.insns.length * 8);
    const rel = (pc: number, label: string | undefined, max: number): number => {
      if (label === undefined) return 0;
      const at = this.labels.get(label);
      if (at === undefined) throw new Error(`seccomp ENOSYS stub: label ${label} was never placed`);
      const off = at - (pc + 1);
      if (off < 0 || off > max) throw new Error(`seccomp ENOSYS stub: jump to ${label} out of range (${off})`);
      return off;
    };
    this.insns.forEach((i, pc) => {
      // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k } in the host's byte order
      out.writeUInt16LE(i.code, pc * 8);
      out.writeUInt8(rel(pc, i.jt, 255), pc * 8 + 2);
      out.writeUInt8(rel(pc, i.jf, 255), pc * 8 + 3);
      out.writeUInt32LE(i.ja !== undefined ? rel(pc, i.ja, 0xffffffff) : i.k >>> 0, pc * 8 + 4);
    });
    return out;
  }
}

/**
 * The stub for the given architectures (those without any known syscall are left out).
 * Conditional jumps stay within a section (8-bit offsets); leaving a section uses `ja`,
 * whose offset is 32-bit, so the stub works for any number of architectures.
 */
export function enosysStub(archs: EnosysArch[]): Buffer {
  const a = new Assembler();
  const used = archs.filter((x) => x.max !== undefined || x.maxX32 !== undefined);
  a.emit({ code: LD_W_ABS, k: ARCH });
  used.forEach((x, i) => {
    // jeq arch: next instruction (the ja into its section), else skip it
    a.emit({ code: JMP_JEQ_K, k: x.auditArch >>> 0, jt: `go${i}`, jf: `next${i}` });
    a.place(`go${i}`);
    a.emit({ code: JMP_JA, k: 0, ja: `section${i}` });
    a.place(`next${i}`);
  });
  a.emit({ code: JMP_JA, k: 0, ja: 'filter' });
  used.forEach((x, i) => {
    const enosys = `enosys${i}`;
    const filter = `tofilter${i}`;
    const x32 = `x32_${i}`;
    a.place(`section${i}`);
    a.emit({ code: LD_W_ABS, k: NR });
    const isX86_64 = x.auditArch === AUDIT_ARCH_X86_64;
    if (isX86_64) {
      // bit 30: an x32 syscall; an ABI the profile does not list goes to the filter
      a.emit({ code: JMP_JSET_K, k: X32_SYSCALL_BIT, jt: x.maxX32 !== undefined ? x32 : filter, jf: x.max !== undefined ? `amd64_${i}` : filter });
      a.place(`amd64_${i}`);
    }
    if (x.max !== undefined) a.emit({ code: JMP_JGT_K, k: x.max, jt: enosys, jf: filter });
    if (isX86_64 && x.maxX32 !== undefined) {
      a.place(x32);
      a.emit({ code: JMP_JGT_K, k: x.maxX32 >>> 0, jt: enosys, jf: filter });
    }
    a.place(enosys);
    a.emit({ code: RET_K, k: RET_ERRNO_ENOSYS });
    a.place(filter);
    a.emit({ code: JMP_JA, k: 0, ja: 'filter' });
  });
  a.place('filter');
  return a.bytes();
}
