// Attacks on the files tsrt writes in /proc and opens in the rootfs (issue 12 items 2 and
// 6, issue 13 item 12). An image, a volume or a config tries to redirect a sysctl write
// (CVE-2025-52881 with CVE-2019-19921) or to hang create with a FIFO; every attack targets
// a decoy the test made, and fails the test if it works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, OTHER_RUNTIME, TSRT, hostMounts, mountChanges, show, waitUntil, withUserNs } from './helpers/tsrt.mjs';
import { ConsoleReceiver } from './helpers/terminal.mjs';

/** A bound on commands that an attack could hang: a hang fails the test, it never stalls it. */
const HANG_LIMIT_MS = 20_000;
const DECOY = 'decoy, untouched\n';

/** Runs `tsrt run` on a bundle that must be refused; checks the refusal and what is left. */
function runRefused(sb, b, { why }) {
  const before = hostMounts();
  const id = sb.id('attack');
  const r = sb.tsrt(['run', '--bundle', b.dir, id], { timeout: HANG_LIMIT_MS });
  assert.equal(r.timedOut, false, `the runtime did not hang:\n${show(r)}`);
  assert.notEqual(r.status, 0, `the attack is refused:\n${show(r)}`);
  // (runc words its refusals differently: only tsrt's messages are checked)
  if (why && !OTHER_RUNTIME) assert.match(r.stderr, why, `the error says what and why:\n${show(r)}`);
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
  assert.deepEqual(mountChanges(before, sb.dir), { added: [], removed: [] }, 'no host mount is left');
  return r;
}

/** A bundle with a private rootfs, its process printing what the test reads back. */
function attackBundle(sb, patch) {
  return sb.bundle({ copyRootfs: true, patch: (c, x) => { c.process.args = ['sh', '-c', 'hostname']; patch(c, x); } });
}

// The reproduction: the image's /data is a symlink to /proc/sys/net, a volume on
// /data holds ipv4/ip_forward as a symlink to /proc/sys/kernel/hostname, and the config
// sets net.ipv4.ip_forward. The target is the container's own hostname (private uts
// namespace): a write through the link would rename the container.
test('sysctl through a symlinked volume over /proc/sys/net (CVE-2025-52881): refused, the hostname is not written', (t) => {
  const sb = new Sandbox(t);
  const volume = sb.mkdir('volume');
  fs.mkdirSync(path.join(volume, 'ipv4'));
  fs.symlinkSync('/proc/sys/kernel/hostname', path.join(volume, 'ipv4', 'ip_forward'));
  const b = attackBundle(sb, (c, { rootfs }) => {
    fs.symlinkSync('/proc/sys/net', path.join(rootfs, 'data'));
    c.hostname = 'decoy-host';
    c.mounts.push({ destination: '/data', type: 'bind', source: volume, options: ['rbind'] });
    c.linux.sysctl = { 'net.ipv4.ip_forward': 'pwned' };
  });
  const r = runRefused(sb, b, { why: /(linux\.sysctl\.net\.ipv4\.ip_forward|mounts\[\d+\]).*(\/proc|EXDEV|ELOOP)/ });
  assert.doesNotMatch(r.stdout, /pwned/, 'the container never ran with the written hostname');
  assert.equal(fs.readlinkSync(path.join(volume, 'ipv4', 'ip_forward')), '/proc/sys/kernel/hostname', 'the volume is unchanged');
});

// The same redirect aimed at a decoy file the test can read afterwards: the volume's
// ip_forward links to /decoy, a file of the test bound into the container.
test('sysctl through a symlink in a volume over /proc/sys/net: the decoy the link names is not written', (t) => {
  const sb = new Sandbox(t);
  const decoy = path.join(sb.mkdir('decoy'), 'target');
  fs.writeFileSync(decoy, DECOY);
  const volume = sb.mkdir('volume');
  fs.mkdirSync(path.join(volume, 'ipv4'));
  fs.symlinkSync('/decoy', path.join(volume, 'ipv4', 'ip_forward'));
  const b = attackBundle(sb, (c, { rootfs }) => {
    fs.writeFileSync(path.join(rootfs, 'decoy'), '');
    c.mounts.push({ destination: '/decoy', type: 'bind', source: decoy, options: ['bind'] });
    c.mounts.push({ destination: '/proc/sys/net', type: 'bind', source: volume, options: ['rbind'] });
    c.linux.sysctl = { 'net.ipv4.ip_forward': 'pwned' };
  });
  runRefused(sb, b, { why: /(linux\.sysctl\.net\.ipv4\.ip_forward|mounts\[\d+\]).*(\/proc|EXDEV|ELOOP)/ });
  assert.equal(fs.readFileSync(decoy, 'utf8'), DECOY, 'the decoy is unchanged');
});

