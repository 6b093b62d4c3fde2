// koffi bindings to glibc, loaded on first use so that commands which never call into
// libc (state, list) do not pay for loading the native addon.
import type * as KoffiModule from 'koffi';
import { errnoName, strerror } from './errno';
import { SyscallError } from '../util/errors';

type Koffi = typeof KoffiModule;
type Fn = (...args: unknown[]) => any;

let koffiModule: Koffi | undefined;
let bound: Record<string, Fn> | undefined;

export function koffi(): Koffi {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  koffiModule ??= require('koffi') as Koffi;
  return koffiModule;
}

// Pointer arguments are declared uintptr_t and passed as BigInt addresses: koffi.as()
// does not turn a number into a pointer (DESIGN.md).
const SIGNATURES: Record<string, string> = {
  clone: 'int clone(uintptr_t fn, uintptr_t stack, int flags, uintptr_t arg, ...)',
  mmap: 'uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)',
  munmap: 'int munmap(uintptr_t addr, size_t len)',
  mprotect: 'int mprotect(uintptr_t addr, size_t len, int prot)',
  pipe2: 'int pipe2(_Out_ int *fds, int flags)',
  mkfifo: 'int mkfifo(const char *path, uint32_t mode)',
  flock: 'int flock(int fd, int op)',
  umount2: 'int umount2(const char *target, int flags)',
  prctl: 'int prctl(int op, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
  waitpid: 'int waitpid(int pid, _Out_ int *status, int options)',
  syscall: 'long syscall(long nr, ...)',
  strerror: 'const char *strerror(int errnum)',
  socket: 'int socket(int domain, int type, int protocol)',
  connect: 'int connect(int fd, const uint8_t *addr, uint32_t len)',
  socketpair: 'int socketpair(int domain, int type, int protocol, _Out_ int *fds)',
  recvmsg: 'long recvmsg(int fd, uintptr_t msg, int flags)',
  sendmsg: 'long sendmsg(int fd, uintptr_t msg, int flags)',
  mount: 'int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)',
  ioctlPtr: 'int ioctl(int fd, unsigned long req, const uint8_t *arg)',
  close: 'int close(int fd)',
  fstat: 'int fstat(int fd, _Out_ uint8_t *buf)',
  fstatfs: 'int fstatfs(int fd, _Out_ uint8_t *buf)',
};

let libHandle: ReturnType<Koffi['load']> | undefined;

function fn(name: string): Fn {
  if (!bound) bound = {};
  let f = bound[name];
  if (!f) {
    libHandle ??= koffi().load('libc.so.6');
    f = libHandle.func(SIGNATURES[name]!) as Fn;
    bound[name] = f;
  }
  return f;
}

export function errno(): number {
  return koffi().errno();
}

/** Throws a SyscallError naming the call when r is negative (libc convention). */
export function check(r: number | bigint, what: string): number {
  if (Number(r) < 0) {
    const e = errno();
    throw new SyscallError(what, e, errnoName(e), strerror(e));
  }
  return Number(r);
}

