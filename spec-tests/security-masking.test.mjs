// Attacks on linux.maskedPaths, linux.readonlyPaths and mount destinations (issue 12,
// items 1, 2, 3 and 9): a co-tenant racing the masks through a shared rootfs's /dev/null
// (the CVE-2025-31133 class), masks under a volume, a rootfs whose /proc or /sys is a
// symlink, and mount destinations that lead into /proc through a symlink. Every decoy
// is a file or directory the test made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Sandbox, show, OTHER_RUNTIME, ROOTFS } from './helpers/tsrt.mjs';
import { assertRefused } from './helpers/security.mjs';

const RACE_RUNS = Number(process.env.TSRT_RACE_RUNS ?? 100);
const SECRET = 'SECRET-b7f1';
const DECOY = 'DECOY-93ad';

/** A bundle on `rootfs` (shared, writable) whose /dev is the rootfs's own (no /dev tmpfs). */
function sharedRootfsBundle(sb, rootfs, patch) {
  return sb.bundle({
    patch: (c) => {
      c.root = { path: rootfs, readonly: false };
      c.mounts = c.mounts.filter((m) => !/^\/dev(\/|$)/.test(m.destination));
      patch(c);
    },
  });
}

/** runc, when installed and not the runtime under test, on the same bundle: [status, stderr]. */
function runcOn(sb, bundleDir) {
  if (OTHER_RUNTIME || spawnSync('runc', ['--version']).status !== 0) return undefined;
  const id = `runc-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const root = path.join(sb.dir, 'runc-state');
  const r = spawnSync('runc', ['--root', root, 'run', '--bundle', bundleDir, id], { encoding: 'utf8', timeout: 60_000 });
  spawnSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
  return { status: r.status, stderr: r.stderr ?? '' };
}

test(`attack maskedPaths race: a container sharing the rootfs keeps unlinking /dev/null and replacing it with a symlink to its own file; ${RACE_RUNS} runs of a container masking a secret never see the secret or that file`, (t) => {
  const sb = new Sandbox(t);
  const rootfs = path.join(sb.mkdir('shared'), 'rootfs');
  assert.equal(spawnSync('cp', ['-a', ROOTFS, rootfs]).status, 0, 'copy the demo rootfs');
  fs.writeFileSync(path.join(rootfs, 'secret'), `${SECRET}\n`);
  fs.writeFileSync(path.join(rootfs, 'decoy'), `${DECOY}\n`);
  // /dev/null is by turns missing and a symlink to the attacker's file. The attacker never
  // writes through /dev/null itself: no redirection in its loop.
  const attacker = sharedRootfsBundle(sb, rootfs, (c) => { c.process.args = ['sh', '-c', 'while :; do rm -f /dev/null; ln -s /decoy /dev/null; done']; });
  const victim = sharedRootfsBundle(sb, rootfs, (c) => {
    c.linux.maskedPaths = [...(c.linux.maskedPaths ?? []), '/secret'];
    c.process.args = ['sh', '-c', 'echo "secret=[$(cat /secret)]"'];
  });
  const attackerId = sb.id('attacker');
  sb.create(attackerId, attacker.dir);
  sb.ok(['start', attackerId]);

  const tally = { masked: 0, unmasked: 0, redirected: 0, failed: 0 };
  const failures = new Set();
  for (let i = 0; i < RACE_RUNS; i++) {
    const r = sb.tsrt(['run', '--bundle', victim.dir, sb.id('victim')]);
    const out = r.stdout;
    if (out.includes(SECRET)) tally.unmasked++;
    else if (out.includes(DECOY)) tally.redirected++;
    else if (r.status === 0 && /^secret=\[\]$/m.test(out)) tally.masked++;
    else {
      tally.failed++;
      failures.add(r.stderr.trim().split('\n').pop().replace(/^.*msg="(.*)"$/, '$1'));
    }
  }
  sb.ok(['delete', '--force', attackerId]);
  t.diagnostic(`${JSON.stringify(tally)}${failures.size ? `; failures: ${[...failures].join(' | ')}` : ''}`);
  assert.equal(tally.unmasked, 0, `the secret was readable in ${tally.unmasked} of ${RACE_RUNS} runs`);
  assert.equal(tally.redirected, 0, `the attacker's file was mounted over the masked path in ${tally.redirected} of ${RACE_RUNS} runs`);
  // A failed create is a denial of service the co-tenant can cause anyway (it can delete
  // any file of the shared rootfs); masking itself never fails, and never skips.
  for (const f of failures) assert.doesNotMatch(f, /maskedPaths/, 'masking itself never fails under the attack');
  assert.ok(tally.masked > RACE_RUNS / 2, 'most runs went through (the race was really run)');
  assert.equal(fs.readFileSync(path.join(rootfs, 'decoy'), 'utf8'), `${DECOY}\n`, 'the decoy is unchanged');
});

