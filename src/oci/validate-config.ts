// config.json validation: the schema (compiled at build time into ./generated, see
// scripts/compile-schemas.mjs) checks shapes and types; the semantic checks below cover what a
// JSON Schema cannot say (absolute paths, namespace consistency, known names, version range).
// Every problem is reported as "config.json: <dotted.path>: <what was expected>".

import { ConfigError } from '../util/errors';
import { dropUnavailableCapabilities } from '../linux/capabilities';
import { NUL_BYTE, hasNul, quote } from '../util/quote';
import { validateConfigSchema, type ConfigSchemaError } from './generated/config-validator';
import type { Hook, LinuxIDMapping, LinuxNamespaceType, Process, Spec } from './spec-types';

/** Linux capability names, indexed by capability number (CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE = 40). */
export const KNOWN_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
]);

/** Linux resource limit names (getrlimit(2)), indexed by RLIMIT_* number on x86-64/arm64. */
export const KNOWN_RLIMITS: readonly string[] = Object.freeze([
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
]);

/** Namespace types tsrt knows (linux.namespaces[].type). */
export const NAMESPACE_TYPES: readonly LinuxNamespaceType[] = Object.freeze([
  'pid',
  'network',
  'mount',
  'ipc',
  'uts',
  'user',
  'cgroup',
  'time',
] as const);

/** Human description of the accepted ociVersion range. */
export const SUPPORTED_OCI_VERSIONS = '1.0.0 to 1.3.x, and the 0.5.x drafts';

const RLIMIT_SET = new Set(KNOWN_RLIMITS);
const TIME_NS_CLOCKS = ['monotonic', 'boottime'];
const MAX_REPORTED = 3;

/**
 * Validates a parsed config.json and returns it typed. Throws ConfigError naming the first
 * problem, or up to three problems joined with "; ". The changes made to the (same,
 * returned) object, as in runc: a missing process.user becomes {uid: 0, gid: 0}; the
 * capability names this kernel lacks are removed, with a warning.
 */
export function validateConfig(raw: unknown): Spec {
  const problems = collectConfigProblems(raw);
  if (problems.length > 0) throw new ConfigError(formatProblems(problems));
  const spec = raw as Spec;
  if (spec.process && spec.process.user === undefined) spec.process.user = { uid: 0, gid: 0 };
  dropUnavailableCapabilities(spec.process?.capabilities, 'process.capabilities', warnLater);
  return spec;
}

/** The runtime's warning log, loaded only when there is something to warn about. */
export function warnLater(msg: string): void {
  (require('../cli/log') as typeof import('../cli/log')).logWarn(msg);
}

/**
 * All problems found in a parsed config.json, each as "<dotted.path>: <message>" (without the
 * "config.json: " prefix). Empty when the config is valid. Schema (shape/type) problems are
 * reported first; semantic checks only run on a config whose shape is right.
 */
export function collectConfigProblems(raw: unknown): string[] {
  if (!isPlainObject(raw)) return [`(top level): must be a JSON object, got ${describeValue(raw)}`];

  const version = checkOciVersion(raw.ociVersion);
  if (version) return [version];

  if (!validateConfigSchema(raw)) return translateSchemaErrors(validateConfigSchema.errors ?? [], raw);

  const out: string[] = [];
  checkSemantics(raw as unknown as Spec, (path, message) => out.push(`${path}: ${message}`));
  return out;
}

/** tsrt needs a process to create a container (the spec makes it optional in general). */
export function requireProcess(spec: Spec): Process {
  if (!spec.process) throw new ConfigError('config.json: process: required to create a container');
  return spec.process;
}

/**
 * Checks process.terminal against the --console-socket flag. interactive: tsrt itself is
 * attached to a terminal (foreground `run`), so it can host the pty without a socket.
 */
export function checkTerminalSocket(
  spec: Spec,
  consoleSocket: string | undefined,
  opts: { interactive: boolean },
): void {
  const terminal = spec.process?.terminal === true;
  const haveSocket = consoleSocket !== undefined && consoleSocket !== '';
  if (haveSocket && !terminal) {
    throw new ConfigError('--console-socket given but process.terminal is false');
  }
  if (terminal && !haveSocket && !opts.interactive) {
    throw new ConfigError('process.terminal is true: --console-socket is required (or run from a terminal)');
  }
}

