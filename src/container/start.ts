// `start`: release a created container's init through the exec fifo, then run the
// poststart hooks (a failing one stops the container and is an error).
import { closeSync, constants, openSync, readSync, unlinkSync } from 'node:fs';
import { runHooks } from '../hooks/run-hooks';
import { ContainerError, TsrtError } from '../util/errors';
import { hookState, type SavedState, type StateStore } from './state-store';
import { isAlive, statusOf } from './status';
import { logDebug } from '../cli/log';

export async function startContainer(store: StateStore, id: string): Promise<void> {
  await store.withLock(id, async () => {
    const s = store.load(id);
    const status = statusOf(store, s);
    if (status !== 'created') {
      throw new ContainerError('ESTATE', status === 'stopped' ? `cannot start a container that has stopped` : `cannot start an already ${status} container`);
    }
    logDebug(`start ${id}: releasing the init (pid ${s.pid}) through the exec fifo`);
    await releaseInit(store, s);
    logDebug(`start ${id}: started`);
  });
}

/**
 * Opens the fifo for reading (the init is blocked opening it for writing) and waits for
 * its byte. Non-blocking and watching the init: one that dies before it opens the fifo
 * (a setup step after "ready" failed) must not leave us blocked in open() for ever.
 */
export async function releaseInit(store: StateStore, s: SavedState): Promise<void> {
  const fifo = store.fifoPath(s.id);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(1);
    for (let i = 0; ; i++) {
      // Sampled before the read: a byte written just before the init exited still counts.
      const alive = isAlive(s);
      let n = 0;
      try {
        n = readSync(fd, buf, 0, 1, null); // 0: no writer yet; EAGAIN: opened, no byte yet
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (n === 1) break;
      if (!alive) throw new TsrtError('ESTART', `container ${s.id}: the init exited before it could be started`);
      await new Promise((r) => setTimeout(r, i < 50 ? 1 : 10));
    }
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  try {
    await runHooks(s.config.hooks?.poststart, hookState(s, 'running'), 'poststart', s.bundle);
  } catch (e) {
    try { process.kill(s.pid, 'SIGKILL'); } catch { /* already gone */ }
    throw e;
  }
}
