// tsrt's command line, for a command table: parse (fast path first), configure logging,
// run the command, exit with its code. Each command's work is loaded only when that
// command runs. Two entries use it: main.ts (every command) and main-light.ts (the
// light ones, bundled alone).
import { GLOBAL_FLAGS, type CommandSpec, type Parsed } from './command-spec';
import { fastParse, normalizeLongFlags, splitVariadicTail } from './fast-parse';
import { configureLog, logDebug, logError, writeStdout } from './log';
import { UsageError } from '../util/errors';

/**
 * What to print instead of running a command: --version / -v, --help / -h or `help
 * [COMMAND]` in runc's layout (help.ts), or undefined. An unknown topic is an error with
 * runc's words and exit code 3; podman probes `checkpoint --help` for exit code 0.
 */
function helpOrVersion(argv: string[], commands: CommandSpec[]): { text: string; code: number } | undefined {
  let word: string | undefined;
  let topic: string | undefined;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--help' || tok === '-h') help = true;
    else if (!word && (tok === '--version' || tok === '-v')) version = true;
    else if (tok.startsWith('-')) {
      const f = GLOBAL_FLAGS.find((g) => `--${g.name}` === tok);
      if (!word && f && f.type !== 'boolean') i++;
    } else if (!word) word = tok;
    else if ((word === 'help' || word === 'h') && topic === undefined) topic = tok;
  }
  if (!help && !version && word !== 'help' && word !== 'h') return undefined;
  const h = require('./help') as typeof import('./help');
  if (version && !help) return { text: h.versionText(), code: 0 };
  const name = word === 'help' || word === 'h' ? topic : word;
  if (name === undefined) return { text: h.generalHelp(commands, GLOBAL_FLAGS), code: 0 };
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw Object.assign(new UsageError(`No help topic for '${name}'`), { exitCode: 3 });
  return { text: h.commandHelp(cmd), code: 0 };
}

async function main(commands: CommandSpec[], rawArgv: string[]): Promise<number> {
  const known = new Set([...GLOBAL_FLAGS, ...commands.flatMap((c) => c.flags)].map((f) => f.name));
  const { head, tail } = splitVariadicTail(normalizeLongFlags(rawArgv, known), GLOBAL_FLAGS, commands);
  let parsed: { cmd: CommandSpec; args: Parsed } | undefined = fastParse(head, GLOBAL_FLAGS, commands);
  if (!parsed) {
    const shown = helpOrVersion(head, commands);
    if (shown) {
      writeStdout(shown.text);
      return shown.code;
    }
    const { parseWithYargs } = require('./yargs-cli') as typeof import('./yargs-cli');
    parsed = await parseWithYargs(head, GLOBAL_FLAGS, commands);
    if (!parsed) return 0;
  }
  if (tail) parsed.args._rest = tail;
  const a = parsed.args;
  configureLog({ log: a.log as string | undefined, logFormat: a['log-format'] as string, debug: a.debug === true });
  logDebug(`${parsed.cmd.name}: ${JSON.stringify(rawArgv)}`);
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
