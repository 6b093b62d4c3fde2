// The default config.json written by `tsrt spec` (and `tsrt spec --rootless`).
//
// It is the document `runc spec` writes on this project's machines (runc 1.1.5,
// Debian 12), field for field and key for key, so that bundles and scripts made for
// runc work unchanged. The one deliberate difference is ociVersion: runc 1.1.5 writes
// the version of the runtime-spec it was built against, "1.0.2-dev". tsrt is written
// against the runtime-spec text kept in ../shared/oci-runtime-spec (VERSION:
// v1.3.0-15-g6999a89, i.e. 15 unreleased commits after v1.3.0), so it writes the
// latest released version that text describes, "1.3.0". Every field below already
// existed in 1.0.x, so the document is valid under both versions.

/** The runtime-spec version written into a default config.json. */
export const DEFAULT_SPEC_OCI_VERSION = '1.3.0';

export interface DefaultSpecOptions {
  /** Like `runc spec --rootless`: a user namespace mapping the caller to root. */
  rootless: boolean;
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function defaultMounts(rootless: boolean): Record<string, unknown>[] {
  // devpts gid=5 names the host's tty group, which has no mapping in a rootless
  // user namespace, so rootless drops it (as runc does).
  const devptsOptions = ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'];
  if (!rootless) devptsOptions.push('gid=5');
  // A fresh sysfs can only be mounted by the owner of the network namespace; rootless
  // has none of its own, so it bind-mounts the host's /sys read-only in its place.
  const sys = rootless
    ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: devptsOptions },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sys,
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

function defaultLinux(rootless: boolean): Record<string, unknown> {
  const linux: Record<string, unknown> = {};
  if (rootless) {
    // runc maps container root to the *effective* ids of the caller (checked: with
    // real uid 1000 and effective uid 3003, runc writes hostID 3003).
    linux.uidMappings = [{ containerID: 0, hostID: process.geteuid?.() ?? 0, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: process.getegid?.() ?? 0, size: 1 }];
    // No device cgroup rules: a rootless container may not own a cgroup.
  } else {
    linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
  }
  // Rootless gets no network namespace of its own (it could not configure one) and
  // adds a user namespace at the end.
  linux.namespaces = rootless
    ? [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }]
    : [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  linux.maskedPaths = [...MASKED_PATHS];
  linux.readonlyPaths = [...READONLY_PATHS];
  return linux;
}

/** A fresh default config, the object `tsrt spec` serialises. */
export function defaultSpec(opts: DefaultSpecOptions): Record<string, unknown> {
  return {
    ociVersion: DEFAULT_SPEC_OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
        ambient: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: defaultMounts(opts.rootless),
    linux: defaultLinux(opts.rootless),
  };
}

/**
 * The exact text of config.json as `runc spec` writes it: indented with one tab per
 * level and no trailing newline. (runc creates the file with mode 0666 minus umask and
 * refuses to overwrite an existing config.json; that belongs to the CLI command.)
 */
export function specJson(opts: DefaultSpecOptions): string {
  return JSON.stringify(defaultSpec(opts), null, '\t');
}
