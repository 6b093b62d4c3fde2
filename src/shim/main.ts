// containerd-shim-tsrt-v2's bundle: the daemon (no subcommand; the start script,
// scripts/shim-start.sh, spawned it with -socket) and `delete` (containerd's clean-up after
// a shim died). `start` itself is the script's: it must not load node.
import { createServer } from 'node:net';
import { closeSync, writeSync } from 'node:fs';
import { parseShimFlags, stateRoot, type ShimFlags } from './flags';
import { Publisher } from './events';
import { Reaper } from './reaper';
import { taskService } from './task-service';
import { serve } from './ttrpc';
import { encode, timestamp } from './proto';
import { StateStore } from '../container/state-store';
import { deleteContainer } from '../container/delete';
import { unmountRootfs } from './rootfs';
import { ShimLog } from './log';
import { Lifetime, lingerMs } from './lifetime';

function daemon(f: ShimFlags): void {
  const logs = new ShimLog(f.debug);
  // the first task's bundle; later ones attach at their Create
  logs.attach(f.id, process.cwd());
  const log = logs.line;
  // the daemon outlives its first task's bundle, which containerd removes: no relative path may depend on it
  process.chdir('/');
  const publisher = new Publisher({
    namespace: f.namespace, address: f.address, publishBinary: f.publishBinary, ttrpcAddress: process.env.TTRPC_ADDRESS, log,
  });
  const reaper = new Reaper();
  const server = createServer();
  let service: ReturnType<typeof taskService> | undefined;
  const memo = process.env.TSRT_SHIM_MEMO ?? '';
  delete process.env.TSRT_SHIM_MEMO;
  const lifetime = new Lifetime({
    socket: f.socket,
    memo,
    lingerMs: lingerMs(process.env.TSRT_SHIM_LINGER, log),
    idle: () => service!.idle(),
    log,
    exit: () => void publisher.flush().then(() => process.exit(0)),
  });
  service = taskService({ root: stateRoot(f.namespace), publisher, reaper, log, logs, lifetime });
  const timed = f.debug ? (method: string, ms: number) => log(`${method} took ${ms.toFixed(1)} ms`) : undefined;
  serve(server, { 'containerd.task.v2.Task': service.methods }, log, timed);
  server.on('error', (e) => {
    log(`listen on ${f.socket}: ${e.message}`);
    process.exit(1); // the socket is another shim's (EADDRINUSE): leave it
  });
  server.listen(f.socket || { fd: 3 }, () => {
    // since the process started (node's own start-up, the bundle, this daemon's set-up)
    if (f.debug) log(`listening ${performance.now().toFixed(1)} ms after the process started`);
    // the start script of a later task of the group checks that this process lives
    lifetime.listening();
    // the start script waits for this fd to close (scripts/shim-start.sh)
    const ready = Number(process.env.TSRT_SHIM_READY_FD);
    delete process.env.TSRT_SHIM_READY_FD;
    if (!ready) return;
    try {
      writeSync(ready, 'ready');
      closeSync(ready);
    } catch {
      // the script is gone
    }
  });
  // containerd stops a shim with SIGTERM only after Shutdown; keep the containers running on SIGINT/SIGHUP
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(sig, () => {});
}

async function cleanup(f: ShimFlags): Promise<void> {
  const bundle = f.bundle || process.cwd();
  const warnings: string[] = [];
  await deleteContainer(new StateStore(stateRoot(f.namespace)), f.id, true, (m) => warnings.push(m));
  unmountRootfs(bundle);
  if (warnings.length) process.stderr.write(`${warnings.join('\n')}\n`);
  // the init was killed (or is gone): 128 + SIGKILL, as the runc shim answers
  process.stdout.write(encode('containerd.task.v2.DeleteResponse', { pid: 0, exitStatus: 137, exitedAt: timestamp(Date.now()) }));
}

const flags = parseShimFlags(process.argv.slice(2));
if (flags.command === 'delete') {
  cleanup(flags).catch((e: Error) => {
    process.stderr.write(`containerd-shim-tsrt-v2 delete ${flags.id}: ${e.message}\n`);
    process.exit(1);
  });
} else if (flags.command === undefined) {
  daemon(flags);
} else {
  process.stderr.write(`containerd-shim-tsrt-v2: unknown command ${flags.command} (start and delete are; start is the launcher's)\n`);
  process.exit(1);
}
