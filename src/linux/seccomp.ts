// linux.seccomp compiled to a classic BPF program in the parent, with libseccomp
// (libseccomp.so.2) bound through koffi, loaded only when a config has linux.seccomp.
// The plan then loads the program with the raw seccomp(2) syscall (security.ts), so no
// libseccomp code runs in the container and the flags go straight to the kernel.
//
// Semantics kept from runc, because profiles written for it rely on them:
// - a syscall name libseccomp does not know on this architecture is skipped;
// - a rule whose action is the default action is skipped (libseccomp refuses it);
// - when one rule has several conditions on the same argument, each condition becomes
//   a rule of its own (any of them matches); otherwise all conditions must match.
import { closeSync, fstatSync, readSync } from 'node:fs';
import type { LinuxSeccomp, LinuxSeccompArg } from '../oci/spec-types';
import { koffi } from '../libc/libc';
import { errnoName, strerror } from '../libc/errno';
import { ConfigError } from '../util/errors';
import { quote } from '../util/quote';
import { AUDIT_ARCH_X86_64, enosysStub, type EnosysArch } from './seccomp-enosys';

/** seccomp(2) SECCOMP_FILTER_FLAG_* bits. */
export const FILTER_FLAG = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 8,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 16,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const;

const CONFIG_FLAGS = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] as const;

/** libseccomp's enum scmp_compare. */
const OPERATORS: Record<string, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

const EPERM = 1;

/** The SCMP_ACT_* value of an action (errno-carrying ones take `errnoRet`, default EPERM). */
function actionValue(action: string, errnoRet: number | undefined, field: string): number {
  const ret = (errnoRet ?? EPERM) & 0xffff;
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return 0x00000000;
    case 'SCMP_ACT_KILL_PROCESS': return 0x80000000;
    case 'SCMP_ACT_TRAP': return 0x00030000;
    case 'SCMP_ACT_ERRNO': return 0x00050000 | ret;
    case 'SCMP_ACT_TRACE': return 0x7ff00000 | ret;
    case 'SCMP_ACT_LOG': return 0x7ffc0000;
    case 'SCMP_ACT_ALLOW': return 0x7fff0000;
    case 'SCMP_ACT_NOTIFY': return 0x7fc00000;
    default: throw new ConfigError(`${field}: unknown seccomp action ${quote(action)}`);
  }
}

export interface CompiledSeccomp {
  /** struct sock_filter[]: 8 bytes per instruction */
  program: Buffer;
  /** SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER) */
  flags: number;
  /** SCMP_ACT_NOTIFY is used: the filter returns a listener fd (NEW_LISTENER) */
  notify: boolean;
  /** syscall names this libseccomp does not know (skipped) */
  skipped: string[];
}

/** Whether linux.seccomp uses SCMP_ACT_NOTIFY (decided from the JSON, before compiling). */
export function seccompUsesNotify(sc: LinuxSeccomp | undefined): boolean {
  return !!sc && (sc.defaultAction === 'SCMP_ACT_NOTIFY' || (sc.syscalls ?? []).some((s) => s.action === 'SCMP_ACT_NOTIFY'));
}

interface Lib {
  init(def: number): unknown;
  release(ctx: unknown): void;
  archResolve(name: string): number;
  archAdd(ctx: unknown, token: number): number;
  resolve(name: string): number;
  resolveArch(token: number, name: string): number;
  ruleAdd(ctx: unknown, action: number, nr: number, count: number, args: Buffer | null): number;
  exportBpf(ctx: unknown, fd: number): number;
  version(): string;
  memfd(name: string, flags: number): number;
  probeFlags(flags: number): number;
}

let lib: Lib | undefined;

