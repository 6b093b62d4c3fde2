// The container's filesystem view, as plan steps: make "/" a slave so nothing
// propagates to the host, bind the rootfs onto itself, mount config.mounts in order,
// create /dev's devices and links, then pivot_root (or MS_MOVE + chroot).
//
// Mount targets are opened inside the child with openat2(RESOLVE_IN_ROOT) relative to
// the rootfs and mounted through /proc/self/fd/N, so a symlink in the rootfs can never
// send a mount outside it (the CVE-2021-30465 class), even if it appears after the
// parent looked.
import { existsSync, statSync } from 'node:fs';
import { posix, resolve as resolvePath } from 'node:path';
import type { Mount, Spec } from '../oci/spec-types';
import { AT_FDCWD, MNT_DETACH, MS, O, RESOLVE, S_IFCHR, S_IFBLK, S_IFIFO } from '../libc/constants';
import { Plan, type Blob } from '../plan/plan';
import { parseMountOptions, isBindMount, describeMountFlags } from './mount-options';
import { mkdirAllInRoot, ensureFileInRoot } from '../util/secure-join';
import { ConfigError } from '../util/errors';
import { cgroupOf, dirIn, hostCgroupMounts, procCgroups } from '../cgroups/layout';
import { withMountLabel } from './lsm';

/** The fixed fd a mount target is dup'ed to, so the plan can name /proc/self/fd/N. */
const TARGET_FD = 990;
const TARGET_PATH = `/proc/self/fd/${TARGET_FD}`;

const DEFAULT_DEVICES = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
];

const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
];

