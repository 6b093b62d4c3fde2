// The container's filesystem view, as plan steps: make "/" a slave so nothing
// propagates to the host, bind the rootfs onto itself, mount config.mounts in order,
// create /dev's devices and links, then pivot_root (or MS_MOVE + chroot).
//
// Mount targets are opened inside the child with openat2(RESOLVE_IN_ROOT) relative to
// the rootfs and mounted through /proc/self/fd/N, so a symlink in the rootfs can never
// send a mount outside it (the CVE-2021-30465 class), even if it appears after the
// parent looked.
import { existsSync, statSync, statfsSync } from 'node:fs';
import { posix, resolve as resolvePath } from 'node:path';
import type { Mount, Spec } from '../oci/spec-types';
import { AT_FDCWD, MNT_DETACH, MS, O, RESOLVE, S_IFCHR, S_IFBLK, S_IFIFO, S_IFREG, PROC_SUPER_MAGIC, MOVE_MOUNT } from '../libc/constants';
import { Plan, type Arg, type Blob } from '../plan/plan';
import { parseMountOptions, isBindMount, describeMountFlags } from './mount-options';
import { mkdirAllInRoot, ensureFileInRoot } from '../util/secure-join';
import { ConfigError } from '../util/errors';
import { cgroupOf, dirIn, hostCgroupMounts, procCgroups } from '../cgroups/layout';
import { withMountLabel } from './lsm';
import { checkMountDestination, destinationHow, refuseProcfsTarget } from './mount-destination';
import { fullProcSysMountsOutside, mountPointHolding } from './mount-table';
import { buildReceiveSourceSteps, type HostSource } from './mount-sources';
import { checkFileType } from './file-checks';

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
  /** bind sources the user namespace cannot reach, sent over this socket (mount-sources.ts) */
  hostSources?: { socketFd: number; sources: HostSource[] };
}

interface Ctx extends RootfsInput {
  plan: Plan;
  rootFd: Blob;
  how: Blob;
  /**
   * directories mounted on so far: paths under them live in the mounted file system (a
   * tmpfs, or a bind mount's source), not in the rootfs on disk, so they are made in-plan
   */
  virtualDests: string[];
  /** per config.mounts index, the received copy of its source (fd at +16) */
  received: Map<number, Blob>;
  /** the propagation given to / first (buildMountSteps) */
  initialPropagation: number;
}

