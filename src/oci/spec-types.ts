// TypeScript shapes of an OCI runtime config.json (runtime-spec 1.0.0 .. 1.3.x), covering the
// platform-independent part and the Linux part. Names follow the spec's Go bindings so that
// code and discussions can refer to the same type names. Fields the spec marks OPTIONAL are
// optional here. Other platforms' sections (windows, solaris, vm, zos, freebsd) are kept as
// opaque objects: tsrt only runs Linux containers and ignores them.
//
// Numbers: the spec's uint64/int64 fields arrive through JSON.parse as JS numbers, so values
// above 2^53 lose precision (e.g. RLIM_INFINITY 18446744073709551615 becomes 2^64).

/** The whole config.json document. */
export interface Spec {
  /** SemVer of the runtime-spec the bundle complies with. */
  ociVersion: string;
  /** The container process; required to create/start a container. */
  process?: Process;
  /** The container's root filesystem; required on Linux. */
  root?: Root;
  hostname?: string;
  domainname?: string;
  /** Additional mounts, mounted in the listed order after the root. */
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;

  linux?: Linux;
  solaris?: Solaris;
  windows?: Windows;
  vm?: VM;
  zos?: ZOS;
  freebsd?: FreeBSD;
  // Unknown properties are allowed by the spec (extensibility); they pass validation but are
  // not typed here, so that misspelt field names in tsrt's own code are compile errors.
}

// ---------------------------------------------------------------------------------------------
// Process

export interface Process {
  /** Allocate a pseudo-terminal for the process. */
  terminal?: boolean;
  /** Console size in characters; ignored unless terminal is true. */
  consoleSize?: Box;
  /**
   * Optional in config.json; validateConfig fills in {uid: 0, gid: 0} when it is absent (the
   * zero value the spec's Go bindings and runc use), so it is always set on a validated Spec.
   */
  user: User;
  /** argv; the first entry is resolved like execvp's file. At least one entry on Linux. */
  args?: string[];
  /** Windows only: full command line. */
  commandLine?: string;
  /** Environment, "KEY=value" strings. */
  env?: string[];
  /** Working directory, absolute. */
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  /** Value written to /proc/[pid]/oom_score_adj (-1000..1000). */
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: LinuxIOPriority;
  /** CPU affinity for `exec`ed processes (not the init process). */
  execCPUAffinity?: CPUAffinity;
}

/** Terminal dimensions (process.consoleSize). */
export interface Box {
  height: number;
  width: number;
}

/** POSIX user the process runs as (ids are in the container's user namespace). */
export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

/** One process.rlimits entry. */
export interface POSIXRlimit {
  /** RLIMIT_* name, e.g. RLIMIT_NOFILE. */
  type: string;
  hard: number;
  soft: number;
}

/** Capability sets, each a list of CAP_* names. */
export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export type LinuxSchedulerPolicy =
  | 'SCHED_OTHER'
  | 'SCHED_FIFO'
  | 'SCHED_RR'
  | 'SCHED_BATCH'
  | 'SCHED_ISO'
  | 'SCHED_IDLE'
  | 'SCHED_DEADLINE';

export type LinuxSchedulerFlag =
  | 'SCHED_FLAG_RESET_ON_FORK'
  | 'SCHED_FLAG_RECLAIM'
  | 'SCHED_FLAG_DL_OVERRUN'
  | 'SCHED_FLAG_KEEP_POLICY'
  | 'SCHED_FLAG_KEEP_PARAMS'
  | 'SCHED_FLAG_UTIL_CLAMP_MIN'
  | 'SCHED_FLAG_UTIL_CLAMP_MAX';

/** process.scheduler: sched_setattr(2) parameters. */
export interface Scheduler {
  policy: LinuxSchedulerPolicy;
  nice?: number;
  priority?: number;
  flags?: LinuxSchedulerFlag[];
  /** Deadline scheduler parameters, nanoseconds. */
  runtime?: number;
  deadline?: number;
  period?: number;
}

export type IOPriorityClass = 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';

/** process.ioPriority (Go: LinuxIOPriority). */
export interface LinuxIOPriority {
  class: IOPriorityClass;
  /** 0 (highest) .. 7 (lowest). */
  priority: number;
}
/** Alias of LinuxIOPriority. */
export type IOPriority = LinuxIOPriority;

/** process.execCPUAffinity: cpu lists like "0-3,7". */
export interface CPUAffinity {
  initial?: string;
  final?: string;
}

// ---------------------------------------------------------------------------------------------
// Root, mounts, hooks

