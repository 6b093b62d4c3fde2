// `list`: every container under --root, as runc prints it (table, json or ids).
import { DamagedStateError, type StateStore } from './state-store';
import { isAlive, ociState } from './status';

/**
 * A container whose state.json cannot be read is listed, never hidden (its processes and
 * cgroups may live on): status "unknown", the pid recovery.json gives while it is alive.
 */
function unknownState(store: StateStore, id: string): Record<string, unknown> {
  const r = store.loadRecovery(id);
  return { ociVersion: '', id, pid: r && isAlive(r) ? r.pid : 0, status: 'unknown', bundle: '', rootfs: '', created: '', owner: '' };
}

export function listContainers(store: StateStore, format: string, quiet: boolean): string {
  const states: Record<string, unknown>[] = [];
  for (const id of store.ids()) {
    try {
      states.push(ociState(store, store.load(id)));
    } catch (e) {
      if (e instanceof DamagedStateError) states.push(unknownState(store, id));
      // otherwise a container being created or deleted right now
    }
  }
  if (quiet) return states.map((s) => `${s.id}\n`).join('');
  if (format === 'json') {
    const out = states.map(({ annotations, ...rest }) => (annotations && Object.keys(annotations as object).length ? { ...rest, annotations } : rest));
    return (out.length ? JSON.stringify(out) : 'null') + '\n';
  }
  const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
  for (const s of states) rows.push([String(s.id), String(s.pid), String(s.status), String(s.bundle), String(s.created), String(s.owner)]);
  // Columns at least 12 wide with 3 spaces of padding, like runc's tabwriter.
  const widths = rows[0]!.map((_, c) => Math.max(12, ...rows.map((r) => r[c]!.length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('')).join('\n') + '\n';
}