// No symlink at all: a volume mounted over /proc/sys/net with a regular file at
// ipv4/ip_forward. The write must not land in the volume (a mount crossed inside /proc).
test('sysctl on a volume mounted over /proc/sys/net: the volume\'s file is not written', (t) => {
  const sb = new Sandbox(t);
  const volume = sb.mkdir('volume');
  fs.mkdirSync(path.join(volume, 'ipv4'));
  fs.writeFileSync(path.join(volume, 'ipv4', 'ip_forward'), DECOY);
  const b = attackBundle(sb, (c) => {
    c.mounts.push({ destination: '/proc/sys/net', type: 'bind', source: volume, options: ['rbind'] });
    c.linux.sysctl = { 'net.ipv4.ip_forward': 'pwned' };
  });
  runRefused(sb, b, { why: /(linux\.sysctl\.net\.ipv4\.ip_forward.*EXDEV|mounts\[\d+\].*\/proc)/ });
  assert.equal(fs.readFileSync(path.join(volume, 'ipv4', 'ip_forward'), 'utf8'), DECOY, 'the volume\'s file is unchanged');
});

// /proc itself replaced: a decoy directory bound over the container's procfs, shaped like
// /proc/sys (its net/ipv4/ip_forward a plain file). tsrt must notice that /proc is no procfs.
test('sysctl with a decoy directory bound over /proc: refused as "not a procfs", the decoy is not written', (t) => {
  const sb = new Sandbox(t);
  const fake = sb.mkdir('fakeproc');
  fs.mkdirSync(path.join(fake, 'sys', 'net', 'ipv4'), { recursive: true });
  const target = path.join(fake, 'sys', 'net', 'ipv4', 'ip_forward');
  fs.writeFileSync(target, DECOY);
  const b = attackBundle(sb, (c) => {
    const at = c.mounts.findIndex((m) => m.destination === '/proc') + 1;
    c.mounts.splice(at, 0, { destination: '/proc', type: 'bind', source: fake, options: ['rbind'] });
    c.linux.sysctl = { 'net.ipv4.ip_forward': 'pwned' };
  });
  runRefused(sb, b, { why: /(linux\.sysctl: \/proc is not a procfs|mounts\[\d+\].*\/proc)/ });
  assert.equal(fs.readFileSync(target, 'utf8'), DECOY, 'the decoy is unchanged');
});

// A legitimate sysctl still works, and the error for a key the kernel lacks names it.
test('sysctl: a namespaced key is written; a missing key is named with the file and ENOENT', (t) => {
  const sb = new Sandbox(t);
  const ok = sb.bundle({ patch: (c) => {
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '1234' };
    c.process.args = ['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni'];
  } });
  const r = sb.tsrt(['run', '--bundle', ok.dir, sb.id('sysctl')]);
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.trim().split('\n'), ['1', '1234']);
  const missing = sb.bundle({ patch: (c) => { c.linux.sysctl = { 'net.ipv4.no_such_key': '1' }; } });
  runRefused(sb, missing, { why: /linux\.sysctl\.net\.ipv4\.no_such_key: open \/proc\/sys\/net\/ipv4\/no_such_key .*: ENOENT/ });
});

// issue 13 item 12: the parent's oom_score_adj write names the field and the file. Without
// CAP_SYS_RESOURCE, lowering the score below tsrt's own is refused by the kernel (EACCES).
test('process.oomScoreAdj: a refused write names the field, the file and the errno', (t) => {
  if (OTHER_RUNTIME) return t.skip('the message is tsrt\'s');
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.oomScoreAdj = -1000; c.process.args = ['true']; } });
  const probe = spawnSync('setpriv', ['--bounding-set', '-sys_resource', '--inh-caps', '-sys_resource', 'true']);
  if (probe.status !== 0) return t.skip(`setpriv cannot drop CAP_SYS_RESOURCE here: ${probe.stderr}`);
  const id = sb.id('oom');
  const r = spawnSync('setpriv', ['--bounding-set', '-sys_resource', '--inh-caps', '-sys_resource',
    TSRT, '--root', sb.root, 'run', '--bundle', b.dir, id], { encoding: 'utf8', timeout: HANG_LIMIT_MS });
  assert.notEqual(r.status, 0, r.stderr);
  assert.match(r.stderr, /process\.oomScoreAdj: writing \/proc\/\d+\/oom_score_adj: EACCES \(permission denied\)/, r.stderr);
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
});

