// Linux constants (from the kernel UAPI headers) used by the plan and the parent.

export const CLONE = {
  NEWTIME: 0x80, NEWNS: 0x20000, NEWCGROUP: 0x2000000, NEWUTS: 0x4000000,
  NEWIPC: 0x8000000, NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000,
  PARENT: 0x8000, FS: 0x200,
} as const;
export const SIGCHLD = 17;

export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20,
  MANDLOCK: 0x40, DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800,
  BIND: 0x1000, MOVE: 0x2000, REC: 0x4000, SILENT: 0x8000, UNBINDABLE: 0x20000,
  PRIVATE: 0x40000, SLAVE: 0x80000, SHARED: 0x100000, RELATIME: 0x200000,
  I_VERSION: 0x800000, STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
} as const;
export const MNT_DETACH = 2;
// mount_setattr(2) attributes. The atime values are an enum inside ATIME_MASK, not bits:
// changing them needs ATIME_MASK in attr_clr.
export const MOUNT_ATTR = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, ATIME_MASK: 0x70, RELATIME: 0x0,
  NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, IDMAP: 0x100000, NOSYMFOLLOW: 0x200000,
} as const;
export const AT_RECURSIVE = 0x8000;
export const AT_EMPTY_PATH = 0x1000;
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** open_tree(2): CLONE makes a detached copy of the mount (a bind mount not yet attached). */
export const OPEN_TREE = { CLONE: 1, CLOEXEC: 0o2000000 } as const;
/** move_mount(2): take the source / the target from the fd itself (empty path). */
export const MOVE_MOUNT = { F_EMPTY_PATH: 0x4, T_EMPTY_PATH: 0x40 } as const;
export const PROC_SUPER_MAGIC = 0x9fa0;

export const O = {
  RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, NOCTTY: 0o400, TRUNC: 0o1000,
  NONBLOCK: 0o4000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000, CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;
export const AT_FDCWD = -100;
export const RESOLVE = { NO_XDEV: 1, NO_MAGICLINKS: 2, NO_SYMLINKS: 4, BENEATH: 8, IN_ROOT: 0x10 } as const;

export const PR = {
  SET_PDEATHSIG: 1, SET_DUMPABLE: 4, SET_KEEPCAPS: 8, CAPBSET_DROP: 24,
  SET_SECUREBITS: 28, SET_NO_NEW_PRIVS: 38, CAP_AMBIENT: 47, SET_CHILD_SUBREAPER: 36,
} as const;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

export const F_SETFD = 2;
export const CLOSE_RANGE_CLOEXEC = 4;
export const SIG_SETMASK = 2;
export const S_IFCHR = 0o20000;
export const S_IFBLK = 0o60000;
export const S_IFIFO = 0o10000;
export const S_IFREG = 0o100000;
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o40000;
export const S_IFLNK = 0o120000;
export const S_IFSOCK = 0o140000;

export const RLIMIT: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4,
  RLIMIT_RSS: 5, RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10, RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

export const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7,
  SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14,
  SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20,
  SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26,
  SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};