function formatProblems(problems: string[]): string {
  const shown = problems.slice(0, MAX_REPORTED).join('; ');
  const more = problems.length - MAX_REPORTED;
  return `config.json: ${shown}${more > 0 ? `; and ${more} more problem${more === 1 ? '' : 's'}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// ociVersion

/** MAJOR.MINOR.PATCH with optional -prerelease and +build parts (SemVer 2.0.0). */
const SEMVER = new RegExp(
  String.raw`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
    String.raw`(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`,
);

function checkOciVersion(v: unknown): string | undefined {
  if (v === undefined) return 'ociVersion: is required';
  if (typeof v !== 'string') return `ociVersion: must be a string, got ${describeValue(v)}`;
  const m = SEMVER.exec(v);
  if (!m) return `ociVersion: must be a SemVer version such as "1.2.0", got ${describeValue(v)}`;
  // Pre-release and build suffixes (1.0.0-rc5, 1.3.0+dev) are accepted within the range.
  // 0.5.x is the last draft before 1.0; the spec's own example configs still carry it.
  const draft = Number(m[1]) === 0 && Number(m[2]) === 5;
  if (!draft && (Number(m[1]) !== 1 || Number(m[2]) > 3)) {
    return `ociVersion: unsupported version ${describeValue(v)} (tsrt supports ${SUPPORTED_OCI_VERSIONS})`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Schema error translation

/** Path (indexes as [*]) -> what its enum values are, for "unknown <noun> ..." messages. */
const ENUM_NOUNS: Record<string, string> = {
  'linux.namespaces[*].type': 'namespace type',
  'linux.devices[*].type': 'device type',
  'linux.resources.devices[*].type': 'device cgroup type',
  'linux.rootfsPropagation': 'rootfs propagation',
  'linux.seccomp.defaultAction': 'seccomp action',
  'linux.seccomp.syscalls[*].action': 'seccomp action',
  'linux.seccomp.architectures[*]': 'seccomp architecture',
  'linux.seccomp.flags[*]': 'seccomp flag',
  'linux.seccomp.syscalls[*].args[*].op': 'seccomp operator',
  'linux.memoryPolicy.mode': 'memory policy mode',
  'linux.memoryPolicy.flags[*]': 'memory policy flag',
  'linux.personality.domain': 'personality domain',
  'process.scheduler.policy': 'scheduler policy',
  'process.scheduler.flags[*]': 'scheduler flag',
  'process.ioPriority.class': 'I/O priority class',
};

/** Schema pattern -> what it means. */
const PATTERN_TEXT: Record<string, string> = {
  '^[rwm]*$': 'must be a combination of r, w and m',
  '^[1-9][0-9]*[KMGTP]B$': 'must be a size such as 64KB, 2MB or 1GB',
};

/** Paths (indexes as [*]) whose every error is best described by one fixed sentence. */
const PATH_MESSAGES: Record<string, string> = {
  'process.args': 'must be a non-empty array of strings',
  'linux.seccomp.syscalls[*].names': 'must be a non-empty array of syscall names',
};

interface Located {
  pointer: string;
  message: string;
}

function translateSchemaErrors(errors: ConfigSchemaError[], data: unknown): string[] {
  // anyOf/oneOf: their branch errors are folded into one sentence on the anyOf error itself.
  const combinators = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const isBranchError = (e: ConfigSchemaError) => combinators.some((c) => isBranchOf(e, c));

  const located: Located[] = [];
  for (const e of errors) {
    if (isBranchError(e)) continue;
    const l = translateOne(e, errors, data);
    if (l) located.push(l);
  }

  const seen = new Set<string>();
  const out: string[] = [];
  for (const l of located) {
    let path = pointerToPath(l.pointer, data);
    let message = l.message;
    const fixed = fixedMessageFor(path);
    if (fixed) [path, message] = fixed;
    if (seen.has(path)) continue; // one problem per location: the first is the most specific
    seen.add(path);
    out.push(`${path}: ${message}`);
  }
  return out.length > 0 ? out : ['(top level): does not match the config.json schema'];
}

/** Whether e was reported by one of the branches of the anyOf/oneOf error c. */
function isBranchOf(e: ConfigSchemaError, c: ConfigSchemaError): boolean {
  return (
    e !== c &&
    e.schemaPath.startsWith(`${c.schemaPath}/`) &&
    (e.instancePath === c.instancePath || e.instancePath.startsWith(`${c.instancePath}/`))
  );
}

/** For errors at or inside a PATH_MESSAGES path: that path and its fixed message. */
function fixedMessageFor(path: string): [string, string] | undefined {
  // Walk the path's prefixes segment by segment: "process", "process.args", "process.args[1]".
  let prefix = '';
  for (const seg of path.match(/\[[^\]]*\]|\.?[^.[]+/g) ?? []) {
    prefix += seg;
    const message = PATH_MESSAGES[genericPath(prefix)];
    if (message) return [prefix, message];
  }
  return undefined;
}

function translateOne(e: ConfigSchemaError, all: ConfigSchemaError[], data: unknown): Located | undefined {
  const value = valueAt(data, e.instancePath);
  const p = e.params;
  switch (e.keyword) {
    case 'type':
      return at(e.instancePath, `must be ${withArticle(String(p.type))}, got ${describeValue(value)}`);
    case 'required':
      return at(`${e.instancePath}/${escapePointer(String(p.missingProperty))}`, 'is required');
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).filter((v) => v !== '').map(String);
      const noun = ENUM_NOUNS[genericPath(pointerToPath(e.instancePath, data))];
      if (noun && typeof value === 'string') {
        return at(e.instancePath, `unknown ${noun} ${describeValue(value)} (expected one of ${allowed.join(', ')})`);
      }
      return at(e.instancePath, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
    }
    case 'minimum':
      return at(e.instancePath, `must be at least ${p.limit}, got ${describeValue(value)}`);
    case 'maximum':
      return at(e.instancePath, `must be at most ${p.limit}, got ${describeValue(value)}`);
    case 'exclusiveMinimum':
      return at(e.instancePath, `must be greater than ${p.limit}, got ${describeValue(value)}`);
    case 'minItems':
      return at(e.instancePath, p.limit === 1 ? 'must not be empty' : `must have at least ${p.limit} entries`);
    case 'minLength':
      if (e.propertyName !== undefined) return undefined; // reported by the propertyNames error
      return at(e.instancePath, p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters`);
    case 'propertyNames':
      return at(
        e.instancePath,
        p.propertyName === '' ? 'keys must not be empty' : `invalid key ${describeValue(p.propertyName)}`,
      );
    case 'pattern':
      return at(
        e.instancePath,
        `${PATTERN_TEXT[String(p.pattern)] ?? `must match ${String(p.pattern)}`}, got ${describeValue(value)}`,
      );
    case 'anyOf':
    case 'oneOf': {
      // One sentence for the whole anyOf: "at least one of" when every branch wants a
      // property, otherwise the first branch's complaint.
      const branches = all.filter((b) => isBranchOf(b, e));
      if (branches.length > 0 && branches.every((b) => b.keyword === 'required' && b.instancePath === e.instancePath)) {
        const names = [...new Set(branches.map((b) => String(b.params.missingProperty)))];
        return at(e.instancePath, `must set at least one of ${names.join(', ')}`);
      }
      const inner = branches.length > 0 ? translateOne(branches[0], all, data) : undefined;
      return inner ?? at(e.instancePath, 'does not match any of the allowed forms');
    }
    default:
      return at(e.instancePath, e.message ?? `fails the "${e.keyword}" check`);
  }
}