// --- item 6: what the plan opens in the rootfs -------------------------------------------
// runc 1.1.5 (Debian 12) differs here: it opens /dev/console O_RDWR|O_CREAT (a FIFO does
// not block that open), follows a symlinked /dev/console and binds the pty on its target,
// and fails on an image's c 5:1 /dev/console (it opens the device: EPERM). tsrt refuses
// the FIFO and the symlink, and binds on the character device without opening it.

/** A terminal bundle without a /dev tmpfs: /dev is the image's. */
function imageDevBundle(sb, prepareDev) {
  return sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    c.process.terminal = true;
    c.process.args = ['true'];
    c.mounts = c.mounts.filter((m) => m.destination === '/proc' || m.destination === '/sys' || m.destination === '/dev/pts');
    prepareDev(path.join(rootfs, 'dev'), rootfs, c);
  } });
}

async function createWithTerminal(t, sb, b) {
  const rx = await ConsoleReceiver.start(sb);
  t.after(() => rx.stop());
  const before = hostMounts();
  const id = sb.id('console');
  const r = sb.tsrt(['create', '--bundle', b.dir, '--console-socket', rx.path, id], { timeout: HANG_LIMIT_MS });
  return { r, id, before };
}

test('terminal with the image\'s /dev/console a FIFO: create fails at once, naming /dev/console and its type', async (t) => {
  const sb = new Sandbox(t);
  const b = imageDevBundle(sb, (dev) => {
    assert.equal(spawnSync('mkfifo', [path.join(dev, 'console')]).status, 0);
  });
  const { r, id, before } = await createWithTerminal(t, sb, b);
  assert.equal(r.timedOut, false, `create did not hang on the FIFO:\n${show(r)}`);
  assert.notEqual(r.status, 0, show(r));
  if (!OTHER_RUNTIME) assert.match(r.stderr, /\/dev\/console in the container is a FIFO, it must be a regular file or a character device/, show(r));
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
  assert.deepEqual(mountChanges(before, sb.dir), { added: [], removed: [] }, 'no host mount is left');
});

test('terminal with the image\'s /dev/console a symlink to a decoy: refused, nothing is mounted on the decoy', async (t) => {
  const sb = new Sandbox(t);
  const b = imageDevBundle(sb, (dev, rootfs) => {
    fs.writeFileSync(path.join(rootfs, 'decoy'), DECOY);
    fs.symlinkSync('/decoy', path.join(dev, 'console'));
  });
  const { r, id } = await createWithTerminal(t, sb, b);
  assert.equal(r.timedOut, false, show(r));
  assert.notEqual(r.status, 0, show(r));
  if (!OTHER_RUNTIME) assert.match(r.stderr, /open \/dev\/console in the container \(a symlink is refused\): ELOOP/, show(r));
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
  assert.equal(fs.readFileSync(path.join(b.rootfs, 'decoy'), 'utf8'), DECOY, 'the decoy is unchanged');
  assert.equal(fs.readlinkSync(path.join(b.rootfs, 'dev', 'console')), '/decoy');
});

test('terminal with the image\'s /dev/console a character device or missing: the pty is bound on it', async (t) => {
  for (const kind of ['chr', 'missing']) {
    const sb = new Sandbox(t);
    const b = imageDevBundle(sb, (dev, _rootfs, c) => {
      if (kind === 'chr') assert.equal(spawnSync('mknod', [path.join(dev, 'console'), 'c', '5', '1']).status, 0);
      c.process.args = ['sh', '-c', 'stat -c "%F %t" /dev/console'];
    });
    const { r, id } = await createWithTerminal(t, sb, b);
    assert.equal(r.status, 0, `${kind}: ${show(r)}`);
    sb.ok(['start', id]);
  }
});

test('terminal with the image\'s /dev/ptmx a FIFO (no devpts link): create fails at once, naming /dev/ptmx', async (t) => {
  const sb = new Sandbox(t);
  const b = imageDevBundle(sb, (dev, _rootfs, c) => {
    c.mounts = c.mounts.filter((m) => m.destination !== '/dev/pts');
    assert.equal(spawnSync('mkfifo', [path.join(dev, 'ptmx')]).status, 0);
  });
  const { r, id } = await createWithTerminal(t, sb, b);
  assert.equal(r.timedOut, false, show(r));
  assert.notEqual(r.status, 0, show(r));
  // As runc's setupPtmx, tsrt replaces the image's /dev/ptmx with a link to pts/ptmx
  // (dangling here, no devpts): the FIFO is never opened either way.
  if (!OTHER_RUNTIME) assert.match(r.stderr, /\/dev\/ptmx in the container is a FIFO, it must be a character device|open \/dev\/ptmx in the container for the terminal: ENOENT/, show(r));
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
});

