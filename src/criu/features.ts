// What `tsrt features` says about checkpoint/restore: runc's annotation
// org.opencontainers.runc.checkpoint.enabled (CRI-O reads it), "true" only when a CRIU is
// installed and `criu check` passes here, and tsrt.criu saying which CRIU and, when it
// cannot run, criu check's reason. No protobuf, no RPC: one `criu check` run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { criuErrorLines } from './kernel-support';
import { criuBinary } from './binary';

function findInPath(name: string): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of (process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export function checkpointFeatures(annotations: Record<string, string>): void {
  const criu = findInPath(criuBinary());
  if (!criu) {
    annotations['org.opencontainers.runc.checkpoint.enabled'] = 'false';
    annotations['tsrt.criu'] = 'not installed: checkpoint and restore need CRIU';
    return;
  }
  const version = /Version:\s*(\S+)/.exec(spawnSync(criu, ['--version'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '')?.[1] ?? 'unknown version';
  const r = spawnSync(criu, ['check'], { encoding: 'utf8', timeout: 30_000 });
  const ok = r.status === 0;
  annotations['org.opencontainers.runc.checkpoint.enabled'] = String(ok);
  const why = criuErrorLines(`${r.stdout ?? ''}\n${r.stderr ?? ''}`, 2).join('; ') || (r.error ? r.error.message : `status ${r.status}`);
  annotations['tsrt.criu'] = ok ? `${version} at ${criu}` : `${version} at ${criu}: criu check fails on this kernel (${why})`;
}
