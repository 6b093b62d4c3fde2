#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS -u NODE_OPTIONS node
// dist/tsrt: tsrt's launcher (scripts/build.mjs copies this file there; docs/performance.md).
//
// It runs a bundle, dist/tsrt-light.js for the light commands and dist/tsrt.js for the
// others, the way node's CommonJS loader would, but compiles it with its V8 code cache
// (dist/tsrt-light.js.cache, dist/tsrt.js.cache), made at build time by training runs
// (scripts/train-code-cache.cjs). With it V8 neither parses the bundle nor compiles the
// functions the hot commands run: 10 to 15 ms of start-up. Without a usable cache
// (missing, made for another build of the bundle, or by another node or V8 version) V8
// compiles from source: slower, same behaviour, and the cache is then rewritten once,
// atomically, when this process may (maybeRewriteCache).
//
// The shebang drops NODE_OPTIONS and NODE_EXTRA_CA_CERTS from the caller's environment:
// a --require preload or 35 ms of CA certificates must not slow every container operation.
'use strict';
const fs = require('fs');
const vm = require('vm');

/**
 * Two bundles, each with its V8 cache: tsrt-light.js has only the commands that read,
 * signal or remove a container (src/cli/commands-light.ts), which containerd and podman
 * run many times per container, a third of tsrt.js to read and deserialize; tsrt.js has
 * every command (create, run, exec, help, ...).
 */
const BUNDLES = {
  full: { file: `${__dirname}/tsrt.js`, cache: `${__dirname}/tsrt.js.cache` },
  light: { file: `${__dirname}/tsrt-light.js`, cache: `${__dirname}/tsrt-light.js.cache` },
};
/** The commands of tsrt-light.js (a unit test checks this against commands-light.ts). */
const LIGHT = new Set(['state', 'list', 'kill', 'delete', 'start', 'pause', 'resume', 'ps', 'events', 'features']);
/**
 * A cache file starts with HEADER bytes of text: the bundle it was made from (inode,
 * size, mtime, ctime) and the CRC-32 of the V8 data after it. V8 itself only compares
 * the source's length (a cache of another bundle of the same length would run the
 * wrong code) and, in release builds, does not checksum the data (a damaged cache would
 * crash it, every time).
 */
const HEADER = 128;

/** A bundle's source and the key a cache for it carries. */
function readBundle(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const st = fs.fstatSync(fd);
    // utf8 is always right; the build keeps the bundle ASCII, the decoder's fast path.
    return { src: fs.readFileSync(fd, 'utf8'), key: `tsrt-code-cache ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}` };
  } finally {
    fs.closeSync(fd);
  }
}

/** Compiles a bundle as node's CommonJS wrapper does (same lines: stack traces match). */
function compile(file, src, cachedData) {
  return new vm.Script(`(function (exports, require, module, __filename, __dirname) {${src}\n})`, {
    filename: file,
    cachedData,
  });
}

/** Runs a compiled bundle as the module it is (require resolves from dist/). */
function run(file, script) {
  // the Module class (require('module') would load node's public wrapper first: 0.4 ms)
  const Module = module.constructor;
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(__dirname);
  m.loaded = true;
  script.runInThisContext()(m.exports, Module.createRequire(file), m, file, __dirname);
}

/**
 * zlib's CRC-32 (node >= 20.15), through the binding zlib.crc32() itself uses:
 * require('zlib') costs 2 ms. process.binding() is deprecated (a warning only under
 * --pending-deprecation, as of node 22): on newer nodes, or with that flag, zlib.crc32().
 * undefined where there is none (node < 20.15): the data is then not checked.
 */
function crc32(buf) {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (Number(process.versions.node.split('.')[0]) <= 22 && !flags.includes('pending-deprecation') && !process.env.NODE_PENDING_DEPRECATION) {
    let z;
    try {
      z = process.binding('zlib');
    } catch {
      // no such binding: zlib below
    }
    if (z) return typeof z.crc32 === 'function' ? z.crc32(buf, 0) >>> 0 : undefined;
  }
  const { crc32: c } = require('zlib');
  return typeof c === 'function' ? c(buf) >>> 0 : undefined;
}

