// Help and version text in runc's layout (urfave/cli's NAME / USAGE / VERSION / COMMANDS /
// GLOBAL OPTIONS), made from the command table; loaded only when help is asked for.
import type { CommandSpec, FlagSpec } from './command-spec';

declare const TSRT_COMMIT: string | undefined;

export const TSRT_VERSION = '0.1.0';
export const SPEC_VERSION = '1.3.0';

/** `tsrt --version`: runc's first lines (version, commit, spec), then what tsrt runs on. */
export function versionText(): string {
  const commit = typeof TSRT_COMMIT === 'string' && TSRT_COMMIT ? TSRT_COMMIT : 'unknown';
  return `tsrt version ${TSRT_VERSION}\ncommit: ${commit}\nspec: ${SPEC_VERSION}\nnode: ${process.version}\n`;
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `   ${l.padEnd(width)}${r}`.trimEnd()).join('\n');
}

function flagLabel(f: FlagSpec): string {
  const value = f.type === 'boolean' ? '' : ' value';
  return `--${f.name}${value}${f.alias ? `, -${f.alias}${value}` : ''}`;
}

function flagText(f: FlagSpec): string {
  const shown = f.default !== undefined && f.default !== false && f.default !== 0;
  return `${f.describe}${shown ? ` (default: ${JSON.stringify(f.default)})` : ''}`;
}

export function generalHelp(commands: CommandSpec[], globals: FlagSpec[]): string {
  return `NAME:
   tsrt - Open Container Initiative runtime, in TypeScript (a drop-in replacement for runc)

USAGE:
   tsrt [global options] command [command options] [arguments...]

VERSION:
${versionText().replace(/^tsrt version /, '   ').trimEnd()}

COMMANDS:
${table([...commands.map((c): [string, string] => [c.name, c.describe]), ['help, h', 'Shows a list of commands or help for one command']])}

GLOBAL OPTIONS:
${table([...globals.map((f): [string, string] => [flagLabel(f), flagText(f)]), ['--help, -h', 'show help'], ['--version, -v', 'print the version']])}
`;
}

export function commandHelp(c: CommandSpec): string {
  const pos = c.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}${p.variadic ? '...' : ''}]`)).join(' ');
  const opts = c.flags.length ? `\n\nOPTIONS:\n${table([...c.flags.map((f): [string, string] => [flagLabel(f), flagText(f)]), ['--help, -h', 'show help']])}` : '';
  return `NAME:
   tsrt ${c.name} - ${c.describe}

USAGE:
   tsrt ${c.name} [command options]${pos ? ` ${pos}` : ''}${opts}
`;
}