const PROPAGATION: Record<string, number> = {
  shared: MS.SHARED, slave: MS.SLAVE, private: MS.PRIVATE, unbindable: MS.UNBINDABLE,
  rshared: MS.SHARED | MS.REC, rslave: MS.SLAVE | MS.REC, rprivate: MS.PRIVATE | MS.REC,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface RootfsInput {
  spec: Spec;
  bundle: string;
  /** absolute host path of the rootfs */
  rootfs: string;
  newUserNs: boolean;
  /** a mount namespace of its own (new or joined); false: it shares tsrt's */
  newMountNs: boolean;
  newCgroupNs: boolean;
  noPivot: boolean;
  /**
   * The container's cgroup directories (controller or "unified" -> host dir), bound on
   * /sys/fs/cgroup when there is no cgroup namespace, so the container sees its own
   * limits there (as runc). Without them, tsrt's own cgroups are bound.
   */
  cgroupPaths?: Record<string, string>;
}

interface Ctx extends RootfsInput {
  plan: Plan;
  rootFd: Blob;
  how: Blob;
  /** open_how creating a regular file (O_CREAT), resolved inside the rootfs */
  howCreate: Blob;
  /**
   * directories mounted on so far: paths under them live in the mounted file system (a
   * tmpfs, or a bind mount's source), not in the rootfs on disk, so they are made in-plan
   */
  virtualDests: string[];
}

function under(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

/** Opens `dest` (container path) inside the rootfs and dups it to TARGET_FD. */
function openTarget(c: Ctx, dest: string, what: string): void {
  const { plan } = c;
  const fd = plan.slot(`fd of ${dest}`);
  const rel = dest.replace(/^\/+/, '') || '.';
  plan.add('openat2', [{ load: c.rootFd }, plan.cstr(rel), c.how, 24], `open ${what} ${dest} inside the rootfs`, { store: fd });
  plan.add('dup3', [{ load: fd }, TARGET_FD, O.CLOEXEC], `dup fd of ${dest}`);
  plan.add('close', [{ load: fd }], `close fd of ${dest}`);
}

/**
 * An O_PATH fd (in a slot) of `path` (a container path) resolved inside the rootfs, for
 * the *at() steps that work in it: a path under a mount made by the plan can only be
 * looked at from inside, and a symlink there (brought by a bind mount, say) must not
 * lead out of the rootfs as the host path would (CVE-2021-30465 class).
 */
function openInRoot(c: Ctx, path: string, what: string): Blob {
  const fd = c.plan.slot(`fd of ${path}`);
  const rel = path.replace(/^\/+/, '') || '.';
  c.plan.add('openat2', [{ load: c.rootFd }, c.plan.cstr(rel), c.how, 24], `open ${what} ${path} inside the rootfs`, { store: fd });
  return fd;
}

/** Makes the directories of `dest` that the parent could not (under earlier mounts). */
function makeInPlan(c: Ctx, dest: string, asFile: boolean): void {
  const parts = dest.split('/').filter(Boolean);
  parts.forEach((p, i) => {
    const path = '/' + parts.slice(0, i + 1).join('/');
    const last = i === parts.length - 1;
    if (last && asFile) {
      const fd = c.plan.slot(`fd of ${path}`);
      c.plan.add('openat2', [{ load: c.rootFd }, c.plan.cstr(path.slice(1)), c.howCreate, 24], `create mount point ${dest} inside the rootfs`, { store: fd });
      c.plan.add('close', [{ load: fd }], `close ${dest}`);
    } else {
      // mkdirat in the parent resolved inside the rootfs: an existing symlink (EEXIST) is
      // then followed inside the rootfs by the next open, never on the host.
      const parent = openInRoot(c, '/' + parts.slice(0, i).join('/'), 'parent directory');
      c.plan.add('mkdirat', [{ load: parent }, c.plan.cstr(p), 0o755], `create directory ${path} for ${dest}`, { okErrno: 17 });
      c.plan.add('close', [{ load: parent }], `close the parent of ${path}`);
    }
  });
}

function prepareMountPoint(c: Ctx, dest: string, asFile: boolean, field: string): void {
  if (c.virtualDests.some((v) => under(dest, v))) {
    makeInPlan(c, dest, asFile);
    return;
  }
  try {
    if (asFile) ensureFileInRoot(c.rootfs, dest);
    else mkdirAllInRoot(c.rootfs, dest);
  } catch (e) {
    throw new ConfigError(`${field}: ${(e as Error).message}`);
  }
}

function mountOne(c: Ctx, m: Mount, index: number): void {
  const { plan } = c;
  const field = `mounts[${index}]`;
  const dest = posix.normalize(m.destination);
  const opts = parseMountOptions(m.options);
  const bind = isBindMount(m);
  const type = m.type ?? (bind ? 'bind' : '');
  if (type === 'cgroup' || type === 'cgroup2') {
    mountCgroup(c, m, dest, opts.flags, field);
    return;
  }
  let source = m.source ?? type ?? 'none';
  let srcIsFile = false;
  if (bind) {
    source = resolvePath(c.bundle, source);
    try {
      srcIsFile = !statSync(source).isDirectory();
    } catch {
      srcIsFile = false; // the mount step reports the missing source with its errno
    }
  }
  prepareMountPoint(c, dest, srcIsFile, field);
  openTarget(c, dest, 'mount destination');
  const what = `${field}: mount ${source} on ${dest}`;
  if (bind) {
    const recFlag = opts.recursive ? MS.REC : 0;
    plan.add('mount', [plan.cstr(source), plan.cstr(TARGET_PATH), 0, MS.BIND | recFlag, 0], `${what} (${opts.recursive ? 'rbind' : 'bind'})`);
    const extra = opts.flags & ~(MS.BIND | MS.REC);
    if (extra !== 0) {
      // A bind mount takes its flags only from a remount of the new mount.
      openTarget(c, dest, 'bind mount');
      plan.add('mount', [0, plan.cstr(TARGET_PATH), 0, MS.REMOUNT | MS.BIND | extra, 0], `${what}: remount with ${describeMountFlags(extra)}`);
    }
    if (!srcIsFile) c.virtualDests.push(dest);
  } else {
    // linux.mountLabel: the SELinux context of the filesystems that take one
    const dataText = withMountLabel(opts.data, type, c.spec.linux?.mountLabel);
    const data = dataText ? plan.cstr(dataText) : 0;
    plan.add('mount', [plan.cstr(source), plan.cstr(TARGET_PATH), plan.cstr(type), opts.flags, data],
      `${what} (type ${type}${opts.flags ? ', ' + describeMountFlags(opts.flags) : ''}${dataText ? ', ' + dataText : ''})`);
    c.virtualDests.push(dest);
    if (dest === '/') {
      // A file system mounted on the rootfs itself (an image's overlay) covers the
      // directory rootFd names, and lookups never cross a mount stacked on their start:
      // re-open it so later mounts resolve inside the new one.
      plan.add('close', [{ load: c.rootFd }], 'close the rootfs fd covered by the mount on /');
      plan.add('openat', [AT_FDCWD, plan.cstr(c.rootfs), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], `re-open the rootfs ${c.rootfs} after mounting on /`, { store: c.rootFd });
    }
  }
  if (opts.propagation.length || opts.recAttrSet || opts.recAttrClear) openTarget(c, dest, 'mount');
  for (const p of opts.propagation) {
    plan.add('mount', [0, plan.cstr(TARGET_PATH), 0, p, 0], `${field}: set propagation of ${dest} to ${describeMountFlags(p)}`);
  }
  if (opts.recAttrSet || opts.recAttrClear) {
    // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    const attr = Buffer.alloc(32);
    attr.writeBigUInt64LE(BigInt(opts.recAttrSet), 0);
    attr.writeBigUInt64LE(BigInt(opts.recAttrClear), 8);
    const AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000;
    plan.add('mount_setattr', [TARGET_FD, plan.cstr(''), AT_EMPTY_PATH | AT_RECURSIVE, plan.blob(attr, 'mount_attr'), 32],
      `${field}: set recursive mount attributes on ${dest}`);
  }
}

function mountCgroup(c: Ctx, m: Mount, dest: string, flags: number, field: string): void {
  const { plan } = c;
  // The host's hierarchies under /sys/fs/cgroup, as the container will see them.
  const hier = hostCgroupMounts().filter((h) => h.mountpoint.startsWith('/sys/fs/cgroup'));
  const own = procCgroups('self');
  const mountFlags = flags & ~MS.RDONLY;
  prepareMountPoint(c, dest, false, field);
  const unified = hier.length === 1 && hier[0]!.version === 2 && hier[0]!.mountpoint === '/sys/fs/cgroup';
  if (unified) {
    openTarget(c, dest, 'cgroup mount');
    if (c.newCgroupNs) {
      plan.add('mount', [plan.cstr('cgroup2'), plan.cstr(TARGET_PATH), plan.cstr('cgroup2'), flags, 0], `${field}: mount cgroup2 on ${dest}`);
    } else {
      const src = c.cgroupPaths?.unified ?? dirIn(hier[0]!, cgroupOf(hier[0]!, own));
      plan.add('mount', [plan.cstr(src), plan.cstr(TARGET_PATH), 0, MS.BIND | MS.REC, 0], `${field}: bind ${src} on ${dest}`);
      if (flags & ~(MS.BIND | MS.REC)) {
        openTarget(c, dest, 'cgroup mount');
        plan.add('mount', [0, plan.cstr(TARGET_PATH), 0, MS.REMOUNT | MS.BIND | flags, 0], `${field}: remount ${dest} with ${describeMountFlags(flags)}`);
      }
    }
    return;
  }
  // v1 / hybrid: a tmpfs holding one mount per hierarchy, like the host's layout.
  openTarget(c, dest, 'cgroup mount');
  plan.add('mount', [plan.cstr('tmpfs'), plan.cstr(TARGET_PATH), plan.cstr('tmpfs'), mountFlags, plan.cstr('mode=755')], `${field}: mount tmpfs for cgroup hierarchies on ${dest}`);
  // Everything below is made relative to the new tmpfs, opened inside the rootfs.
  const tmpfs = openInRoot(c, dest, 'the cgroup tmpfs');
  for (const h of hier) {
    const name = posix.basename(h.mountpoint);
    if (h.mountpoint === '/sys/fs/cgroup') continue;
    const sub = posix.join(dest, name);
    const subFd = plan.slot(`fd of ${sub}`);
    // Opened again after each mount so the remount sees the new mount, not the dir.
    const openSub = () => {
      plan.add('openat', [{ load: tmpfs }, plan.cstr(name), O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC, 0], `open ${sub}`, { store: subFd });
      plan.add('dup3', [{ load: subFd }, TARGET_FD, O.CLOEXEC], `dup fd of ${sub}`);
      plan.add('close', [{ load: subFd }], `close fd of ${sub}`);
    };
    const host = TARGET_PATH;
    plan.add('mkdirat', [{ load: tmpfs }, plan.cstr(name), 0o755], `create ${sub}`, { okErrno: 17 });
    openSub();
    const fstype = h.version === 2 ? 'cgroup2' : 'cgroup';
    const ctrls = h.version === 2 ? [] : h.controllers;
    if (c.newCgroupNs) {
      const data = ctrls.join(',');
      plan.add('mount', [plan.cstr(fstype), plan.cstr(host), plan.cstr(fstype), flags, data ? plan.cstr(data) : 0], `${field}: mount ${fstype} ${data} on ${sub}`);
    } else {
      const mine = h.version === 2 ? c.cgroupPaths?.unified : ctrls.map((k) => c.cgroupPaths?.[k]).find(Boolean);
      const src = mine ?? dirIn(h, cgroupOf(h, own));
      plan.add('mount', [plan.cstr(src), plan.cstr(host), 0, MS.BIND | MS.REC, 0], `${field}: bind ${src} on ${sub}`);
      openSub();
      plan.add('mount', [0, plan.cstr(host), 0, MS.REMOUNT | MS.BIND | flags, 0], `${field}: remount ${sub} with ${describeMountFlags(flags)}`);
    }
    if (name.includes(',')) {
      for (const alias of name.split(',')) {
        plan.add('symlinkat', [plan.cstr(name), { load: tmpfs }, plan.cstr(alias)], `link ${posix.join(dest, alias)} to ${name}`, { okErrno: 17 });
      }
    }
  }
  if (flags & MS.RDONLY) {
    plan.add('dup3', [{ load: tmpfs }, TARGET_FD, O.CLOEXEC], `dup fd of the cgroup tmpfs on ${dest}`);
    plan.add('mount', [0, plan.cstr(TARGET_PATH), 0, MS.REMOUNT | flags, plan.cstr('mode=755')], `${field}: remount the cgroup tmpfs on ${dest} read-only`);
  }
  plan.add('close', [{ load: tmpfs }], `close the fd of the cgroup tmpfs on ${dest}`);
}

function deviceSteps(c: Ctx): void {
  const { plan, spec } = c;
  const devs: { path: string; type: string; major: number; minor: number; mode: number; uid: number; gid: number; field: string }[] = [];
  const seen = new Set<string>();
  (spec.linux?.devices ?? []).forEach((d, i) => {
    seen.add(posix.normalize(d.path));
    devs.push({ path: posix.normalize(d.path), type: d.type, major: d.major ?? 0, minor: d.minor ?? 0, mode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0, field: `linux.devices[${i}]` });
  });
  for (const d of DEFAULT_DEVICES) {
    if (!seen.has(d.path)) devs.push({ ...d, type: 'c', mode: 0o666, uid: 0, gid: 0, field: 'default device' });
  }
  // Nodes and links are made relative to their directory opened inside the rootfs: with
  // host paths, a rootfs whose /dev is a symlink would get them made on the host.
  const dirFds = new Map<string, Blob>();
  const dirFd = (dir: string): Blob => {
    let fd = dirFds.get(dir);
    if (!fd) {
      fd = openInRoot(c, dir, 'device directory');
      dirFds.set(dir, fd);
    }
    return fd;
  };
  for (const d of devs) {
    prepareMountPoint(c, posix.dirname(d.path), false, d.field);
    if (c.newUserNs) {
      // mknod is not allowed in a user namespace: bind the host's device instead.
      makeInPlan(c, d.path, true);
      openTarget(c, d.path, 'device');
      plan.add('mount', [plan.cstr(d.path), plan.cstr(TARGET_PATH), 0, MS.BIND, 0], `${d.field}: bind host device ${d.path}`);
      continue;
    }
    const fmt = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
    const dev = ((d.major & 0xfff) << 8) | (d.minor & 0xff) | ((d.minor & ~0xff) << 12);
    const dir = { load: dirFd(posix.dirname(d.path)) };
    const name = plan.cstr(posix.basename(d.path));
    plan.add('unlinkat', [dir, name, 0], `remove existing ${d.path}`, { ignoreError: true });
    plan.add('mknodat', [dir, name, fmt | (d.mode & 0o7777), dev], `${d.field}: create device ${d.path} (${d.type} ${d.major}:${d.minor})`);
    plan.add('fchmodat', [dir, name, d.mode & 0o7777], `${d.field}: chmod ${d.path}`);
    if (d.uid || d.gid) plan.add('fchownat', [dir, name, d.uid, d.gid, 0x100], `${d.field}: chown ${d.path}`);
  }
  prepareMountPoint(c, '/dev', false, 'default device links');
  const dev = { load: dirFd('/dev') };
  for (const [target, link] of DEV_LINKS) {
    plan.add('symlinkat', [plan.cstr(target), dev, plan.cstr(posix.basename(link))], `link ${link} to ${target}`, { okErrno: 17 });
  }
  const hasPts = (spec.mounts ?? []).some((m) => posix.normalize(m.destination) === '/dev/pts');
  if (hasPts) {
    plan.add('unlinkat', [dev, plan.cstr('ptmx'), 0], 'remove existing /dev/ptmx', { ignoreError: true });
    plan.add('symlinkat', [plan.cstr('pts/ptmx'), dev, plan.cstr('ptmx')], 'link /dev/ptmx to pts/ptmx');
  }
  if (existsSync('/proc/kcore')) {
    plan.add('symlinkat', [plan.cstr('/proc/kcore'), dev, plan.cstr('core')], 'link /dev/core to /proc/kcore', { okErrno: 17 });
  }
  for (const [dir, fd] of dirFds) plan.add('close', [{ load: fd }], `close the fd of ${dir}`);
}

/** Steps up to (and including) the mounts and devices, before hooks and pivot_root. */
export function buildMountSteps(plan: Plan, input: RootfsInput): void {
  const { spec } = input;
  const prop = spec.linux?.rootfsPropagation;
  // Nothing the container mounts may reach the host: slave (or what the config asks)
  // the whole tree first.
  const rootProp = prop ? PROPAGATION[prop] : MS.SLAVE | MS.REC;
  if (rootProp === undefined) throw new ConfigError(`linux.rootfsPropagation: unknown propagation ${JSON.stringify(prop)}`);
  // (Sharing the runtime's mount namespace, "/" is everyone's: left as it is.)
  if (input.newMountNs) plan.add('mount', [0, plan.cstr('/'), 0, (rootProp & MS.REC ? rootProp : rootProp | MS.REC), 0], `make / ${prop ?? 'rslave'} in the container's mount namespace`);
  plan.add('mount', [plan.cstr(input.rootfs), plan.cstr(input.rootfs), 0, MS.BIND | MS.REC, 0], `bind the rootfs ${input.rootfs} onto itself`);
  const rootFd = plan.slot('rootfs fd');
  plan.add('openat', [AT_FDCWD, plan.cstr(input.rootfs), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], `open the rootfs ${input.rootfs}`, { store: rootFd });
  // struct open_how { u64 flags, mode, resolve }
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O.PATH | O.CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS), 16);
  const howCreate = Buffer.alloc(24);
  howCreate.writeBigUInt64LE(BigInt(O.CREAT | O.WRONLY | O.CLOEXEC), 0);
  howCreate.writeBigUInt64LE(0o644n, 8);
  howCreate.writeBigUInt64LE(BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS), 16);
  const c: Ctx = { ...input, plan, rootFd, how: plan.blob(how, 'open_how'), howCreate: plan.blob(howCreate, 'open_how (create)'), virtualDests: [] };
  (spec.mounts ?? []).forEach((m, i) => mountOne(c, m, i));
  deviceSteps(c);
}

