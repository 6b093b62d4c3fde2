// The container process owns its stdio, as under runc (fixStdioPermissions): a non-root
// process.user must be able to use its terminal (reopen /dev/pts/N or /proc/self/fd/0,
// ttyname, `script`, ssh-agent-like checks) and the pipes or files it was given.
// Only the owner changes; the group stays (devpts gives the slave gid 5, tty).
import { fstatSync } from 'node:fs';
import type { Spec } from '../oci/spec-types';
import type { Plan } from '../plan/plan';

/** /dev/null (char 1:3) is never chowned: it may be the host's own. */
const DEV_NULL_RDEV = (1 << 8) | 3;
const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const AT_EMPTY_PATH = 0x1000;

/** A host uid as the container's user namespace sees it (undefined: unknown). */
function containerUid(spec: Spec, hostUid: number): number | undefined {
  const userNs = (spec.linux?.namespaces ?? []).some((n) => n.type === 'user');
  if (!userNs) return hostUid;
  for (const m of spec.linux?.uidMappings ?? []) {
    if (hostUid >= m.hostID && hostUid < m.hostID + m.size) return m.containerID + hostUid - m.hostID;
  }
  return undefined;
}

/**
 * Whose stdio: the pty slave the plan opened itself ('terminal', owned by the
 * container's root), the pipes tsrt made for a foreground `run` or `exec` ('pipes',
 * owned by the container's root: stdio-copy.ts), or the fds this process passes on
 * ('inherited': create, run -d and exec -d, where runc passes its own stdio too). The
 * caller's own terminal or files are handed over (and chowned) only in the last case.
 */
export type StdioOwnership = 'terminal' | 'pipes' | 'inherited';

/**
 * Steps that give fds 0-2 to process.user.uid, before the uid switch (CAP_CHOWN is still
 * effective). Inherited fds are looked at here: /dev/null and fds the user already owns
 * are left alone, as runc does. A failure (an owner or group the user namespace does not
 * map, a read-only file system) leaves the fd as it is, as under runc.
 */
/** `given`: the fds that become 0-2 (given-stdio.ts), looked at in their place; default this process's own. */
export function buildStdioOwnerSteps(plan: Plan, spec: Spec, which: StdioOwnership, given: readonly number[] = [0, 1, 2]): void {
  const uid = spec.process?.user?.uid ?? 0;
  const fds: number[] = [];
  if (which === 'terminal') {
    if (uid !== 0) fds.push(0); // 0, 1 and 2 are the same pty slave
  } else if (which === 'pipes') {
    if (uid !== 0) fds.push(0, 1, 2);
  } else if (which === 'inherited') {
    for (const fd of [0, 1, 2]) {
      let st;
      try {
        st = fstatSync(given[fd]!);
      } catch {
        continue; // closed
      }
      if ((st.mode & S_IFMT) === S_IFCHR && st.rdev === DEV_NULL_RDEV) continue;
      if (containerUid(spec, st.uid) === uid) continue;
      fds.push(fd);
    }
  }
  for (const fd of fds) {
    plan.add('fchownat', [fd, plan.cstr(''), uid, -1, AT_EMPTY_PATH], `give fd ${fd} (${which === 'terminal' ? 'the terminal' : which === 'pipes' ? 'a stdio pipe' : 'stdio'}) to uid ${uid}, as runc`, { ignoreError: true });
  }
}
