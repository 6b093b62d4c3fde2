// System call numbers for the plan's steps, per architecture (from the kernel's
// syscall tables: arch/x86/entry/syscalls/syscall_64.tbl and the generic table that
// arm64 uses). A plan names syscalls symbolically; numbers are bound when it is loaded.

export type SyscallName = keyof typeof X86_64;

const X86_64 = {
  read: 0, write: 1, close: 3, ioctl: 16, rt_sigaction: 13, rt_sigprocmask: 14,
  setitimer: 38, getpid: 39, clone: 56, execve: 59, wait4: 61, kill: 62, fcntl: 72,
  chdir: 80, fchdir: 81, umask: 95, getppid: 110, setsid: 112, setgroups: 116,
  setresuid: 117, setresgid: 119, capset: 126, personality: 135, pivot_root: 155,
  prctl: 157, chroot: 161, mount: 165, umount2: 166, sethostname: 170,
  setdomainname: 171, sched_setaffinity: 203, exit_group: 231, set_mempolicy: 238,
  keyctl: 250, ioprio_set: 251, openat: 257, mkdirat: 258, mknodat: 259, fchownat: 260,
  symlinkat: 266, fchmodat: 268, unlinkat: 263, unshare: 272, dup3: 292, prlimit64: 302, setns: 308,
  sched_setattr: 314, seccomp: 317, open_tree: 428, move_mount: 429, close_range: 436,
  openat2: 437, mount_setattr: 442, socket: 41, connect: 42, sendmsg: 46, recvmsg: 47, fstat: 5, fstatfs: 138, lseek: 8, memfd_create: 319, ftruncate: 77, ppoll: 271, faccessat: 269,
} as const;

const AARCH64: Record<SyscallName, number> = {
  read: 63, write: 64, close: 57, ioctl: 29, rt_sigaction: 134, rt_sigprocmask: 135,
  setitimer: 103, getpid: 172, clone: 220, execve: 221, wait4: 260, kill: 129, fcntl: 25,
  chdir: 49, fchdir: 50, umask: 166, getppid: 173, setsid: 157, setgroups: 159,
  setresuid: 147, setresgid: 149, capset: 91, personality: 92, pivot_root: 41,
  prctl: 167, chroot: 51, mount: 40, umount2: 39, sethostname: 161,
  setdomainname: 162, sched_setaffinity: 122, exit_group: 94, set_mempolicy: 237,
  keyctl: 219, ioprio_set: 30, openat: 56, mkdirat: 34, mknodat: 33, fchownat: 54,
  symlinkat: 36, fchmodat: 53, unlinkat: 35, unshare: 97, dup3: 24, prlimit64: 261, setns: 268,
  sched_setattr: 274, seccomp: 277, open_tree: 428, move_mount: 429, close_range: 436,
  openat2: 437, mount_setattr: 442, socket: 198, connect: 203, sendmsg: 211, recvmsg: 212, fstat: 80, fstatfs: 44, lseek: 62, memfd_create: 279, ftruncate: 46, ppoll: 73, faccessat: 48,
};

export function syscallTable(arch: string = process.arch): Record<SyscallName, number> {
  if (arch === 'x64') return X86_64;
  if (arch === 'arm64') return AARCH64;
  throw new Error(`unsupported architecture ${arch}: tsrt runs on x86-64 and aarch64`);
}
