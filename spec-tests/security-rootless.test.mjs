// Rootless: an ordinary user (made for the test, removed after it) runs a bundle written
// by `tsrt spec --rootless`. State goes under $XDG_RUNTIME_DIR/tsrt, the container is root
// in a user namespace that maps only the user's own uid and gid, there is no cgroup (none
// is delegated here), and what needs privileges is refused with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOTFS, Sandbox, TSRT, isAlive, show } from './helpers/tsrt.mjs';

const HAVE_USERADD = spawnSync('useradd', ['--help'], { stdio: 'ignore' }).status === 0;

/** A fresh user, deleted (with everything it still runs) after the test. */
function makeUser(t) {
  const name = `tsrtrl${process.pid % 100000}${Math.floor(Math.random() * 1000)}`.slice(0, 30);
  const r = spawnSync('useradd', ['-M', '-s', '/bin/sh', '-d', '/nonexistent', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`useradd ${name}: ${r.stderr}`);
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout);
  t.after(() => { spawnSync('userdel', [name], { stdio: 'ignore' }); });
  return { name, uid, gid };
}

/**
 * Everything the user needs: a bundle it owns (rootfs copied and chowned), an
 * XDG_RUNTIME_DIR, and a way to run tsrt as the user there (no --root: the default).
 */
