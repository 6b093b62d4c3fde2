// Regression tests that attack tsrt the way runc was attacked: each one recreates the
// situation of a runc CVE and checks that the container gets nothing out of it.
//
//   CVE-2019-5736  a container process opening the runtime's binary through /proc/PID/exe
//   CVE-2024-21626 a leaked host fd used as the working directory (/proc/self/fd/N)
//   CVE-2021-30465 mount destinations that are symlinks pointing out of the rootfs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, show, hostMounts, mountPoint, mountChanges, writeScript } from './helpers/tsrt.mjs';

const NODE = fs.realpathSync(process.execPath);

/**
 * A shell script probing /proc/$1 the way the CVE-2019-5736 exploit did: resolve and open
 * its exe (the exploit kept an O_PATH fd and reopened it for writing once the runtime
 * exited), read its environ, list its fds, open its memory. One line per probe.
 */
const PROBE = `
p=$1
echo "readlink: $(readlink /proc/$p/exe 2>&1 || echo DENIED)"
if cat /proc/$p/exe >/dev/null 2>/dev/null; then echo "exe-read: OK"; else echo "exe-read: DENIED"; fi
err=$( (: >> /proc/$p/exe) 2>&1 ) && echo "exe-write: OK" || echo "exe-write: $err"
if cat /proc/$p/environ >/dev/null 2>/dev/null; then echo "environ: OK"; else echo "environ: DENIED"; fi
if readlink /proc/$p/fd/0 >/dev/null 2>/dev/null || readlink /proc/$p/cwd >/dev/null 2>/dev/null; then echo "fd: OK"; else echo "fd: DENIED"; fi
err=$(dd if=/proc/$p/mem of=/dev/null bs=1 count=1 2>&1) && echo "mem: OK" || echo "mem: $err"
`;

