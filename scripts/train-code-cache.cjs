// Makes dist/tsrt.js.cache, the V8 code cache the launcher (dist/tsrt) compiles the bundle
// with. Run by scripts/build.mjs in a child process with node's default flags (a cache
// records the V8 flags and is rejected under others):
//
//   node scripts/train-code-cache.cjs DIST_DIR REPORT_JSON
//
// (stdout and stderr are the training commands' own output; the result goes to REPORT_JSON.)
// V8 puts in a cache made after execution (script.createCachedData()) every function
// compiled so far. So this process compiles the bundle once and runs it several times,
// once per training command, through the launcher's own compile() and run(): the cache
// is the union of the code paths of all of them. The commands are the hot ones from
// containerd and people (create, start, state, kill, delete, list, run) as far as they
// can run at build time without root and without touching the host: everything happens
// in a temp dir (a --root of fake containers, a bundle with an empty rootfs), nothing is
// signalled (the fake containers are stopped: pid 0), nothing is cloned (create
// --print-plan). What the training cannot reach (clone, cgroups, waiting) is compiled
// lazily at run time, function by function.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const dist = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist'));
const report = process.argv[3];
const L = require(path.join(dist, 'tsrt'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-train-'));
const root = path.join(tmp, 'root');
const bundle = path.join(tmp, 'bundle');
const rootfs = path.join(bundle, 'rootfs');
const log = [];

/** Runs the bundle once with these arguments; resolves with its exit code. */
function runOnce(script, args) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 20_000);
    const realExit = process.exit;
    process.argv = [process.execPath, L.file, ...args];
    process.exitCode = undefined;
    // main() ends with process.exit(code): catch it instead of exiting.
    process.exit = (code) => {
      process.exit = realExit;
      clearTimeout(timer);
      resolve(code ?? 0);
    };
    try {
      L.run(script);
    } catch (e) {
      process.exit = realExit;
      clearTimeout(timer);
      resolve(`threw ${e && e.message}`);
    }
  });
}

function fakeState(id, config, extra) {
  fs.mkdirSync(path.join(root, id), { recursive: true });
  const state = {
    ociVersion: config.ociVersion, id, pid: 0, pidStartTime: '', bundle, rootfs,
    created: new Date().toISOString(), owner: '', annotations: {}, config, ...extra,
  };
  fs.writeFileSync(path.join(root, id, 'state.json'), JSON.stringify(state));
}

async function main() {
  const { src, key } = L.readBundle();
  const script = L.compile(src, undefined);
  const r = (...args) => ['--root', root, ...args];
  const step = async (args) => log.push(`${args.join(' ')} -> ${await runOnce(script, args)}`);

  // the parser's fall-back and error paths, and commands on a root that does not exist
  await step(r('list'));
  await step(r('state', 'none'));
  await step(r('kill', 'none', 'KILL'));
  await step(r('delete', 'none'));
  await step(r('start', 'none'));

  // spec writes the bundle's config.json; create --print-plan builds the init's whole
  // plan from it (validation, mounts, devices, capabilities, ...) without running it.
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const f of ['sh', 'true', 'sleep']) fs.writeFileSync(path.join(rootfs, 'bin', f), '', { mode: 0o755 });
  await step(['spec', '--bundle', bundle]);
  const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['/bin/true'];
  config.root = { path: rootfs };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  await step(r('create', '--print-plan', '--bundle', bundle, 'plan'));
  await step(r('run', '--bundle', path.join(tmp, 'missing'), 'nobundle'));

  // stopped containers (pid 0: never signalled): state, list, kill, start, delete
  fakeState('stopped1', config);
  fakeState('stopped2', config, { cgroupPaths: {} });
  await step(r('state', 'stopped1'));
  await step(r('list'));
  await step(r('list', '--format', 'json'));
  await step(r('list', '-q'));
  await step(r('kill', 'stopped1', 'KILL'));
  await step(r('kill', '--all', 'stopped1', 'TERM'));
  await step(r('start', 'stopped1'));
  await step(r('delete', 'stopped1'));
  await step(r('delete', '--force', 'stopped2'));

  const data = script.createCachedData();
  L.writeCache(key, data);
  return data.length;
}

main().then(
  (bytes) => {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (report) fs.writeFileSync(report, JSON.stringify({ bytes, runs: log }));
    process.exit(0);
  },
  (e) => {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (report) fs.writeFileSync(report, JSON.stringify({ error: String(e && e.stack), runs: log }));
    process.exit(1);
  },
);
