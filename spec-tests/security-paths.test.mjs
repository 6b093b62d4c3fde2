// linux.maskedPaths, linux.readonlyPaths and linux.sysctl: what the container sees, and
// the sysctl keys refused because they would change the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, show } from './helpers/tsrt.mjs';
import { assertRefused } from './helpers/security.mjs';

function run(t, patch, opts = {}) {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: opts.copyRootfs, patch: (c, x) => patch(c, x) });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('paths')]);
  return { sb, b, r };
}

test('maskedPaths: the default masks of /proc and /sys read as empty; writing to them fails', (t) => {
  const { r } = run(t, (c) => {
    c.process.args = ['sh', '-c', [
      'echo "kcore bytes: $(cat /proc/kcore | wc -c)"',
      'echo "timer_list bytes: $(cat /proc/timer_list | wc -c)"',
      'echo "firmware entries: $(ls -A /sys/firmware | wc -l)"',
      'touch /sys/firmware/x 2>&1; echo "firmware write rc=$?"',
      'grep -E " /(proc/kcore|sys/firmware) " /proc/self/mountinfo | cut -d" " -f5,6,9',
    ].join('; ')];
  });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^kcore bytes: 0$/m);
  assert.match(r.stdout, /^timer_list bytes: 0$/m);
  assert.match(r.stdout, /^firmware entries: 0$/m);
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, /^\/sys\/firmware ro,\S* tmpfs$/m, 'a read-only tmpfs on the masked directory');
});

test('readonlyPaths: writes to /proc/sys and /proc/irq fail with EROFS', (t) => {
  const { r } = run(t, (c) => {
    c.process.args = ['sh', '-c', 'echo 1 > /proc/sys/kernel/ns_last_pid; echo "sys rc=$?"; echo 1 > /proc/irq/default_smp_affinity; echo "irq rc=$?"; grep -E " /proc/(sys|irq) " /proc/self/mountinfo | cut -d" " -f5,6'];
  });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stderr + r.stdout, /can't create \/proc\/sys\/kernel\/ns_last_pid: Read-only file system/);
  assert.match(r.stderr + r.stdout, /can't create \/proc\/irq\/default_smp_affinity: Read-only file system/);
  assert.match(r.stdout, /^\/proc\/sys ro,/m);
});

test('maskedPaths and readonlyPaths on the container\'s own files, a writable rootfs around them', (t) => {
  const { r } = run(t, (c, { rootfs }) => {
    fs.writeFileSync(path.join(rootfs, 'etc', 'secret'), 'top secret\n');
    fs.mkdirSync(path.join(rootfs, 'secrets'));
    fs.writeFileSync(path.join(rootfs, 'secrets', 'key'), 'k\n');
    fs.mkdirSync(path.join(rootfs, 'data'));
    fs.writeFileSync(path.join(rootfs, 'data', 'old'), 'old\n');
    c.linux.maskedPaths = ['/etc/secret', '/secrets', '/no/such/path'];
    c.linux.readonlyPaths = ['/data', '/no/such/dir'];
    c.process.args = ['sh', '-c', [
      'echo "secret: [$(cat /etc/secret)]"',
      'echo "secrets: [$(ls -A /secrets)]"',
      'echo x > /secrets/new; echo "secrets write rc=$?"',
      'echo "data: $(cat /data/old)"',
      'echo x > /data/new; echo "data write rc=$?"',
      'echo x > /writable && echo "rootfs write ok"',
    ].join('; ')];
  }, { copyRootfs: true });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^secret: \[\]$/m, 'a masked file reads as empty (/dev/null)');
  assert.match(r.stdout, /^secrets: \[\]$/m, 'a masked directory is empty');
  assert.match(r.stdout, /^secrets write rc=1$/m);
  assert.match(r.stdout, /^data: old$/m, 'a read-only path keeps its content');
  assert.match(r.stderr + r.stdout, /can't create \/data\/new: Read-only file system/);
  assert.match(r.stdout, /^rootfs write ok$/m, 'the rest of the rootfs stays writable');
});

test('readonlyPaths: only read-only is added, the mount keeps its own flags (as runc: /proc/sys stays ro,relatime, without nosuid/nodev/noexec of its own)', (t) => {
  const { r } = run(t, (c, { rootfs }) => {
    fs.mkdirSync(path.join(rootfs, 'data'));
    c.mounts.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] });
    c.linux.readonlyPaths = ['/proc/sys', '/data'];
    c.process.args = ['sh', '-c', 'grep -E " /(proc/sys|data) " /proc/self/mountinfo | cut -d" " -f5,6'];
  }, { copyRootfs: true });
  assert.equal(r.status, 0, show(r));
  // the kernel shows a proc bind's per-mount flags: ro added, nothing else
  const proc = /^\/proc\/sys (\S+)$/m.exec(r.stdout)?.[1] ?? '';
  assert.equal(proc.split(',')[0], 'ro', show(r));
  assert.doesNotMatch(proc, /nosuid|nodev|noexec/, `no flag the /proc mount lacks: ${proc}`);
  assert.match(r.stdout, /^\/data ro,nosuid,relatime$/m, 'a nosuid tmpfs keeps nosuid and gets only ro');
});