// A file bind mount whose destination, under a volume, is a FIFO the volume brought: the
// mount point must be made without opening it (an open for writing blocked forever).
test('a file bind mount onto a FIFO inside a volume: create does not hang, the file is mounted', (t) => {
  const sb = new Sandbox(t);
  const volume = sb.mkdir('volume');
  assert.equal(spawnSync('mkfifo', [path.join(volume, 'f')]).status, 0);
  const src = path.join(sb.mkdir('src'), 'file');
  fs.writeFileSync(src, 'bound file\n');
  const b = attackBundle(sb, (c, { rootfs }) => {
    fs.mkdirSync(path.join(rootfs, 'data'));
    c.mounts.push({ destination: '/data', type: 'bind', source: volume, options: ['rbind'] });
    c.mounts.push({ destination: '/data/f', type: 'bind', source: src, options: ['bind'] });
    c.process.args = ['cat', '/data/f'];
  });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('fifo')], { timeout: HANG_LIMIT_MS });
  assert.equal(r.timedOut, false, `create did not hang:\n${show(r)}`);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'bound file\n');
  assert.ok(fs.statSync(path.join(volume, 'f')).isFIFO(), 'the volume\'s FIFO is still there');
});

// Without any sysctl, the init still reaches its exec fifo through /proc/self/fd: a decoy
// directory bound over /proc is refused there, before the container is reported created.
test('a decoy directory bound over /proc: the exec fifo is not reopened through it', (t) => {
  const sb = new Sandbox(t);
  const fake = sb.mkdir('fakeproc');
  fs.mkdirSync(path.join(fake, 'self', 'fd'), { recursive: true });
  const b = attackBundle(sb, (c) => {
    const at = c.mounts.findIndex((m) => m.destination === '/proc') + 1;
    c.mounts.splice(at, 0, { destination: '/proc', type: 'bind', source: fake, options: ['rbind'] });
  });
  runRefused(sb, b, { why: /(exec fifo: \/proc is not a procfs|mounts\[\d+\].*\/proc)/ });
  assert.deepEqual(fs.readdirSync(path.join(fake, 'self', 'fd')), [], 'nothing was made in the decoy');
});

// exec --tty opens the container's /dev/ptmx, which the container itself may have
// replaced: a FIFO there is refused at once, naming the path.
test('exec --tty when the container replaced /dev/ptmx with a FIFO: refused at once, naming /dev/ptmx', async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', 'rm /dev/ptmx && mkfifo /dev/ptmx && echo swapped && sleep 1000']; } });
  const id = sb.id('ptmx');
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  await waitUntil(() => sb.tsrt(['exec', id, 'test', '-p', '/dev/ptmx']).status === 0, HANG_LIMIT_MS, 'the container made its FIFO');
  const rx = await ConsoleReceiver.start(sb);
  t.after(() => rx.stop());
  const r = sb.tsrt(['exec', '-t', '--console-socket', rx.path, id, 'true'], { timeout: HANG_LIMIT_MS });
  assert.equal(r.timedOut, false, show(r));
  assert.notEqual(r.status, 0, show(r));
  if (!OTHER_RUNTIME) assert.match(r.stderr, /\/dev\/ptmx in the container is a FIFO, it must be a character device/, show(r));
});

// linux.devices get their mode and owner through an fd of the node just made (never by
// name: a name swapped for a symlink would be followed before pivot_root).
test('linux.devices: mode and owner are applied to the node made, on the image\'s /dev', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c) => {
    c.mounts = c.mounts.filter((m) => m.destination !== '/dev');
    c.linux.devices = [{ path: '/dev/tsrt-null', type: 'c', major: 1, minor: 3, fileMode: 0o640, uid: 12, gid: 34 }];
    c.process.args = ['sh', '-c', 'stat -c "%F %a %u:%g %t:%T" /dev/tsrt-null /dev/zero'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('dev')]);
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.trim().split('\n'), ['character special file 640 12:34 1:3', 'character special file 666 0:0 1:5']);
});

