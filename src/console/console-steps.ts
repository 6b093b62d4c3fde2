// The container's terminal, as plan steps: a pty allocated from the container's own
// devpts (/dev/ptmx after pivot_root), the slave bound on /dev/console, the master sent
// over the console socket (one sendmsg: the name as data, one SCM_RIGHTS fd), then the
// slave made the controlling terminal (of the session the process already leads:
// process-setup.ts buildNewSessionStep) and fds 0-2. The master never stays inside.
import { AT_FDCWD, MS, O } from '../libc/constants';
import type { Plan } from '../plan/plan';

const MASTER_FD = 991;
const SLAVE_FD = 992;
const TIOCSPTLCK = 0x40045431;
const TIOCGPTPEER = 0x5441;
const TIOCSWINSZ = 0x5414;
const TIOCSCTTY = 0x540e;

export interface ConsoleInput {
  /** the connected console socket, inherited from the parent */
  socketFd: number;
  consoleSize?: { height: number; width: number };
  /** bind the slave on /dev/console (the init; not exec) */
  bindDevConsole: boolean;
}

export function buildConsoleSteps(plan: Plan, c: ConsoleInput): void {
  const master = plan.slot('pty master fd');
  const slave = plan.slot('pty slave fd');
  plan.add('openat', [AT_FDCWD, plan.cstr('/dev/ptmx'), O.RDWR | O.NOCTTY | O.CLOEXEC, 0], 'open /dev/ptmx in the container for the terminal', { store: master });
  plan.add('ioctl', [{ load: master }, TIOCSPTLCK, plan.blob(Buffer.alloc(8), 'int 0')], 'unlock the pty');
  plan.add('ioctl', [{ load: master }, TIOCGPTPEER, O.RDWR | O.NOCTTY], 'open the pty slave', { store: slave });
  plan.add('dup3', [{ load: master }, MASTER_FD, O.CLOEXEC], 'move the pty master to a known fd');
  plan.add('dup3', [{ load: slave }, SLAVE_FD, O.CLOEXEC], 'move the pty slave to a known fd');
  plan.add('close', [{ load: master }], 'close the first master fd');
  plan.add('close', [{ load: slave }], 'close the first slave fd');
  if (c.consoleSize) {
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(c.consoleSize.height, 0);
    ws.writeUInt16LE(c.consoleSize.width, 2);
    plan.add('ioctl', [SLAVE_FD, TIOCSWINSZ, plan.blob(ws, 'winsize')], `set the terminal size to ${c.consoleSize.width}x${c.consoleSize.height} (process.consoleSize)`);
  }
  if (c.bindDevConsole) {
    const fd = plan.slot('/dev/console fd');
    plan.add('openat', [AT_FDCWD, plan.cstr('/dev/console'), O.CREAT | O.WRONLY | O.CLOEXEC, 0o600], 'create /dev/console', { store: fd });
    plan.add('close', [{ load: fd }], 'close /dev/console');
    plan.add('mount', [plan.cstr(`/proc/self/fd/${SLAVE_FD}`), plan.cstr('/dev/console'), 0, MS.BIND, 0], 'bind the pty slave on /dev/console');
  }
  // struct msghdr { name, namelen, iov, iovlen, control, controllen, flags } with one
  // iovec (the name) and one cmsghdr { len 20, SOL_SOCKET, SCM_RIGHTS, fd }.
  const name = plan.cstr('/dev/ptmx');
  const iov = Buffer.alloc(16);
  const iovBlob = plan.blob(iov, 'iovec');
  const cmsg = Buffer.alloc(24);
  cmsg.writeBigUInt64LE(20n, 0);
  cmsg.writeInt32LE(1, 8);
  cmsg.writeInt32LE(1, 12);
  cmsg.writeInt32LE(MASTER_FD, 16);
  const cmsgBlob = plan.blob(cmsg, 'SCM_RIGHTS pty master');
  const msg = plan.blob(Buffer.alloc(56), 'msghdr');
  plan.pointerAt(iovBlob, 0, name);
  iov.writeBigUInt64LE(9n, 8);
  plan.pointerAt(msg, 16, iovBlob);
  msg.bytes.writeBigUInt64LE(1n, 24);
  plan.pointerAt(msg, 32, cmsgBlob);
  msg.bytes.writeBigUInt64LE(24n, 40);
  plan.add('sendmsg', [c.socketFd, msg, 0], 'send the pty master over the console socket');
  plan.add('close', [c.socketFd], 'close the console socket');
  plan.add('close', [MASTER_FD], 'close the pty master in the container');
  plan.add('ioctl', [SLAVE_FD, TIOCSCTTY, 0], 'make the pty the controlling terminal');
  for (const fd of [0, 1, 2]) plan.add('dup3', [SLAVE_FD, fd, 0], `make the pty fd ${fd}`);
  plan.add('close', [SLAVE_FD], 'close the spare pty fd');
}
