// Runs OCI lifecycle hooks (config.md "POSIX-platform Hooks"): each hook is executed with
// exactly its own args and env (tsrt's environment when it has no env, as runc), gets the container state JSON on stdin, and fails the
// step if it exits non-zero, dies of a signal or outlives its timeout. child_process and
// friends are loaded on first use: most tsrt commands never run a hook.
//
// Hooks run in a new session (setsid) so that a timeout kills the whole process group: a
// shell script's `sleep` must not outlive the hook that started it.
import type * as ChildProcess from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Hook } from '../oci/spec-types';
import { HookError } from '../util/errors';

export type HookSpec = Hook;

/** Bytes of stdout / stderr kept for the error message. */
const OUTPUT_CAP = 4096;
/** After the hook exits, how long its stdout/stderr may stay open (held by a daemon it
 * started) before we stop waiting for them. */
const CLOSE_GRACE_MS = 200;

/**
 * Runs one hook; rejects with a HookError naming `kind`, `index` and the hook's path.
 * `cwd`: the bundle for prestart, createRuntime and poststart, where runc runs them (it
 * works in the bundle directory); poststop from `delete` keeps the caller's, as runc's.
 */
export function runHook(hook: HookSpec, stateJson: string, kind: string, index: number, cwd?: string): Promise<void> {
  const what = `${kind} hook #${index} (${hook.path})`;
  return new Promise<void>((resolve, reject) => {
    const fail = (detail: string): void => reject(new HookError(`${what}: ${detail}`));
    const notAbsolute = checkPath(hook);
    if (notAbsolute) return fail(notAbsolute);

    const { spawn } = require('node:child_process') as typeof ChildProcess;
    let child: ChildProcess.ChildProcessWithoutNullStreams;
    try {
      child = spawn(hook.path, (hook.args ?? []).slice(1), {
        argv0: hook.args?.[0] ?? hook.path,
        env: hookEnv(hook),
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        cwd,
      });
    } catch (e) {
      return fail(`could not be started: ${describeSpawnError(e)}`);
    }

    const stdout = capture(child.stdout);
    const stderr = capture(child.stderr);
    child.stdin.on('error', () => {}); // EPIPE: the hook need not read its stdin
    child.stdin.end(stateJson);

    let settled = false;
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const timeoutSec = effectiveTimeout(hook);
    const timer = timeoutSec === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutSec * 1000);

    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      const problem = exitProblem(exit?.code ?? null, exit?.signal ?? null, timedOut ? timeoutSec : undefined, stderr.text(), stdout.text());
      if (problem) fail(problem);
      else resolve();
    };

    child.on('error', (e) => {
      // after a successful spawn, 'error' can only be about signalling, which we do not use
      if (child.pid !== undefined || settled) return;
      settled = true;
      clearTimeout(timer);
      fail(`could not be started: ${describeSpawnError(e)}`);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      clearTimeout(timer);
      graceTimer = setTimeout(settle, CLOSE_GRACE_MS);
    });
    child.on('close', (code, signal) => {
      exit ??= { code, signal };
      settle();
    });
  });
}

/** Runs hooks in order, stopping at (and rejecting with) the first failure. */
export async function runHooks(hooks: HookSpec[] | undefined, stateJson: string, kind: string, cwd?: string): Promise<void> {
  for (const [index, hook] of (hooks ?? []).entries()) {
    await runHook(hook, stateJson, kind, index, cwd);
  }
}

/** runHook for synchronous code paths; throws the same HookErrors. */
export function runHookSync(hook: HookSpec, stateJson: string, kind: string, index: number): void {
  const what = `${kind} hook #${index} (${hook.path})`;
  const notAbsolute = checkPath(hook);
  if (notAbsolute) throw new HookError(`${what}: ${notAbsolute}`);

  const { spawnSync } = require('node:child_process') as typeof ChildProcess;
  // Output goes to unlinked scratch files, not pipes: spawnSync waits for pipes to close,
  // so a daemon started by the hook would block us for as long as it lives.
  const out = scratchFile();
  const err = scratchFile();
  try {
    const timeoutSec = effectiveTimeout(hook);
    const options: ChildProcess.SpawnSyncOptionsWithBufferEncoding & { detached: boolean } = {
      argv0: hook.args?.[0] ?? hook.path,
      env: hookEnv(hook),
      input: stateJson,
      stdio: ['pipe', out ?? 'ignore', err ?? 'ignore'],
      detached: true, // supported by spawnSync, missing from its typings
      killSignal: 'SIGKILL',
      ...(timeoutSec === undefined ? {} : { timeout: timeoutSec * 1000 }),
    };
    let r: ChildProcess.SpawnSyncReturns<Buffer>;
    try {
      r = spawnSync(hook.path, (hook.args ?? []).slice(1), options);
    } catch (e) {
      throw new HookError(`${what}: could not be started: ${describeSpawnError(e)}`);
    }
    const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
    if (r.error && !r.pid) throw new HookError(`${what}: could not be started: ${describeSpawnError(r.error)}`);
    const timedOut = code === 'ETIMEDOUT';
    if (timedOut) killGroup(r.pid); // spawnSync killed only the leader
    // other errors (EPIPE writing a state the hook did not read) say nothing about the hook
    const problem = exitProblem(r.status, r.signal, timedOut ? timeoutSec : undefined, readScratch(err), readScratch(out));
    if (problem) throw new HookError(`${what}: ${problem}`);
  } finally {
    closeScratch(out);
    closeScratch(err);
  }
}