// The parent reads the image's /etc/passwd for the process's HOME (no HOME in env): a
// FIFO there blocked create (and exec) in the read, a link to /dev/zero never ended.
test('the image\'s /etc/passwd a FIFO or a link to /dev/zero: create fails at once, naming the file and its type', (t) => {
  for (const [kind, make, type] of [
    ['fifo', (p) => assert.equal(spawnSync('mkfifo', [p]).status, 0), 'a FIFO'],
    ['zero', (p, rootfs) => { assert.equal(spawnSync('mknod', [path.join(rootfs, 'zero'), 'c', '1', '5']).status, 0); fs.symlinkSync('/zero', p); }, 'a character device'],
  ]) {
    const sb = new Sandbox(t);
    const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
      const passwd = path.join(rootfs, 'etc', 'passwd');
      fs.rmSync(passwd, { force: true });
      make(passwd, rootfs);
      c.process.env = c.process.env.filter((e) => !e.startsWith('HOME='));
      c.process.args = ['true'];
    } });
    const r = runRefused(sb, b, { why: new RegExp(`/etc/passwd \\(the HOME of uid 0\\) in the rootfs is ${type}, it must be a regular file`) });
    assert.equal(r.timedOut, false, `${kind}: ${show(r)}`);
  }
});

// In a user namespace the host's devices are bound on empty files: an image's /dev/null
// that is a symlink to one of its files must not get the device bound on that file.
test('user namespace, the image\'s /dev/null a symlink to a file: the device is bound on a new node, the file stays', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    withUserNs(c);
    fs.chmodSync(sb.dir, 0o755); // the namespace's root (host uid 100000) must reach the rootfs
    c.mounts = c.mounts.filter((m) => !m.destination.startsWith('/dev'));
    fs.writeFileSync(path.join(rootfs, 'decoy'), DECOY);
    fs.symlinkSync('/decoy', path.join(rootfs, 'dev', 'null'));
    fs.chownSync(path.join(rootfs, 'dev'), 100000, 100000);
    c.process.args = ['sh', '-c', 'cat /decoy; stat -c "%F %t:%T" /dev/null'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('userns-dev')]);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, `${DECOY}character special file 1:3\n`, 'the decoy keeps its content, /dev/null is the device');
  assert.equal(fs.readFileSync(path.join(b.rootfs, 'decoy'), 'utf8'), DECOY);
});

// The race behind the fd-based chmod: two containers share one rootfs without a /dev
// tmpfs. A (running) swaps /dev/tsrt-race for a symlink to a decoy of the test, by its
// host path, as fast as it can; B is created over and over with that device at mode 0666.
// A chmod by name, before B's pivot_root, would follow the link to the host's decoy.
test('linux.devices race: a node swapped for a symlink to a host decoy never gets chmod\'ed (100 creates)', async (t) => {
  const sb = new Sandbox(t);
  const decoy = path.join(sb.mkdir('decoy'), 'host-file');
  fs.writeFileSync(decoy, DECOY);
  fs.chmodSync(decoy, 0o600);
  const noDevTmpfs = (c) => { c.mounts = c.mounts.filter((m) => !m.destination.startsWith('/dev')); };
  const a = sb.bundle({ copyRootfs: true, patch: (c) => {
    noDevTmpfs(c);
    c.process.args = ['sh', '-c', `renice -n 10 $$ >/dev/null; while :; do rm -f /dev/tsrt-race; ln -s ${decoy} /dev/tsrt-race 2>/dev/null; done`];
  } });
  const b = sb.bundle({ patch: (c) => {
    noDevTmpfs(c);
    c.root = { path: a.rootfs, readonly: false };
    c.linux.devices = [{ path: '/dev/tsrt-race', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }];
    c.process.args = ['true'];
  } });
  const attacker = sb.id('racer');
  sb.ok(['run', '-d', '--bundle', a.dir, attacker]);
  let created = 0;
  for (let i = 0; i < 100; i++) {
    const id = sb.id('victim');
    const r = sb.tsrt(['create', '--bundle', b.dir, id], { timeout: HANG_LIMIT_MS });
    assert.equal(r.timedOut, false, show(r));
    if (r.status === 0) created++;
    sb.tsrt(['delete', '--force', id]);
    const st = fs.statSync(decoy);
    assert.equal(st.mode & 0o7777, 0o600, `iteration ${i}: the host decoy's mode is unchanged`);
    assert.equal(fs.readFileSync(decoy, 'utf8'), DECOY);
  }
  // A lost race shows as a clear error (the node was not what mknodat made), never as a
  // chmod elsewhere; most creates succeed.
  assert.ok(created > 0, `some creates succeeded (${created} of 100)`);
  sb.ok(['kill', attacker, 'KILL']);
});