/** Binds libseccomp on first use (configs without linux.seccomp never load it). */
function seccompLib(): Lib {
  if (lib) return lib;
  const k = koffi();
  let so: ReturnType<typeof k.load>;
  try {
    so = k.load('libseccomp.so.2');
  } catch (e) {
    throw new ConfigError(`linux.seccomp: cannot load libseccomp.so.2 (install libseccomp2): ${(e as Error).message}`);
  }
  const c = k.load('libc.so.6');
  const init = so.func('void *seccomp_init(uint32_t def_action)');
  const release = so.func('void seccomp_release(void *ctx)');
  const archResolve = so.func('uint32_t seccomp_arch_resolve_name(const char *name)');
  const archAdd = so.func('int seccomp_arch_add(void *ctx, uint32_t arch_token)');
  const resolve = so.func('int seccomp_syscall_resolve_name(const char *name)');
  const resolveArch = so.func('int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name)');
  const ruleAdd = so.func('int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, const uint8_t *arg_array)');
  const exportBpf = so.func('int seccomp_export_bpf(void *ctx, int fd)');
  const version = so.func('const uint32_t *seccomp_version(void)');
  const memfd = c.func('int memfd_create(const char *name, unsigned int flags)');
  const syscall = c.func('long syscall(long nr, ...)');
  const nr = process.arch === 'arm64' ? 277 : 317;
  lib = {
    init: (d) => init(d),
    release: (ctx) => release(ctx),
    archResolve: (n) => archResolve(n) as number,
    archAdd: (ctx, t) => archAdd(ctx, t) as number,
    resolve: (n) => resolve(n) as number,
    resolveArch: (t, n) => resolveArch(t, n) as number,
    ruleAdd: (ctx, a, n, cnt, args) => ruleAdd(ctx, a, n, cnt, args) as number,
    exportBpf: (ctx, fd) => exportBpf(ctx, fd) as number,
    version: () => {
      const v = k.decode(version(), 'uint32_t', 3) as ArrayLike<number>;
      return `${v[0]}.${v[1]}.${v[2]}`;
    },
    memfd: (n, f) => memfd(n, f) as number,
    // seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL): EFAULT when the kernel knows the
    // flags (nothing is loaded), EINVAL when it does not.
    probeFlags: (flags) => {
      const r = Number(syscall(nr, 'unsigned int', 1, 'unsigned int', flags, 'uintptr_t', 0n));
      return r < 0 ? k.errno() : 0;
    },
  };
  return lib;
}

/** "SCMP_ARCH_X86_64" -> libseccomp's name "x86_64". */
function archName(a: string): string {
  return a.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

/** struct scmp_arg_cmp { u32 arg; u32 op; u64 datum_a; u64 datum_b } per condition. */
function conditions(args: LinuxSeccompArg[], field: string): Buffer {
  const buf = Buffer.alloc(24 * args.length);
  args.forEach((a, j) => {
    const at = `${field}.args[${j}]`;
    const op = OPERATORS[a.op];
    if (op === undefined) throw new ConfigError(`${at}.op: unknown seccomp operator ${quote(a.op)}`);
    if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new ConfigError(`${at}.index: must be 0 to 5 (a syscall has six arguments), got ${a.index}`);
    buf.writeUInt32LE(a.index, 24 * j);
    buf.writeUInt32LE(op, 24 * j + 4);
    // For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the value compared with.
    buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a.value)), 24 * j + 8);
    buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a.valueTwo ?? 0)), 24 * j + 16);
  });
  return buf;
}

function libErr(rc: number): string {
  return `${errnoName(-rc)} (${strerror(-rc)})`;
}

