// The flags containerd passes a shim binary (runtime/v2/shim: Command and binary.go):
// -namespace, -address, -publish-binary, -id, -bundle, -debug, then start, delete or
// nothing (the daemon); -socket, the daemon's socket, comes from scripts/shim-start.sh,
// which answers `start` and parses the same words.
export interface ShimFlags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  /** the daemon's socket (given by the start script, scripts/shim-start.sh) */
  socket: string;
  command?: string;
}

export function parseShimFlags(argv: string[]): ShimFlags {
  const f: ShimFlags = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', socket: '', debug: false };
  const named: Record<string, keyof ShimFlags> = { namespace: 'namespace', address: 'address', 'publish-binary': 'publishBinary', id: 'id', bundle: 'bundle', socket: 'socket' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      f.command = a;
      continue;
    }
    let [name, value] = a.replace(/^--?/, '').split(/=(.*)/s) as [string, string | undefined];
    if (name === 'debug') {
      f.debug = value === undefined || value === 'true';
      continue;
    }
    const key = named[name];
    if (!key) continue; // flags of newer containerds (-socket, ...): not needed here
    value ??= argv[++i] ?? '';
    (f as unknown as Record<string, string>)[key] = value;
  }
  return f;
}

/** tsrt's state root for a containerd namespace (as the runc shim's /run/containerd/runc/NS). */
export function stateRoot(namespace: string): string {
  return `${process.env.TSRT_SHIM_ROOT ?? '/run/containerd/tsrt'}/${namespace}`;
}
