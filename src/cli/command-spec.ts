// The shape of tsrt's command table, the flags every command takes, and what the
// commands share. Both parsers read a table: the fast one (fast-parse.ts) for the common
// shapes containerd and podman send, and yargs (yargs-cli.ts) for help, errors and the rest.
import type { StateStore } from '../container/state-store';
import { DEFAULT_ROOT } from '../container/state-store';

export type FlagType = 'string' | 'boolean' | 'number' | 'array';

export interface FlagSpec {
  name: string;
  type: FlagType;
  alias?: string;
  default?: string | boolean | number;
  choices?: string[];
  describe: string;
}

export interface PositionalSpec {
  name: string;
  describe: string;
  required: boolean;
  /** collects the rest of the arguments (exec's command) */
  variadic?: boolean;
}

export type Parsed = Record<string, unknown> & { _rest?: string[] };

export interface CommandSpec {
  name: string;
  describe: string;
  positionals: PositionalSpec[];
  flags: FlagSpec[];
  /** returns the exit code (0 when undefined) */
  run(a: Parsed): Promise<number | void> | number | void;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', default: DEFAULT_ROOT, describe: 'directory for container state' },
  { name: 'debug', type: 'boolean', default: false, describe: 'debug logging' },
  { name: 'log', type: 'string', describe: 'log file (default: stderr)' },
  { name: 'log-format', type: 'string', default: 'text', choices: ['text', 'json'], describe: 'log format' },
  { name: 'systemd-cgroup', type: 'boolean', default: false, describe: 'cgroupsPath is slice:prefix:name' },
  { name: 'rootless', type: 'string', default: 'auto', describe: 'true, false or auto' },
];

/** The state store of --root. */
export function store(a: Parsed): StateStore {
  const { StateStore: S } = require('../container/state-store') as typeof import('../container/state-store');
  return new S(String(a.root ?? DEFAULT_ROOT));
}

export const ID: PositionalSpec = { name: 'id', describe: 'container id', required: true };
