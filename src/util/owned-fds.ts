// The fds a command opens for a child it starts. Each is closed exactly once: fd numbers
// are reused at once, so closing one twice could close someone else's.
import { closeSync } from 'node:fs';

export class OwnedFds {
  private readonly open = new Set<number>();

  add(...fds: number[]): void {
    for (const fd of fds) this.open.add(fd);
  }

  /** Closes fd if it is still ours (a no-op for an fd we never added). */
  close(fd: number): void {
    if (!this.open.delete(fd)) return;
    try { closeSync(fd); } catch { /* already closed */ }
  }

  /** Hands fd over to the caller: closeAll leaves it open. */
  keep(fd: number): void {
    this.open.delete(fd);
  }

  closeAll(): void {
    [...this.open].forEach((fd) => this.close(fd));
  }
}