export interface Root {
  /** Absolute, or relative to the bundle directory. */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  /** Path inside the container (absolute). */
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /** Id-mapped mount mappings; must be given together. */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

export interface Hook {
  /** Absolute path of the executable. */
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds before the hook is aborted; > 0. */
  timeout?: number;
}

export interface Hooks {
  /** Deprecated in favour of createRuntime / createContainer / startContainer. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

// ---------------------------------------------------------------------------------------------
// Linux

export interface Linux {
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces?: LinuxNamespace[];
  devices?: LinuxDevice[];
  /** Host network device name -> options. */
  netDevices?: Record<string, LinuxNetDevice>;
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  memoryPolicy?: LinuxMemoryPolicy;
  personality?: LinuxPersonality;
  /** Clock name ("monotonic" | "boottime") -> offset. */
  timeOffsets?: Record<string, LinuxTimeOffset>;
}

export type LinuxNamespaceType =
  | 'pid'
  | 'network'
  | 'mount'
  | 'ipc'
  | 'uts'
  | 'user'
  | 'cgroup'
  | 'time';

export interface LinuxNamespace {
  type: LinuxNamespaceType;
  /** Namespace file to join; when absent a new namespace is created. */
  path?: string;
}

export interface LinuxIDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface LinuxTimeOffset {
  secs?: number;
  nanosecs?: number;
}

/** linux.devices entry: a device node to create in the container. */
export interface LinuxDevice {
  path: string;
  /** c (char), b (block), u (unbuffered char), p (FIFO). */
  type: 'c' | 'b' | 'u' | 'p';
  /** Required unless type is p. */
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxNetDevice {
  /** Name inside the container; defaults to the host name. */
  name?: string;
}

// ---------------------------------------------------------------------------------------------
// Linux cgroup resources

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** Device name -> limits. */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 file name -> value. */
  unified?: Record<string, string>;
}

/** linux.resources.devices entry: device cgroup allow/deny rule. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  /** a (all), c, b; unset means all. */
  type?: string;
  major?: number;
  minor?: number;
  /** Combination of r, w, m. */
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  /** Not recommended; ignored by modern kernels. */
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  /** Max tasks; -1 means no limit. */
  limit?: number;
}

export interface LinuxBlockIODevice {
  major: number;
  minor: number;
}

export interface LinuxWeightDevice extends LinuxBlockIODevice {
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice extends LinuxBlockIODevice {
  rate: number;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** Like "64KB", "2MB", "1GB". */
  pageSize: string;
  limit: number;
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

// ---------------------------------------------------------------------------------------------
// Seccomp

export type LinuxSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

/** Seccomp architecture constant (SCMP_ARCH_*). */
export type Arch =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64'
  | 'SCMP_ARCH_LOONGARCH64'
  | 'SCMP_ARCH_M68K'
  | 'SCMP_ARCH_SH'
  | 'SCMP_ARCH_SHEB';

export type LinuxSeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

export type LinuxSeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface LinuxSeccomp {
  defaultAction: LinuxSeccompAction;
  defaultErrnoRet?: number;
  architectures?: Arch[];
  flags?: LinuxSeccompFlag[];
  /** Unix socket receiving the seccomp notify fd (SCMP_ACT_NOTIFY). */
  listenerPath?: string;
  /** Opaque string sent with the container process state; needs listenerPath. */
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxSyscall {
  /** At least one syscall name. */
  names: string[];
  action: LinuxSeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: LinuxSeccompOperator;
}

// ---------------------------------------------------------------------------------------------
// Other Linux features

export type LinuxPersonalityDomain = 'LINUX' | 'LINUX32';
/** No flags are defined yet; any string is carried through. */
export type LinuxPersonalityFlag = string;

export interface LinuxPersonality {
  domain: LinuxPersonalityDomain;
  flags?: LinuxPersonalityFlag[];
}

export interface LinuxIntelRdt {
  /** CLOS name; "/" is the default (root) CLOS. */
  closID?: string;
  l3CacheSchema?: string;
  /** Must start with "MB:". */
  memBwSchema?: string;
  /** Lines of the resctrl schemata file (1.3). */
  schemata?: string[];
  /** 1.3: create a resctrl MON group for the container. */
  enableMonitoring?: boolean;
  /** 1.1 .. 1.2.x, replaced by enableMonitoring. */
  enableCMT?: boolean;
  /** 1.1 .. 1.2.x, replaced by enableMonitoring. */
  enableMBM?: boolean;
}

export type MemoryPolicyModeType =
  | 'MPOL_DEFAULT'
  | 'MPOL_BIND'
  | 'MPOL_INTERLEAVE'
  | 'MPOL_WEIGHTED_INTERLEAVE'
  | 'MPOL_PREFERRED'
  | 'MPOL_PREFERRED_MANY'
  | 'MPOL_LOCAL';

export type MemoryPolicyFlagType =
  | 'MPOL_F_NUMA_BALANCING'
  | 'MPOL_F_RELATIVE_NODES'
  | 'MPOL_F_STATIC_NODES';

export interface LinuxMemoryPolicy {
  mode: MemoryPolicyModeType;
  /** Node list like "0-3,7". */
  nodes?: string;
  flags?: MemoryPolicyFlagType[];
}

// ---------------------------------------------------------------------------------------------
// Other platforms: carried, not interpreted.

export type Solaris = Record<string, unknown>;
export type Windows = Record<string, unknown>;
export type VM = Record<string, unknown>;
export type ZOS = Record<string, unknown>;
export type FreeBSD = Record<string, unknown>;
