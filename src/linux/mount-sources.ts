// Bind sources a new user namespace cannot reach: its root is an unprivileged host uid,
// so a source behind a directory it may not search (a 0700 bundle or temp dir) failed with
// EACCES. As runc does, such a source is opened for the init by a helper that runs with
// tsrt's credentials inside the init's mount namespace: open_tree(OPEN_TREE_CLONE) there
// gives a detached copy of the source (with the namespace's locked flags, so nothing
// locked on the host becomes changeable), sent over a socket (SCM_RIGHTS); the init
// move_mount()s it onto its target. The init receives them right after the parent
// releases it, before its first mount.
import { closeSync, openSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { LinuxIDMapping, Spec } from '../oci/spec-types';
import { AT_FDCWD, AT_RECURSIVE, CLONE, OPEN_TREE, PR, SIGCHLD } from '../libc/constants';
import { libc } from '../libc/libc';
import { Plan, type Blob } from '../plan/plan';
import { readReport, startPlan } from '../plan/run-plan';
import { TsrtError } from '../util/errors';
import { isBindMount, parseMountOptions } from './mount-options';
import { buildSignalResetSteps } from './process-setup';

const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;

export interface HostSource {
  /** index in config.mounts */
  index: number;
  source: string;
  recursive: boolean;
}

/** The host id that id 0 of the container maps to (-1 when unmapped). */
function hostIdOfRoot(maps: LinuxIDMapping[] | undefined): number {
  const m = (maps ?? []).find((x) => x.containerID === 0);
  return m ? m.hostID : -1;
}

/** Whether uid/gid may search every directory on the way to `path` (mode bits, as the kernel decides without ACLs). */
function searchable(path: string, uid: number, gid: number): boolean {
  let dir: string;
  try {
    dir = dirname(realpathSync(path));
  } catch {
    return true; // missing: the mount step reports it with its errno
  }
  for (;;) {
    const st = statSync(dir);
    const bits = st.uid === uid ? st.mode >> 6 : st.gid === gid ? st.mode >> 3 : st.mode;
    if (!(bits & 1)) return false;
    if (dir === '/') return true;
    dir = dirname(dir);
  }
}

/**
 * The bind mounts whose source the root of a new user namespace cannot reach. Only a
 * privileged tsrt can help (a rootless one has no more rights than its container).
 */
export function hostSideBindSources(spec: Spec, bundle: string, newUserNs: boolean): HostSource[] {
  if (!newUserNs || process.geteuid?.() !== 0) return [];
  const uid = hostIdOfRoot(spec.linux?.uidMappings);
  const gid = hostIdOfRoot(spec.linux?.gidMappings);
  const out: HostSource[] = [];
  (spec.mounts ?? []).forEach((m, index) => {
    if (!isBindMount(m) || m.type === 'cgroup' || m.type === 'cgroup2') return;
    const source = resolvePath(bundle, m.source ?? '');
    if (!searchable(source, uid, gid)) out.push({ index, source, recursive: parseMountOptions(m.options).recursive });
  });
  return out;
}

/** msghdr (56 bytes) with a 1-byte iovec and a cmsghdr for one fd; the fd goes at cmsg + 16. */
function fdMessage(plan: Plan, label: string): { msg: Blob; cmsg: Blob } {
  const byte = plan.blob(Buffer.from([0x6d]), `${label}: data byte`);
  const iov = plan.blob(Buffer.alloc(16), `${label}: iovec`);
  plan.pointerAt(iov, 0, byte);
  iov.bytes.writeBigUInt64LE(1n, 8);
  // struct cmsghdr { u64 len = 20, int level = SOL_SOCKET, int type = SCM_RIGHTS, int fd }
  const c = Buffer.alloc(24);
  c.writeBigUInt64LE(20n, 0);
  c.writeInt32LE(1, 8);
  c.writeInt32LE(1, 12);
  const cmsg = plan.blob(c, `${label}: SCM_RIGHTS`);
  const msg = plan.blob(Buffer.alloc(56), `${label}: msghdr`);
  plan.pointerAt(msg, 16, iov);
  msg.bytes.writeBigUInt64LE(1n, 24);
  plan.pointerAt(msg, 32, cmsg);
  msg.bytes.writeBigUInt64LE(24n, 40);
  return { msg, cmsg };
}

/**
 * Init side: receive one detached mount per host source, in order. Returns, per mount
 * index, the blob whose u64 at +16 is the received fd.
 */
export function buildReceiveSourceSteps(plan: Plan, socketFd: number, sources: HostSource[]): Map<number, Blob> {
  const out = new Map<number, Blob>();
  for (const s of sources) {
    const field = `mounts[${s.index}]`;
    const { msg, cmsg } = fdMessage(plan, `${field} source`);
    plan.add('recvmsg', [socketFd, msg, MSG_CMSG_CLOEXEC], `${field}: receive the source ${s.source}, opened on the host side (the user namespace cannot reach it)`);
    // level SOL_SOCKET and type SCM_RIGHTS: an fd came with the byte
    plan.checkEquals(cmsg, 8, 0xffffffffffffffffn, (1n << 32n) | 1n, `${field}: receive the source ${s.source}`, () => `${field}: no file descriptor came with the source ${s.source}`);
    out.set(s.index, cmsg);
  }
  if (sources.length) plan.add('close', [socketFd], 'close the socket of the mount sources');
  return out;
}

/**
 * Parent side, while the init waits for its release: a helper in the init's mount
 * namespace (tsrt's credentials) clones each source and sends it to the init.
 */
export function sendHostSources(pid: number, socketFd: number, sources: HostSource[]): void {
  if (!sources.length) return;
  const mntFd = openSync(`/proc/${pid}/ns/mnt`, 'r');
  const [repR, repW] = libc.pipe2(0o2000000);
  try {
    const plan = new Plan();
    buildSignalResetSteps(plan);
    plan.add('prctl', [PR.SET_DUMPABLE, 0, 0, 0, 0], 'mount sources: become non-dumpable');
    plan.add('setns', [mntFd, CLONE.NEWNS], 'mount sources: join the container\'s mount namespace');
    for (const s of sources) {
      const field = `mounts[${s.index}]`;
      const { msg, cmsg } = fdMessage(plan, `${field} source`);
      plan.add('open_tree', [AT_FDCWD, plan.cstr(s.source), OPEN_TREE.CLONE | OPEN_TREE.CLOEXEC | (s.recursive ? AT_RECURSIVE : 0)],
        `${field}: open the source ${s.source} (a detached ${s.recursive ? 'recursive ' : ''}copy)`, { store: cmsg, storeOffset: 16 });
      plan.add('sendmsg', [socketFd, msg, MSG_NOSIGNAL], `${field}: send the source ${s.source} to the container's init`);
    }
    const child = startPlan(plan, SIGCHLD, repW);
    closeSync(repW);
    const r = readReport(plan, repR);
    libc.waitpid(child, 0);
    if (r.kind === 'error') throw new TsrtError('ESETUP', r.message);
  } finally {
    closeSync(mntFd);
    closeSync(repR);
  }
}
