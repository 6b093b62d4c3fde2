// config.json from an image config, following the OCI image spec's conversion.md:
// Entrypoint + Cmd → process.args, Env, WorkingDir, User (resolved through the image's
// /etc/passwd and /etc/group), and the config's labels and other fields as annotations.
// The rest is tsrt's default spec (runc's), with a network namespace and no networking.
import type { Mount } from '../oci/spec-types';
import { defaultSpec } from '../oci/default-spec';
import { ImageError } from './errors';
import type { ImageConfig } from './source';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return (text ?? '').split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) return [];
    const uid = Number(f[2]), gid = Number(f[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? [{ name: f[0]!, uid, gid, home: f[5] || '/' }] : [];
  });
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return (text ?? '').split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) return [];
    const gid = Number(f[2]);
    return Number.isInteger(gid) ? [{ name: f[0]!, gid, members: (f[3] ?? '').split(',').filter(Boolean) }] : [];
  });
}

const numeric = (s: string): boolean => /^\d+$/.test(s);

/** The home directory of uid in the image's /etc/passwd ("/" when it has none). */
export function homeOf(uid: number, readFile: (rel: string) => Buffer | undefined): string {
  return parsePasswd(readFile('etc/passwd')?.toString('utf8')).find((p) => p.uid === uid)?.home ?? '/';
}

/**
 * Config.User ("", user, uid, user:group, uid:gid, uid:group, user:gid) as process.user.
 * readFile reads a file of the image's root filesystem (relative path).
 */
export function resolveUser(user: string | undefined, readFile: (rel: string) => Buffer | undefined): ProcessUser {
  if (!user) return { uid: 0, gid: 0 };
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const passwd = parsePasswd(readFile('etc/passwd')?.toString('utf8'));
  let uid: number;
  let gid = 0;
  let name: string | undefined;
  if (numeric(u)) {
    uid = Number(u);
    const e = passwd.find((p) => p.uid === uid);
    if (e) gid = e.gid;
  } else {
    const e = passwd.find((p) => p.name === u);
    if (!e) throw new ImageError(`image config User ${JSON.stringify(user)}: no user ${JSON.stringify(u)} in the image's /etc/passwd`);
    uid = e.uid;
    gid = e.gid;
    name = e.name;
  }
  if (g !== undefined && g !== '') {
    if (numeric(g)) {
      gid = Number(g);
    } else {
      const e = parseGroup(readFile('etc/group')?.toString('utf8')).find((x) => x.name === g);
      if (!e) throw new ImageError(`image config User ${JSON.stringify(user)}: no group ${JSON.stringify(g)} in the image's /etc/group`);
      gid = e.gid;
    }
    return { uid, gid };
  }
  // conversion.md: additionalGids from /etc/group, unless the user is numeric or a group is given.
  if (name === undefined) return { uid, gid };
  const extra = parseGroup(readFile('etc/group')?.toString('utf8'))
    .filter((x) => x.members.includes(name!) && x.gid !== gid)
    .map((x) => x.gid);
  return extra.length ? { uid, gid, additionalGids: [...new Set(extra)] } : { uid, gid };
}

/** Annotations from the image config (conversion.md); Labels win over the implicit ones. */
export function imageAnnotations(c: ImageConfig): Record<string, string> {
  const a: Record<string, string> = {};
  const set = (k: string, v: unknown): void => {
    if (typeof v === 'string' && v !== '') a[k] = v;
  };
  set('org.opencontainers.image.os', c.os);
  set('org.opencontainers.image.architecture', c.architecture);
  set('org.opencontainers.image.variant', c.variant);
  set('org.opencontainers.image.os.version', c['os.version']);
  if (c['os.features']?.length) a['org.opencontainers.image.os.features'] = c['os.features'].join(',');
  set('org.opencontainers.image.author', c.author);
  set('org.opencontainers.image.created', c.created);
  set('org.opencontainers.image.stopSignal', c.config?.StopSignal);
  const ports = Object.keys(c.config?.ExposedPorts ?? {});
  if (ports.length) a['org.opencontainers.image.exposedPorts'] = ports.join(',');
  for (const [k, v] of Object.entries(c.config?.Labels ?? {})) if (typeof v === 'string') a[k] = v;
  return a;
}

export interface SpecInput {
  config: ImageConfig;
  /** arguments after `--`: replace Cmd (the Entrypoint stays) */
  args?: string[];
  hostname: string;
  user: ProcessUser;
  /** HOME, unless the image's Env sets it (the runtime cannot read the overlay's passwd) */
  home: string;
  /** mounts that go first (the overlay on /) */
  rootMounts: Mount[];
  /** bind mounts for volumes, after the default mounts */
  volumeMounts: Mount[];
}

/** The process arguments: Entrypoint followed by Cmd (or by the given args). */
export function processArgs(c: ImageConfig, args: string[] | undefined): string[] {
  const entry = c.config?.Entrypoint ?? [];
  const cmd = args && args.length ? args : c.config?.Cmd ?? [];
  const all = [...entry, ...cmd];
  if (all.length === 0) throw new ImageError('the image has no Entrypoint or Cmd: give the command after --');
  return all;
}

export function imageSpec(input: SpecInput): Record<string, unknown> {
  const spec = defaultSpec({ rootless: false }) as Record<string, any>;
  const c = input.config.config ?? {};
  const env = [...(c.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${input.home}`);
  let cwd = c.WorkingDir || '/';
  if (!cwd.startsWith('/')) cwd = `/${cwd}`;
  spec.process.terminal = false;
  spec.process.args = processArgs(input.config, input.args);
  spec.process.env = env;
  spec.process.cwd = cwd;
  spec.process.user = input.user;
  spec.root = { path: 'rootfs', readonly: false };
  spec.hostname = input.hostname;
  spec.mounts = [...input.rootMounts, ...spec.mounts, ...input.volumeMounts];
  const ns: { type: string }[] = spec.linux.namespaces;
  if (!ns.some((n) => n.type === 'network')) ns.push({ type: 'network' });
  const annotations = imageAnnotations(input.config);
  if (Object.keys(annotations).length) spec.annotations = annotations;
  return spec;
}
