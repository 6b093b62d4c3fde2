// What the init does when its execve fails after `start`: `tsrt create` has exited and
// nobody reads the report pipe (a write there would only raise SIGPIPE), so, as runc's
// init, it writes "exec /x: exec format error" to its own stderr (the container's log
// under an engine) and exits 255. When a reader is there (`tsrt run` in the foreground),
// the failure goes to it as a report record, as any other step's.
//
// The errno is only known at run time and the plan cannot format numbers: one message
// per likely errno is prepared and selected with seek arithmetic on a memfd (below).
import type { Blob, Plan } from '../plan/plan';
import { strerror } from '../libc/errno';

/** errnos execve fails with in practice, ascending (the selection depends on the order). */
const EXEC_ERRNOS = [1, 2, 5, 7, 8, 12, 13, 20, 21, 22, 26, 36, 40, 80];
const SIG_BLOCK = 0, SIGPIPE = 13, SEEK_CUR = 1, SEEK_END = 2, MFD_CLOEXEC = 1;
const TABLE_BYTES = 4096;
/** The report pipe's ends as the init sees them (the read end inherited from the parent's clone). */
export interface ReportPipe { writeFd: number; readFd?: number }

/** runc's init exits 255 when it cannot start the process and cannot tell its parent. */
export const EXEC_FAILURE_EXIT = 255;

/**
 * Steps that follow the last execve of the init. `record` is a 16-byte report record
 * whose first word is the execve step's index; the execve stores its result at byte 8.
 * `sentence(errno)` is the text for an errno (runc's "exec /x: <strerror>"); `fixed`
 * replaces the selection with one text whatever the errno.
 */
export function buildExecFailureSteps(plan: Plan, report: ReportPipe, record: Blob, sentence: (errno: number) => string, fixed?: string): void {
  const reportFd = report.writeFd;
  const result = { load: record, plus: 8 };
  // The init was cloned holding the parent's read end: it must not count as a reader.
  if (report.readFd !== undefined) plan.add('close', [report.readFd], 'close our copy of the report pipe\'s read end', { ignoreError: true });
  const sigset = Buffer.alloc(8);
  sigset.writeBigUInt64LE(1n << BigInt(SIGPIPE - 1));
  plan.add('rt_sigprocmask', [SIG_BLOCK, plan.blob(sigset, 'SIGPIPE'), 0, 8], 'block SIGPIPE: the report pipe may have no reader', { ignoreError: true });
  // POLLERR on a pipe's write end means no reader is left; events 0 asks for nothing else.
  const pollfd = Buffer.alloc(8);
  pollfd.writeInt32LE(reportFd, 0);
  const noReader = plan.label('no reader of the exec failure');
  plan.add('ppoll', [plan.blob(pollfd, 'pollfd report pipe'), 1, plan.blob(Buffer.alloc(16), 'timespec 0'), 0, 8],
    'see whether anyone reads the report pipe', { ignoreError: true, jumpIfNonzero: noReader });
  plan.add('write', [reportFd, record, 16], 'report the exec failure to the parent', { ignoreError: true });
  plan.add('exit_group', [1], 'exit after the exec failure was reported');

  plan.place(noReader);
  const done = plan.label('exec failure written');
  if (fixed === undefined) {
    // A memfd of TABLE_BYTES, positioned at TABLE_BYTES - errno (the stored result is
    // -errno); then, for each candidate C in ascending order, a relative seek by
    // C - TABLE_BYTES lands on 0 exactly when errno == C. A seek that would go below 0
    // fails and moves nothing; once C has passed errno the position is small and every
    // later seek fails, so the generic text below is written.
    const fd = plan.slot('exec errno memfd');
    plan.add('memfd_create', [plan.cstr('tsrt-exec-errno'), MFD_CLOEXEC], 'create a memfd to select the exec failure text', { store: fd, ignoreError: true });
    plan.add('ftruncate', [{ load: fd }, TABLE_BYTES], 'size the selection memfd', { ignoreError: true });
    plan.add('lseek', [{ load: fd }, result, SEEK_END], 'seek to the end minus the errno', { ignoreError: true });
    for (const e of EXEC_ERRNOS) {
      const next = plan.label(`not errno ${e}`);
      plan.add('lseek', [{ load: fd }, e - TABLE_BYTES, SEEK_CUR], `is the exec errno ${e}?`, { ignoreError: true, jumpIfNonzero: next });
      writeText(plan, sentence(e), done);
      plan.place(next);
    }
  }
  writeText(plan, fixed ?? sentence(0), done);
  plan.place(done);
  plan.add('exit_group', [EXEC_FAILURE_EXIT], 'exit: the process could not be started');
}

function writeText(plan: Plan, text: string, done: ReturnType<Plan['label']>): void {
  const line = `${text}\n`;
  plan.add('write', [2, plan.cstr(line), Buffer.byteLength(line)], 'write the exec failure to stderr', { ignoreError: true, jumpIfNonzero: done });
}

/** runc's sentence for a failed execve: "exec /x: exec format error". */
export function execFailureSentence(path: string): (errno: number) => string {
  return (e) => `exec ${path}: ${e ? strerror(e) : 'exec failed'}`;
}
