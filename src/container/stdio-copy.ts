// Foreground `run` without a terminal, as runc's setupProcessPipes: the container gets
// three pipes (fds 0-2, made in the init plan: linux/given-stdio.ts) and tsrt copies its
// own stdin into the first and the other two out to its stdout and stderr. The caller's
// files and terminal are never handed to the container (nor chowned to its user).
import { closeSync, fchownSync } from 'node:fs';
import { Socket } from 'node:net';
import { O } from '../libc/constants';
import { libc } from '../libc/libc';
import type { Spec } from '../oci/spec-types';

/** The container's root as the host sees it (runc chowns the pipes to it: InitializeIO). */
export interface HostRoot { uid: number; gid: number }

/** The host ids of the container's uid and gid 0: through the mappings of a new user namespace, else 0. */
export function hostRootOf(c: Partial<Spec>): HostRoot {
  const userNs = (c.linux?.namespaces ?? []).some((n) => n.type === 'user' && !n.path);
  const root = (maps?: { containerID: number; hostID: number; size: number }[]) => {
    const m = userNs ? maps?.find((x) => x.containerID <= 0 && x.containerID + x.size > 0) : undefined;
    return m ? m.hostID - m.containerID : 0;
  };
  return { uid: root(c.linux?.uidMappings), gid: root(c.linux?.gidMappings) };
}

export class StdioPipes {
  /** the ends the container gets, as its fds 0, 1 and 2 */
  readonly childEnds: readonly [number, number, number];
  private readonly ours: [number, number, number];
  private childOpen = true;
  private input?: Socket;
  private outputs: Socket[] = [];
  private drained?: Promise<void>;

  constructor(owner: HostRoot) {
    const stdin = libc.pipe2(O.CLOEXEC);
    const stdout = libc.pipe2(O.CLOEXEC);
    const stderr = libc.pipe2(O.CLOEXEC);
    this.childEnds = [stdin[0], stdout[1], stderr[1]];
    this.ours = [stdin[1], stdout[0], stderr[0]];
    // In a user namespace the init (its root) must be able to chown them to process.user.
    if (owner.uid !== 0 || owner.gid !== 0) {
      for (const fd of this.childEnds) {
        try { fchownSync(fd, owner.uid, owner.gid); } catch { /* left to the init's chown, which may then fail quietly as runc's */ }
      }
    }
  }

  /** After the clone: the container holds its ends, tsrt closes its copies (EOF comes when the container's are gone). */
  closeChildEnds(): void {
    if (!this.childOpen) return;
    this.childOpen = false;
    for (const fd of this.childEnds) closeSync(fd);
  }

  /** Starts copying: tsrt's stdin into the container's, the container's stdout and stderr out. */
  startCopying(): void {
    this.closeChildEnds();
    const [stdinW, stdoutR, stderrR] = this.ours;
    const input = new Socket({ fd: stdinW, readable: false, writable: true });
    // The container may exit (or close its stdin) before reading all: EPIPE ends the copy.
    input.on('error', () => { process.stdin.unpipe(input); input.destroy(); });
    process.stdin.pipe(input); // ends input (the container reads EOF) when stdin ends
    this.input = input;
    const copies = ([[stdoutR, process.stdout], [stderrR, process.stderr]] as const).map(([fd, to]) => {
      const from = new Socket({ fd, readable: true, writable: false });
      this.outputs.push(from);
      from.pipe(to, { end: false });
      return new Promise<void>((resolve) => { from.on('close', () => resolve()); from.on('error', () => resolve()); });
    });
    this.drained = Promise.all(copies).then(() => undefined);
  }

  /**
   * Waits until every writer in the container has closed its stdout and stderr (what is
   * still in the pipes is copied out first), then stops reading tsrt's stdin.
   */
  async finish(): Promise<void> {
    await this.drained;
    this.stopInput();
  }

  /** Gives up (a failed create or start): closes every end still open, copies nothing more. */
  abort(): void {
    if (this.childOpen) this.closeChildEnds();
    if (!this.drained) {
      for (const fd of this.ours) closeSync(fd);
      return;
    }
    for (const s of this.outputs) s.destroy();
    this.stopInput();
  }

  private stopInput(): void {
    if (!this.input) return;
    process.stdin.unpipe(this.input);
    process.stdin.pause();
    this.input.destroy();
    this.input = undefined;
  }
}
