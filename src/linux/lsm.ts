// Linux security modules: process.apparmorProfile and process.selinuxLabel become an
// exec-time transition written to /proc/self/attr (applied by the kernel at the next
// execve), linux.mountLabel a context= option on the container's mounts. A label the
// host cannot apply is refused before any process is started: silently running the
// container unconfined would be worse than not running it.
import { existsSync, readFileSync } from 'node:fs';
import type { Spec } from '../oci/spec-types';
import type { Plan } from '../plan/plan';
import { ConfigError } from '../util/errors';
import { buildProcWriteSteps, type ProcWrite } from './proc-files';

/** AppArmor is enabled: the module says so and its attr directory exists. */
export function appArmorEnabled(): boolean {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y' && existsSync('/proc/self/attr');
  } catch {
    return false;
  }
}

/** SELinux is enabled: selinuxfs is mounted (it has an enforce file). */
export function selinuxEnabled(): boolean {
  for (const dir of ['/sys/fs/selinux', '/selinux']) {
    if (existsSync(`${dir}/enforce`)) return true;
  }
  return false;
}

/** Filesystems that take a context= mount option (not proc, sysfs, cgroups or binds). */
const LABELLED_FS = new Set(['tmpfs', 'devpts', 'mqueue', 'shm', 'ramfs', 'hugetlbfs', 'overlay']);

/** The mount data with linux.mountLabel added, for the filesystems that take it. */
export function withMountLabel(data: string, type: string, label: string | undefined): string {
  if (!label || !LABELLED_FS.has(type) || /(^|,)context=/.test(data)) return data;
  const opt = `context="${label}"`;
  return data ? `${data},${opt}` : opt;
}

/** Refuses labels this host cannot apply (no process exists yet when this runs). */
export function checkLsmSupport(spec: Spec): void {
  const proc = spec.process;
  if (proc?.apparmorProfile && !appArmorEnabled()) {
    throw new ConfigError('process.apparmorProfile: AppArmor is not enabled on this host');
  }
  if (proc?.selinuxLabel && !selinuxEnabled()) {
    throw new ConfigError('process.selinuxLabel: SELinux is not enabled on this host');
  }
  if (spec.linux?.mountLabel && !selinuxEnabled()) {
    throw new ConfigError('linux.mountLabel: SELinux is not enabled on this host');
  }
}

/**
 * Exec-time labels, written after pivot_root through the container's procfs, to this
 * thread's attr files (proc-files.ts: no symlink or mount in the rootfs can redirect them).
 */
export function buildLsmAttrSteps(plan: Plan, spec: Spec): void {
  checkLsmSupport(spec);
  const proc = spec.process;
  const writes: ProcWrite[] = [];
  if (proc?.apparmorProfile) {
    // Kernels since 5.1 have a per-LSM directory; older ones only the shared file.
    const file = existsSync('/proc/thread-self/attr/apparmor/exec') ? 'thread-self/attr/apparmor/exec' : 'thread-self/attr/exec';
    writes.push({ file, value: `exec ${proc.apparmorProfile}`, field: `process.apparmorProfile ${proc.apparmorProfile}` });
  }
  if (proc?.selinuxLabel) {
    writes.push({ file: 'thread-self/attr/exec', value: proc.selinuxLabel, field: `process.selinuxLabel ${proc.selinuxLabel}` });
  }
  buildProcWriteSteps(plan, writes, 'process LSM labels');
}