function genericPath(path: string): string {
  return path.replace(/\[\d+\]/g, '[*]');
}

function at(pointer: string, message: string): Located {
  return { pointer, message };
}

function withArticle(type: string): string {
  const names = type.split(',').map((t) => (t === 'integer' || t === 'object' || t === 'array' ? `an ${t}` : `a ${t}`));
  return names.join(' or ');
}

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur: unknown = data;
  for (const seg of splitPointer(pointer)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** "/linux/namespaces/3/type" -> "linux.namespaces[3].type" (array-ness read from the data). */
function pointerToPath(pointer: string, data: unknown): string {
  let out = '';
  let cur: unknown = data;
  for (const seg of splitPointer(pointer)) {
    if (Array.isArray(cur)) out += `[${seg}]`;
    else out = appendKey(out, seg);
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return out === '' ? '(top level)' : out;
}

function appendKey(path: string, key: string): string {
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${quote(key)}]`;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return quote(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// Semantic checks (run on a config that matches the schema)

type Report = (path: string, message: string) => void;

function checkSemantics(spec: Spec, report: Report): void {
  if (containsNul(spec)) checkNulBytes(spec, '', report);
  for (const k of ['hostname', 'domainname'] as const) {
    const v = spec[k];
    // __NEW_UTS_LEN: the kernel refuses longer names with a bare EINVAL
    if (v !== undefined && Buffer.byteLength(v) > 64) report(k, `${quote(v)} is longer than 64 bytes, the kernel's limit`);
  }
  if (spec.process) checkProcess(spec.process, report);
  checkMounts(spec, report);
  checkHooks(spec, report);
  checkLinux(spec, report);
}

