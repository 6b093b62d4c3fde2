// Builds dist/ (npm run build, and npm ci through prepare):
//
//   dist/tsrt           the executable: a small launcher (scripts/launcher.cjs)
//   dist/tsrt.js        the CLI, one bundled CommonJS file (koffi stays external: it ships
//                       a native addon that must be loaded from node_modules)
//   dist/tsrt-light.js  the light commands alone (state, list, kill, delete, start, ...:
//                       src/cli/commands-light.ts); the launcher runs it for them
//   dist/tsrt.js.cache, dist/tsrt-light.js.cache
//                       V8 code caches of the two, made by training runs
//                       (scripts/train-code-cache.cjs)
//   dist/tsrt-yargs.js  yargs, bundled on its own: only help, usage errors and argument
//                       shapes the fast parser leaves to it load it, so the hot commands
//                       neither read nor compile its 200 kB
//   dist/tsrt-protobuf.js
//                       protobufjs (light), bundled on its own for the same reason: only
//                       checkpoint and restore (CRIU's RPC) load it
//   dist/tsrt-dbus.js   the D-Bus client (@jellybrick/dbus-next), bundled on its own: only
//                       --systemd-cgroup (src/cgroups/systemd/bus.ts) loads it
//   dist/containerd-shim-tsrt-v2, dist/containerd-shim-tsrt-v2.cjs, dist/containerd-shim-tsrt-v2.js
//                       the containerd shim v2 (src/shim/, docs/shim.md): the shell
//                       script containerd runs (scripts/shim-start.sh, which answers
//                       `start` without node), node's launcher (scripts/shim-launcher.cjs)
//                       and the bundle, with its V8 cache (.js.cache, made by the first daemon)
//   dist/lib.js         internal modules for the unit tests (node --test spec-tests/)
//
//   node scripts/build.mjs [--outdir DIR] [--no-cache]
//
// docs/performance.md explains the choices.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let outdir = join(root, 'dist');
let cache = true;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--outdir') outdir = resolve(process.argv[++i] ?? '');
  else if (a === '--no-cache') cache = false;
  else { console.error(`build.mjs: unknown argument ${a}`); process.exit(2); }
}

const compileSchemas = join(root, 'scripts', 'compile-schemas.mjs');
if (existsSync(compileSchemas)) await import(compileSchemas);

mkdirSync(outdir, { recursive: true });
const bundleFile = join(outdir, 'tsrt.js');
const lightFile = join(outdir, 'tsrt-light.js');
const yargsFile = join(outdir, 'tsrt-yargs.js');
const launcherFile = join(outdir, 'tsrt');

/**
 * require('koffi') runs koffi's loader: about 25 kB of JavaScript without a code cache, a
 * search of node_modules, and an ELF parse of the node binary to choose among its native
 * builds; 5 to 10 ms before the first libc call. The build asks koffi's loader which
 * native module it chose here, and the bundle requires that file directly (1.5 ms), its
 * path relative to tsrt.js. Where that file is missing or of another koffi version (dist/
 * moved, node_modules reinstalled), the bundle falls back to require('koffi').
 */
function koffiDirect() {
  const req = createRequire(join(root, 'package.json'));
  let native;
  try {
    const k = req('koffi');
    native = Object.keys(req.cache).find((f) => f.endsWith('.node') && req.cache[f].exports?.version === k.version);
    if (native) native = { path: native, version: k.version };
  } catch {
    // koffi cannot load here: the bundle keeps require('koffi')
  }
  const contents = native
    ? `let k;
try {
  k = require(${JSON.stringify(relative(outdir, native.path).startsWith('.') ? relative(outdir, native.path) : `./${relative(outdir, native.path)}`)});
  if (k.version !== ${JSON.stringify(native.version)}) k = undefined;
} catch {
  k = undefined;
}
module.exports = k ?? require('koffi');
`
    : "module.exports = require('koffi');\n";
  return {
    name: 'koffi-direct',
    setup(b) {
      b.onResolve({ filter: /^koffi$/ }, (a) => (a.namespace === 'koffi-direct' ? { path: 'koffi', external: true } : { path: 'koffi', namespace: 'koffi-direct' }));
      b.onResolve({ filter: /\.node$/ }, (a) => ({ path: a.path, external: true }));
      b.onLoad({ filter: /.*/, namespace: 'koffi-direct' }, () => ({ contents, loader: 'js', resolveDir: outdir }));
    },
  };
}

/** `import yargs from 'yargs'` becomes require('./tsrt-yargs.js'), resolved next to tsrt.js. */
const yargsApart = {
  name: 'yargs-apart',
  setup(b) {
    b.onResolve({ filter: /^yargs$/ }, () => ({ path: './tsrt-yargs.js', external: true }));
  },
};

/** The D-Bus client becomes require('./tsrt-dbus.js'): no command but --systemd-cgroup's reads it. */
const dbusApart = {
  name: 'dbus-apart',
  setup(b) {
    b.onResolve({ filter: /^@jellybrick\/dbus-next$/ }, () => ({ path: './tsrt-dbus.js', external: true }));
  },
};

