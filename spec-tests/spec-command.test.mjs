// `tsrt spec`: writes a default config.json that tsrt itself can run, and never
// overwrites an existing one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOTFS, Sandbox, nsLink, show } from './helpers/tsrt.mjs';

/** Points a generated config at the shared rootfs; no terminal (there is no console socket here). */
function makeRunnable(file) {
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  c.root.path = ROOTFS;
  c.process.terminal = false;
  fs.writeFileSync(file, JSON.stringify(c, null, '\t'));
  return c;
}

test('spec: writes a config.json that tsrt runs', (t) => {
  const sb = new Sandbox(t);
  const dir = sb.mkdir('spec');
  const r = sb.tsrt(['spec', '--bundle', dir], { noRoot: true });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, '');
  const file = path.join(dir, 'config.json');
  const generated = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.match(generated.ociVersion, /^1\.\d+\.\d+/);
  assert.equal(generated.root.path, 'rootfs');
  assert.deepEqual(generated.process.args, ['sh']);
  const types = generated.linux.namespaces.map((n) => n.type).sort();
  assert.deepEqual(types, ['ipc', 'mount', 'network', 'pid', 'uts']);

  const c = makeRunnable(file);
  // The default process is `sh`: feed it a script on stdin.
  const run = sb.tsrt(['run', '--bundle', dir, sb.id('spec')], {
    input: 'echo "host=$(hostname)"; echo "pid=$$"; readlink /proc/self/ns/net; exit 3\n',
  });
  assert.equal(run.status, 3, show(run));
  const lines = run.stdout.split('\n');
  assert.equal(lines[0], `host=${c.hostname}`);
  assert.equal(lines[1], 'pid=1');
  assert.notEqual(lines[2], nsLink('self', 'net'));
});

test('spec: refuses to overwrite an existing config.json', (t) => {
  const sb = new Sandbox(t);
  const dir = sb.mkdir('spec');
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, '{"mine": true}\n');
  const r = sb.tsrt(['spec', '--bundle', dir], { noRoot: true });
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /exists/);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"mine": true}\n', 'the file is untouched');

  // Also after a successful spec: the second one fails and the first file stays.
  const dir2 = sb.mkdir('spec');
  sb.ok(['spec', '--bundle', dir2], { noRoot: true });
  const first = fs.readFileSync(path.join(dir2, 'config.json'));
  const again = sb.tsrt(['spec', '--bundle', dir2], { noRoot: true });
  assert.notEqual(again.status, 0, show(again));
  assert.deepEqual(fs.readFileSync(path.join(dir2, 'config.json')), first);
});

test('spec: without --bundle it writes into the working directory', (t) => {
  const sb = new Sandbox(t);
  const dir = sb.mkdir('cwd');
  const r = sb.tsrt(['spec'], { noRoot: true, cwd: dir });
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(fs.readdirSync(dir), ['config.json']);
  JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
});

test('spec --rootless: a user namespace mapping the caller, and tsrt runs it', (t) => {
  const sb = new Sandbox(t);
  const dir = sb.mkdir('rootless');
  sb.ok(['spec', '--rootless', '--bundle', dir], { noRoot: true });
  const file = path.join(dir, 'config.json');
  const generated = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(generated.linux.namespaces.some((n) => n.type === 'user'));
  assert.equal(generated.linux.uidMappings[0].hostID, process.getuid());
  assert.equal(generated.linux.uidMappings[0].containerID, 0);
  makeRunnable(file);
  const run = sb.tsrt(['run', '--bundle', dir, sb.id('rootless')], { input: 'id -u; cat /proc/self/uid_map\n' });
  assert.equal(run.status, 0, show(run));
  const [uid, map] = run.stdout.split('\n');
  assert.equal(uid, '0');
  assert.deepEqual(map.trim().split(/\s+/), ['0', String(process.getuid()), '1']);
});