function parseProbe(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    const m = /^([\w-]+): (.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function assertNoAccess(probe, who, raw) {
  assert.ok(!probe.readlink || /DENIED|Permission denied/.test(probe.readlink), `${who}: readlink of /proc/PID/exe is refused:\n${raw}`);
  assert.ok(!/node/.test(probe.readlink ?? ''), `${who}: the node binary's path does not leak:\n${raw}`);
  assert.equal(probe['exe-read'], 'DENIED', `${who}: /proc/PID/exe cannot be opened for reading:\n${raw}`);
  // EACCES, not ETXTBSY: the write is refused because the process is protected, not
  // only because the binary happens to be running right now.
  assert.match(probe['exe-write'] ?? '', /Permission denied/, `${who}: /proc/PID/exe cannot be opened for writing:\n${raw}`);
  assert.equal(probe.environ, 'DENIED', `${who}: /proc/PID/environ cannot be read:\n${raw}`);
  assert.equal(probe.fd, 'DENIED', `${who}: /proc/PID/fd/N and /proc/PID/cwd cannot be followed:\n${raw}`);
  assert.match(probe.mem ?? '', /Permission denied/, `${who}: /proc/PID/mem cannot be opened:\n${raw}`);
}

test('attack CVE-2019-5736: a container joining the pid namespace of a created container cannot open its init (a copy of node) through /proc', (t) => {
  const sb = new Sandbox(t);
  // The victim: created, its init blocked on the exec fifo, still a copy of node.
  const victim = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  const { pid } = sb.create(sb.id('victim'), victim.dir);
  assert.equal(fs.readlinkSync(`/proc/${pid}/exe`), NODE, 'the created init is still node (the situation the attack needs)');

  // The attacker: root in a container that joins the victim's pid namespace (where the
  // victim's init is pid 1) with the default capabilities (no CAP_SYS_PTRACE).
  const attacker = sb.bundle({ patch: (c) => {
    c.linux.namespaces = c.linux.namespaces.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${pid}/ns/pid` } : n));
    c.process.args = ['sh', '-c', `echo "pid1: $(cat /proc/1/comm)"; set -- 1; ${PROBE}`];
  } });
  const r = sb.tsrt(['run', '--bundle', attacker.dir, sb.id('attacker')]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^pid1: node$/m, `the attacker sees the victim's init as pid 1:\n${r.stdout}`);
  assertNoAccess(parseProbe(r.stdout), 'the created init', r.stdout);
  // The victim's init is unharmed and still node.
  assert.equal(fs.readlinkSync(`/proc/${pid}/exe`), NODE);
});

test('attack CVE-2024-21626: process.cwd /proc/self/fd/N never reaches a host directory (N = 3..30, with host directory fds open in tsrt)', (t) => {
  const sb = new Sandbox(t);
  // Host directories open in tsrt (and so in the init it clones): the test's own dir
  // (with a marker file) and /.
  const marker = `host-marker-${process.pid}`;
  fs.writeFileSync(path.join(sb.dir, marker), 'host\n');
  const dirFds = [];
  for (let i = 0; i < 6; i++) dirFds.push(fs.openSync(i % 2 ? '/' : sb.dir, 'r'));
  t.after(() => dirFds.forEach((fd) => fs.closeSync(fd)));
  const refused = [];
  for (let n = 3; n <= 30; n++) {
    const b = sb.bundle({ patch: (c) => {
      c.process.cwd = `/proc/self/fd/${n}`;
      c.process.args = ['sh', '-c', 'echo "pwd: $(pwd)"; ls -a . .. ../.. 2>&1'];
    } });
    const r = sb.tsrt(['run', '--bundle', b.dir, sb.id(`cwd${n}`)], { extraFds: dirFds });
    assert.ok(!r.stdout.includes(marker), `cwd /proc/self/fd/${n} reached the host directory:\n${show(r)}`);
    assert.ok(!/^pwd: \(unreachable\)/m.test(r.stdout), `cwd /proc/self/fd/${n} is outside the container root:\n${show(r)}`);
    assert.ok(!/\b(etc|home|usr)\b[\s\S]*\bwork\b/.test(r.stdout), `cwd /proc/self/fd/${n} shows the host's /:\n${show(r)}`);
    if (r.status !== 0) {
      assert.match(r.stderr, new RegExp(`process\\.cwd /proc/self/fd/${n}`), `the error names process.cwd:\n${show(r)}`);
      refused.push(n);
    }
  }
  assert.equal(refused.length, 28, `every /proc/self/fd/N cwd is refused (magic links are not followed): refused ${refused.join(',')}`);
});

test('attack CVE-2024-21626: no host fd survives into the container (only 0, 1 and 2 are open)', (t) => {
  const sb = new Sandbox(t);
  const dirFds = [fs.openSync(sb.dir, 'r'), fs.openSync('/', 'r'), fs.openSync('/etc/hostname', 'r')];
  t.after(() => dirFds.forEach((fd) => fs.closeSync(fd)));
  const b = sb.bundle({ patch: (c) => {
    // ls's own fds: 0-2 and the directory it is reading (3 -> /proc/<pid>/fd).
    c.process.args = ['ls', '-l', '/proc/self/fd/'];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('fds')], { extraFds: dirFds });
  assert.equal(r.status, 0, show(r));
  const fds = [...r.stdout.matchAll(/\s(\d+) -> (.*)$/gm)].map((m) => [Number(m[1]), m[2]]);
  const leaked = fds.filter(([n, target]) => n > 2 && !/^\/proc\/\d+\/fd$/.test(target));
  assert.deepEqual(leaked, [], `fds other than 0-2 inside the container:\n${r.stdout}`);
  assert.deepEqual(fds.map(([n]) => n).filter((n) => n <= 2), [0, 1, 2], r.stdout);
});

// --- CVE-2021-30465 class: mount destinations through symlinks ------------------------

/** Every file and directory under dir, as relative paths (symlinks not followed). */
function tree(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      out.push(r);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/**
 * Runs a container whose rootfs (a private copy) gets the symlinks `links` (rootfs path
 * -> target, where MARKER in a target is the host marker dir) and the extra `mounts`, and
 * checks that: the marker dir outside the rootfs is untouched, the host's mount table is
 * unchanged, and every mount the container's namespace got before pivot_root (captured
 * by a createRuntime hook) is inside the rootfs.
 */
function symlinkAttack(t, { links, mounts = [], patch }) {
  const sb = new Sandbox(t);
  const marker = sb.mkdir('marker');
  fs.writeFileSync(path.join(marker, 'keep'), 'x');
  fs.mkdirSync(path.join(marker, 'fs', 'cgroup'), { recursive: true });
  const before = tree(marker);
  const hostBefore = hostMounts();
  const captured = path.join(sb.dir, 'container-mountinfo');
  const hook = writeScript(path.join(sb.dir, 'capture-mounts.sh'),
    `state=$(cat); pid=$(echo "$state" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/'); cat /proc/$pid/mountinfo > ${captured}`);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    for (const [at, target] of Object.entries(links)) {
      const p = path.join(rootfs, at);
      fs.rmSync(p, { recursive: true, force: true });
      fs.symlinkSync(target.replace('MARKER', marker), p);
    }
    c.mounts.push(...mounts);
    c.hooks = { createRuntime: [{ path: hook }] };
    c.process.args = ['true'];
    patch?.(c, { rootfs, marker, sb });
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('symlink')]);
  assert.deepEqual(tree(marker), before, `nothing was created in or removed from the host dir the symlinks point to:\n${show(r)}`);
  const changes = mountChanges(hostBefore, sb.dir);
  assert.deepEqual(changes, { added: [], removed: [] }, 'the host mount table is unchanged');
  if (fs.existsSync(captured)) {
    const known = new Set(hostBefore.map(mountPoint));
    const inside = (p) => p === b.rootfs || p.startsWith(b.rootfs + '/');
    const escaped = fs.readFileSync(captured, 'utf8').split('\n').filter(Boolean).map(mountPoint)
      .filter((mp) => !known.has(mp) && !inside(mp) && (mp.startsWith(sb.dir) || !mp.startsWith(path.dirname(sb.dir) + '/')));
    assert.deepEqual(escaped, [], `mounts of the container outside its rootfs ${b.rootfs}:\n${show(r)}`);
  }
  return { r, marker, rootfs: b.rootfs };
}

test('attack CVE-2021-30465: mount destinations that are absolute symlinks to a host dir stay inside the rootfs', (t) => {
  const { r } = symlinkAttack(t, {
    links: { 'evil-abs': 'MARKER' },
    mounts: [
      { destination: '/evil-abs', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/evil-abs/deeper/still', type: 'tmpfs', source: 'tmpfs' },
    ],
  });
  assert.equal(r.status, 0, show(r));
});

test('attack CVE-2021-30465: mount destinations through ../.. chains stay inside the rootfs', (t) => {
  const { r } = symlinkAttack(t, {
    links: { 'evil-rel': '../../../../../../../../../../../../MARKER' },
    mounts: [
      { destination: '/evil-rel/sub', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/tmp/../evil-rel/../evil-rel/bind', type: 'bind', source: '/etc', options: ['rbind', 'ro'] },
    ],
  });
  assert.equal(r.status, 0, show(r));
});

test('attack CVE-2021-30465: a rootfs whose /sys is a symlink to a host dir is refused, nothing is made where it points', (t) => {
  const { r } = symlinkAttack(t, {
    links: { sys: 'MARKER' },
    // an existing sysfs directory: made (EEXIST) and mounted on through the plan
    mounts: [{ destination: '/sys/kernel/mm', type: 'tmpfs', source: 'tmpfs' }],
  });
  // Refused outright (as runc) since sysfs must go on an ordinary directory; the host
  // dir is untouched either way (checked by symlinkAttack).
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /sysfs must be mounted on an ordinary directory: \/sys in the rootfs is a symlink/, show(r));
});

test('attack CVE-2021-30465: a rootfs whose /dev is a symlink to a host dir (device nodes and /dev links)', (t) => {
  const { r } = symlinkAttack(t, {
    links: { dev: 'MARKER' },
    // No tmpfs on /dev: the device nodes are made in the rootfs's own /dev.
    patch: (c) => { c.mounts = c.mounts.filter((m) => m.destination !== '/dev'); },
  });
  assert.equal(r.status, 0, show(r));
});

test('attack CVE-2021-30465: a symlink brought under the /dev tmpfs by a bind mount, then used by a later mount destination', (t) => {
  const { r } = symlinkAttack(t, {
    links: {},
    patch: (c, { marker, sb }) => {
      // The bind brings a symlink "out" -> the host marker dir under the fresh /dev
      // tmpfs (where the parent cannot look); a later destination goes through it.
      const evil = sb.mkdir('evil-src');
      fs.symlinkSync(marker, path.join(evil, 'out'));
      c.mounts.push({ destination: '/dev/evil', type: 'bind', source: evil, options: ['rbind'] });
      c.mounts.push({ destination: '/dev/evil/out/planted', type: 'tmpfs', source: 'tmpfs' });
    },
  });
  // Refusing the mount is fine; reaching the host is not (checked by symlinkAttack).
  void r;
});
