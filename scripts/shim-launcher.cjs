// dist/containerd-shim-tsrt-v2.cjs: node's side of tsrt's containerd shim (docs/shim.md):
// the daemon and `delete`. dist/containerd-shim-tsrt-v2 (scripts/shim-start.sh) answers
// containerd's `start` without node and runs this for the rest.
'use strict';

/**
 * The daemon and `delete`: the bundle, compiled with its V8 code cache as dist/tsrt is
 * (scripts/launcher.cjs). With no usable cache the daemon writes one once its first task
 * started (every function of create, start and the ttrpc path compiled by then), if this
 * process owns dist/ (never a shared install's other users).
 */
function runBundle() {
  const L = require('./tsrt');
  const file = `${__dirname}/containerd-shim-tsrt-v2.js`;
  const cacheFile = `${file}.cache`;
  const { src, key } = L.readBundle(file);
  const data = L.readCache(cacheFile, key);
  const script = L.compile(file, src, data);
  if (data === undefined || script.cachedDataRejected) {
    globalThis.tsrtShimWarm = () => {
      globalThis.tsrtShimWarm = undefined;
      try {
        if (process.geteuid() === require('fs').statSync(__dirname).uid && !L.readCache(cacheFile, key)) L.writeCache(cacheFile, key, script.createCachedData());
      } catch {
        // read-only install, full disk: no cache, slower start-up
      }
    };
  }
  L.run(file, script);
}

runBundle();
