// Namespaces: which are created by clone(), which are joined by setns() on an fd the
// parent opened, and whether the plan needs a second clone (joining a PID namespace or
// creating a time namespace only affects children, so the init must be a grandchild).
import { openSync } from 'node:fs';
import type { LinuxNamespace, LinuxNamespaceType, Spec } from '../oci/spec-types';
import { CLONE } from '../libc/constants';
import { ConfigError } from '../util/errors';

export const NS_FLAG: Record<LinuxNamespaceType, number> = {
  pid: CLONE.NEWPID, network: CLONE.NEWNET, mount: CLONE.NEWNS, ipc: CLONE.NEWIPC,
  uts: CLONE.NEWUTS, user: CLONE.NEWUSER, cgroup: CLONE.NEWCGROUP, time: CLONE.NEWTIME,
};

/** /proc/PID/ns/<name> for each type. */
export const NS_PROC_NAME: Record<LinuxNamespaceType, string> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user',
  cgroup: 'cgroup', time: 'time',
};

// setns order: the user namespace first (it grants the rights for the rest), the
// mount namespace last (it changes what paths mean).
const JOIN_ORDER: LinuxNamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

/** Sorts namespaces to join into the order setns() needs (create and exec). */
export function sortForJoining<T extends { type: LinuxNamespaceType }>(joined: T[]): T[] {
  return joined.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
}

export interface JoinedNamespace {
  type: LinuxNamespaceType;
  path: string;
  fd: number;
}

export interface NamespacePlan {
  /** namespaces created by the init's clone() (never cgroup or time: see below). */
  cloneFlags: number;
  /** created by unshare() after the parent moved the init into its cgroup. */
  unshareCgroup: boolean;
  /**
   * With a new user namespace, the ipc namespace is created by unshare() once the init is
   * root of the user namespace: the ipc namespace's mqueue root gets the creator's fsuid,
   * at clone() still the host's uid (unmapped: 65534 on /dev/mqueue). runc unshares it
   * after setresuid(0) (and before setresgid(0): its gid stays the unmapped one).
   */
  unshareIpc: boolean;
  /** created by unshare() in the intermediate process; its children get it. */
  newTime: boolean;
  joined: JoinedNamespace[];
  /** an intermediate process joins/unshares, then clones the init (CLONE_PARENT). */
  twoStage: boolean;
  newUser: boolean;
  has(type: LinuxNamespaceType): boolean;
}

/** Opens every namespace path (O_CLOEXEC: the fds vanish at execve). */
export function planNamespaces(spec: Spec): NamespacePlan {
  const list: LinuxNamespace[] = spec.linux?.namespaces ?? [];
  let cloneFlags = 0;
  let unshareCgroup = false;
  let newTime = false;
  const joined: JoinedNamespace[] = [];
  list.forEach((ns, i) => {
    if (ns.path) {
      let fd: number;
      try {
        fd = openSync(ns.path, 'r');
      } catch (e) {
        throw new ConfigError(`linux.namespaces[${i}].path: cannot open ${ns.path} to join the ${ns.type} namespace: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
      joined.push({ type: ns.type, path: ns.path, fd });
    } else if (ns.type === 'cgroup') {
      unshareCgroup = true;
    } else if (ns.type === 'time') {
      newTime = true;
    } else {
      cloneFlags |= NS_FLAG[ns.type];
    }
  });
  sortForJoining(joined);
  const types = new Set(list.map((n) => n.type));
  const unshareIpc = (cloneFlags & CLONE.NEWUSER) !== 0 && (cloneFlags & CLONE.NEWIPC) !== 0;
  if (unshareIpc) cloneFlags &= ~CLONE.NEWIPC;
  return {
    cloneFlags,
    unshareCgroup,
    unshareIpc,
    newTime,
    joined,
    // Joined namespaces must be entered before new ones are created (a new user
    // namespace would take away the rights to setns into the host's others).
    twoStage: joined.length > 0 || newTime,
    newUser: (cloneFlags & CLONE.NEWUSER) !== 0,
    has: (t) => types.has(t),
  };
}