function under(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

/** Opens `dest` (container path) inside the rootfs and dups it to TARGET_FD. */
function openTarget(c: Ctx, dest: string, what: string, how: Blob = c.how): void {
  const { plan } = c;
  const fd = plan.slot(`fd of ${dest}`);
  const rel = dest.replace(/^\/+/, '') || '.';
  plan.add('openat2', [{ load: c.rootFd }, plan.cstr(rel), how, 24], `open ${what} ${dest} inside the rootfs`, { store: fd });
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
      // mknodat makes an empty file without opening anything: an existing FIFO there
      // (from a volume) would block an open, a device node could react to one.
      const parent = openInRoot(c, '/' + parts.slice(0, i).join('/'), 'parent directory');
      c.plan.add('mknodat', [{ load: parent }, c.plan.cstr(p), S_IFREG | 0o644, 0], `create mount point ${dest} inside the rootfs`, { okErrno: 17 });
      c.plan.add('close', [{ load: parent }], `close the parent of ${path}`);
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

/**
 * A read-only tmpfs (or any file system on /dev) is mounted read-write and made read-only
 * by buildFinalMountSteps, as runc does: the plan still makes mount points, devices and
 * links in it (a `ro` tmpfs on /dev failed with EROFS making /dev/pts).
 */
function readOnlyLater(m: Mount, flags: number): boolean {
  return (flags & MS.RDONLY) !== 0 && !isBindMount(m) && (m.type === 'tmpfs' || posix.normalize(m.destination) === '/dev');
}

/** open_how of O_PATH lookups scoped to the directory fd they start from (the rootfs). */
function inRootHow(plan: Plan): Blob {
  // struct open_how { u64 flags, mode, resolve }
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(O.PATH | O.CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS), 16);
  return plan.blob(how, 'open_how');
}

function mountOne(c: Ctx, m: Mount, index: number): void {
  const { plan } = c;
  const field = `mounts[${index}]`;
  const dest = posix.normalize(m.destination);
  const opts = parseMountOptions(m.options);
  const bind = isBindMount(m);
  const type = m.type ?? (bind ? 'bind' : '');
  const visible = !c.virtualDests.some((v) => under(dest, v));
  const kind = checkMountDestination(c.rootfs, m, dest, bind ? resolvePath(c.bundle, m.source ?? '') : '', field, visible);
  if (type === 'cgroup' || type === 'cgroup2') {
    // (the plan's procfs check, on the destination before mountCgroup opens it again)
    prepareMountPoint(c, dest, false, field);
    openTarget(c, dest, 'cgroup mount destination');
    refuseProcfsTarget(plan, TARGET_FD, dest, field);
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
  openTarget(c, dest, kind === 'special-fs' ? 'mount destination (an ordinary directory, not a symlink)' : 'mount destination', destinationHow(plan, kind));
  if (kind === 'ordinary') refuseProcfsTarget(plan, TARGET_FD, dest, field);
  const what = `${field}: mount ${source} on ${dest}`;
  if (bind) {
    const recFlag = opts.recursive ? MS.REC : 0;
    const copy = c.received.get(index);
    if (copy) {
      const fd = { load: copy, plus: 16 };
      plan.add('move_mount', [fd, plan.cstr(''), TARGET_FD, plan.cstr(''), MOVE_MOUNT.F_EMPTY_PATH | MOVE_MOUNT.T_EMPTY_PATH], `${what} (${opts.recursive ? 'rbind' : 'bind'} of the copy opened on the host side)`);
      plan.add('close', [fd], `${field}: close the copy of ${source}`);
      if (c.initialPropagation & MS.REC) {
        // The copy was taken before / got its propagation: give it what a bind made now
        // would have (a slave of the host's mount by default, not its peer).
        openTarget(c, dest, 'bind mount');
        plan.add('mount', [0, plan.cstr(TARGET_PATH), 0, c.initialPropagation, 0], `${field}: make ${dest} ${describeMountFlags(c.initialPropagation)} like /`);
      }
    } else {
      plan.add('mount', [plan.cstr(source), plan.cstr(TARGET_PATH), 0, MS.BIND | recFlag, 0], `${what} (${opts.recursive ? 'rbind' : 'bind'})`);
    }
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
    const flags = readOnlyLater(m, opts.flags) ? opts.flags & ~MS.RDONLY : opts.flags;
    plan.add('mount', [plan.cstr(source), plan.cstr(TARGET_PATH), plan.cstr(type), flags, data],
      `${what} (type ${type}${flags ? ', ' + describeMountFlags(flags) : ''}${dataText ? ', ' + dataText : ''}${flags !== opts.flags ? ', read-only at the end' : ''})`);
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
  // Hybrid: the v1 hierarchies only, as runc (its v1 manager lists mounts of type cgroup);
  // the cgroup2 one is shown only when the container's cgroups are there alone
  // (TSRT_CGROUP_LAYOUT=unified on a hybrid host).
  const v2Only = c.cgroupPaths?.unified !== undefined && Object.keys(c.cgroupPaths).every((k) => k === 'unified');
  const skipV2 = hier.some((h) => h.version === 1) && !v2Only;
  for (const h of hier) {
    const name = posix.basename(h.mountpoint);
    if (h.mountpoint === '/sys/fs/cgroup' || (skipV2 && h.version === 2)) continue;
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
      // runc names the systemd hierarchy's source "systemd" (mountinfo shows it), the others "cgroup"
      const source = ctrls.includes('name=systemd') ? 'systemd' : fstype;
      plan.add('mount', [plan.cstr(source), plan.cstr(host), plan.cstr(fstype), flags, data ? plan.cstr(data) : 0], `${field}: mount ${fstype} ${data} on ${sub}`);
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

/**
 * An O_PATH fd (slot) of `name` in `dir`, not following a symlink, checked to be of
 * `type` and dup'ed to TARGET_FD: what a device step then changes is the node it made.
 */
function openNodeAsTarget(plan: Plan, dir: Arg, name: Blob, type: number, path: string, field: string): Blob {
  const node = plan.slot(`fd of ${path}`);
  plan.add('openat', [dir, name, O.PATH | O.NOFOLLOW | O.CLOEXEC, 0], `${field}: open ${path} without following a symlink`, { store: node });
  checkFileType(plan, node, type, `${field}: ${path}`);
  plan.add('dup3', [{ load: node }, TARGET_FD, O.CLOEXEC], `dup fd of ${path}`);
  return node;
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
    const dir = { load: dirFd(posix.dirname(d.path)) };
    const name = plan.cstr(posix.basename(d.path));
    // Whatever the image has there goes (a symlink there is never followed).
    plan.add('unlinkat', [dir, name, 0], `remove existing ${d.path}`, { ignoreError: true });
    if (c.newUserNs) {
      // mknod is not allowed in a user namespace: bind the host's device on an empty file.
      plan.add('mknodat', [dir, name, S_IFREG | 0o644, 0], `${d.field}: create the mount point of ${d.path}`);
      const node = openNodeAsTarget(plan, dir, name, S_IFREG, d.path, d.field);
      plan.add('mount', [plan.cstr(d.path), plan.cstr(TARGET_PATH), 0, MS.BIND, 0], `${d.field}: bind host device ${d.path}`);
      plan.add('close', [{ load: node }], `close fd of ${d.path}`);
      continue;
    }
    const fmt = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
    const dev = ((d.major & 0xfff) << 8) | (d.minor & 0xff) | ((d.minor & ~0xff) << 12);
    plan.add('mknodat', [dir, name, fmt | (d.mode & 0o7777), dev], `${d.field}: create device ${d.path} (${d.type} ${d.major}:${d.minor})`);
    // chmod and chown the node just made through an fd of it: by name, a node swapped
    // for a symlink meanwhile (a rootfs shared with a running container) would be
    // followed to a host file before pivot_root.
    const node = openNodeAsTarget(plan, dir, name, fmt, d.path, d.field);
    plan.add('fchmodat', [AT_FDCWD, plan.cstr(TARGET_PATH), d.mode & 0o7777, 0], `${d.field}: chmod ${d.path}`);
    if (d.uid || d.gid) plan.add('fchownat', [{ load: node }, plan.cstr(''), d.uid, d.gid, 0x1000 /* AT_EMPTY_PATH */], `${d.field}: chown ${d.path}`);
    plan.add('close', [{ load: node }], `close fd of ${d.path}`);
  }
  prepareMountPoint(c, '/dev', false, 'default device links');
  const dev = { load: dirFd('/dev') };
  for (const [target, link] of DEV_LINKS) {
    plan.add('symlinkat', [plan.cstr(target), dev, plan.cstr(posix.basename(link))], `link ${link} to ${target}`, { okErrno: 17 });
  }
  // Whether or not /dev/pts is mounted, as runc's setupPtmx whenever it sets up /dev.
  plan.add('unlinkat', [dev, plan.cstr('ptmx'), 0], 'remove existing /dev/ptmx', { ignoreError: true });
  plan.add('symlinkat', [plan.cstr('pts/ptmx'), dev, plan.cstr('ptmx')], 'link /dev/ptmx to pts/ptmx');
  if (existsSync('/proc/kcore')) {
    plan.add('symlinkat', [plan.cstr('/proc/kcore'), dev, plan.cstr('core')], 'link /dev/core to /proc/kcore', { okErrno: 17 });
  }
  for (const [dir, fd] of dirFds) plan.add('close', [{ load: fd }], `close the fd of ${dir}`);
}

/** Steps up to (and including) the mounts and devices, before hooks and pivot_root. */
export function buildMountSteps(plan: Plan, input: RootfsInput): void {
  const { spec } = input;
  const prop = spec.linux?.rootfsPropagation;
  // Host mounts reach the container but not the other way: rslave the whole tree first,
  // or apply what the config asks (as runc; a volume of a shared host mount is
  // bidirectional only under a shared root). Unbindable waits until after pivot_root, as
  // private here: an unbindable host tree could not be bound (rootfs, cgroups, volumes).
  const configured = rootPropagation(input);
  const initial = configured === undefined ? MS.SLAVE | MS.REC
    : configured & MS.UNBINDABLE ? (configured & ~MS.UNBINDABLE) | MS.PRIVATE : configured;
  // (Sharing the runtime's mount namespace, "/" is everyone's: left as it is.)
  if (input.newMountNs) plan.add('mount', [0, plan.cstr('/'), 0, initial, 0], `make / ${describeMountFlags(initial)} in the container's mount namespace${prop ? ` (linux.rootfsPropagation ${prop})` : ''}`);
  // The mount holding the rootfs goes private (in our namespace only): the bind below and
  // every mount made on it then stay here even when that mount is shared with the host,
  // and pivot_root refuses a new root whose parent mount is shared (EINVAL).
  const holder = mountPointHolding(input.rootfs);
  if (input.newMountNs) plan.add('mount', [0, plan.cstr(holder), 0, MS.PRIVATE, 0], `make the mount holding the rootfs (${holder}) private in the container's mount namespace`);
  plan.add('mount', [plan.cstr(input.rootfs), plan.cstr(input.rootfs), 0, MS.BIND | MS.REC, 0], `bind the rootfs ${input.rootfs} onto itself`);
  const rootFd = plan.slot('rootfs fd');
  plan.add('openat', [AT_FDCWD, plan.cstr(input.rootfs), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], `open the rootfs ${input.rootfs}`, { store: rootFd });
  const received = input.hostSources ? buildReceiveSourceSteps(plan, input.hostSources.socketFd, input.hostSources.sources) : new Map<number, Blob>();
  const c: Ctx = { ...input, plan, rootFd, how: inRootHow(plan), virtualDests: [], received, initialPropagation: initial };
  (spec.mounts ?? []).forEach((m, i) => mountOne(c, m, i));
  deviceSteps(c);
}

/**
 * Whether config.mounts puts a proc on /proc: a mount of type proc, or (as runc allows) a
 * bind of the root of a procfs, which a container without a pid namespace of its own
 * uses when it may not mount a new proc (rootless podman with --pid=host).
 */
export function hasProcOnProc(spec: Spec, bundle: string): boolean {
  return (spec.mounts ?? []).some((m) => {
    if (posix.normalize(m.destination).replace(/\/+$/, '') !== '/proc') return false;
    if (m.type === 'proc') return true;
    if (!isBindMount(m)) return false;
    try {
      const source = resolvePath(bundle, m.source ?? '');
      return statfsSync(source).type === PROC_SUPER_MAGIC && statSync(source).ino === 1;
    } catch {
      return false;
    }
  });
}

/** linux.rootfsPropagation as MS_* flags (undefined when not set). */
function rootPropagation(input: RootfsInput): number | undefined {
  const prop = input.spec.linux?.rootfsPropagation;
  if (!prop) return undefined;
  const flags = PROPAGATION[prop];
  if (flags === undefined) throw new ConfigError(`linux.rootfsPropagation: unknown propagation ${JSON.stringify(prop)}`);
  return flags;
}

/**
 * --no-pivot keeps the old root under the rootfs in the mount namespace: a full proc or
 * sysfs mount there would let a user namespace made in the container mount a fresh proc
 * (mount_too_revealing() only refuses when no fully visible one exists). Each one is made
 * a slave (its unmount must not reach the host), then detached; where it cannot be (a
 * mount locked by a user namespace), a tmpfs covers it, which hides it just as well.
 */
function detachHostProcAndSys(plan: Plan, input: RootfsInput): void {
  for (const mp of fullProcSysMountsOutside(input.rootfs)) {
    const path = plan.cstr(mp);
    const next = plan.label(`after ${mp}`);
    const cover = plan.label(`cover ${mp}`);
    // ENOENT: under a mount detached just before; nothing left to do there.
    plan.add('mount', [0, path, 0, MS.SLAVE | MS.REC, 0], `make the host's ${mp} a slave before detaching it (--no-pivot)`, { okErrno: 2, jumpIfNonzero: next });
    plan.add('umount2', [path, MNT_DETACH], `detach the host's ${mp} (--no-pivot)`, { ignoreError: true, jumpIfNonzero: cover });
    plan.add('getpid', [], `${mp} detached: skip covering it`, { jumpIfNonzero: next });
    plan.place(cover);
    plan.add('mount', [plan.cstr('tmpfs'), path, plan.cstr('tmpfs'), MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, 0], `cover the host's ${mp}, which cannot be detached, with an empty tmpfs (--no-pivot)`);
    plan.place(next);
  }
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
    // Under a shared root, the move below would propagate the rootfs onto the host's /.
    plan.add('mount', [0, plan.cstr('/'), 0, MS.PRIVATE, 0], 'make the old / private before moving the rootfs onto it (--no-pivot)');
    detachHostProcAndSys(plan, input);
    plan.add('mount', [rootfs, plan.cstr('/'), 0, MS.MOVE, 0], 'move the rootfs to / (--no-pivot)');
    plan.add('chroot', [plan.cstr('.')], 'chroot into the rootfs (--no-pivot)');
  } else {
    // pivot_root(".", ".") stacks the old root on top of the new one; detach it. "." must
    // name the old root's mount (reached through an fd of it): the cwd's own mount is the
    // new root, and making that an rslave would cut every shared volume off the host.
    const dot = plan.cstr('.');
    const oldRoot = plan.slot('old root fd');
    plan.add('openat', [AT_FDCWD, plan.cstr('/'), O.PATH | O.DIRECTORY | O.CLOEXEC, 0], 'open the old root', { store: oldRoot });
    plan.add('pivot_root', [dot, dot], 'pivot_root into the rootfs');
    plan.add('fchdir', [{ load: oldRoot }], 'chdir to the old root');
    plan.add('close', [{ load: oldRoot }], 'close the old root fd');
    plan.add('mount', [0, dot, 0, MS.SLAVE | MS.REC, 0], 'make the old root a slave before detaching it');
    plan.add('umount2', [dot, MNT_DETACH], 'detach the old root');
  }
  plan.add('chdir', [plan.cstr('/')], 'chdir to /');
  // The configured propagation of the container's own / (what runc does after
  // pivot_root): applied before, it would have made the rootfs a peer of the host. A
  // private value is already what the bind of the rootfs gave; unbindable comes last
  // (buildFinalMountSteps), after the binds of readonlyPaths.
  const prop = rootPropagation(input);
  if (prop !== undefined && !(prop & (MS.PRIVATE | MS.UNBINDABLE))) {
    plan.add('mount', [0, plan.cstr('/'), 0, prop, 0], `make the container's / ${input.spec.linux?.rootfsPropagation} (linux.rootfsPropagation)`);
  }
}

/** After every other mount of the container (path protections included). */
export function buildFinalMountSteps(plan: Plan, input: RootfsInput): void {
  let how: Blob | undefined;
  (input.spec.mounts ?? []).forEach((m, i) => {
    const opts = parseMountOptions(m.options);
    if (!readOnlyLater(m, opts.flags)) return;
    const dest = posix.normalize(m.destination);
    // After pivot_root: resolved from the container's / (the cwd), never leaving it.
    how ??= inRootHow(plan);
    const fd = plan.slot(`fd of ${dest}`);
    plan.add('openat2', [AT_FDCWD, plan.cstr(dest.slice(1) || '.'), how, 24], `open the read-only mount ${dest} in the container`, { store: fd });
    plan.add('dup3', [{ load: fd }, TARGET_FD, O.CLOEXEC], `dup fd of ${dest}`);
    plan.add('close', [{ load: fd }], `close fd of ${dest}`);
    // MS_BIND|MS_REMOUNT changes only the mount's flags, which a user namespace may do.
    const flags = (opts.flags & ~(MS.BIND | MS.REC)) | MS.REMOUNT | MS.BIND | MS.RDONLY;
    plan.add('mount', [0, plan.cstr(TARGET_PATH), 0, flags, 0], `mounts[${i}]: make ${dest} read-only, now that what goes in it is made`);
  });
  const prop = rootPropagation(input);
  if (prop !== undefined && prop & MS.UNBINDABLE) {
    plan.add('mount', [0, plan.cstr('/'), 0, prop, 0], `make the container's / ${input.spec.linux?.rootfsPropagation} (linux.rootfsPropagation)`);
  }
}