test('attack maskedPaths/readonlyPaths under a volume: the masked secret is unreadable and the read-only file behind the volume cannot be changed', (t) => {
  const sb = new Sandbox(t);
  const vol = sb.mkdir('volume');
  fs.writeFileSync(path.join(vol, 'secret'), `${SECRET}\n`);
  fs.writeFileSync(path.join(vol, 'conf'), 'ORIGINAL\n');
  fs.mkdirSync(path.join(vol, 'keys'));
  fs.writeFileSync(path.join(vol, 'keys', 'k'), `${SECRET}\n`);
  const b = sb.bundle({
    copyRootfs: true,
    patch: (c, { rootfs }) => {
      fs.mkdirSync(path.join(rootfs, 'data'));
      c.mounts.push({ destination: '/data', type: 'bind', source: vol, options: ['rbind', 'rw'] });
      c.linux.maskedPaths = ['/data/secret', '/data/keys', '/data/missing'];
      c.linux.readonlyPaths = ['/data/conf'];
      c.process.args = ['sh', '-c', [
        'echo "secret=[$(cat /data/secret)]"',
        'echo "keys=[$(ls -A /data/keys)]"',
        'echo HACKED > /data/conf; echo "conf write rc=$?"',
        'echo "conf=[$(cat /data/conf)]"',
      ].join('; ')];
    },
  });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('vol')]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^secret=\[\]$/m, 'the masked file under the volume reads as empty');
  assert.match(r.stdout, /^keys=\[\]$/m, 'the masked directory under the volume is empty');
  assert.match(r.stdout, /^conf write rc=1$/m, 'the read-only file under the volume cannot be written');
  assert.match(r.stderr, /Read-only file system/);
  assert.equal(fs.readFileSync(path.join(vol, 'conf'), 'utf8'), 'ORIGINAL\n', 'the host file behind /data/conf is unchanged');
  assert.equal(fs.readFileSync(path.join(vol, 'secret'), 'utf8'), `${SECRET}\n`, 'the masked file itself is untouched');
});

for (const [dir, type] of [['proc', 'proc'], ['sys', 'sysfs']]) {
  test(`attack: a rootfs whose /${dir} is a symlink is refused (${type} must be mounted on an ordinary directory), nothing is mounted where it points`, (t) => {
    const sb = new Sandbox(t);
    const b = sb.bundle({
      copyRootfs: true,
      patch: (c, { rootfs }) => {
        fs.rmSync(path.join(rootfs, dir), { recursive: true });
        fs.mkdirSync(path.join(rootfs, 'decoy'));
        fs.symlinkSync('/decoy', path.join(rootfs, dir));
      },
    });
    const index = b.config.mounts.findIndex((m) => m.destination === `/${dir}`);
    assertRefused(sb, b, { field: `mounts[${index}]`, why: new RegExp(`${type} must be mounted on an ordinary directory: /${dir} in the rootfs is a symlink`) });
    assert.deepEqual(fs.readdirSync(path.join(b.rootfs, 'decoy')), [], 'nothing was made where the symlink points');
    const runc = runcOn(sb, b.dir);
    if (runc) assert.notEqual(runc.status, 0, `runc refuses the same bundle too:\n${runc.stderr}`);
  });
}

