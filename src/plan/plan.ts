// A plan is the container process's setup as data: a flat list of system calls that
// the trampoline (trampoline-*.ts) executes after clone(), with no JavaScript in the
// child. Each step carries a sentence, so a failure can be reported as
// "<what was being done>: <ERRNO> (<message>)" and the whole plan can be printed.
//
// Memory layout (little-endian u64 words; the trampoline's contract):
//   header   [0] error fd   [1] number of steps   [2..3] reserved
//   step i at 32 + 96*i:
//     [0] syscall number (CHECK_NR: pseudo-op, fails reporting v = (a0 ^ a2) & a1 when v
//         is non-zero; v is reported whole, not as an errno)
//     [1..6] arguments   [7] flags   [8] store address   [9] jump target
//     [10] tolerated errno   [11] reserved
// Data blobs (strings, structs, result slots) follow the steps.

import type { SyscallName } from '../libc/syscalls';

export const STEP_WORDS = 12;
export const HEADER_BYTES = 32;
export const CHECK_NR = 0xffffffffffffffffn;

export const FLAG = {
  IGNORE_ERROR: 1n << 0n,
  STORE: 1n << 1n,
  JUMP_IF_NONZERO: 1n << 2n,
  INDIRECT0: 1n << 8n,
} as const;

/** A piece of memory in the plan's data area; its address is known once laid out. */
export class Blob {
  offset = -1;
  constructor(readonly bytes: Buffer, readonly label: string) {}
}

/** A jump target: the index of a step, fixed when the label is placed. */
export class Label {
  index = -1;
  constructor(readonly name: string) {}
}

/**
 * An argument: a number, the address of a blob, "the u64 stored in this blob" (at byte
 * `plus` in: a field of a struct a syscall filled), or the address of a byte in a blob.
 */
export type Arg = number | bigint | Blob | { load: Blob; plus?: number } | { ptrTo: Blob; plus: number };

export interface StepOptions {
  /** errno value that counts as success (EEXIST for mkdir of an existing dir). */
  okErrno?: number;
  /** any failure is ignored (best-effort steps). */
  ignoreError?: boolean;
  /** the raw result is stored into this blob (at storeOffset bytes in). */
  store?: Blob;
  storeOffset?: number;
  /** after success, continue at this label when the result is non-zero. */
  jumpIfNonzero?: Label;
}

export interface Step {
  nr: SyscallName | 'check';
  args: Arg[];
  describe: string;
  opts: StepOptions;
  /** For check steps: turns the failing value into the error sentence. */
  explain?: (value: number) => string;
}

export class Plan {
  readonly steps: Step[] = [];
  readonly blobs: Blob[] = [];
  private readonly strings = new Map<string, Blob>();

  /** A NUL-terminated string (deduplicated). */
  cstr(s: string): Blob {
    let b = this.strings.get(s);
    if (!b) {
      b = this.blob(Buffer.from(s + '\0'), JSON.stringify(s));
      this.strings.set(s, b);
    }
    return b;
  }

  blob(bytes: Buffer, label = `<${bytes.length} bytes>`): Blob {
    const b = new Blob(bytes, label);
    this.blobs.push(b);
    return b;
  }

  /** An 8-byte slot for a stored result, optionally with an initial value. */
  slot(label: string, initial: bigint = 0n): Blob {
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(BigInt.asUintN(64, initial));
    return this.blob(buf, label);
  }

  /** A NULL-terminated array of string pointers (argv, envp); laid out by layout(). */
  strArray(items: string[], label: string): Blob {
    const buf = Buffer.alloc(8 * (items.length + 1));
    const b = this.blob(buf, label);
    this.arrays.set(b, items.map((s) => this.cstr(s)));
    return b;
  }
  private readonly arrays = new Map<Blob, Blob[]>();

  /** Writes the address of `target` into `holder` at byte `offset` when laid out. */
  pointerAt(holder: Blob, offset: number, target: Blob): void {
    this.pointers.push({ holder, offset, target });
  }
  private readonly pointers: { holder: Blob; offset: number; target: Blob }[] = [];

  label(name: string): Label {
    return new Label(name);
  }

  /** Places a label at the next step to be added. */
  place(l: Label): void {
    l.index = this.steps.length;
  }

  add(nr: SyscallName, args: Arg[], describe: string, opts: StepOptions = {}): void {
    if (args.length > 6) throw new Error(`plan step ${nr}: too many arguments`);
    this.steps.push({ nr, args, describe, opts });
  }

  /**
   * Fails the plan when the masked u64 in `value` is non-zero; the masked value is what
   * `explain` gets (describe + the number when there is no explain).
   */
  check(value: Blob, mask: bigint, describe: string, explain?: (value: number) => string): void {
    this.steps.push({ nr: 'check', args: [{ load: value }, mask, 0n], describe, opts: {}, explain });
  }

  /**
   * Fails the plan unless (u64 at `value` + `offset`) & mask == expected: a type or
   * identity check on what a syscall stored (fstat's st_mode, fstatfs's f_type).
   * `explain` gets the masked value XOR expected.
   */
  checkEquals(value: Blob, offset: number, mask: bigint, expected: bigint, describe: string, explain?: (diff: number) => string): void {
    this.steps.push({ nr: 'check', args: [{ load: value, plus: offset }, mask, expected & mask], describe, opts: {}, explain });
  }

  /** Assigns offsets relative to the data area and resolves string arrays. */
  layoutData(base: bigint): Buffer {
    let size = 0;
    for (const b of this.blobs) {
      b.offset = size;
      size += (b.bytes.length + 7) & ~7;
    }
    const data = Buffer.alloc(size);
    for (const p of this.pointers) p.holder.bytes.writeBigUInt64LE(base + BigInt(p.target.offset), p.offset);
    for (const b of this.blobs) {
      const ptrs = this.arrays.get(b);
      if (ptrs) ptrs.forEach((p, i) => b.bytes.writeBigUInt64LE(base + BigInt(p.offset), 8 * i));
      b.bytes.copy(data, b.offset);
    }
    return data;
  }
}
