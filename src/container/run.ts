// `run`: create + start in one process. In the foreground tsrt stays the init's parent:
// it forwards signals, waits, removes the container (unless --keep) and returns the
// container's exit code (128+N when killed by signal N).
import { PR } from '../libc/constants';
import { libc } from '../libc/libc';
import { readReport } from '../plan/run-plan';
import { TsrtError, UsageError } from '../util/errors';
import { closeSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { proxyTerminal, type TerminalProxy } from '../console/proxy';
import { createContainer, type CreateOptions } from './create';
import { removeContainer } from './delete';
import { releaseInit } from './start';
import { exitCodeOf, forwardSignals } from './foreground';
import { logDebug } from '../cli/log';
import type { Spec } from '../oci/spec-types';
import { StdioPipes, hostRootOf, type HostRoot } from './stdio-copy';

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  keep?: boolean;
  noSubreaper?: boolean;
}


interface RunConfig { terminal: boolean; hostRoot: HostRoot }

/** What run decides before create: process.terminal, and the container's root on the host. */
function readRunConfig(bundle: string): RunConfig {
  let c: Partial<Spec>;
  try {
    c = JSON.parse(readFileSync(resolve(bundle, 'config.json'), 'utf8')) as Partial<Spec>;
  } catch {
    return { terminal: false, hostRoot: { uid: 0, gid: 0 } }; // create reports the problem
  }
  return { terminal: c.process?.terminal === true, hostRoot: hostRootOf(c) };
}

export async function runContainer(o: RunOptions, warn: (msg: string) => void): Promise<number> {
  if (!o.detach && !o.noSubreaper) libc.prctl(PR.SET_CHILD_SUBREAPER, 1);
  // terminal: true and no --console-socket: tsrt hosts the terminal itself.
  const config = readRunConfig(o.bundle || '.');
  let pair: [number, number] | undefined;
  if (!o.consoleSocket && config.terminal) {
    if (o.detach) throw new UsageError('process.terminal is true: run --detach needs --console-socket');
    pair = libc.socketpair();
  }
  // Without a terminal, in the foreground: pipes, as runc (with --detach the container
  // inherits tsrt's stdio, as runc's).
  const pipes = !o.detach && !config.terminal ? new StdioPipes(config.hostRoot) : undefined;
  let created: Awaited<ReturnType<typeof createContainer>>;
  try {
    created = await createContainer({ ...o, keepReport: !o.detach, consoleFd: pair?.[1], stdioPipes: pipes?.childEnds });
  } catch (e) {
    pipes?.abort();
    throw e;
  } finally {
    if (pair) closeSync(pair[1]);
  }
  pipes?.startCopying();
  const { store, state, plan, reportFd } = created;
  let terminal: TerminalProxy | undefined;
  if (pair) {
    const { fd } = libc.recvFd(pair[0]);
    closeSync(pair[0]);
    terminal = proxyTerminal(fd);
  }
  const cleanup = async () => {
    try { process.kill(state.pid, 'SIGKILL'); } catch { /* gone */ }
    await removeContainer(store, state, warn, state.bundle);
  };
  const stopForwarding = forwardSignals(state.pid, { terminal: terminal !== undefined });
  try {
    await releaseInit(store, state);
  } catch (e) {
    terminal?.restore();
    // An init that died before it could be started says why on the report pipe.
    const r = e instanceof TsrtError && e.code === 'ESTART' && reportFd !== undefined ? readReport(plan, reportFd) : undefined;
    await cleanup();
    pipes?.abort();
    if (r?.kind === 'error') throw new TsrtError('ESETUP', r.message);
    throw e;
  }
  if (o.detach) return 0;
  // EOF on the report pipe: execve succeeded (the pipe is close-on-exec).
  const r = readReport(plan, reportFd!);
  logDebug(`run ${state.id}: ${r.kind === 'error' ? 'the exec failed' : 'started'}, waiting for pid ${state.pid}`);
  const status = await libc.waitpidAsync(state.pid);
  logDebug(`run ${state.id}: pid ${state.pid} exited with wait status 0x${status.toString(16)}`);
  await terminal?.finish();
  stopForwarding();
  if (!o.keep) await removeContainer(store, state, warn, state.bundle);
  // As runc: the output is copied until every process that holds it is gone (removing
  // the container killed what the init left behind).
  await pipes?.finish();
  if (r.kind === 'error') throw new TsrtError('EEXEC', r.message);
  return exitCodeOf(status);
}