/** Compiles linux.seccomp; every refusal names the config field and why. */
export function compileSeccomp(sc: LinuxSeccomp): CompiledSeccomp {
  const notify = seccompUsesNotify(sc);
  if (sc.defaultAction === 'SCMP_ACT_NOTIFY') {
    throw new ConfigError('linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the runtime could not send the listener fd)');
  }
  if (sc.defaultErrnoRet !== undefined && sc.defaultAction !== 'SCMP_ACT_ERRNO' && sc.defaultAction !== 'SCMP_ACT_TRACE') {
    throw new ConfigError(`linux.seccomp.defaultErrnoRet: cannot be used with defaultAction "${sc.defaultAction}" (only SCMP_ACT_ERRNO, SCMP_ACT_TRACE)`);
  }
  if (notify && !sc.listenerPath) {
    throw new ConfigError('linux.seccomp.listenerPath: required when SCMP_ACT_NOTIFY is used (the agent receives the listener fd there)');
  }
  const defaultAct = actionValue(sc.defaultAction, sc.defaultErrnoRet, 'linux.seccomp.defaultAction');

  let flags = 0;
  (sc.flags ?? []).forEach((f, i) => {
    if (!(CONFIG_FLAGS as readonly string[]).includes(f)) {
      throw new ConfigError(`linux.seccomp.flags[${i}]: unknown seccomp flag ${quote(f)} (expected one of ${CONFIG_FLAGS.join(', ')})`);
    }
    flags |= FILTER_FLAG[f as keyof typeof FILTER_FLAG];
  });
  if (notify) {
    flags |= FILTER_FLAG.SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // TSYNC and NEW_LISTENER are refused together unless TSYNC_ESRCH says how to fail.
    if (flags & FILTER_FLAG.SECCOMP_FILTER_FLAG_TSYNC) flags |= FILTER_FLAG.SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  } else {
    // WAIT_KILLABLE_RECV only concerns notifications; the kernel refuses it (EINVAL)
    // without a listener, so a filter without SCMP_ACT_NOTIFY simply does not need it.
    flags &= ~FILTER_FLAG.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  }

  // Check every action and operator before touching libseccomp.
  (sc.syscalls ?? []).forEach((s, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    actionValue(s.action, s.errnoRet, `${field}.action`);
    if (s.errnoRet !== undefined && s.action !== 'SCMP_ACT_ERRNO' && s.action !== 'SCMP_ACT_TRACE') {
      throw new ConfigError(`${field}.errnoRet: cannot be used with action "${s.action}" (only SCMP_ACT_ERRNO, SCMP_ACT_TRACE)`);
    }
    if (s.action === 'SCMP_ACT_NOTIFY' && s.names.includes('sendmsg')) {
      throw new ConfigError(`${field}: SCMP_ACT_NOTIFY cannot be used for sendmsg (tsrt sends the listener fd with sendmsg after loading the filter)`);
    }
    // runc's rule and words: the init writes to tsrt after the filter is loaded (the
    // ready message, the exec fifo), and an agent that is not there yet would never answer.
    if (s.action === 'SCMP_ACT_NOTIFY' && s.names.includes('write')) {
      throw new ConfigError(`${field}: SCMP_ACT_NOTIFY cannot be used for the write syscall`);
    }
    conditions(s.args ?? [], field);
  });

  const l = seccompLib();
  if (flags) {
    const e = l.probeFlags(flags);
    if (e && e !== 14 /* EFAULT: flags known */) {
      const names = Object.entries(FILTER_FLAG).filter(([, bit]) => flags & bit).map(([n]) => n).join('|');
      throw new ConfigError(`linux.seccomp.flags: this kernel does not support ${names} (${errnoName(e)})`);
    }
  }

  const ctx = l.init(defaultAct);
  if (!ctx) throw new ConfigError(`linux.seccomp.defaultAction: libseccomp ${l.version()} refused ${sc.defaultAction}`);
  try {
    (sc.architectures ?? []).forEach((a, i) => {
      const token = l.archResolve(archName(a));
      if (!token) throw new ConfigError(`linux.seccomp.architectures[${i}]: ${a} is not supported by libseccomp ${l.version()} on this host`);
      const rc = l.archAdd(ctx, token);
      if (rc < 0 && rc !== -17 /* EEXIST: the native arch is always there */) {
        throw new ConfigError(`linux.seccomp.architectures[${i}]: adding ${a}: ${libErr(rc)}`);
      }
    });
    const skipped: string[] = [];
    (sc.syscalls ?? []).forEach((s, i) => {
      const field = `linux.seccomp.syscalls[${i}]`;
      const act = actionValue(s.action, s.errnoRet, `${field}.action`);
      if (act === defaultAct) return;
      const args = s.args ?? [];
      const perIndex = new Map<number, number>();
      for (const a of args) perIndex.set(a.index, (perIndex.get(a.index) ?? 0) + 1);
      const groups = [...perIndex.values()].some((n) => n > 1) ? args.map((a) => [a]) : [args];
      s.names.forEach((name, k) => {
        const nr = l.resolve(name);
        if (nr === -1) {
          skipped.push(name);
          return;
        }
        for (const g of groups) {
          const rc = l.ruleAdd(ctx, act, nr, g.length, g.length ? conditions(g, field) : null);
          if (rc < 0) throw new ConfigError(`${field}.names[${k}]: libseccomp refused the rule for ${name}: ${libErr(rc)}`);
        }
      });
    });
    const program = withEnosysStub(l, sc, exportProgram(l, ctx));
    return { program, flags, notify, skipped };
  } finally {
    l.release(ctx);
  }
}

/**
 * As runc: unless the default action lets syscalls through (ALLOW, LOG, TRACE) or already
 * is ENOSYS, syscalls numbered above the highest the profile names get ENOSYS, per
 * architecture listed in linux.seccomp.architectures (none listed: no stub, as runc).
 * Every rule's names count, whatever their action; names unknown on an arch do not.
 */