test('process.cwd that does not exist is created inside the container (0755, root-owned), as runc', (t) => {
  const { r } = run(t, (c) => {
    c.process.cwd = '/made/by/runtime';
    c.process.args = ['sh', '-c', 'pwd; stat -c "%a %u %g" /made /made/by/runtime'];
  }, { copyRootfs: true });
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, '/made/by/runtime\n755 0 0\n755 0 0\n');
});

test('attack process.cwd: a symlink in the image to a host directory, the cwd missing below it: made in the rootfs, never on the host', (t) => {
  const sb = new Sandbox(t);
  const decoy = path.join(sb.dir, 'cwd-decoy');
  fs.mkdirSync(decoy);
  // (a link dangling inside the root fails as under runc: mkdir of the link is EEXIST)
  for (const [link, target] of [['escape', decoy], ['escape-rel', `../../../../../../../..${decoy}`]]) {
    const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
      // the same path inside the rootfs: the link resolves there in the container's root
      fs.mkdirSync(path.join(rootfs, decoy), { recursive: true });
      fs.symlinkSync(target, path.join(rootfs, link));
      c.process.cwd = `/${link}/made`;
      c.process.args = ['pwd'];
    } });
    const r = sb.tsrt(['run', '--bundle', b.dir, sb.id(`cwd-${link}`)]);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(fs.readdirSync(decoy), [], `${link}: nothing was made in the host directory the symlink names`);
    assert.ok(fs.statSync(path.join(b.rootfs, decoy, 'made')).isDirectory(), `${link}: the cwd was made where the symlink leads inside the rootfs`);
  }
});

test('attack process.cwd through /proc/self/fd: refused, nothing made', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c) => { c.process.cwd = '/proc/self/fd/3/made'; } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('cwd-magic')]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /process\.cwd \/proc\/self\/fd\/3\/made/, show(r));
});

test('sysctl: namespaced keys are set in the container, the host keeps its values', (t) => {
  const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const hostShm = fs.readFileSync('/proc/sys/kernel/shmmni', 'utf8');
  const { r } = run(t, (c) => {
    c.linux.sysctl = {
      'net.ipv4.ip_forward': hostForward.trim() === '1' ? '0' : '1',
      'kernel.shmmni': '1234',
      'fs.mqueue.msg_max': '42',
      'net/ipv4/conf/lo/forwarding': '1',
      'kernel.domainname': 'tsrt.example',
    };
    c.process.args = ['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max /proc/sys/net/ipv4/conf/lo/forwarding /proc/sys/kernel/domainname'];
  });
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.trim().split('\n'), [hostForward.trim() === '1' ? '0' : '1', '1234', '42', '1', 'tsrt.example']);
  assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward);
  assert.equal(fs.readFileSync('/proc/sys/kernel/shmmni', 'utf8'), hostShm);
});

test('sysctl: keys that are not namespaced for this container are refused by name', (t) => {
  const sb = new Sandbox(t);
  const without = (types) => (c) => { c.linux.namespaces = c.linux.namespaces.filter((n) => !types.includes(n.type)); if (types.includes('uts')) delete c.hostname; };
  const cases = [
    [{ 'vm.swappiness': '10' }, undefined, 'linux.sysctl.vm.swappiness', /not a namespaced kernel parameter/],
    [{ 'kernel.pid_max': '4096' }, undefined, 'linux.sysctl.kernel.pid_max', /not a namespaced kernel parameter/],
    [{ 'net.ipv4.ip_forward': '1' }, without(['network']), 'linux.sysctl.net.ipv4.ip_forward', /needs a network namespace/],
    [{ 'kernel.shmmax': '1' }, without(['ipc']), 'linux.sysctl.kernel.shmmax', /needs an ipc namespace/],
    [{ 'fs.mqueue.queues_max': '1' }, without(['ipc']), 'linux.sysctl.fs.mqueue.queues_max', /needs an ipc namespace/],
    [{ 'kernel.hostname': 'x' }, without(['uts']), 'linux.sysctl.kernel.hostname', /needs a uts namespace/],
    [{ 'net.ipv4.ip_forward': '1' }, (c) => { c.linux.namespaces = c.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: `/proc/${process.pid}/ns/net` } : n)); },
      'linux.sysctl.net.ipv4.ip_forward', /is the host's/],
    [{ 'net.ipv4..ip_forward': '1' }, undefined, 'linux.sysctl.net.ipv4..ip_forward', /not a valid sysctl name/],
  ];
  for (const [sysctl, patch, field, why] of cases) {
    const b = sb.bundle({ patch: (c) => { c.linux.sysctl = sysctl; patch?.(c); } });
    assertRefused(sb, b, { field, why });
  }
});
