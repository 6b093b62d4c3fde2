// The container's terminal, as plan steps: a pty allocated from the container's own
// devpts (/dev/ptmx after pivot_root), the slave bound on /dev/console, the master sent
// over the console socket (one sendmsg: the name as data, one SCM_RIGHTS fd), then the
// slave made the controlling terminal (of the session the process already leads:
// process-setup.ts buildNewSessionStep) and fds 0-2. The master never stays inside.
//
// /dev/ptmx and /dev/console come from the image when /dev is no tmpfs: each is opened so
// that a FIFO cannot block the open (O_NONBLOCK, or O_PATH), a symlink is not followed
// for /dev/console, and its file type is checked before it is used.
import { AT_FDCWD, MS, O, RESOLVE, S_IFCHR, S_IFREG } from '../libc/constants';
import type { Plan } from '../plan/plan';
import { checkFileType, fileTypeName, fstatSteps, statModeOffset } from '../linux/file-checks';
import { openHow } from '../linux/proc-files';

const MASTER_FD = 991;
const SLAVE_FD = 992;
/** /dev/console, opened O_PATH, as a mount target through /proc/self/fd/N */
const CONSOLE_FD = 993;
const F_SETFL = 4;
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
  // O_NONBLOCK: a FIFO or a tty device there must not block the open; cleared once the
  // fd is known to be a character device (the pty master is handed out blocking).
  const ptmxHow = openHow(plan, O.RDWR | O.NOCTTY | O.NONBLOCK | O.CLOEXEC, RESOLVE.NO_MAGICLINKS, 'open_how (/dev/ptmx)');
  plan.add('openat2', [AT_FDCWD, plan.cstr('/dev/ptmx'), ptmxHow, 24], 'open /dev/ptmx in the container for the terminal', { store: master });
  checkFileType(plan, master, S_IFCHR, '/dev/ptmx in the container');
  plan.add('fcntl', [{ load: master }, F_SETFL, 0], 'make the pty master blocking');
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
  if (c.bindDevConsole) buildDevConsoleSteps(plan);
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

/**
 * The pty slave bound on /dev/console: made as an empty file when missing (mknodat never
 * follows a symlink nor opens a FIFO), then opened O_PATH without following a symlink,
 * checked to be a regular file or a character device (an image's c 5:1), and mounted on
 * through its fd, so the mount lands on exactly the file that was checked.
 */
function buildDevConsoleSteps(plan: Plan): void {
  const dev = plan.slot('/dev fd');
  const fd = plan.slot('/dev/console fd');
  plan.add('openat2', [AT_FDCWD, plan.cstr('/dev'), openHow(plan, O.PATH | O.DIRECTORY | O.CLOEXEC, RESOLVE.NO_MAGICLINKS, 'open_how (/dev)'), 24], 'open /dev in the container', { store: dev });
  plan.add('mknodat', [{ load: dev }, plan.cstr('console'), S_IFREG | 0o600, 0], 'create /dev/console', { okErrno: 17 });
  const how = openHow(plan, O.PATH | O.CLOEXEC, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS, 'open_how (/dev/console)');
  plan.add('openat2', [{ load: dev }, plan.cstr('console'), how, 24], 'open /dev/console in the container (a symlink is refused)', { store: fd });
  plan.add('close', [{ load: dev }], 'close /dev');
  // Regular file (0o100000) or character device (0o020000): the only types with neither
  // the 0o040000 nor the 0o010000 bit (symlinks fail the open above).
  const st = fstatSteps(plan, fd, '/dev/console');
  const mask = 0o050000;
  plan.checkEquals(st, statModeOffset(), BigInt(mask), 0n, '/dev/console in the container must be a regular file or a character device',
    (diff) => `/dev/console in the container is ${diff & 0o010000 ? fileTypeName(0o010000) : 'a directory, a block device or a socket'}, it must be a regular file or a character device (process.terminal binds the pty on it)`);
  plan.add('dup3', [{ load: fd }, CONSOLE_FD, O.CLOEXEC], 'move the /dev/console fd to a known fd');
  plan.add('close', [{ load: fd }], 'close the first /dev/console fd');
  plan.add('mount', [plan.cstr(`/proc/self/fd/${SLAVE_FD}`), plan.cstr(`/proc/self/fd/${CONSOLE_FD}`), 0, MS.BIND, 0], 'bind the pty slave on /dev/console');
  plan.add('close', [CONSOLE_FD], 'close the /dev/console fd');
}