function withEnosysStub(l: Lib, sc: LinuxSeccomp, program: Buffer): Buffer {
  const allowing = ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(sc.defaultAction);
  if (allowing || (sc.defaultAction === 'SCMP_ACT_ERRNO' && sc.defaultErrnoRet === 38 /* ENOSYS */)) return program;
  const x32 = l.archResolve('x32');
  const byAudit = new Map<number, EnosysArch>();
  for (const a of new Set((sc.architectures ?? []).map(archName))) {
    const token = l.archResolve(a);
    let max = 0;
    for (const s of sc.syscalls ?? []) {
      for (const name of s.names) max = Math.max(max, l.resolveArch(token, name));
    }
    if (max <= 0) continue; // no syscall of the profile exists there: leave it to the filter
    // x32 shares x86_64's audit arch; its numbers carry bit 30 (libseccomp includes it).
    const audit = token === x32 ? AUDIT_ARCH_X86_64 : token >>> 0;
    const entry = byAudit.get(audit) ?? { auditArch: audit };
    if (token === x32) entry.maxX32 = max;
    else entry.max = max;
    byAudit.set(audit, entry);
  }
  if (!byAudit.size) return program;
  const full = Buffer.concat([enosysStub([...byAudit.values()]), program]);
  if (full.length / 8 > 4096) throw new ConfigError(`linux.seccomp: the filter has ${full.length / 8} instructions; the kernel allows 4096`);
  return full;
}

/** seccomp_export_bpf into a memfd, read back (libseccomp 2.5 has no in-memory export). */
function exportProgram(l: Lib, ctx: unknown): Buffer {
  const fd = l.memfd('tsrt-seccomp', 1 /* MFD_CLOEXEC */);
  if (fd < 0) throw new ConfigError(`linux.seccomp: memfd_create: ${errnoName(koffi().errno())}`);
  try {
    const rc = l.exportBpf(ctx, fd);
    if (rc < 0) throw new ConfigError(`linux.seccomp: libseccomp could not export the filter: ${libErr(rc)}`);
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== size || size % 8 !== 0 || size === 0) throw new ConfigError(`linux.seccomp: exported filter has an unexpected size (${got} of ${size} bytes)`);
    if (size / 8 > 4096) throw new ConfigError(`linux.seccomp: the filter has ${size / 8} instructions; the kernel allows 4096`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

export interface SeccompSupport {
  actions: string[];
  operators: string[];
  archs: string[];
  knownFlags: string[];
  /** the known flags this kernel takes (probed with a NULL program, nothing is loaded) */
  supportedFlags: string[];
  libseccompVersion: string;
}

/**
 * For `tsrt features`: which of the spec's seccomp names (`candidates`) compileSeccomp
 * accepts, the architectures this libseccomp resolves, and the flags the kernel takes.
 * Undefined when libseccomp.so.2 cannot be loaded: no seccomp at all then.
 */
export function seccompSupport(candidates: { actions: string[]; operators: string[]; archs: string[] }): SeccompSupport | undefined {
  let l: Lib;
  try {
    l = seccompLib();
  } catch {
    return undefined;
  }
  const accepts = (a: string) => {
    try {
      actionValue(a, undefined, 'features');
      return true;
    } catch {
      return false;
    }
  };
  // As compileSeccomp adds them: a filter holds one byte order (the native arch's), so
  // libseccomp refuses the others with EDOM.
  const addable = (a: string) => {
    const token = l.archResolve(archName(a));
    if (!token) return false;
    const ctx = l.init(0x7fff0000 /* SCMP_ACT_ALLOW */);
    if (!ctx) return false;
    try {
      const rc = l.archAdd(ctx, token);
      return rc === 0 || rc === -17; /* EEXIST: the native arch */
    } finally {
      l.release(ctx);
    }
  };
  return {
    actions: candidates.actions.filter(accepts),
    operators: candidates.operators.filter((o) => OPERATORS[o] !== undefined),
    archs: candidates.archs.filter(addable),
    knownFlags: [...CONFIG_FLAGS],
    supportedFlags: CONFIG_FLAGS.filter((f) => {
      // WAIT_KILLABLE_RECV is refused (EINVAL) without NEW_LISTENER, where it belongs.
      const with_ = f === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV' ? FILTER_FLAG.SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
      const e = l.probeFlags(FILTER_FLAG[f] | with_);
      return e === 0 || e === 14; // EFAULT: the flag is known, the NULL program refused
    }),
    libseccompVersion: l.version(),
  };
}
