// Masks from this process's /proc/self/status: the capability sets (CapBnd, ...) and the
// signal dispositions (SigCgt, SigIgn).
import { readFileSync } from 'node:fs';

/** The OR of the hex masks `fields`; undefined if the file is unreadable or lacks one. */
export function selfStatusMask(...fields: string[]): bigint | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'latin1');
  } catch {
    return undefined;
  }
  let mask = 0n;
  for (const field of fields) {
    const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(text);
    if (!m) return undefined;
    mask |= BigInt(`0x${m[1]}`);
  }
  return mask;
}
