// The commands that read, signal or remove a container: what containerd and podman run
// for every container besides create, many times each. They make their own bundle,
// dist/tsrt-light.js (scripts/build.mjs), which the launcher runs for them: a third of
// the full one to read and load (docs/performance.md). Nothing here may import the
// create path (config validation, plan builders, cgroup set-up).
import { ID, store, type CommandSpec } from './command-spec';
import { logWarn, writeStdout } from './log';

const start: CommandSpec = {
  name: 'start', describe: 'start a created container', positionals: [ID], flags: [],
  async run(a) {
    const { startContainer } = await import('../container/start');
    await startContainer(store(a), String(a.id));
  },
};
const state: CommandSpec = {
  name: 'state', describe: 'print the state of a container', positionals: [ID], flags: [],
  run(a) {
    const { ociState } = require('../container/status') as typeof import('../container/status');
    const s = store(a);
    writeStdout(JSON.stringify(ociState(s, s.load(String(a.id))), null, 2) + '\n');
  },
};
const kill: CommandSpec = {
  name: 'kill', describe: 'send a signal (default TERM) to a container',
  positionals: [ID, { name: 'signal', describe: 'number, name or SIGNAME', required: false }],
  flags: [{ name: 'all', alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container' }],
  run(a) {
    const { killContainer } = require('../container/kill') as typeof import('../container/kill');
    const { parseSignal } = require('../container/signals') as typeof import('../container/signals');
    killContainer(store(a), String(a.id), parseSignal(a.signal as string | undefined), a.all === true);
  },
};
const delete_: CommandSpec = {
  name: 'delete', describe: 'delete a container', positionals: [ID],
  flags: [{ name: 'force', alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first' }],
  async run(a) {
    const { deleteContainer } = await import('../container/delete');
    await deleteContainer(store(a), String(a.id), a.force === true, logWarn);
  },
};
const list: CommandSpec = {
  name: 'list', describe: 'list containers', positionals: [],
  flags: [
    { name: 'format', alias: 'f', type: 'string', default: 'table', choices: ['table', 'json'], describe: 'output format' },
    { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'print only ids' }],
  run(a) {
    const { listContainers } = require('../container/list') as typeof import('../container/list');
    writeStdout(listContainers(store(a), String(a.format), a.quiet === true));
  },
};
const features: CommandSpec = {
  name: 'features', describe: 'print what this runtime supports, as JSON (the OCI Features structure)', positionals: [], flags: [],
  run() {
    const { runtimeFeatures } = require('../oci/features') as typeof import('../oci/features');
    writeStdout(JSON.stringify(runtimeFeatures(), null, 4) + '\n');
  },
};
const pause: CommandSpec = {
  name: 'pause', describe: 'freeze every process of a container', positionals: [ID], flags: [],
  run(a) {
    const { pauseContainer } = require('../container/pause') as typeof import('../container/pause');
    pauseContainer(store(a), String(a.id));
  },
};
const resume: CommandSpec = {
  name: 'resume', describe: 'thaw a paused container', positionals: [ID], flags: [],
  run(a) {
    const { resumeContainer } = require('../container/pause') as typeof import('../container/pause');
    resumeContainer(store(a), String(a.id));
  },
};
const ps: CommandSpec = {
  name: 'ps', describe: 'list the processes of a container (table: ps -ef, or the ps options after the id)',
  positionals: [ID, { name: 'ps-options', describe: 'options for ps (default -ef)', required: false, variadic: true }],
  flags: [{ name: 'format', alias: 'f', type: 'string', default: 'table', choices: ['table', 'json'], describe: 'output format' }],
  run(a) {
    const { psContainer } = require('../container/ps') as typeof import('../container/ps');
    writeStdout(psContainer(store(a), String(a.id), String(a.format), a._rest ?? []));
  },
};
const events: CommandSpec = {
  name: 'events', describe: 'print resource usage (and OOM events) of a container as JSON lines',
  positionals: [ID],
  flags: [
    { name: 'stats', type: 'boolean', default: false, describe: 'print one stats event and exit' },
    { name: 'interval', type: 'string', default: '5s', describe: 'time between stats events (a Go duration: 5s, 500ms)' }],
  async run(a) {
    const { containerEvents } = await import('../container/events');
    const { parseDuration } = require('../cgroups/units') as typeof import('../cgroups/units');
    return containerEvents(store(a), String(a.id), { stats: a.stats === true, intervalMs: parseDuration(String(a.interval), '--interval') });
  },
};

/** By name; the launcher's LIGHT set lists the same names (a unit test checks it). */
export const LIGHT_COMMANDS = { start, state, kill, delete: delete_, list, features, pause, resume, ps, events };