test('attack: a mount destination that is a symlink into /proc in the image is refused, naming the mount and where it leads', (t) => {
  const sb = new Sandbox(t);
  const vol = sb.mkdir('volume');
  fs.mkdirSync(path.join(vol, 'ipv4'));
  fs.writeFileSync(path.join(vol, 'ipv4', 'ip_forward'), '1\n');
  const b = sb.bundle({
    copyRootfs: true,
    patch: (c, { rootfs }) => {
      fs.symlinkSync('/proc/sys/net', path.join(rootfs, 'data'));
      c.mounts.push({ destination: '/data', type: 'bind', source: vol, options: ['rbind', 'rw'] });
    },
  });
  const field = `mounts[${b.config.mounts.length - 1}]`;
  assertRefused(sb, b, { field, why: /\/data cannot be mounted because it is inside \/proc \(it resolves to \/proc\/sys\/net in the rootfs\)/ });
  const runc = runcOn(sb, b.dir);
  if (runc) assert.match(runc.stderr, /inside \/proc/, `runc refuses the same bundle:\n${runc.stderr}`);
});

test('attack: a mount destination reaching /proc through a symlink inside a volume is refused in the container\'s namespace', (t) => {
  const sb = new Sandbox(t);
  const vol = sb.mkdir('volume');
  fs.symlinkSync('/proc/sys/kernel', path.join(vol, 'x'));
  const decoy = sb.mkdir('decoy');
  fs.writeFileSync(path.join(decoy, 'hostname'), 'decoy\n');
  const b = sb.bundle({
    copyRootfs: true,
    patch: (c, { rootfs }) => {
      fs.mkdirSync(path.join(rootfs, 'data'));
      c.mounts.push({ destination: '/data', type: 'bind', source: vol, options: ['rbind', 'rw'] });
      c.mounts.push({ destination: '/data/x', type: 'bind', source: decoy, options: ['rbind', 'rw'] });
    },
  });
  const field = `mounts[${b.config.mounts.length - 1}]`;
  // The parent cannot see into the volume: the plan's own check (fstatfs of the opened
  // destination) is what refuses it.
  assertRefused(sb, b, { field, why: /\/data\/x cannot be mounted because it is inside \/proc \(reached through a symlink in the container's filesystem\)/ });
});

test('mount destinations inside /proc: refused unless one of the lxcfs-style files; those binds still work', (t) => {
  const sb = new Sandbox(t);
  const fake = sb.mkdir('lxcfs');
  for (const name of ['cpuinfo', 'meminfo', 'uptime']) fs.writeFileSync(path.join(fake, name), `FAKE ${name}\n`);
  const ok = sb.bundle({
    patch: (c) => {
      for (const name of ['cpuinfo', 'meminfo', 'uptime']) {
        c.mounts.push({ destination: `/proc/${name}`, type: 'bind', source: path.join(fake, name), options: ['bind', 'ro'] });
      }
      c.process.args = ['sh', '-c', 'cat /proc/cpuinfo /proc/meminfo /proc/uptime'];
    },
  });
  const r = sb.tsrt(['run', '--bundle', ok.dir, sb.id('lxcfs')]);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, 'FAKE cpuinfo\nFAKE meminfo\nFAKE uptime\n');

  for (const dest of ['/proc/sys/kernel/hostname', '/proc/self/attr', '/proc/../proc/sys']) {
    const b = sb.bundle({ patch: (c) => { c.mounts.push({ destination: dest, type: 'bind', source: path.join(fake, 'cpuinfo'), options: ['bind'] }); } });
    assertRefused(sb, b, { field: `mounts[${b.config.mounts.length - 1}]`, why: /cannot be mounted because it is inside \/proc/ });
  }
  const notProc = sb.bundle({ patch: (c) => { c.mounts.push({ destination: '/proc', type: 'bind', source: fake, options: ['rbind'] }); } });
  assertRefused(sb, notProc, { field: `mounts[${notProc.config.mounts.length - 1}]`, why: /\/proc cannot be mounted because it is not of type proc/ });
});
