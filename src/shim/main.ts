// containerd-shim-tsrt-v2's bundle: the daemon (no subcommand; the start script,
// scripts/shim-start.sh, spawned it with -socket) and `delete` (containerd's clean-up after
// a shim died). `start` itself is the script's: it must not load node.
import { createServer } from 'node:net';
import { closeSync, constants, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseShimFlags, stateRoot, type ShimFlags } from './flags';
import { Publisher } from './events';
import { Reaper } from './reaper';
import { taskService } from './task-service';
import { serve } from './ttrpc';
import { encode, timestamp } from './proto';
import { StateStore } from '../container/state-store';
import { deleteContainer } from '../container/delete';
import { unmountRootfs } from './rootfs';

/** Log lines to the bundle's `log` fifo, which containerd copies to its own log. */
function openLog(bundle: string, debug: boolean): (msg: string) => void {
  let fd: number | undefined;
  try {
    fd = openSync(join(bundle, 'log'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    // no reader (containerd restarted) or no fifo: nowhere to log
  }
  return (msg) => {
    if (fd === undefined) return;
    try {
      writeSync(fd, `time="${new Date().toISOString()}" level=${debug ? 'debug' : 'info'} msg=${JSON.stringify(msg)} runtime=io.containerd.tsrt.v2\n`);
    } catch {
      // EAGAIN (containerd is slow to read) or EPIPE: the line is dropped
    }
  };
}

function daemon(f: ShimFlags): void {
  const bundle = process.cwd();
  const log = openLog(bundle, f.debug);
  const publisher = new Publisher({
    namespace: f.namespace, address: f.address, publishBinary: f.publishBinary, ttrpcAddress: process.env.TTRPC_ADDRESS, log,
  });
  const reaper = new Reaper();
  const server = createServer();
  const exit = (code: number) => {
    if (f.socket) for (const p of [f.socket, `${f.socket}.pid`]) rmSync(p, { force: true });
    process.exit(code);
  };
  serve(server, {
    'containerd.task.v2.Task': taskService({ root: stateRoot(f.namespace), publisher, reaper, log, exit: () => exit(0) }),
  }, log);
  server.on('error', (e) => {
    log(`listen on ${f.socket}: ${e.message}`);
    process.exit(1); // the socket is another shim's (EADDRINUSE): leave it
  });
  server.listen(f.socket || { fd: 3 }, () => {
    // the start script of a later container of the pod checks that this pid lives
    if (f.socket) writeFileSync(`${f.socket}.pid`, String(process.pid));
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
