// The launcher's code cache (scripts/launcher.cjs, docs/performance.md): the build's
// trained cache grows once, after the first create/run/exec that succeeds, with what
// training cannot reach; other commands and failed ones leave it as it is. On a copy of
// dist/ in the test's temp dir, never on the repository's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Sandbox, REPO, show } from './helpers/tsrt.mjs';

/** The header of a cache file: [key words..., crc, stage]. */
function header(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(128);
    fs.readSync(fd, buf, 0, 128, 0);
    return buf.toString('latin1').trim().split(/\s+/);
  } finally {
    fs.closeSync(fd);
  }
}

/** dist/ copied next to a node_modules link (koffi is required relative to dist/), with freshly trained caches. */
function copyOfDist(sb) {
  const pkg = path.join(sb.dir, 'pkg');
  fs.mkdirSync(pkg);
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(pkg, 'node_modules'));
  const dist = path.join(pkg, 'dist');
  fs.cpSync(path.join(REPO, 'dist'), dist, { recursive: true });
  for (const set of ['full', 'light']) {
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'train-code-cache.cjs'), dist, set, path.join(sb.dir, `${set}.json`)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `training ${set}: ${r.stderr}`);
  }
  return dist;
}

test('launcher: the trained cache grows once, after the first successful run, and stays valid', (t) => {
  const sb = new Sandbox(t);
  const dist = copyOfDist(sb);
  const tsrt = (args) => spawnSync(path.join(dist, 'tsrt'), ['--root', sb.root, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  const full = path.join(dist, 'tsrt.js.cache');
  const light = path.join(dist, 'tsrt-light.js.cache');
  const trained = header(full);
  assert.equal(trained.at(-1), 'trained', `header: ${trained.join(' ')}`);
  const lightBefore = fs.readFileSync(light);

  // state (light cache) and a failed run (full cache) change nothing
  assert.equal(tsrt(['state', sb.id('none')]).status, 1);
  const failed = tsrt(['run', '--bundle', path.join(sb.dir, 'missing'), sb.id('fail')]);
  assert.notEqual(failed.status, 0, show(failed));
  assert.deepEqual(header(full), trained, 'a failed run leaves the cache as trained');

  const b = sb.bundle({ patch: (c) => { c.process.args = ['/bin/true']; } });
  const ok = tsrt(['run', '--bundle', b.dir, sb.id('grow')]);
  assert.equal(ok.status, 0, show(ok));
  const grown = header(full);
  assert.equal(grown.at(-1), 'grown', `header: ${grown.join(' ')}`);
  assert.deepEqual(grown.slice(0, 5), trained.slice(0, 5), 'same tsrt.js key');
  assert.ok(fs.statSync(full).size > 128, 'data after the header');
  assert.ok(fs.readFileSync(light).equals(lightBefore), 'the light cache is untouched');

  // the grown cache is used (no rewrite: the file is the same inode) and works
  const ino = fs.statSync(full).ino;
  const again = tsrt(['run', '--bundle', b.dir, sb.id('again')]);
  assert.equal(again.status, 0, show(again));
  assert.equal(fs.statSync(full).ino, ino, 'not rewritten a second time');
  assert.equal(header(full).at(-1), 'grown');
});

test('launcher: the light bundle serves exactly the commands it holds; help and the others go to the full one', (t) => {
  const require = createRequire(import.meta.url);
  const launcher = require(path.join(REPO, 'dist', 'tsrt'));
  const { LIGHT_COMMANDS } = require(path.join(REPO, 'dist', 'lib.js'));
  assert.deepEqual([...launcher.LIGHT].sort(), Object.keys(LIGHT_COMMANDS).sort(), 'the launcher\'s LIGHT set and commands-light.ts');
  for (const [name, c] of Object.entries(LIGHT_COMMANDS)) assert.equal(c.name, name);
  // esbuild names every module it bundles in a comment line: the create path stays out
  const light = fs.readFileSync(path.join(REPO, 'dist', 'tsrt-light.js'), 'utf8');
  for (const heavy of ['src/container/create.ts', 'src/linux/init-plan.ts', 'src/oci/validate-config.ts', 'src/cgroups/setup.ts']) {
    assert.ok(!light.includes(`// ${heavy}\n`), `tsrt-light.js bundles ${heavy}`);
  }
  assert.ok(light.includes('// src/container/status.ts\n'), 'the module comments are there to look for');

  // Through the launcher (light bundle) and the full bundle run directly: the same
  // answers, for help, usage errors and bad values.
  const sb = new Sandbox(t);
  const norm = (text) => text.replace(/time="[^"]*"/g, 'time=T');
  const full = (args) => spawnSync(process.execPath, [path.join(REPO, 'dist', 'tsrt.js'), '--root', sb.root, ...args], { encoding: 'utf8' });
  for (const args of [['state'], ['state', '--help'], ['kill', 'nope', 'NOSIG'], ['list', '--format', 'yaml'], ['delete', 'nope'], ['start', 'nope'], ['features'], ['ps', 'nope']]) {
    const l = sb.tsrt(args);
    const f = full(args);
    assert.deepEqual([l.status, l.stdout, norm(l.stderr)], [f.status, f.stdout, norm(f.stderr)], `tsrt ${args.join(' ')}`);
    assert.notEqual(l.status, undefined);
  }
  // the full bundle: every command in the top-level help
  const all = sb.tsrt(['--help']);
  assert.equal(all.status, 0, show(all));
  for (const name of ['create', 'run', 'exec', 'spec', 'update', ...Object.keys(LIGHT_COMMANDS)]) assert.match(all.stdout, new RegExp(`\\b${name}\\b`), `--help lists ${name}`);
});