/** runHooks for synchronous code paths. */
export function runHooksSync(hooks: HookSpec[] | undefined, stateJson: string, kind: string): void {
  for (const [index, hook] of (hooks ?? []).entries()) {
    runHookSync(hook, stateJson, kind, index);
  }
}

// ---------------------------------------------------------------------------------------

/** The spec requires an absolute path; a relative one would be looked up in tsrt's cwd. */
function checkPath(hook: HookSpec): string | undefined {
  return hook.path.startsWith('/') ? undefined : 'could not be started: path is not absolute';
}

function effectiveTimeout(hook: HookSpec): number | undefined {
  return typeof hook.timeout === 'number' && hook.timeout > 0 ? hook.timeout : undefined;
}

/**
 * A hook's environment: its `env`, or without one the runtime's own environment, as runc
 * (Go's exec.Cmd with a nil Env inherits the caller's).
 */
function hookEnv(hook: HookSpec): NodeJS.ProcessEnv {
  return hook.env ? envFromList(hook.env) : process.env;
}

/** "K=V" entries to the object spawn wants; entries without '=' cannot be passed by node. */
function envFromList(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** Why the hook failed, or undefined if it succeeded. */
function exitProblem(
  code: number | null, signal: string | null, timedOutAfter: number | undefined,
  stderr: string, stdout: string,
): string | undefined {
  let problem: string;
  if (timedOutAfter !== undefined) problem = `timed out after ${timedOutAfter}s`;
  else if (signal) problem = `killed by signal ${signalNumber(signal)}`;
  else if (code !== 0) problem = `exited with status ${code}`;
  else return undefined;
  const line = firstLine(stderr) ?? firstLine(stdout);
  return line ? `${problem}: ${line}` : problem;
}

function firstLine(text: string): string | undefined {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '');
}

function signalNumber(signal: string): string {
  const { constants } = require('node:os') as typeof import('node:os');
  const n = (constants.signals as Record<string, number>)[signal];
  return n === undefined ? signal : String(n);
}

/** ENOENT (no such file or directory) */
function describeSpawnError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (typeof err.errno === 'number') {
    const util = require('node:util') as typeof import('node:util');
    const known = util.getSystemErrorMap().get(err.errno);
    if (known) return `${known[0]} (${known[1]})`;
  }
  return err.code ?? err.message;
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: everything in the group is already gone
  }
}

/** Keeps the first OUTPUT_CAP bytes of a stream and drains the rest, so a chatty hook
 * never blocks on a full pipe. */
function capture(stream: Readable): { text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    if (size >= OUTPUT_CAP) return;
    const part = chunk.subarray(0, OUTPUT_CAP - size);
    chunks.push(part);
    size += part.length;
  });
  stream.on('error', () => {});
  return { text: () => Buffer.concat(chunks).toString('utf8') };
}

/** An unlinked temporary file for a hook's output, or undefined if none can be made (the
 * output is then discarded: losing it must not stop the hook from running). */
function scratchFile(): number | undefined {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const path = require('node:path') as typeof import('node:path');
  const crypto = require('node:crypto') as typeof import('node:crypto');
  const name = path.join(os.tmpdir(), `tsrt-hook-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  try {
    const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants; // node adds O_CLOEXEC
    const fd = fs.openSync(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    fs.unlinkSync(name);
    return fd;
  } catch {
    return undefined;
  }
}

function readScratch(fd: number | undefined): string {
  if (fd === undefined) return '';
  const fs = require('node:fs') as typeof import('node:fs');
  const buf = Buffer.alloc(OUTPUT_CAP);
  const n = fs.readSync(fd, buf, 0, OUTPUT_CAP, 0);
  return buf.subarray(0, n).toString('utf8');
}

function closeScratch(fd: number | undefined): void {
  if (fd === undefined) return;
  const fs = require('node:fs') as typeof import('node:fs');
  fs.closeSync(fd);
}