function rootlessSetup(t, { under } = {}) {
  const user = makeUser(t);
  const sb = new Sandbox(t);
  fs.chmodSync(sb.dir, 0o755);
  const bundle = path.join(under ?? sb.dir, 'rl-bundle');
  fs.mkdirSync(bundle);
  const cp = spawnSync('cp', ['-a', ROOTFS, path.join(bundle, 'rootfs')]);
  if (cp.status !== 0) throw new Error('cp rootfs');
  const xdg = path.join(sb.dir, 'xdg');
  fs.mkdirSync(xdg, { mode: 0o700 });
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, bundle, xdg]);
  const env = { PATH: process.env.PATH, HOME: '/nonexistent', XDG_RUNTIME_DIR: xdg, USER: user.name };
  const ids = new Set();
  const as = (args, opts = {}) => {
    const r = spawnSync(TSRT, args, { cwd: bundle, env, uid: user.uid, gid: user.gid, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', ...opts });
    return { cmd: `tsrt ${args.join(' ')} (as ${user.name})`, status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const stateRoot = path.join(xdg, 'tsrt');
  t.after(() => {
    // As root, in case the user's own delete did not happen.
    for (const id of ids) {
      if (fs.existsSync(path.join(stateRoot, id))) spawnSync(TSRT, ['--root', stateRoot, 'delete', '--force', id], { stdio: 'ignore' });
    }
  });
  const id = (p) => { const i = `${p}-${process.pid}-${ids.size}`; ids.add(i); return i; };
  return { user, sb, bundle, xdg, stateRoot, as, id };
}

function patchConfig(bundle, patch) {
  const file = path.join(bundle, 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  patch(c);
  fs.writeFileSync(file, JSON.stringify(c, null, '\t'));
  return c;
}

test('rootless: an ordinary user runs a `tsrt spec --rootless` bundle; state under $XDG_RUNTIME_DIR/tsrt', { skip: !HAVE_USERADD && 'needs useradd' }, async (t) => {
  const { user, bundle, stateRoot, as, id } = rootlessSetup(t);
  const spec = as(['spec', '--rootless']);
  assert.equal(spec.status, 0, show(spec));
  const config = patchConfig(bundle, (c) => {
    c.process.terminal = false;
    c.process.args = ['sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; hostname; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; sleep 1000'];
  });
  assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: user.uid, size: 1 }]);

  const cid = id('rl');
  const out = path.join(bundle, 'out.txt');
  // Files, not pipes: the created container keeps its stdio open.
  const err = path.join(bundle, 'err.txt');
  const create = as(['create', '--pid-file', path.join(bundle, 'pid'), cid], { stdio: ['ignore', fs.openSync(out, 'w'), fs.openSync(err, 'w')] });
  assert.equal(create.status, 0, `${create.cmd}: ${fs.readFileSync(err, 'utf8')}`);
  assert.ok(fs.existsSync(path.join(stateRoot, cid, 'state.json')), 'the state is under $XDG_RUNTIME_DIR/tsrt');
  const st = JSON.parse(as(['state', cid]).stdout);
  assert.equal(st.status, 'created');
  const pid = Number(fs.readFileSync(path.join(bundle, 'pid'), 'utf8'));
  // The init (still before execve) is non-dumpable once the user wrote its id maps.
  assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm'), 'the init runs as the user on the host');
  // /proc/PID files of a non-dumpable process belong to root, not to the process's user.
  assert.equal(fs.statSync(`/proc/${pid}/environ`).uid, 0, 'the created init is non-dumpable');
  const start = as(['start', cid]);
  assert.equal(start.status, 0, `${start.cmd}: ${start.stderr}`);
  let text = '';
  for (let i = 0; i < 100 && !/NoNewPrivs/.test(text); i++) {
    await new Promise((r) => setTimeout(r, 50));
    text = fs.readFileSync(out, 'utf8');
  }
  const lines = text.split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.equal(lines[0], '0', 'root inside');
  assert.equal(lines[1], '0');
  assert.equal(lines[2], `0 ${user.uid} 1`, 'only the user\'s own uid is mapped');
  assert.equal(lines[3], `0 ${user.gid} 1`);
  assert.equal(lines[4], 'runc', 'the hostname of the default spec');
  assert.match(text, /^NoNewPrivs:\s+1$/m);
  assert.equal(JSON.parse(as(['state', cid]).stdout).status, 'running');
  const list = as(['list', '--quiet']);
  assert.ok(list.stdout.split('\n').includes(cid), 'list finds it under the default root');
  const del = as(['delete', '--force', cid]);
  assert.equal(del.status, 0, `${del.cmd}: ${del.stderr}`);
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(isAlive(pid), false);
  assert.equal(fs.existsSync(path.join(stateRoot, cid)), false, 'nothing left under the state root');
});

test('rootless: what needs privileges is refused with a clear error, leaving nothing', { skip: !HAVE_USERADD && 'needs useradd' }, (t) => {
  const { bundle, stateRoot, as, id, user } = rootlessSetup(t);
  assert.equal(as(['spec', '--rootless']).status, 0);
  const base = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  base.process.terminal = false;
  base.process.args = ['true'];
  const cases = [
    [(c) => { c.linux.resources = { memory: { limit: 100 * 1024 * 1024 } }; }, /linux\.resources\.memory: a rootless container can only have limits in a cgroup delegated/],
    [(c) => { c.process.user.additionalGids = [5]; }, /process\.user\.additionalGids: cannot set supplementary groups/],
    [(c) => { c.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }]; }, /linux\.uidMappings: container root maps to host 0:\d+, which uid \d+ cannot use/],
    [(c) => { c.linux.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }, { containerID: 1, hostID: 100000, size: 10 }]; }, /linux\.uidMappings: writing \/proc\/\d+\/uid_map: EPERM/],
    [(c) => { c.linux.namespaces.push({ type: 'network' }); c.linux.netDevices = { lo: {} }; }, /linux\.netDevices: moving a host network device needs root/],
    [(c) => { c.linux.sysctl = { 'net.ipv4.ip_forward': '1' }; }, /linux\.sysctl\.net\.ipv4\.ip_forward: needs a network namespace/],
  ];
  for (const [patch, why] of cases) {
    const c = structuredClone(base);
    patch(c);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(c));
    const cid = id('refused');
    const r = as(['run', cid]);
    assert.notEqual(r.status, 0, `${r.cmd} is refused:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why, r.stderr);
    assert.equal(fs.existsSync(path.join(stateRoot, cid)), false, 'no state left');
  }
});

test('rootless: root.readonly on a nosuid,nodev file system (as systemd mounts /tmp): the remount keeps the locked flags', { skip: !HAVE_USERADD && 'needs useradd' }, (t) => {
  // A tmpfs of the test's own, mounted nosuid,nodev: in the container's user namespace
  // those flags are locked, and a read-only remount that drops them is refused (EPERM).
  const fsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-nosuid-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,mode=755', 'tsrt-test', fsDir], { encoding: 'utf8' });
  if (m.status !== 0) return t.skip(`cannot mount a tmpfs: ${m.stderr}`);
  // Registered first, so it runs first: `run` has ended by then; lazily, in case not.
  t.after(() => { spawnSync('umount', ['-l', fsDir]); fs.rmdirSync(fsDir); });
  const { bundle, as, id } = rootlessSetup(t, { under: fsDir });
  assert.equal(as(['spec', '--rootless']).status, 0);
  const c = patchConfig(bundle, (c) => {
    c.process.terminal = false;
    c.process.args = ['sh', '-c', 'cat /proc/self/mountinfo; touch /x 2>/dev/null; echo touch=$?'];
  });
  assert.equal(c.root.readonly, true, 'tsrt spec --rootless asks for a read-only root');
  const r = as(['run', id('ro')]);
  assert.equal(r.status, 0, show(r));
  const root = r.stdout.split('\n').find((l) => l.split(' ')[4] === '/') ?? r.stdout;
  const opts = root.split(' ')[5]?.split(',') ?? [];
  for (const o of ['ro', 'nosuid', 'nodev']) assert.ok(opts.includes(o), `the root is ${o}: ${root}`);
  assert.match(r.stdout, /^touch=1$/m, 'the root is read-only');
});
