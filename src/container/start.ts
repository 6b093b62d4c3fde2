// `start`: release a created container's init through the exec fifo, then run the
// poststart hooks (a failing one stops the container and is an error).
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import { runHooks } from '../hooks/run-hooks';
import { ContainerError, TsrtError } from '../util/errors';
import { hookState } from './create';
import type { SavedState, StateStore } from './state-store';
import { statusOf } from './status';

export async function startContainer(store: StateStore, id: string): Promise<void> {
  await store.withLock(id, async () => {
    const s = store.load(id);
    const status = statusOf(store, s);
    if (status !== 'created') {
      throw new ContainerError('ESTATE', status === 'stopped' ? `cannot start a container that has stopped` : `cannot start an already ${status} container`);
    }
    await releaseInit(store, s);
  });
}

/** Opens the fifo for reading (the init is blocked opening it for writing). */
export async function releaseInit(store: StateStore, s: SavedState): Promise<void> {
  const fifo = store.fifoPath(s.id);
  const fd = openSync(fifo, 'r');
  try {
    const n = readSync(fd, Buffer.alloc(1), 0, 1, null);
    if (n !== 1) throw new TsrtError('ESTART', `container ${s.id}: the init exited before it could be started`);
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  try {
    await runHooks(s.config.hooks?.poststart, hookState(s, 'running'), 'poststart');
  } catch (e) {
    try { process.kill(s.pid, 'SIGKILL'); } catch { /* already gone */ }
    throw e;
  }
}
