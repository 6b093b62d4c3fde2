#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS -u NODE_OPTIONS node
// dist/tsrt: tsrt's launcher (scripts/build.mjs copies this file there; docs/performance.md).
//
// It runs the bundle dist/tsrt.js the way node's CommonJS loader would, but compiles it
// with V8's code cache dist/tsrt.js.cache, made at build time by training runs
// (scripts/train-code-cache.cjs). With the cache V8 neither parses the bundle nor
// compiles the functions the hot commands run: most of tsrt's start-up after node's own.
// Without a usable cache (missing, made for another build of tsrt.js, or by another node
// or V8 version) V8 compiles from source: slower, same behaviour, and the cache is then
// rewritten once, atomically, when this process may (maybeRewriteCache).
//
// The shebang drops NODE_OPTIONS and NODE_EXTRA_CA_CERTS from the caller's environment:
// a --require preload or 35 ms of CA certificates must not slow every container operation.
'use strict';
const fs = require('fs');
const vm = require('vm');

const file = `${__dirname}/tsrt.js`;
/**
 * Two caches of the same bundle: V8 deserializes a whole cache before running anything,
 * so the commands that only read state (or signal, or remove it) load one trained on
 * them alone, a third of the size, and the others (create, run, exec, ...) the full one.
 */
const CACHES = { full: `${file}.cache`, light: `${file}.light.cache` };
const LIGHT = new Set(['state', 'list', 'kill', 'delete', 'start', 'pause', 'resume', 'ps', 'events', 'features']);
/**
 * The cache file starts with this many bytes of text naming the tsrt.js it was made from
 * (inode, size, mtime, ctime): V8 itself only compares the source's length, and a cache
 * of another tsrt.js of the same length would run the wrong code.
 */
const HEADER = 128;

/** The bundle's source and the key a cache for it carries. */
function readBundle() {
  const fd = fs.openSync(file, 'r');
  try {
    const st = fs.fstatSync(fd);
    // utf8 is always right; the build keeps the bundle ASCII, the decoder's fast path.
    return { src: fs.readFileSync(fd, 'utf8'), key: `tsrt-code-cache ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}` };
  } finally {
    fs.closeSync(fd);
  }
}

/** Compiles the bundle as node's CommonJS wrapper does (same lines: stack traces match). */
function compile(src, cachedData) {
  return new vm.Script(`(function (exports, require, module, __filename, __dirname) {${src}\n})`, {
    filename: file,
    cachedData,
  });
}

/** Runs the compiled bundle as the module dist/tsrt.js (require resolves from dist/). */
function run(script) {
  const Module = require('module');
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(__dirname);
  m.loaded = true;
  script.runInThisContext()(m.exports, Module.createRequire(file), m, file, __dirname);
}

/** Whether the cache file on disk is one made for this key. */
function cacheKeyIs(cacheFile, key) {
  let fd;
  try {
    fd = fs.openSync(cacheFile, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(key.length + 1);
    return fs.readSync(fd, head, 0, head.length, 0) === head.length && head.latin1Slice() === `${key} `;
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/** The cache file's bytes: the header, then V8's data (8-byte aligned, as V8 wants it). */
function cacheBytes(key, data) {
  const head = Buffer.alloc(HEADER, ' ');
  head.write(key, 'latin1');
  head[HEADER - 1] = 0x0a;
  return Buffer.concat([head, data]);
}

/** Writes the cache atomically: a temp file beside it, then rename. */
function writeCache(cacheFile, key, data) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, cacheBytes(key, data), { flag: 'w', mode: 0o644 });
  try {
    fs.renameSync(tmp, cacheFile);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes a code cache of what this process compiled, when the one on disk was missing or
 * unusable. Only with node's default V8 flags (a cache records them, and the launcher's
 * node would reject one made under others), only by the owner of dist/ (never by another
 * user of a shared install), only if tsrt.js is still the file this process ran, and
 * silently: a failure costs nothing but speed.
 */
function maybeRewriteCache(cacheFile, script, key) {
  try {
    if (process.execArgv.length || process.env.NODE_OPTIONS) return;
    if (typeof process.geteuid !== 'function' || process.geteuid() !== fs.statSync(__dirname).uid) return;
    const st = fs.statSync(file);
    if (`tsrt-code-cache ${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}` !== key) return;
    if (cacheKeyIs(cacheFile, key)) return; // written meanwhile (by the build's training, or another tsrt)
    writeCache(cacheFile, key, script.createCachedData());
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
  const { src, key } = readBundle();
  const cacheFile = LIGHT.has(cmd) ? CACHES.light : CACHES.full;
  let cachedData;
  try {
    const buf = fs.readFileSync(cacheFile);
    if (buf.length > HEADER && buf.latin1Slice(0, key.length + 1) === `${key} `) cachedData = buf.subarray(HEADER);
  } catch {
    // no cache: compile from source
  }
  const script = compile(src, cachedData);
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => maybeRewriteCache(cacheFile, script, key));
  }
  run(script);
} else {
  // scripts/train-code-cache.cjs makes the cache with these very functions.
  module.exports = { readBundle, compile, run, writeCache, file, CACHES, HEADER };
}
