// What foreground `run` and `exec` share: forwarding tsrt's signals to the container
// process while waiting for it, and turning its wait status into an exit code.

const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGALRM'];

/**
 * Forwards signals to pid until the returned function is called. With a terminal, the
 * pty's size (not SIGWINCH) tells the container about a resize.
 */
export function forwardSignals(pid: number, opts: { terminal: boolean }): () => void {
  const handlers = FORWARDED.filter((sig) => !(opts.terminal && sig === 'SIGWINCH')).map((sig) => {
    const h = () => { try { process.kill(pid, sig); } catch { /* exited */ } };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => { for (const [sig, h] of handlers) process.off(sig, h); };
}

/** The exit code of a wait status: the code, or 128+N when killed by signal N. */
export function exitCodeOf(status: number): number {
  const sig = status & 0x7f;
  return sig ? 128 + sig : (status >> 8) & 0xff;
}