export const libc = {
  clone(fnAddr: bigint, stackTop: bigint, flags: number, arg: bigint): number {
    return fn('clone')(fnAddr, stackTop, flags | 0, arg) as number;
  },
  mmap(len: number, prot: number, flags: number): bigint {
    const r = BigInt(fn('mmap')(0n, len, prot, flags, -1, 0));
    if (r === 0xffffffffffffffffn) check(-1, 'mmap');
    return r;
  },
  munmap(addr: bigint, len: number): void {
    check(fn('munmap')(addr, len), 'munmap');
  },
  mprotect(addr: bigint, len: number, prot: number): void {
    check(fn('mprotect')(addr, len, prot), 'mprotect');
  },
  pipe2(flags: number): [number, number] {
    const fds = [0, 0];
    check(fn('pipe2')(fds, flags), 'pipe2');
    return [fds[0]!, fds[1]!];
  },
  mkfifo(path: string, mode: number): void {
    check(fn('mkfifo')(path, mode), `mkfifo ${path}`);
  },
  umount2(target: string, flags: number): void {
    check(fn('umount2')(target, flags), `umount2 ${target}`);
  },
  flock(fd: number, op: number): number {
    return fn('flock')(fd, op) as number;
  },
  prctl(op: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
    return check(fn('prctl')(op, a2, a3, a4, a5), `prctl(${op})`);
  },
  /** Blocking waitpid; returns [pid, status]. */
  waitpid(pid: number, options: number): [number, number] {
    const st = [0];
    const r = fn('waitpid')(pid, st, options) as number;
    if (r < 0) check(r, `waitpid ${pid}`);
    return [r, st[0]!];
  },
  /** waitpid on a koffi worker thread, so the event loop keeps running (signals). */
  waitpidAsync(pid: number): Promise<number> {
    const f = fn('waitpid') as Fn & { async: (...a: unknown[]) => void };
    return new Promise((resolve, reject) => {
      const st = [0];
      f.async(pid, st, 0, (err: unknown, r: number) => {
        if (err) reject(err);
        else if (r < 0) reject(new Error(`waitpid ${pid} failed`));
        else resolve(st[0]!);
      });
    });
  },
  strerror(e: number): string {
    return fn('strerror')(e) as string;
  },
  /**
   * syscall(2) for calls glibc has no wrapper for: `args` are koffi's (type, value) pairs;
   * throws naming `what` on a negative result.
   */
  syscall(nr: number, args: unknown[], what: string): number {
    return check(fn('syscall')(nr, ...args), what);
  },
  /** fstat(2) into `buf` (struct stat, 144 bytes on x86-64) and fstatfs(2) into `sfs` (struct statfs). */
  fstat(fd: number, buf: Buffer, what: string): void {
    check(fn('fstat')(fd, buf), what);
  },
  fstatfs(fd: number, buf: Buffer, what: string): void {
    check(fn('fstatfs')(fd, buf), what);
  },
  closeFd(fd: number): void {
    fn('close')(fd);
  },
  /** connect(2) to an AF_UNIX SOCK_STREAM socket; the fd is close-on-exec. */
  unixConnect(path: string): number {
    const fd = check(fn('socket')(1 /* AF_UNIX */, 1 | 0o2000000 /* SOCK_STREAM|SOCK_CLOEXEC */, 0), 'socket(AF_UNIX)');
    const addr = Buffer.alloc(110);
    addr.writeUInt16LE(1, 0);
    if (Buffer.byteLength(path) > 107) throw new SyscallError(`connect ${path}`, 36, 'ENAMETOOLONG', 'socket path too long');
    addr.write(path, 2);
    if ((fn('connect')(fd, addr, 110) as number) < 0) {
      const e = errno();
      fn('close')(fd);
      throw new SyscallError(`connect to console socket ${path}`, e, errnoName(e), strerror(e));
    }
    return fd;
  },
  /** An AF_UNIX socketpair, close-on-exec; SOCK_STREAM unless `type` says (5: SOCK_SEQPACKET). */
  socketpair(type = 1): [number, number] {
    const fds = [0, 0];
    check(fn('socketpair')(1, type | 0o2000000, 0, fds), 'socketpair(AF_UNIX)');
    return [fds[0]!, fds[1]!];
  },
  /** Receives one message carrying one fd (SCM_RIGHTS); returns the data and the fd. */
  recvFd(sock: number): { data: string; fd: number } {
    const { data, fd } = libc.recvMessage(sock, 256, 'recvmsg on the console socket');
    if (fd === undefined) throw new SyscallError('recvmsg on the console socket', 71, 'EPROTO', 'no file descriptor in the message');
    return { data: data.toString(), fd };
  },
  /**
   * Receives one message of at most `size` bytes and the fd that may come with it
   * (SCM_RIGHTS, close-on-exec). Data of 0 bytes: the peer closed the socket.
   */
  recvMessage(sock: number, size: number, what: string): { data: Buffer; fd?: number } {
    const len = 4096 + size;
    const page = libc.mmap(len, 3, 0x22);
    try {
      const mem = Buffer.from(koffiViewOf(page, len));
      // msghdr at 0, iovec at 64, control at 512 (64 bytes), data at 4096
      mem.writeBigUInt64LE(page + 64n, 16);
      mem.writeBigUInt64LE(1n, 24);
      mem.writeBigUInt64LE(page + 512n, 32);
      mem.writeBigUInt64LE(64n, 40);
      mem.writeBigUInt64LE(page + 4096n, 64);
      mem.writeBigUInt64LE(BigInt(size), 72);
      const n = Number(fn('recvmsg')(sock, page, 0x40000000 /* MSG_CMSG_CLOEXEC */));
      if (n < 0) check(-1, what);
      const controllen = Number(mem.readBigUInt64LE(40));
      const level = mem.readInt32LE(512 + 8), type = mem.readInt32LE(512 + 12);
      const fd = controllen >= 20 && level === 1 && type === 1 ? mem.readInt32LE(512 + 16) : undefined;
      return { data: Buffer.from(mem.subarray(4096, 4096 + n)), fd };
    } finally {
      libc.munmap(page, len);
    }
  },
  /** Sends `data` with one fd (SCM_RIGHTS) on a connected AF_UNIX socket. */
  sendFd(sock: number, data: string, fd: number, what: string): void {
    const page = libc.mmap(4096, 3, 0x22);
    try {
      const mem = Buffer.from(koffiViewOf(page, 4096));
      const bytes = Buffer.from(data || '\0').subarray(0, 3000);
      // msghdr at 0, iovec at 64, control at 512: cmsghdr { len 20, SOL_SOCKET, SCM_RIGHTS, fd }
      mem.writeBigUInt64LE(page + 64n, 16);
      mem.writeBigUInt64LE(1n, 24);
      mem.writeBigUInt64LE(page + 512n, 32);
      mem.writeBigUInt64LE(24n, 40);
      mem.writeBigUInt64LE(page + 1024n, 64);
      mem.writeBigUInt64LE(BigInt(bytes.length), 72);
      mem.writeBigUInt64LE(20n, 512);
      mem.writeInt32LE(1, 520);
      mem.writeInt32LE(1, 524);
      mem.writeInt32LE(fd, 528);
      bytes.copy(mem, 1024);
      check(fn('sendmsg')(sock, page, 0x4000 /* MSG_NOSIGNAL */), what);
    } finally {
      libc.munmap(page, 4096);
    }
  },
  /** mount(2) from the parent (tsrt's own mount namespace). */
  mount(src: string, target: string, fstype: string | null, flags: number, what: string): void {
    check(fn('mount')(src, target, fstype, flags, null), what);
  },
  /** The window size of the terminal on fd (TIOCGWINSZ); undefined when fd is no terminal. */
  getWinsize(fd: number): { rows: number; cols: number } | undefined {
    const ws = Buffer.alloc(8);
    if ((fn('ioctlPtr')(fd, 0x5413 /* TIOCGWINSZ */, ws) as number) < 0) return undefined;
    return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2) };
  },
  setWinsize(fd: number, rows: number, cols: number): void {
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(rows, 0);
    ws.writeUInt16LE(cols, 2);
    check(fn('ioctlPtr')(fd, 0x5414 /* TIOCSWINSZ */, ws), 'ioctl(TIOCSWINSZ)');
  },
};

function koffiViewOf(addr: bigint, len: number): ArrayBuffer {
  return (koffi() as unknown as { view(p: bigint, n: number): ArrayBuffer }).view(addr, len);
}
