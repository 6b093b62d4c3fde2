// The process `tsrt exec` starts: --process FILE (a whole OCI process object), or the
// container's own process with the trailing command and the flags laid over it, as
// runc builds it.
import { readFileSync } from 'node:fs';
import type { Process, Spec } from './spec-types';
import { collectConfigProblems, processIdProblem, warnLater } from './validate-config';
import { dropUnavailableCapabilities } from '../linux/capabilities';
import { ConfigError, UsageError } from '../util/errors';
import { quote } from '../util/quote';

export interface ExecFlags {
  processFile?: string;
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  additionalGids: number[];
  caps: string[];
  noNewPrivs: boolean;
  tty: boolean;
  apparmor?: string;
  processLabel?: string;
}

function readProcessFile(file: string): Process {
  let raw: unknown;
  try {
    raw = JSON.parse(file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`--process ${file}: ${(e as Error).message}`);
  }
  // Validate it as the process of a minimal config, and name the file in the message.
  const problems = collectConfigProblems({ ociVersion: '1.3.0', root: { path: 'rootfs' }, process: raw });
  if (problems.length) throw new ConfigError(`--process ${file}: ${problems.slice(0, 3).map((p) => p.replace(/^process\.?/, '') || p).join('; ')}`);
  const p = raw as Process;
  // As config.json's process (validateConfig) and runc: no user is uid 0, gid 0.
  if (p.user === undefined) p.user = { uid: 0, gid: 0 };
  return p;
}

export function buildExecProcess(spec: Spec, f: ExecFlags): Process {
  let p: Process;
  if (f.processFile) {
    p = readProcessFile(f.processFile);
  } else {
    if (!f.args.length) throw new UsageError('exec needs a command (after the container id) or --process FILE');
    const base = spec.process;
    p = {
      ...(base ?? { cwd: '/', user: { uid: 0, gid: 0 } }),
      args: f.args,
      terminal: f.tty,
      env: [...(base?.env ?? [])],
      user: { ...(base?.user ?? { uid: 0, gid: 0 }) },
      capabilities: base?.capabilities ? JSON.parse(JSON.stringify(base.capabilities)) : undefined,
    } as Process;
  }
  if (f.tty) p.terminal = true;
  for (const kv of f.env) {
    if (!/^[^=]+=/.test(kv)) throw new UsageError(`--env ${quote(kv)}: expected KEY=VALUE`);
    const name = kv.split('=')[0];
    p.env = [...(p.env ?? []).filter((e) => e.split('=')[0] !== name), kv];
  }
  if (f.cwd) p.cwd = f.cwd;
  if (f.user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(f.user);
    if (!m) throw new UsageError(`--user ${quote(f.user)}: expected UID or UID:GID (numbers)`);
    p.user = { ...p.user, uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : p.user?.gid ?? 0 };
    for (const [name, id] of [['uid', p.user.uid], ['gid', p.user.gid]] as const) {
      const problem = processIdProblem(id);
      if (problem) throw new UsageError(`--user ${quote(f.user)}: the ${name} ${problem}`);
    }
  }
  for (const g of f.additionalGids) {
    const problem = processIdProblem(g);
    if (problem) throw new UsageError(`--additional-gids: a gid ${problem}`);
  }
  if (f.additionalGids.length) p.user = { ...p.user, additionalGids: f.additionalGids };
  if (f.caps.length) {
    const c = p.capabilities ?? {};
    const add = (list: string[] | undefined) => [...new Set([...(list ?? []), ...f.caps])];
    // Never into the inheritable set (CVE-2022-29162): an inheritable cap would survive
    // the execve of a program with file capabilities. Ambient needs it inheritable, so
    // it is added only where the process already has inheritable caps, as runc does.
    p.capabilities = {
      ...c, bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted),
      ...(c.inheritable?.length ? { ambient: add(c.ambient) } : {}),
    };
  }
  if (f.noNewPrivs) p.noNewPrivileges = true;
  if (f.apparmor) p.apparmorProfile = f.apparmor;
  if (f.processLabel) p.selinuxLabel = f.processLabel;
  if (!p.cwd) p.cwd = '/';
  // --cap, --process and the container's own process alike (runc warns on each exec)
  dropUnavailableCapabilities(p.capabilities, f.processFile ? `--process ${f.processFile}: capabilities` : 'process.capabilities', warnLater);
  return p;
}
