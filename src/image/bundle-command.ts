// `tsrt bundle ACTION DIR`: the command-line side of images to bundles. Parses what the
// command table handed over, calls bundle.ts / commit.ts, prints.
import { UsageError } from '../util/errors';

export type BundleAction = 'create' | 'diff' | 'commit' | 'rm';
export const BUNDLE_ACTIONS: BundleAction[] = ['create', 'diff', 'commit', 'rm'];

export interface BundleArgs {
  action: string;
  dir: string;
  from?: string;
  store: string;
  rootfs: string;
  volume: string[];
  to?: string;
  ref?: string;
  hostname?: string;
  /** arguments after `--` (bundle create: they replace the image's Cmd) */
  rest?: string[];
}

export async function runBundleCommand(a: BundleArgs, warn: (msg: string) => void): Promise<number> {
  switch (a.action) {
    case 'create': {
      if (!a.from) throw new UsageError('bundle create: --from IMAGE is required (an OCI layout dir, an OCI archive or a docker archive)');
      if (a.rootfs !== 'overlay' && a.rootfs !== 'copy') throw new UsageError(`bundle create: --rootfs must be overlay or copy, not ${JSON.stringify(a.rootfs)}`);
      const { createBundle } = await import('./bundle');
      await createBundle({
        dir: a.dir, from: a.from, ref: a.ref, store: a.store, mode: a.rootfs, volumes: a.volume,
        args: a.rest && a.rest.length ? a.rest : undefined, hostname: a.hostname, warn,
      });
      return 0;
    }
    case 'diff': {
      const { bundleDiff, formatChanges } = await import('./commit');
      process.stdout.write(formatChanges(bundleDiff(a.dir)));
      return 0;
    }
    case 'commit': {
      if (!a.to) throw new UsageError('bundle commit: --to OCI-LAYOUT-DIR is required');
      const { commitBundle } = await import('./commit');
      const r = await commitBundle({ dir: a.dir, to: a.to, ref: a.ref, warn });
      process.stdout.write(`${r.manifest.digest}\n`);
      return 0;
    }
    case 'rm': {
      const { removeBundle } = await import('./bundle');
      removeBundle(a.dir);
      return 0;
    }
    default:
      throw new UsageError(`bundle: unknown action ${JSON.stringify(a.action)} (one of ${BUNDLE_ACTIONS.join(', ')})`);
  }
}
