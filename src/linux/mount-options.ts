// Turns the `options` of an OCI mount into what the mount syscalls need: MS_* flags for
// mount(2), propagation changes applied afterwards, MOUNT_ATTR_* for mount_setattr(2) with
// AT_RECURSIVE, and the leftover filesystem-specific options as the data string.
// Options are applied in order, so a later option overrides an earlier one (ro,rw → rw).
import { MOUNT_ATTR, MS } from '../libc/constants';

export interface ParsedMountOptions {
  /** MS_* to pass to mount(2). */
  flags: number;
  /** MS_* the options explicitly turned off (rw, suid, dev, exec, atime...): a bind remount
   * must not carry these over from the source mount. */
  clearFlags: number;
  /** Propagation changes (MS_SHARED, MS_PRIVATE|MS_REC...), one mount(2) call each, in order. */
  propagation: number[];
  /** `bind` or `rbind` seen. */
  bind: boolean;
  /** `rbind` seen. */
  recursive: boolean;
  /** Unknown options, comma-joined, for the data argument of mount(2). */
  data: string;
  /** MOUNT_ATTR_* to set / clear recursively (rro, rnosuid, rnoatime...). When any atime
   * option was given, recAttrClear holds MOUNT_ATTR.ATIME_MASK and recAttrSet the mode. */
  recAttrSet: number;
  recAttrClear: number;
  /** `idmap` or `ridmap` seen. Not part of recAttrSet: MOUNT_ATTR_IDMAP needs a userns fd. */
  idmap: boolean;
  /** `ridmap` seen: apply the idmapping with AT_RECURSIVE. */
  idmapRecursive: boolean;
  /** `tmpcopyup` seen: copy the destination's contents into the new tmpfs. */
  tmpcopyup: boolean;
}

// Options that turn an MS_* flag on / off.
const SETS_FLAG: Record<string, number> = {
  ro: MS.RDONLY, nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS, dirsync: MS.DIRSYNC, remount: MS.REMOUNT, mand: MS.MANDLOCK,
  nodiratime: MS.NODIRATIME, lazytime: MS.LAZYTIME, iversion: MS.I_VERSION,
  silent: MS.SILENT, nosymfollow: MS.NOSYMFOLLOW,
};
const CLEARS_FLAG: Record<string, number> = {
  rw: MS.RDONLY, suid: MS.NOSUID, dev: MS.NODEV, exec: MS.NOEXEC, async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK, atime: MS.NOATIME, diratime: MS.NODIRATIME, norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME, nolazytime: MS.LAZYTIME, noiversion: MS.I_VERSION,
  loud: MS.SILENT, symfollow: MS.NOSYMFOLLOW,
};
// noatime, relatime and strictatime are one setting with three values: choosing one
// clears the other two (matters on remount, where the old value would otherwise stay).
const ATIME_FLAGS = MS.NOATIME | MS.RELATIME | MS.STRICTATIME;
const SETS_ATIME: Record<string, number> = {
  noatime: MS.NOATIME, relatime: MS.RELATIME, strictatime: MS.STRICTATIME,
};

const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

const SETS_REC_ATTR: Record<string, number> = {
  rro: MOUNT_ATTR.RDONLY, rnosuid: MOUNT_ATTR.NOSUID, rnodev: MOUNT_ATTR.NODEV,
  rnoexec: MOUNT_ATTR.NOEXEC, rnodiratime: MOUNT_ATTR.NODIRATIME,
  rnosymfollow: MOUNT_ATTR.NOSYMFOLLOW,
};
const CLEARS_REC_ATTR: Record<string, number> = {
  rrw: MOUNT_ATTR.RDONLY, rsuid: MOUNT_ATTR.NOSUID, rdev: MOUNT_ATTR.NODEV,
  rexec: MOUNT_ATTR.NOEXEC, rdiratime: MOUNT_ATTR.NODIRATIME,
  rsymfollow: MOUNT_ATTR.NOSYMFOLLOW,
};
// mount_setattr's atime is an enum, so each "no..." form has to pick a mode: the kernel
// default (relatime) for ratime / rnostrictatime, strictatime for rnorelatime.
const SETS_REC_ATIME: Record<string, number> = {
  rnoatime: MOUNT_ATTR.NOATIME, ratime: MOUNT_ATTR.RELATIME,
  rrelatime: MOUNT_ATTR.RELATIME, rnorelatime: MOUNT_ATTR.STRICTATIME,
  rstrictatime: MOUNT_ATTR.STRICTATIME, rnostrictatime: MOUNT_ATTR.RELATIME,
};

const has = (table: Record<string, number>, key: string): boolean =>
  Object.prototype.hasOwnProperty.call(table, key);