/**
 * The cache in a file if it was made for this key and is intact: { data, stage }, where
 * stage is "trained" (made by the build) or "grown" (a real create, run or exec added
 * what training cannot reach). undefined if there is none.
 */
function readCacheFile(cacheFile, key) {
  let buf;
  try {
    buf = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  if (buf.length <= HEADER || buf.latin1Slice(0, key.length + 1) !== `${key} `) return undefined;
  const data = buf.subarray(HEADER);
  const [want, stage = 'trained'] = buf.latin1Slice(key.length + 1, HEADER).trim().split(' ');
  const crc = crc32(data);
  return crc === undefined || want === String(crc) ? { data, stage } : undefined;
}

/** The V8 data of a cache file if it was made for this key and is intact, else undefined. */
function readCache(cacheFile, key) {
  return readCacheFile(cacheFile, key)?.data;
}

/** Writes a cache atomically (a temp file beside it, then rename). */
function writeCache(cacheFile, key, data, stage = 'trained') {
  const head = Buffer.alloc(HEADER, ' ');
  head.write(`${key} ${crc32(data) ?? ''} ${stage}`, 'latin1');
  head[HEADER - 1] = 0x0a;
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    // the data stays 8-byte aligned after the header, as V8 wants it
    fs.writeFileSync(tmp, Buffer.concat([head, data]), { mode: 0o644 });
    fs.renameSync(tmp, cacheFile);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes a code cache of what this process compiled (with what it loaded from the old
 * one: V8 puts every compiled function in it), at exit: when the cache on disk was
 * missing or unusable, or once, as "grown", after the first create, run or exec that
 * succeeded with a trained one (training cannot clone, make cgroups or wait for a
 * container: those functions would be compiled lazily by every run, about 1.5 ms).
 * Only with node's default V8 flags (a cache records them, and the launcher's node
 * would reject one made under others), only by the owner of dist/ (never by another
 * user of a shared install), only if the bundle is still the file this process ran and no
 * other process replaced the cache meanwhile, and silently: a failure costs nothing
 * but speed.
 */
function maybeRewriteCache(bundle, script, key, used, stage) {
  const { file, cache: cacheFile } = bundle;
  try {
    if (process.execArgv.length || process.env.NODE_OPTIONS) return;
    if (typeof process.geteuid !== 'function' || process.geteuid() !== fs.statSync(__dirname).uid) return;
    const st = fs.statSync(file);
    if (`tsrt-code-cache ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}` !== key) return;
    // another cache written meanwhile (by the build's training, or another tsrt): keep it
    const now = readCache(cacheFile, key);
    if (now && !(used && now.equals(used))) return;
    writeCache(cacheFile, key, script.createCachedData(), stage);
  } catch {
    // read-only install, full disk, ...: run without a cache
  }
}

/** The command word of tsrt's argv (after the global flags), or undefined. */
function commandOf(argv) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--root' || a === '--log' || a === '--log-format' || a === '--rootless' || a === '-root' || a === '-log' || a === '-log-format' || a === '-rootless') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

if (require.main === module) {
  const cmd = commandOf(process.argv.slice(2));
  const bundle = LIGHT.has(cmd) ? BUNDLES.light : BUNDLES.full;
  const { src, key } = readBundle(bundle.file);
  const cache = readCacheFile(bundle.cache, key);
  const cachedData = cache?.data;
  const script = compile(bundle.file, src, cachedData);
  const grows = cmd === 'create' || cmd === 'run' || cmd === 'exec';
  const stale = cachedData === undefined || script.cachedDataRejected;
  if (stale || (grows && cache.stage === 'trained')) {
    process.once('exit', (code) => {
      if (stale || code === 0) maybeRewriteCache(bundle, script, key, cachedData, grows && code === 0 ? 'grown' : 'trained');
    });
  }
  run(bundle.file, script);
} else {
  // scripts/train-code-cache.cjs makes the caches with these very functions.
  module.exports = { readBundle, compile, run, readCache, writeCache, BUNDLES, LIGHT };
}
