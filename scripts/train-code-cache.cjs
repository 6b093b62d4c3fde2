// Makes the V8 code cache of a bundle for the launcher (dist/tsrt). Run by
// scripts/build.mjs, once per bundle, each in a child process with node's default flags
// (a cache records the V8 flags and is rejected under others):
//
//   node scripts/train-code-cache.cjs DIST_DIR light|full REPORT_JSON
//
// light: dist/tsrt-light.js.cache, for the light bundle (state, list, kill, delete,
//        start, ...); full: dist/tsrt.js.cache, for tsrt.js (create, run, exec, ...).
// stdout and stderr are the training commands' own output; the result goes to REPORT_JSON.
//
// V8 puts in a cache made after execution (script.createCachedData()) every function
// compiled so far. So this process compiles the bundle once and runs it several times,
// once per training command, through the launcher's own compile() and run(): the cache
// is the union of their code paths. Everything happens in a temp dir, without touching
// the host: a --root of fake stopped containers (with a pid no process can have), a
// bundle with an empty rootfs, create --print-plan (the whole init plan, never cloned).
// What training cannot reach (clone, cgroups, waiting for the container) is compiled
// lazily at run time, function by function.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const dist = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist'));
const set = process.argv[3] ?? 'full';
const report = process.argv[4];
if (set !== 'light' && set !== 'full') throw new Error(`unknown cache ${set}: light or full`);
const L = require(path.join(dist, 'tsrt'));
const target = L.BUNDLES[set];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-train-'));
const root = path.join(tmp, 'root');
const bundle = path.join(tmp, 'bundle');
const rootfs = path.join(bundle, 'rootfs');
const log = [];

/** Runs the bundle once with these arguments; resolves with its exit code. */
function runOnce(script, args) {
  return new Promise((resolve) => {
    const realExit = process.exit;
    const done = (code) => {
      process.exit = realExit;
      clearTimeout(timer);
      resolve(code);
    };
    const timer = setTimeout(() => done('timeout'), 20_000);
    process.argv = [process.execPath, target.file, ...args];
    process.exitCode = undefined;
    // main() ends with process.exit(code): catch it instead of exiting.
    process.exit = (code) => done(code ?? 0);
    try {
      L.run(target.file, script);
    } catch (e) {
      done(`threw ${e && e.message}`);
    }
  });
}

/**
 * A stopped container's state. Its pid is one no process can have (pid_max is at most
 * 2^22): it reads as stopped, and a signal to it could only fail with ESRCH (pid 0 would
 * mean our own process group, the build's).
 */
function fakeState(id, config, extra) {
  fs.mkdirSync(path.join(root, id), { recursive: true });
  const state = {
    ociVersion: config.ociVersion, id, pid: 2147483647, pidStartTime: '1', bundle, rootfs,
    created: new Date().toISOString(), owner: '', annotations: {}, config, ...extra,
  };
  fs.writeFileSync(path.join(root, id, 'state.json'), JSON.stringify(state));
}

async function main() {
  const { src, key } = L.readBundle(target.file);
  const script = L.compile(target.file, src, undefined);
  const r = (...args) => ['--root', root, ...args];
  const step = async (args) => log.push(`${args.join(' ')} -> ${await runOnce(script, args)}`);

  // A bundle: (full) spec writes runc's default config.json; its process runs /bin/true.
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const f of ['sh', 'true', 'sleep']) fs.writeFileSync(path.join(rootfs, 'bin', f), '', { mode: 0o755 });
  if (set === 'full') await step(['spec', '--bundle', bundle]);
  else fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.3.0', process: { cwd: '/', args: ['sh'] }, root: { path: 'rootfs' } }));
  const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['/bin/true'];
  config.root = { path: rootfs };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));

  fakeState('stopped1', config);
  fakeState('stopped2', config, { cgroupPaths: {} });
  if (set === 'light') {
    // commands on containers that do not exist (the error path), then on stopped ones
    for (const c of [['state'], ['kill', 'KILL'], ['delete'], ['start']]) await step(r(c[0], 'none', ...c.slice(1)));
    await step(r('state', 'stopped1'));
    await step(r('list'));
    await step(r('list', '--format', 'json'));
    await step(r('list', '-q'));
    await step(r('kill', 'stopped1', 'KILL'));
    await step(r('kill', '--all', 'stopped1', 'TERM'));
    await step(r('start', 'stopped1'));
  }
  // (full: run removes its container with delete's code)
  await step(r('delete', 'stopped1'));
  await step(r('delete', '--force', 'stopped2'));

  if (set === 'full') {
    // the whole init plan: validation, mounts, devices, capabilities, ... (never cloned)
    await step(r('create', '--print-plan', '--bundle', bundle, 'plan'));
    await step(r('run', '--bundle', path.join(tmp, 'missing'), 'nobundle'));
    await step(r('create', '--bundle', path.join(tmp, 'missing'), 'nobundle'));
  }

  const data = script.createCachedData();
  L.writeCache(target.cache, key, data);
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