export function parseMountOptions(options: string[] | undefined): ParsedMountOptions {
  const out: ParsedMountOptions = {
    flags: 0, clearFlags: 0, propagation: [], bind: false, recursive: false, data: '',
    recAttrSet: 0, recAttrClear: 0, idmap: false, idmapRecursive: false, tmpcopyup: false,
  };
  const data: string[] = [];
  const setFlag = (f: number): void => {
    out.flags |= f;
    out.clearFlags &= ~f;
  };
  const clearFlag = (f: number): void => {
    out.clearFlags |= f;
    out.flags &= ~f;
  };
  const setAttr = (a: number): void => {
    out.recAttrSet |= a;
    out.recAttrClear &= ~a;
  };
  const clearAttr = (a: number): void => {
    out.recAttrClear |= a;
    out.recAttrSet &= ~a;
  };

  for (const opt of options ?? []) {
    if (opt === '' || opt === 'defaults') continue; // defaults: what mount(2) does with no flags
    if (has(SETS_FLAG, opt)) setFlag(SETS_FLAG[opt]);
    else if (has(CLEARS_FLAG, opt)) clearFlag(CLEARS_FLAG[opt]);
    else if (has(SETS_ATIME, opt)) {
      clearFlag(ATIME_FLAGS & ~SETS_ATIME[opt]);
      setFlag(SETS_ATIME[opt]);
    } else if (has(PROPAGATION, opt)) out.propagation.push(PROPAGATION[opt]);
    else if (has(SETS_REC_ATTR, opt)) setAttr(SETS_REC_ATTR[opt]);
    else if (has(CLEARS_REC_ATTR, opt)) clearAttr(CLEARS_REC_ATTR[opt]);
    else if (has(SETS_REC_ATIME, opt)) {
      out.recAttrClear |= MOUNT_ATTR.ATIME_MASK;
      out.recAttrSet = (out.recAttrSet & ~MOUNT_ATTR.ATIME_MASK) | SETS_REC_ATIME[opt];
    } else if (opt === 'bind') {
      out.flags |= MS.BIND;
      out.bind = true;
    } else if (opt === 'rbind') {
      // rbind wins over bind whatever the order: one recursive copy is never undone
      out.flags |= MS.BIND | MS.REC;
      out.bind = true;
      out.recursive = true;
    } else if (opt === 'idmap') out.idmap = true;
    else if (opt === 'ridmap') {
      out.idmap = true;
      out.idmapRecursive = true;
    } else if (opt === 'tmpcopyup') out.tmpcopyup = true;
    else data.push(opt); // filesystem-specific (size=, mode=, newinstance...)
  }
  out.data = data.join(',');
  return out;
}

/** A mount is a bind mount if its type says so or its options ask for bind / rbind. */
export function isBindMount(m: { type?: string; options?: string[] }): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

// Debug order: what kind of mount first, then its attributes.
const FLAG_NAMES: Array<[string, number]> = [
  ['MS_REMOUNT', MS.REMOUNT], ['MS_BIND', MS.BIND], ['MS_MOVE', MS.MOVE], ['MS_REC', MS.REC],
  ['MS_SHARED', MS.SHARED], ['MS_SLAVE', MS.SLAVE], ['MS_PRIVATE', MS.PRIVATE],
  ['MS_UNBINDABLE', MS.UNBINDABLE], ['MS_RDONLY', MS.RDONLY], ['MS_NOSUID', MS.NOSUID],
  ['MS_NODEV', MS.NODEV], ['MS_NOEXEC', MS.NOEXEC], ['MS_SYNCHRONOUS', MS.SYNCHRONOUS],
  ['MS_MANDLOCK', MS.MANDLOCK], ['MS_DIRSYNC', MS.DIRSYNC], ['MS_NOSYMFOLLOW', MS.NOSYMFOLLOW],
  ['MS_NOATIME', MS.NOATIME], ['MS_NODIRATIME', MS.NODIRATIME], ['MS_RELATIME', MS.RELATIME],
  ['MS_STRICTATIME', MS.STRICTATIME], ['MS_LAZYTIME', MS.LAZYTIME],
  ['MS_I_VERSION', MS.I_VERSION], ['MS_SILENT', MS.SILENT],
];

/** 'MS_BIND|MS_REC|MS_RDONLY'; unknown bits as hex; '0' for no flags. */
export function describeMountFlags(flags: number): string {
  const names: string[] = [];
  let rest = flags >>> 0;
  for (const [name, bit] of FLAG_NAMES) {
    if (rest & bit) {
      names.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length > 0 ? names.join('|') : '0';
}

/**
 * The option names parseMountOptions gives a meaning that the mount steps apply, sorted
 * (`tsrt features` mountOptions). Not listed: idmap, ridmap and tmpcopyup, which are
 * parsed but not applied by rootfs.ts yet, and filesystem data (size=, mode=...).
 */
export function knownMountOptions(): string[] {
  const tables = [SETS_FLAG, CLEARS_FLAG, SETS_ATIME, PROPAGATION, SETS_REC_ATTR, CLEARS_REC_ATTR, SETS_REC_ATIME];
  return [...new Set(['defaults', 'bind', 'rbind', ...tables.flatMap((t) => Object.keys(t))])].sort();
}