/** pivot_root (or MS_MOVE + chroot with --no-pivot) into the rootfs. */
export function buildPivotSteps(plan: Plan, input: RootfsInput): void {
  const rootfs = plan.cstr(input.rootfs);
  plan.add('chdir', [rootfs], `chdir to the rootfs ${input.rootfs}`);
  if (!input.newMountNs) {
    // The runtime's mount namespace: pivot_root or MS_MOVE would change "/" for every
    // process in it, so chroot, as runc does there.
    plan.add('chroot', [plan.cstr('.')], 'chroot into the rootfs (the container shares the runtime\'s mount namespace)');
  } else if (input.noPivot) {
    plan.add('mount', [rootfs, plan.cstr('/'), 0, MS.MOVE, 0], 'move the rootfs to / (--no-pivot)');
    plan.add('chroot', [plan.cstr('.')], 'chroot into the rootfs (--no-pivot)');
  } else {
    // pivot_root(".", ".") stacks the old root on top of the new one; detach it.
    const dot = plan.cstr('.');
    plan.add('pivot_root', [dot, dot], 'pivot_root into the rootfs');
    plan.add('mount', [0, dot, 0, MS.SLAVE | MS.REC, 0], 'make the old root a slave before detaching it');
    plan.add('umount2', [dot, MNT_DETACH], 'detach the old root');
  }
  plan.add('chdir', [plan.cstr('/')], 'chdir to /');
}

