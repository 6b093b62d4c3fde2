// tsrt's command line: runc's commands and flags (../shared/CLI-CONTRACT.md). This file
// only parses and dispatches; each command's work is loaded when that command runs.
import yargs from 'yargs';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { configureLog, logError, logWarn } from './log';
import { DEFAULT_ROOT } from '../container/state-store';
import { UsageError } from '../util/errors';

type Args = ArgumentsCamelCase<Record<string, unknown>>;

const VERSION = '0.1.0';

function store(a: Args) {
  const { StateStore } = require('../container/state-store') as typeof import('../container/state-store');
  return new StateStore(String(a.root ?? DEFAULT_ROOT));
}

/** `tsrt run bundle/`: a positional argument containing '/' is a bundle, never an id. */
function bundleAndId(a: Args): { bundle: string; id: string } {
  let bundle = a.bundle as string | undefined;
  let id = a.id as string | undefined;
  if (id && id.includes('/')) {
    if (bundle) throw new UsageError(`${JSON.stringify(id)} is not a valid container id (ids cannot contain '/') and --bundle is given`);
    bundle = id;
    id = undefined;
  }
  if (!id) {
    if (!bundle) throw new UsageError('missing container id (or a bundle path such as bundle/)');
    id = `tsrt-${Date.now().toString(36)}-${process.pid.toString(36)}`;
  }
  return { bundle: bundle ?? '.', id };
}

let exitCode = 0;

async function main(argv: string[]): Promise<void> {
  const cli = yargs(argv)
    .scriptName('tsrt')
    .usage('$0 [global options] <command> [options]\n\nAn OCI container runtime (a drop-in replacement for runc).')
    .option('root', { type: 'string', default: DEFAULT_ROOT, describe: 'directory for container state', global: true })
    .option('debug', { type: 'boolean', default: false, describe: 'debug logging', global: true })
    .option('log', { type: 'string', describe: 'log file (default: stderr)', global: true })
    .option('log-format', { type: 'string', choices: ['text', 'json'], default: 'text', global: true })
    .option('systemd-cgroup', { type: 'boolean', default: false, describe: 'cgroupsPath is slice:prefix:name', global: true })
    .option('rootless', { type: 'string', default: 'auto', describe: 'true, false or auto', global: true })
    .middleware((a) => configureLog({ log: a.log as string | undefined, logFormat: a.logFormat as string, debug: a.debug as boolean }))
    .command('create <id>', 'create a container', (y: Argv) => y
      .positional('id', { type: 'string' })
      .option('bundle', { alias: 'b', type: 'string', default: '.', describe: 'path to the OCI bundle' })
      .option('pid-file', { type: 'string' })
      .option('console-socket', { type: 'string' })
      .option('no-pivot', { type: 'boolean', default: false })
      .option('no-new-keyring', { type: 'boolean', default: false })
      .option('preserve-fds', { type: 'number', default: 0 })
      .option('print-plan', { type: 'boolean', default: false, describe: 'print the init\'s syscall plan and exit' }),
    async (a: Args) => {
      const { createContainer } = await import('../container/create');
      const { bundle, id } = bundleAndId(a);
      await createContainer({ root: String(a.root), id, bundle, pidFile: a.pidFile as string | undefined, consoleSocket: a.consoleSocket as string | undefined, noPivot: a.noPivot as boolean, preserveFds: a.preserveFds as number, printPlan: a.printPlan as boolean });
    })
    .command('run <id>', 'create and start a container', (y: Argv) => y
      .positional('id', { type: 'string', describe: 'container id, or a bundle path (contains /)' })
      .option('bundle', { alias: 'b', type: 'string' })
      .option('pid-file', { type: 'string' })
      .option('console-socket', { type: 'string' })
      .option('detach', { alias: 'd', type: 'boolean', default: false })
      .option('keep', { type: 'boolean', default: false })
      .option('no-subreaper', { type: 'boolean', default: false })
      .option('no-pivot', { type: 'boolean', default: false })
      .option('no-new-keyring', { type: 'boolean', default: false })
      .option('preserve-fds', { type: 'number', default: 0 }),
    async (a: Args) => {
      const { runContainer } = await import('../container/run');
      const { bundle, id } = bundleAndId(a);
      exitCode = await runContainer({ root: String(a.root), id, bundle, pidFile: a.pidFile as string | undefined, consoleSocket: a.consoleSocket as string | undefined, noPivot: a.noPivot as boolean, preserveFds: a.preserveFds as number, detach: a.detach as boolean, keep: a.keep as boolean, noSubreaper: a.noSubreaper as boolean }, logWarn);
    })
    .command('start <id>', 'start a created container', (y: Argv) => y.positional('id', { type: 'string' }), async (a: Args) => {
      const { startContainer } = await import('../container/start');
      await startContainer(store(a), String(a.id));
    })
    .command('state <id>', 'print the state of a container', (y: Argv) => y.positional('id', { type: 'string' }), (a: Args) => {
      const { ociState } = require('../container/status') as typeof import('../container/status');
      const s = store(a);
      process.stdout.write(JSON.stringify(ociState(s, s.load(String(a.id))), null, 2) + '\n');
    })
    .command('kill <id> [signal]', 'send a signal to a container (default TERM)', (y: Argv) => y
      .positional('id', { type: 'string' })
      .positional('signal', { type: 'string', default: 'TERM' })
      .option('all', { alias: 'a', type: 'boolean', default: false }),
    (a: Args) => {
      const { killContainer } = require('../container/kill') as typeof import('../container/kill');
      const { parseSignal } = require('../container/signals') as typeof import('../container/signals');
      killContainer(store(a), String(a.id), parseSignal(String(a.signal)), a.all as boolean);
    })
    .command('delete <id>', 'delete a container', (y: Argv) => y
      .positional('id', { type: 'string' })
      .option('force', { alias: 'f', type: 'boolean', default: false }),
    async (a: Args) => {
      const { deleteContainer } = await import('../container/delete');
      await deleteContainer(store(a), String(a.id), a.force as boolean, logWarn);
    })
    .command('list', 'list containers', (y: Argv) => y
      .option('format', { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false }),
    (a: Args) => {
      const { listContainers } = require('../container/list') as typeof import('../container/list');
      process.stdout.write(listContainers(store(a), String(a.format), a.quiet as boolean));
    })
    .command('spec', 'write a default config.json', (y: Argv) => y
      .option('bundle', { alias: 'b', type: 'string', default: '.' })
      .option('rootless', { type: 'boolean', default: false }),
    (a: Args) => {
      const { writeDefaultSpec } = require('./spec-command') as typeof import('./spec-command');
      writeDefaultSpec(String(a.bundle), a.rootless === true || a.rootless === 'true');
    })
    .version(false)
    .option('version', { alias: 'v', type: 'boolean', describe: 'print the version' })
    .demandCommand(1, 'a command is required: see tsrt --help')
    .strict()
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`tsrt version ${VERSION}\nspec: 1.3.0\nnode: ${process.version}\n`);
    return;
  }
  await cli.parseAsync();
}

main(process.argv.slice(2)).then(
  () => process.exit(exitCode),
  (e: unknown) => {
    logError(e instanceof Error ? e.message : String(e));
    if (process.env.TSRT_TRACE && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof UsageError ? 1 : 1);
  },
);
