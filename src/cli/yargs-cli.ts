// The full parser, built from the command table: help text, usage errors, and every
// shape the fast parser passes on.
import yargs from 'yargs';
import type { Argv, Options } from 'yargs';
import type { CommandSpec, FlagSpec, Parsed } from './command-spec';
import { UsageError } from '../util/errors';

function option(f: FlagSpec): Options {
  return { type: f.type, alias: f.alias, default: f.default, choices: f.choices, describe: f.describe };
}

/** The first argument that is not a global flag or a global flag's value. */
function firstWord(argv: string[], globals: FlagSpec[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (!tok.startsWith('-') || tok === '-') return tok;
    const f = globals.find((g) => `--${g.name}` === tok || (g.alias && `-${g.alias}` === tok));
    if (f && f.type !== 'boolean') i++;
  }
  return undefined;
}

export async function parseWithYargs(argv: string[], globals: FlagSpec[], commands: CommandSpec[]): Promise<{ cmd: CommandSpec; args: Parsed } | undefined> {
  // An unknown command fails.
  const word = firstWord(argv, globals);
  if (word !== undefined && word !== 'help' && !commands.some((c) => c.name === word)) {
    throw new UsageError(`unknown command ${JSON.stringify(word)}: see tsrt --help`);
  }
  let chosen: { cmd: CommandSpec; args: Parsed } | undefined;
  let y = yargs(argv)
    .scriptName('tsrt')
    .usage('$0 [global options] <command> [options]\n\nAn OCI container runtime, a drop-in replacement for runc.')
    .parserConfiguration({ 'camel-case-expansion': false })
    .wrap(Math.min(100, process.stdout.columns || 100));
  for (const f of globals) y = y.option(f.name, { ...option(f), global: true });
  for (const c of commands) {
    const pos = c.positionals.map((p) => (p.required ? `<${p.name}${p.variadic ? '..' : ''}>` : `[${p.name}${p.variadic ? '..' : ''}]`)).join(' ');
    y = y.command(`${c.name}${pos ? ' ' + pos : ''}`, c.describe, (sub: Argv) => {
      let s = sub;
      for (const p of c.positionals) s = s.positional(p.name, { type: 'string', describe: p.describe });
      for (const f of c.flags) s = s.option(f.name, option(f));
      return s;
    }, (a) => {
      chosen = { cmd: c, args: a as unknown as Parsed };
    });
  }
  // --help, -h, help and --version are answered before yargs is loaded (cli.ts, help.ts).
  await y
    .version(false)
    .demandCommand(1, 'a command is required: see tsrt --help')
    .strict()
    .help(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .parseAsync();
  return chosen;
}
