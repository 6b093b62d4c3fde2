// `tsrt features`: the Features structure (features.md, features-linux.md) saying what
// this tsrt implements, taken from the modules that implement it, so it cannot claim
// more than they do. Its shape follows `runc features` (runc 1.1.5 on this project's
// machines). A property tsrt cannot vouch for is left out, which the spec reads as
// "unknown" (memoryPolicy: defined after the 1.3.0 that ociVersionMax names).
import { DEFAULT_SPEC_OCI_VERSION } from './default-spec';
import { knownMountOptions } from '../linux/mount-options';
import { CAPABILITY_NUMBERS } from '../linux/capabilities';
import { NS_FLAG } from '../linux/namespaces';

export const TSRT_VERSION = '0.1.0';

// The spec's seccomp vocabulary (schema/defs-linux.json); seccomp.ts says which it takes.
const SECCOMP_ACTIONS = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP'];
const SECCOMP_OPERATORS = ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'];
const SECCOMP_ARCHS = [
  'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_LOONGARCH64', 'SCMP_ARCH_M68K', 'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_RISCV64', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB',
  'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64',
];

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: Record<string, unknown>;
  annotations: Record<string, string>;
  potentiallyUnsafeConfigAnnotations: string[];
}

function seccompFeatures(annotations: Record<string, string>): Record<string, unknown> {
  let support: import('../linux/seccomp').SeccompSupport | undefined;
  try {
    const { seccompSupport } = require('../linux/seccomp') as typeof import('../linux/seccomp');
    support = seccompSupport({ actions: SECCOMP_ACTIONS, operators: SECCOMP_OPERATORS, archs: SECCOMP_ARCHS });
  } catch {
    support = undefined;
  }
  // Without libseccomp.so.2 tsrt refuses every linux.seccomp (seccomp.ts).
  if (!support) return { enabled: false };
  annotations['io.github.seccomp.libseccomp.version'] = support.libseccompVersion;
  const { actions, operators, archs, knownFlags, supportedFlags } = support;
  return { enabled: true, actions, operators, archs, knownFlags, supportedFlags };
}

export function runtimeFeatures(): Features {
  const annotations: Record<string, string> = { 'tsrt.version': TSRT_VERSION, 'tsrt.node.version': process.version };
  const linux: Record<string, unknown> = {
    // Every type is created with clone/unshare or joined with setns (namespaces.ts).
    namespaces: Object.keys(NS_FLAG).sort(),
    capabilities: Object.entries(CAPABILITY_NUMBERS).sort((a, b) => a[1] - b[1]).map(([name]) => name),
    cgroup: {
      v1: true,
      v2: true,
      // --systemd-cgroup: a transient scope made by systemd over the system bus
      // (cgroups/systemd/); as runc, this says the driver is there, not that systemd runs
      // here. Not for rootless containers: systemd's user instance is not driven.
      systemd: true,
      systemdUser: false,
      rdma: true,
    },
    seccomp: seccompFeatures(annotations),
    // process.apparmorProfile / selinuxLabel and linux.mountLabel are applied (lsm.ts)
    // when the host has the module; without it such a config is refused.
    apparmor: { enabled: true },
    selinux: { enabled: true },
    // linux.intelRdt is refused (security.ts checkIntelRdt).
    intelRdt: { enabled: false },
    // mounts[].uidMappings/gidMappings are validated but not applied yet (rootfs.ts).
    mountExtensions: { idmap: { enabled: false } },
    netDevices: { enabled: true },
  };
  // checkpoint/restore: whether the installed CRIU runs here (src/criu/features.ts)
  (require('../criu/features') as typeof import('../criu/features')).checkpointFeatures(annotations);
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: DEFAULT_SPEC_OCI_VERSION,
    // create.ts runs prestart, createRuntime, createContainer, startContainer; start.ts
    // poststart; delete.ts poststop.
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: knownMountOptions(),
    linux,
    annotations: Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : 1))),
    // tsrt gives no config.json annotation a meaning.
    potentiallyUnsafeConfigAnnotations: [],
  };
}
