// Where fstat(2) puts the fields the plan checks: struct stat differs between x86-64
// (st_nlink before st_mode) and the generic layout aarch64 uses.

export interface StatLayout {
  /** bytes to reserve for the struct */
  size: number;
  /** st_mode (u32) */
  mode: number;
  /** st_rdev (u64) */
  rdev: number;
}

export function statLayout(arch: string = process.arch): StatLayout {
  if (arch === 'x64') return { size: 144, mode: 24, rdev: 40 };
  if (arch === 'arm64') return { size: 128, mode: 16, rdev: 32 };
  throw new Error(`unsupported architecture ${arch}: tsrt runs on x86-64 and aarch64`);
}

/** The kernel's encoding of a device number in st_rdev (new_encode_dev). */
export function encodeDev(major: number, minor: number): bigint {
  return BigInt((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) | (BigInt(major & ~0xfff) << 32n);
}