/** maskedPaths, readonlyPaths and root.readonly, after pivot_root. */
export function buildPathProtectionSteps(plan: Plan, input: RootfsInput): void {
  const { spec } = input;
  const existing = (p: string): ReturnType<typeof statSync> | undefined => {
    // /proc and /sys look the same on the host as in the container's fresh mounts.
    const hostPath = /^\/(proc|sys)(\/|$)/.test(p) ? p : posix.join(input.rootfs, p);
    try {
      // most of the default maskedPaths do not exist on a given host: no exception for those
      return statSync(hostPath, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  };
  for (const p of spec.linux?.readonlyPaths ?? []) {
    if (!existing(p)) continue;
    const path = plan.cstr(p);
    plan.add('mount', [path, path, 0, MS.BIND | MS.REC, 0], `readonlyPaths: bind ${p} onto itself`, { okErrno: 2 });
    plan.add('mount', [0, path, 0, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, 0], `readonlyPaths: remount ${p} read-only`, { okErrno: 2 });
  }
  for (const p of spec.linux?.maskedPaths ?? []) {
    const st = existing(p);
    if (!st) continue;
    if (st.isDirectory()) {
      plan.add('mount', [plan.cstr('tmpfs'), plan.cstr(p), plan.cstr('tmpfs'), MS.RDONLY, 0], `maskedPaths: mount an empty read-only tmpfs on ${p}`, { okErrno: 2 });
    } else {
      plan.add('mount', [plan.cstr('/dev/null'), plan.cstr(p), 0, MS.BIND, 0], `maskedPaths: bind /dev/null on ${p}`, { okErrno: 2 });
    }
  }
  if (spec.root?.readonly) {
    plan.add('mount', [0, plan.cstr('/'), 0, MS.BIND | MS.REMOUNT | MS.RDONLY, 0], 'make the root filesystem read-only (root.readonly)');
  }
}