/**
 * Strings reach the kernel as C strings, cut at their first NUL: "/data\u0000/x" would
 * mount on /data. Annotations are only metadata and may hold anything.
 */
function containsNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\0');
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(containsNul);
  for (const k in v) if (k.includes('\0') || containsNul((v as Record<string, unknown>)[k])) return true;
  return false;
}

/** Names each string containsNul found (the slow walk, only on a config that has one). */
function checkNulBytes(v: unknown, path: string, report: Report): void {
  if (typeof v === 'string') {
    if (hasNul(v)) report(path || '(top level)', `${quote(v)} ${NUL_BYTE}`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => checkNulBytes(x, `${path}[${i}]`, report));
  } else if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (path === '' && k === 'annotations') continue;
      if (hasNul(k)) report(appendKey(path, k), `the key ${NUL_BYTE}`);
      checkNulBytes(x, appendKey(path, k), report);
    }
  }
}

function isAbs(p: string): boolean {
  return p.startsWith('/');
}

function requireAbs(path: string, value: string, report: Report): void {
  if (!isAbs(value)) report(path, `must be an absolute path, got ${describeValue(value)}`);
}

/** The largest uid or gid a process may get: from 2^31 on, the kernel's int is negative. */
export const MAX_PROCESS_ID = 0x7fffffff;

/**
 * Why a process uid or gid is refused, or undefined. 4294967295 is -1 to setresuid and
 * setgroups, which means "leave the id unchanged": the process would keep root.
 */
export function processIdProblem(id: number): string | undefined {
  if (Number.isInteger(id) && id >= 0 && id <= MAX_PROCESS_ID) return undefined;
  const minusOne = id === 0xffffffff ? ' (-1 to the kernel: "unchanged", the process would stay root)' : '';
  return `must be 0 to ${MAX_PROCESS_ID}, got ${id}${minusOne}`;
}

function checkProcess(proc: Process, report: Report): void {
  requireAbs('process.cwd', proc.cwd, report);
  if (proc.user) {
    const ids: [string, number][] = [['uid', proc.user.uid], ['gid', proc.user.gid]];
    proc.user.additionalGids?.forEach((g, i) => ids.push([`additionalGids[${i}]`, g]));
    for (const [name, id] of ids) {
      const problem = processIdProblem(id);
      if (problem) report(`process.user.${name}`, problem);
    }
  }

  // Unknown capability names are no error (config.md: logged, not fatal): validateConfig
  // drops them with a warning.

  const firstIndex = new Map<string, number>();
  proc.rlimits?.forEach((rl, i) => {
    const path = `process.rlimits[${i}]`;
    if (!RLIMIT_SET.has(rl.type)) {
      report(`${path}.type`, `unknown rlimit ${describeValue(rl.type)} (expected an RLIMIT_* name from getrlimit(2))`);
    } else if (firstIndex.has(rl.type)) {
      report(`${path}.type`, `duplicate rlimit "${rl.type}" (also at process.rlimits[${firstIndex.get(rl.type)}])`);
    } else {
      firstIndex.set(rl.type, i);
    }
    if (rl.soft > rl.hard) report(path, `soft limit ${rl.soft} is greater than hard limit ${rl.hard}`);
  });
}

