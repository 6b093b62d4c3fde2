// tsrt's command line, for a command table: parse (fast path first), configure logging,
// run the command, exit with its code. Each command's work is loaded only when that
// command runs. Two entries use it: main.ts (every command) and main-light.ts (the
// light ones, bundled alone).
import { GLOBAL_FLAGS, type CommandSpec, type Parsed } from './command-spec';
import { fastParse, normalizeLongFlags, splitVariadicTail } from './fast-parse';
import { configureLog, logError } from './log';

const VERSION = 'tsrt version 0.1.0\nspec: 1.3.0';

async function main(commands: CommandSpec[], rawArgv: string[]): Promise<number> {
  const known = new Set([...GLOBAL_FLAGS, ...commands.flatMap((c) => c.flags)].map((f) => f.name));
  const { head, tail } = splitVariadicTail(normalizeLongFlags(rawArgv, known), GLOBAL_FLAGS, commands);
  let parsed: { cmd: CommandSpec; args: Parsed } | undefined = fastParse(head, GLOBAL_FLAGS, commands);
  if (!parsed) {
    const { parseWithYargs } = require('./yargs-cli') as typeof import('./yargs-cli');
    parsed = await parseWithYargs(head, GLOBAL_FLAGS, commands, `${VERSION}\nnode: ${process.version}`);
    if (!parsed) return 0; // --help or --version was printed
  }
  if (tail) parsed.args._rest = tail;
  const a = parsed.args;
  configureLog({ log: a.log as string | undefined, logFormat: a['log-format'] as string, debug: a.debug === true });
  return (await parsed.cmd.run(a)) ?? 0;
}

export function runCli(commands: CommandSpec[]): void {
  main(commands, process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      logError(e instanceof Error ? e.message : String(e));
      if (process.env.TSRT_TRACE && e instanceof Error) process.stderr.write(`${e.stack}\n`);
      const code = (e as { exitCode?: unknown } | undefined)?.exitCode;
      process.exit(typeof code === 'number' ? code : 1);
    },
  );
}
