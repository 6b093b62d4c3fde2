// createContainer hooks run in the container's mount namespace (runtime.md): a small
// plan joins /proc/PID/ns/mnt and execs the hook, with the state JSON on stdin.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Hook } from '../oci/spec-types';
import { CLONE, O, SIGCHLD } from '../libc/constants';
import { libc } from '../libc/libc';
import { Plan } from '../plan/plan';
import { readReport, startPlan } from '../plan/run-plan';
import { buildSignalResetSteps } from '../linux/process-setup';
import { HookError } from '../util/errors';

/**
 * `rootfs`: the hook's cwd, the container's rootfs as mounted in its namespace (runc's).
 * `defaultEnv`: the environment of a hook without env (runc: the container process's).
 */
export function runHookInMountNs(hook: Hook, stateJson: string, kind: string, index: number, pid: number, rootfs: string, defaultEnv: string[] = []): void {
  const what = `${kind} hook #${index} (${hook.path})`;
  const mntFd = openSync(`/proc/${pid}/ns/mnt`, 'r');
  const [stdinR, stdinW] = libc.pipe2(O.CLOEXEC);
  const [repR, repW] = libc.pipe2(O.CLOEXEC);
  try {
    const plan = new Plan();
    buildSignalResetSteps(plan);
    // A copy of node until execve: non-dumpable before it enters the container (CVE-2019-5736).
    plan.add('prctl', [4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0], `${what}: become non-dumpable`);
    plan.add('setns', [mntFd, CLONE.NEWNS], `${what}: join the container's mount namespace`);
    plan.add('chdir', [plan.cstr(rootfs)], `${what}: chdir to the container's rootfs ${rootfs}`);
    plan.add('dup3', [stdinR, 0, 0], `${what}: state on stdin`);
    plan.add('fcntl', [1, 2, 0], 'keep stdout', { ignoreError: true });
    plan.add('fcntl', [2, 2, 0], 'keep stderr', { ignoreError: true });
    if (hook.timeout) {
      const t = Buffer.alloc(32);
      t.writeBigInt64LE(BigInt(hook.timeout), 16);
      plan.add('setitimer', [0, plan.blob(t, 'timer'), 0], `${what}: arm the timeout`);
    }
    plan.add('execve', [plan.cstr(hook.path), plan.strArray(hook.args ?? [hook.path], 'argv'), plan.strArray(hook.env ?? defaultEnv, 'envp')], `${what}: exec`);
    const child = startPlan(plan, SIGCHLD, repW);
    closeSync(repW);
    closeSync(stdinR);
    try {
      writeSync(stdinW, stateJson);
    } catch {
      // the hook need not read its stdin
    }
    closeSync(stdinW);
    const r = readReport(plan, repR);
    const [, status] = libc.waitpid(child, 0);
    if (r.kind === 'error') throw new HookError(r.message);
    const sig = status & 0x7f;
    if (sig === 14 && hook.timeout) throw new HookError(`${what}: timed out after ${hook.timeout}s`);
    if (sig) throw new HookError(`${what}: killed by signal ${sig}`);
    const code = (status >> 8) & 0xff;
    if (code) throw new HookError(`${what}: exited with status ${code}`);
  } finally {
    closeSync(mntFd);
    closeSync(repR);
  }
}