function checkMounts(spec: Spec, report: Report): void {
  const hasUserNs = (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'user');
  spec.mounts?.forEach((m, i) => {
    const path = `mounts[${i}]`;
    requireAbs(`${path}.destination`, m.destination, report);
    const uid = m.uidMappings !== undefined;
    const gid = m.gidMappings !== undefined;
    if (uid !== gid) {
      const only = uid ? 'uidMappings' : 'gidMappings';
      report(path, `uidMappings and gidMappings must be given together (only ${only} is set)`);
    }
    checkMappingSizes(`${path}.uidMappings`, m.uidMappings, report);
    checkMappingSizes(`${path}.gidMappings`, m.gidMappings, report);
    const idmapOpt = m.options?.find((o) => o === 'idmap' || o === 'ridmap');
    if (idmapOpt && !uid && !gid && !hasUserNs) {
      report(
        `${path}.options`,
        `"${idmapOpt}" needs uidMappings/gidMappings on the mount or a user namespace in linux.namespaces`,
      );
    }
  });
}

const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

function checkHooks(spec: Spec, report: Report): void {
  const hooks = spec.hooks;
  if (!hooks) return;
  for (const kind of HOOK_KINDS) {
    hooks[kind]?.forEach((h: Hook, i: number) => {
      const path = `hooks.${kind}[${i}]`;
      requireAbs(`${path}.path`, h.path, report);
      if (h.timeout !== undefined && h.timeout <= 0) {
        report(`${path}.timeout`, `must be greater than 0, got ${h.timeout}`);
      }
    });
  }
}

/** Sizes above 0, and ranges that end before 4294967295 (the kernel's -1, never an id). */
function checkMappingSizes(path: string, maps: LinuxIDMapping[] | undefined, report: Report): void {
  maps?.forEach((m, i) => {
    if (m.size === 0) report(`${path}[${i}].size`, 'must be greater than 0');
    for (const k of ['containerID', 'hostID'] as const) {
      if (m[k] + m.size > 0xffffffff) {
        report(`${path}[${i}]`, `${k} ${m[k]} + size ${m.size} overflows: the last id of a range is 4294967294`);
      }
    }
  });
}

const ERRNO_ACTIONS = new Set(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);
const MPOL_NO_NODES = new Set(['MPOL_DEFAULT', 'MPOL_LOCAL']);
const MPOL_NEEDS_NODES = new Set(['MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_WEIGHTED_INTERLEAVE', 'MPOL_PREFERRED_MANY']);

