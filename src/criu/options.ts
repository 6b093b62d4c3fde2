// The flags checkpoint and restore share, turned into CRIU's options as runc turns them.
import { join } from 'node:path';
import type { Spec } from '../oci/spec-types';
import { UsageError } from '../util/errors';

export interface CriuFlags {
  imagePath?: string;
  workPath?: string;
  tcpEstablished: boolean;
  extUnixSk: boolean;
  shellJob: boolean;
  fileLocks: boolean;
  manageCgroupsMode?: string;
  emptyNs: string[];
  autoDedup: boolean;
  lazyPages: boolean;
}

const CLONE_NEWNET = 0x40000000;

/** --image-path, or ./checkpoint as runc's default. */
export function imagePathOf(f: CriuFlags): string {
  return f.imagePath ? f.imagePath : join(process.cwd(), 'checkpoint');
}

/** --manage-cgroups-mode: runc's names; none given is CRIU's default. */
export function cgroupsModeOf(mode: string | undefined): string {
  if (mode === undefined || mode === '') return 'DEFAULT';
  const known: Record<string, string> = { soft: 'SOFT', full: 'FULL', strict: 'STRICT', ignore: 'IGNORE' };
  const m = known[mode];
  if (!m) throw new UsageError(`--manage-cgroups-mode ${JSON.stringify(mode)}: invalid manage-cgroups-mode value (soft, full, strict or ignore)`);
  return m;
}

/**
 * --empty-ns: CRIU makes the namespace but does not restore its content. As runc, the
 * network namespace always is (tsrt does not manage network devices) and it is the only
 * one that may be named.
 */
export function emptyNsMaskOf(names: string[]): number {
  let mask = CLONE_NEWNET;
  for (const n of names) {
    if (n !== 'network') throw new UsageError(`--empty-ns: namespace ${JSON.stringify(n)} is not supported (only "network")`);
    mask |= CLONE_NEWNET;
  }
  return mask;
}

/** Checks the flags before anything is touched; refuses what tsrt would only half-do. */
export function refuseUnsupported(f: CriuFlags): void {
  cgroupsModeOf(f.manageCgroupsMode);
  emptyNsMaskOf(f.emptyNs);
  if (f.lazyPages) throw new UsageError('--lazy-pages is not supported by tsrt (lazy migration through userfaultfd and a page server): checkpoint without it');
}

/** runc's CRIU configuration file: the annotation org.criu.config, or /etc/criu/runc.conf (tsrt is runc's drop-in). */
export function criuConfigFile(spec: Spec): string | undefined {
  const a = spec.annotations?.['org.criu.config'];
  if (a === undefined) return '/etc/criu/runc.conf';
  return a === '' ? undefined : a;
}

/** The options every DUMP and RESTORE carries. */
export function commonCriuOpts(f: CriuFlags, spec: Spec): Record<string, unknown> {
  const o: Record<string, unknown> = {
    log_level: 4, manage_cgroups: true, manage_cgroups_mode: cgroupsModeOf(f.manageCgroupsMode), notify_scripts: true,
    shell_job: f.shellJob, ext_unix_sk: f.extUnixSk, tcp_established: f.tcpEstablished, file_locks: f.fileLocks,
    empty_ns: emptyNsMaskOf(f.emptyNs), orphan_pts_master: true, auto_dedup: f.autoDedup,
  };
  const cfg = criuConfigFile(spec);
  if (cfg) o.config_file = cfg;
  return o;
}