/** The commit `tsrt --version` names (runc's "commit:" line); "unknown" outside a git checkout. */
function gitCommit() {
  const r = spawnSync('git', ['describe', '--always', '--dirty', '--abbrev=12'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** `require('protobufjs/light')` becomes require('./tsrt-protobuf.js'), next to tsrt.js. */
const protobufApart = {
  name: 'protobuf-apart',
  setup(b) {
    b.onResolve({ filter: /^protobufjs\/light$/ }, () => ({ path: './tsrt-protobuf.js', external: true }));
  },
};

const common = {
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', legalComments: 'none', logLevel: 'warning',
  define: { TSRT_COMMIT: JSON.stringify(gitCommit()) },
};
/** Runs esbuild and replaces the output file atomically: tests may be running tsrt meanwhile. */
async function emit(options, transform = (text) => text) {
  const r = await build({ ...common, ...options, write: false });
  const tmp = `${options.outfile}.${process.pid}.tmp`;
  writeFileSync(tmp, transform(r.outputFiles[0].text, options.outfile));
  renameSync(tmp, options.outfile);
}

await emit({ entryPoints: [join(root, 'src', 'cli', 'main.ts')], outfile: bundleFile, external: ['koffi'], plugins: [yargsApart, protobufApart, dbusApart, koffiDirect()]}, asciiOnly);
await emit({ entryPoints: [join(root, 'src', 'cli', 'main-light.ts')], outfile: lightFile, external: ['koffi'], plugins: [yargsApart, dbusApart, koffiDirect()]}, asciiOnly);
// The containerd shim (docs/shim.md): its bundle, and its launcher, which answers `start` without it.
await emit({ entryPoints: [join(root, 'src', 'shim', 'main.ts')], outfile: join(outdir, 'containerd-shim-tsrt-v2.js'), external: ['koffi'], plugins: [koffiDirect()] }, asciiOnly);
for (const [from, to] of [['shim-launcher.cjs', 'containerd-shim-tsrt-v2.cjs'], ['shim-start.sh', 'containerd-shim-tsrt-v2']]) {
  copyFileSync(join(root, 'scripts', from), `${outdir}/${to}.${process.pid}.tmp`);
  chmodSync(`${outdir}/${to}.${process.pid}.tmp`, 0o755);
  renameSync(`${outdir}/${to}.${process.pid}.tmp`, join(outdir, to));
}
await emit({ stdin: { contents: "module.exports = require('yargs');", resolveDir: root, loader: 'js' }, outfile: yargsFile });
await emit({ stdin: { contents: "module.exports = require('protobufjs/light');", resolveDir: root, loader: 'js' }, outfile: join(outdir, 'tsrt-protobuf.js') });
await emit({ stdin: { contents: "module.exports = require('@jellybrick/dbus-next');", resolveDir: root, loader: 'js' }, outfile: join(outdir, 'tsrt-dbus.js') });

// The launcher is dist/tsrt, written last (it needs the files above), also by rename.
copyFileSync(join(root, 'scripts', 'launcher.cjs'), `${launcherFile}.${process.pid}.tmp`);
chmodSync(`${launcherFile}.${process.pid}.tmp`, 0o755);
renameSync(`${launcherFile}.${process.pid}.tmp`, launcherFile);

// A cache left from the previous build names the previous tsrt.js (the launcher ignores
// it); training replaces it, a failed training removes it.
if (cache) train();
else for (const f of [`${bundleFile}.cache`, `${lightFile}.cache`]) rmSync(f, { force: true });
// the light cache of tsrt.js, before tsrt-light.js had a bundle of its own
rmSync(`${bundleFile}.light.cache`, { force: true });

// dist/lib.js: internal modules for the unit tests (node --test spec-tests/).
await emit({ entryPoints: [join(root, 'src', 'lib.ts')], outfile: join(outdir, 'lib.js'), external: ['koffi'] });

/**
 * esbuild writes ASCII (charset: 'ascii', its default) except inside regular expression
 * literals. Escape what is left as \uXXXX (the same pattern there, also in a character
 * class, with or without the u flag), so that node reads the bundle as a one-byte string:
 * half the size of a two-byte one, and the decoder's fast path. The result must compile.
 */
function asciiOnly(src, file) {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(src)) return src;
  const out = src.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  try {
    new vm.Script(out, { filename: file });
  } catch (e) {
    console.warn(`build: ${file}: escaping its non-ASCII characters broke it (${e.message}); left as it is (slower start-up)`);
    return src;
  }
  return out;
}

/** Training runs in child nodes with default flags and a clean environment (see the script). */
function train() {
  const tmp = mkdtempSync(join(tmpdir(), 'tsrt-build-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, TMPDIR: tmpdir() };
  try {
    for (const set of ['light', 'full']) {
      const file = set === 'full' ? bundleFile : lightFile;
      const cacheFile = `${file}.cache`;
      const report = join(tmp, `${set}.json`);
      const r = spawnSync(process.execPath, [join(root, 'scripts', 'train-code-cache.cjs'), outdir, set, report], {
        env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, encoding: 'utf8',
      });
      let rep = {};
      try { rep = JSON.parse(readFileSync(report, 'utf8')); } catch { /* below */ }
      if (r.status !== 0 || !rep.bytes) {
        console.warn(`build: ${set} code cache training failed (tsrt works, slower to start): ${rep.error ?? r.error ?? `exit ${r.status}`}\n${(r.stderr ?? '').slice(-2000)}`);
        rmSync(cacheFile, { force: true });
        continue;
      }
      // The launcher's node (env node, default flags) must accept it.
      const check = spawnSync(process.execPath, ['-e', `
        const L = require(${JSON.stringify(launcherFile)});
        const { src, key } = L.readBundle(${JSON.stringify(file)});
        const data = L.readCache(${JSON.stringify(cacheFile)}, key);
        process.exit(data && !L.compile(${JSON.stringify(file)}, src, data).cachedDataRejected ? 0 : 1);`],
      { env, stdio: 'ignore' });
      if (check.status !== 0) {
        console.warn(`build: V8 rejected the ${set} code cache just made; removed (tsrt works, slower to start)`);
        rmSync(cacheFile, { force: true });
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