function checkLinux(spec: Spec, report: Report): void {
  const linux = spec.linux;
  if (!linux) return;

  // Namespaces: known (schema), unique, absolute paths. An empty path means "create new".
  const nsIndex = new Map<string, number>();
  linux.namespaces?.forEach((ns, i) => {
    const path = `linux.namespaces[${i}]`;
    if (nsIndex.has(ns.type)) {
      const first = nsIndex.get(ns.type);
      report(`${path}.type`, `duplicate namespace type "${ns.type}" (also at linux.namespaces[${first}])`);
    } else {
      nsIndex.set(ns.type, i);
    }
    if (ns.path !== undefined && ns.path !== '') requireAbs(`${path}.path`, ns.path, report);
  });
  const nsAt = (type: LinuxNamespaceType) => {
    const i = nsIndex.get(type);
    return i === undefined ? undefined : { index: i, joins: (linux.namespaces![i].path ?? '') !== '' };
  };

  // User namespace mappings.
  const userNs = nsAt('user');
  const hasUid = (linux.uidMappings?.length ?? 0) > 0;
  const hasGid = (linux.gidMappings?.length ?? 0) > 0;
  if (userNs && !userNs.joins) {
    const why =
      'required when a new user namespace is created ' +
      `(linux.namespaces[${userNs.index}] has type user and no path)`;
    if (!hasUid) report('linux.uidMappings', why);
    if (!hasGid) report('linux.gidMappings', why);
  } else if (!userNs && (hasUid || hasGid)) {
    report(
      hasUid ? 'linux.uidMappings' : 'linux.gidMappings',
      'user namespace mappings given but linux.namespaces has no user namespace',
    );
  }
  checkMappingSizes('linux.uidMappings', linux.uidMappings, report);
  checkMappingSizes('linux.gidMappings', linux.gidMappings, report);

  // Time namespace offsets.
  if (linux.timeOffsets) {
    const timeNs = nsAt('time');
    if (!timeNs) {
      report('linux.timeOffsets', 'requires a time namespace (no entry of type time in linux.namespaces)');
    } else if (timeNs.joins) {
      report(
        'linux.timeOffsets',
        `cannot be applied when joining an existing time namespace (linux.namespaces[${timeNs.index}].path is set)`,
      );
    }
    for (const [clock, off] of Object.entries(linux.timeOffsets)) {
      const path = appendKey('linux.timeOffsets', clock);
      if (!TIME_NS_CLOCKS.includes(clock)) {
        report(path, `unknown clock ${describeValue(clock)} (expected monotonic or boottime)`);
      }
      if (off.nanosecs !== undefined && off.nanosecs >= 1e9) {
        report(`${path}.nanosecs`, `must be less than 1000000000, got ${off.nanosecs}`);
      }
    }
  }

  // Device nodes.
  linux.devices?.forEach((d, i) => {
    const path = `linux.devices[${i}]`;
    requireAbs(`${path}.path`, d.path, report);
    if (d.type !== 'p') {
      if (d.major === undefined) report(`${path}.major`, `is required for device type "${d.type}"`);
      if (d.minor === undefined) report(`${path}.minor`, `is required for device type "${d.type}"`);
    }
  });

  linux.maskedPaths?.forEach((p, i) => requireAbs(`linux.maskedPaths[${i}]`, p, report));
  linux.readonlyPaths?.forEach((p, i) => requireAbs(`linux.readonlyPaths[${i}]`, p, report));

  // Seccomp.
  const sc = linux.seccomp;
  if (sc) {
    if (sc.listenerMetadata !== undefined && sc.listenerMetadata !== '' && !sc.listenerPath) {
      report('linux.seccomp.listenerMetadata', 'requires linux.seccomp.listenerPath');
    }
    if (sc.defaultErrnoRet !== undefined && !ERRNO_ACTIONS.has(sc.defaultAction)) {
      report(
        'linux.seccomp.defaultErrnoRet',
        `cannot be used with defaultAction "${sc.defaultAction}" (only SCMP_ACT_ERRNO, SCMP_ACT_TRACE)`,
      );
    }
    sc.syscalls?.forEach((s, i) => {
      if (s.errnoRet !== undefined && !ERRNO_ACTIONS.has(s.action)) {
        report(
          `linux.seccomp.syscalls[${i}].errnoRet`,
          `cannot be used with action "${s.action}" (only SCMP_ACT_ERRNO, SCMP_ACT_TRACE)`,
        );
      }
    });
  }

  // Intel RDT.
  const rdt = linux.intelRdt;
  if (rdt) {
    if (rdt.memBwSchema !== undefined && (!rdt.memBwSchema.startsWith('MB:') || rdt.memBwSchema.includes('\n'))) {
      report(
        'linux.intelRdt.memBwSchema',
        `must start with "MB:" and be a single line, got ${describeValue(rdt.memBwSchema)}`,
      );
    }
    rdt.schemata?.forEach((line, i) => {
      if (line.includes('\n')) report(`linux.intelRdt.schemata[${i}]`, 'must not contain newlines');
    });
  }

  // NUMA memory policy.
  const mp = linux.memoryPolicy;
  if (mp) {
    const hasNodes = (mp.nodes ?? '') !== '';
    if (MPOL_NO_NODES.has(mp.mode) && hasNodes) {
      report('linux.memoryPolicy.nodes', `must be empty for mode ${mp.mode}, got ${describeValue(mp.nodes)}`);
    } else if (MPOL_NEEDS_NODES.has(mp.mode) && !hasNodes) {
      report('linux.memoryPolicy.nodes', `is required for mode ${mp.mode}`);
    }
  }
}
