// Parity with runc where engines and images rely on it (issue 13): each test runs the
// same bundle under runc (installed, 1.1.5) and under tsrt and compares what the
// container and the host see; where runc 1.1.5 differs from current runc's source, or
// where tsrt differs on purpose, the test says so. Sections: seccomp (ENOSYS for
// syscalls newer than the profile, the filter's place in the init, NOTIFY on write);
// the terminal's and stdio's owner; cgroups (exec --cgroup /, device rules, a busy
// cgroupsPath, update --memory -1); containers without a mount namespace of their own or
// joining one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, REPO, ROOTFS, TSRT, runToFiles, show, waitUntil, writeScript } from './helpers/tsrt.mjs';
import { ConsoleReceiver } from './helpers/terminal.mjs';

const HAVE_RUNC = spawnSync('runc', ['--version'], { stdio: 'ignore' }).status === 0;
const NO_RUNC = HAVE_RUNC ? false : 'runc is not installed';

/**
 * runc with a --root of its own under the sandbox; its containers are deleted (which
 * removes their cgroups) before the sandbox's directory goes.
 */
function runcIn(sb) {
  const root = path.join(sb.dir, 'runc-state');
  const ids = new Set();
  const runc = (args, opts = {}) => runToFiles('runc', ['--root', root, ...args], {
    ...sb.ioFiles(), label: `runc ${args.join(' ')}`, cwd: opts.cwd ?? sb.dir, input: opts.input, timeout: opts.timeout,
  });
  runc.id = (prefix) => { const id = sb.id(`runc-${prefix}`); ids.add(id); return id; };
  sb.beforeCleanup(() => { for (const id of ids) spawnSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 30_000 }); });
  return runc;
}

/** `run` of the same bundle under both runtimes: {tsrt, runc} results. */
function runBoth(sb, bundleDir, prefix) {
  const runc = runcIn(sb);
  return {
    tsrt: sb.tsrt(['run', '--bundle', bundleDir, sb.id(prefix)]),
    runc: runc(['run', '--bundle', bundleDir, runc.id(prefix)]),
  };
}

function defaultProfile() {
  const p = JSON.parse(fs.readFileSync(path.join(REPO, 'spec-tests', 'fixtures', 'seccomp-default.json'), 'utf8'));
  delete p['//'];
  return p;
}

// --- seccomp: ENOSYS above the profile's highest syscall ---------------------------------

/** `sys NR...` calls each syscall number with zero arguments and prints "NR ERRNO" (0: success). */
const SYS_C = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    long nr = strtol(argv[i], 0, 0);
    errno = 0;
    long r = syscall(nr, 0, 0, 0, 0, 0, 0);
    printf("%ld %d\\n", nr, r < 0 ? errno : 0);
  }
  return 0;
}
`;

/** Builds the static `sys` into dir (undefined when there is no C compiler or static libc). */
function buildSys(dir) {
  const out = path.join(dir, 'sys');
  const r = spawnSync('cc', ['-static', '-O2', '-x', 'c', '-', '-o', out], { input: SYS_C, encoding: 'utf8' });
  return r.status === 0 ? out : undefined;
}

// Syscall numbers per architecture: one the profile allows (getpid), one it does not name
// but is below its highest (acct), faccessat2 (newer than the trimmed profile below) and
// a number no kernel has given out.
const NUMBERS = {
  x64: { getpid: 39, acct: 163 },
  arm64: { getpid: 172, acct: 89 },
}[process.arch];
const FACCESSAT2 = 439; // the same on every architecture since 5.8 (the unified table)
const UNASSIGNED = 1000;

/**
 * The Docker-like profile without the syscalls added since 5.1 (pidfd_send_signal,
 * number 424, and later): an older profile, like one shipped with an older engine.
 */
const NEWER_THAN_5_0 = /^(pidfd_|io_uring_|open_tree|move_mount|fs(open|config|mount|pick)$|clone3$|close_range$|openat2$|faccessat2$|process_m|epoll_pwait2$|mount_setattr$|quotactl_fd$|landlock_|memfd_secret$|futex_(waitv|wake|wait|requeue)$|set_mempolicy_home_node$|cachestat$|fchmodat2$|map_shadow_stack$|statmount$|listmount$|lsm_|mseal$|[gs]etxattrat$|listxattrat$|removexattrat$|uretprobe$|open_tree_attr$|file_[gs]etattr$)/;
function oldProfile() {
  const p = defaultProfile();
  p.syscalls = p.syscalls.map((s) => ({ ...s, names: s.names.filter((n) => !NEWER_THAN_5_0.test(n)) })).filter((s) => s.names.length);
  return p;
}

const sysSkip = !NUMBERS ? `no syscall numbers for ${process.arch} in this test` : NO_RUNC;

test('parity seccomp: a syscall newer than the profile gets ENOSYS (not the default EPERM), as under runc', { skip: sysSkip }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    c.linux.seccomp = oldProfile();
    c.process.args = ['/sys-probe', String(UNASSIGNED), String(FACCESSAT2), String(NUMBERS.acct), String(NUMBERS.getpid)];
    c.process.terminal = false;
    const sys = buildSys(sb.dir);
    if (!sys) return;
    fs.copyFileSync(sys, path.join(rootfs, 'sys-probe'));
    fs.chmodSync(path.join(rootfs, 'sys-probe'), 0o755);
  } });
  if (!fs.existsSync(path.join(b.rootfs, 'sys-probe'))) return t.skip('cc -static does not work here (no C compiler or static libc)');
  const { tsrt, runc } = runBoth(sb, b.dir, 'enosys');
  assert.equal(runc.status, 0, show(runc));
  assert.equal(tsrt.status, 0, show(tsrt));
  const want = `${UNASSIGNED} 38\n${FACCESSAT2} 38\n${NUMBERS.acct} 1\n${NUMBERS.getpid} 0\n`;
  assert.equal(runc.stdout, want, `runc: above the profile's highest ENOSYS, below it the default EPERM\n${show(runc)}`);
  assert.equal(tsrt.stdout, runc.stdout, show(tsrt));
});

test('parity seccomp: no ENOSYS stub when the default action allows or no architecture is listed (as runc)', { skip: sysSkip }, (t) => {
  const sb = new Sandbox(t);
  const sys = buildSys(sb.dir);
  if (!sys) return t.skip('cc -static does not work here (no C compiler or static libc)');
  const cases = [
    // No architectures: runc computes the highest syscall per listed architecture only.
    [{ ...oldProfile(), architectures: undefined }, `${UNASSIGNED} 1\n${FACCESSAT2} 1\n`],
    // An allowing default: unknown numbers reach the kernel, which says ENOSYS itself.
    [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'].filter((a) => a.includes(process.arch === 'x64' ? 'X86' : 'AARCH')), syscalls: [{ names: ['acct'], action: 'SCMP_ACT_ERRNO' }] }, `${UNASSIGNED} 38\n${FACCESSAT2} 14\n`],
    // A KILL default still gets ENOSYS above the highest (the process survives).
    [{ ...oldProfile(), defaultAction: 'SCMP_ACT_KILL_PROCESS', defaultErrnoRet: undefined }, `${UNASSIGNED} 38\n${FACCESSAT2} 38\n`],
  ];
  for (const [profile, want] of cases) {
    const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
      c.linux.seccomp = profile;
      c.process.args = ['/sys-probe', String(UNASSIGNED), String(FACCESSAT2)];
      c.process.terminal = false;
      fs.copyFileSync(sys, path.join(rootfs, 'sys-probe'));
    } });
    const { tsrt, runc } = runBoth(sb, b.dir, 'nostub');
    const what = JSON.stringify({ ...profile, syscalls: `${profile.syscalls?.length} rules` });
    assert.equal(runc.stdout, want, `runc with ${what}\n${show(runc)}`);
    assert.equal(tsrt.stdout, runc.stdout, `tsrt with ${what}\n${show(tsrt)}`);
    assert.equal(tsrt.status, runc.status, show(tsrt));
  }
});

// --- seccomp: where the filter is loaded -------------------------------------------------

/**
 * Drives one runtime (`cli(args)` -> result) through create, start and delete: the pid,
 * whether the init has its filter when create returns, and the container's exit.
 */
async function lifecycle(cli, bundleDir, id, afterStart) {
  const created = cli(['create', '--bundle', bundleDir, id]);
  assert.equal(created.status, 0, show(created));
  const pid = JSON.parse(cli(['state', id]).stdout).pid;
  const seccompAtCreate = /^Seccomp:\s*(\d)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  const started = cli(['start', id]);
  assert.equal(started.status, 0, show(started));
  const extra = afterStart ? await afterStart(pid) : undefined;
  await waitUntil(() => JSON.parse(cli(['state', id]).stdout).status === 'stopped', 20_000, `${id} did not stop`);
  cli(['delete', id]);
  return { pid, seccompAtCreate, extra };
}

test('parity seccomp: the filter is loaded when create returns, and startContainer hooks run under it', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const logDir = sb.mkdir('hooklog', 0o777);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    writeScript(path.join(rootfs, 'hook.sh'), 'grep "^Seccomp:" /proc/self/status > /hooklog/out; mkdir /hooklog/made 2>/dev/null; echo "mkdir rc=$?" >> /hooklog/out');
    c.mounts.push({ destination: '/hooklog', type: 'bind', source: logDir, options: ['rbind', 'rw'] });
    c.hooks = { startContainer: [{ path: '/hook.sh', args: ['hook.sh'] }] };
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    c.process.args = ['true'];
  } });
  const results = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('hookfilter')], ['tsrt', (a) => sb.tsrt(a), sb.id('hookfilter')]]) {
    fs.rmSync(path.join(logDir, 'out'), { force: true });
    const r = await lifecycle(cli, b.dir, id);
    results[name] = { seccompAtCreate: r.seccompAtCreate, hook: fs.readFileSync(path.join(logDir, 'out'), 'utf8') };
    assert.equal(fs.existsSync(path.join(logDir, 'made')), false, `${name}: the hook's mkdir was refused by the filter`);
  }
  assert.deepEqual(results.runc, { seccompAtCreate: '2', hook: 'Seccomp:\t2\nmkdir rc=1\n' }, 'runc: filter at create, hook filtered');
  assert.deepEqual(results.tsrt, results.runc);
});

test('parity seccomp: SCMP_ACT_NOTIFY on write is refused by both, in runc\'s words', { skip: NO_RUNC }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: path.join(sb.dir, 'none.sock'), syscalls: [{ names: ['write'], action: 'SCMP_ACT_NOTIFY' }] };
  } });
  const { tsrt, runc } = runBoth(sb, b.dir, 'notifywrite');
  for (const r of [runc, tsrt]) {
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /SCMP_ACT_NOTIFY cannot be used for the write syscall/, show(r));
  }
  assert.match(tsrt.stderr, /linux\.seccomp\.syscalls\[0\]/, 'tsrt names the field');
});

// --- terminal and stdio owner --------------------------------------------------------------

/** Polls `state` of a runtime until its container is stopped. */
function waitStopped(cli, id) {
  return waitUntil(() => JSON.parse(cli(['state', id]).stdout).status === 'stopped', 20_000, `${id} did not stop`);
}

const OWNERS = 'for f in /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; do stat -L -c "%u:%g %a %F" $f; done; echo done';

test('parity terminal: the pty slave belongs to a non-root process.user (uid; devpts keeps the tty group), init and exec', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const b = sb.bundle({ patch: (c) => {
    c.process.terminal = true;
    c.process.user = { uid: 1000, gid: 1000 };
    c.process.args = ['sh', '-c', `${OWNERS}; sleep 1000`];
  } });
  const seen = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('ptyowner')], ['tsrt', (a) => sb.tsrt(a), sb.id('ptyowner')]]) {
    const rx = await ConsoleReceiver.start(sb);
    t.after(() => rx.stop());
    const r = cli(['run', '-d', '--console-socket', rx.path, '--bundle', b.dir, id]);
    assert.equal(r.status, 0, show(r));
    const init = (await rx.waitOutput(/done/)).replace(/\r/g, '');
    const rx2 = await ConsoleReceiver.start(sb);
    t.after(() => rx2.stop());
    const ex = cli(['exec', '-d', '-t', '--console-socket', rx2.path, '--user', '1001:1001', id, 'sh', '-c', OWNERS]);
    assert.equal(ex.status, 0, show(ex));
    const exec = (await rx2.waitOutput(/done/)).replace(/\r/g, '');
    cli(['delete', '--force', id]);
    seen[name] = { init, exec };
  }
  assert.match(seen.runc.init, /^1000:5 620 character special file$/m, `runc:\n${seen.runc.init}`);
  assert.match(seen.runc.exec, /^1001:5 620 character special file$/m, `runc:\n${seen.runc.exec}`);
  assert.deepEqual(seen.tsrt, seen.runc);
});

test('parity stdio: create/run -d give the passed stdio to process.user (not /dev/null); run in the foreground leaves the caller\'s files alone', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const b = sb.bundle({ patch: (c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    c.process.args = ['sh', '-c', OWNERS];
  } });
  const seen = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('stdio')], ['tsrt', (a) => sb.tsrt(a), sb.id('stdio')]]) {
    // stdin is /dev/null (sb's commands ignore stdin): it must stay root's.
    const detached = cli(['run', '-d', '--bundle', b.dir, id]);
    assert.equal(detached.status, 0, show(detached));
    await waitStopped(cli, id);
    cli(['delete', id]);
    const fg = cli(['run', '--bundle', b.dir, `${id}-fg`]);
    assert.equal(fg.status, 0, show(fg));
    seen[name] = {
      detachedFile: `${fs.statSync(detached.out).uid}`,
      detachedInside: detached.stdout.replace(/ (regular empty file|regular file)/g, ' file'),
      foregroundFile: `${fs.statSync(fg.out).uid}`,
    };
  }
  assert.deepEqual(seen.runc.detachedFile, '1000', 'runc chowned the file it passed as stdout');
  assert.match(seen.runc.detachedInside, /^0:0 666 character special file\n1000:0 644 file\n1000:0 644 file\ndone\n$/);
  assert.equal(seen.runc.foregroundFile, '0', 'runc in the foreground passes pipes of its own');
  assert.deepEqual(seen.tsrt, seen.runc);
});

test('parity exec: --process FILE without "user" runs as 0:0, as runc', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const b = sb.bundle({ patch: (c) => { c.process.user = { uid: 1000, gid: 1000 }; c.process.args = ['sleep', '1000']; } });
  const procFile = path.join(sb.dir, 'process.json');
  fs.writeFileSync(procFile, JSON.stringify({ args: ['id'], cwd: '/', env: ['PATH=/bin:/usr/bin'] }));
  const seen = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('procfile')], ['tsrt', (a) => sb.tsrt(a), sb.id('procfile')]]) {
    assert.equal(cli(['run', '-d', '--bundle', b.dir, id]).status, 0);
    const ex = cli(['exec', '--process', procFile, id]);
    cli(['delete', '--force', id]);
    seen[name] = { status: ex.status, out: ex.stdout };
  }
  assert.deepEqual(seen.runc, { status: 0, out: 'uid=0(root) gid=0(root)\n' });
  assert.deepEqual(seen.tsrt, seen.runc);
});

test('parity exec: in the foreground without a terminal the process gets pipes, owned by its user, copied both ways, as runc', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  // Our stdout and stderr are files: an fd passed through would read as the file.
  const probe = 'for f in 0 1 2; do echo "fd$f $(readlink /proc/$$/fd/$f) $(stat -L -c "%u %a" /proc/$$/fd/$f)"; done; cat; echo to-err >&2; exit 3';
  const seen = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('exio')], ['tsrt', (a, o) => sb.tsrt(a, o), sb.id('exio')]]) {
    assert.equal(cli(['run', '-d', '--bundle', b.dir, id]).status, 0);
    const ex = cli(['exec', '--user', '1000:1000', id, 'sh', '-c', probe], { input: 'from stdin\n' });
    cli(['delete', '--force', id]);
    seen[name] = { status: ex.status, out: ex.stdout.replace(/pipe:\[\d+\]/g, 'pipe'), err: ex.stderr };
  }
  assert.deepEqual(seen.runc, { status: 3, out: 'fd0 pipe 1000 600\nfd1 pipe 1000 600\nfd2 pipe 1000 600\nfrom stdin\n', err: 'to-err\n' });
  assert.deepEqual(seen.tsrt, seen.runc);
});

// --- cgroups ------------------------------------------------------------------------------

/** The v1 devices cgroup dir of a pid (undefined without a v1 devices hierarchy). */
function devicesDir(pid) {
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes('devices'));
  const dir = line && path.join('/sys/fs/cgroup/devices', line.split(':').slice(2).join(':'));
  return dir && fs.existsSync(path.join(dir, 'devices.list')) ? dir : undefined;
}

const KMSG = { path: '/dev/kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o600, uid: 0, gid: 0 };
// Opened for writing (nothing is written): opening /dev/kmsg for reading also needs CAP_SYSLOG.
const OPEN_PROBE = 'for d in /dev/kmsg /dev/zero /dev/null; do if (: > $d) 2>/dev/null; then echo "$d open"; else echo "$d denied"; fi; done; sleep 1000';

test('parity devices: linux.devices makes nodes, only linux.resources.devices grants access (devices.list as runc\'s)', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const cases = [
    // listed, denied by the resources: no access
    { devices: [KMSG], rules: [{ allow: false, access: 'rwm' }], want: /kmsg denied\n\/dev\/zero open/ },
    // listed and allowed
    { devices: [KMSG], rules: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'rw' }], want: /kmsg open\n\/dev\/zero open/ },
    // a device on a default's path replaces that default, its allow rule included
    { devices: [{ path: '/dev/zero', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 }], rules: [{ allow: false, access: 'rwm' }], want: /\/dev\/zero denied\n\/dev\/null open/ },
  ];
  for (const [i, { devices, rules, want }] of cases.entries()) {
    const b = sb.bundle({ patch: (c) => {
      c.linux.devices = devices;
      c.linux.resources = { devices: rules };
      c.process.args = ['sh', '-c', OPEN_PROBE];
    } });
    const seen = {};
    for (const [name, cli, id] of [['runc', runc, runc.id(`dev${i}`)], ['tsrt', (a) => sb.tsrt(a), sb.id(`dev${i}`)]]) {
      const r = cli(['run', '-d', '--bundle', b.dir, id]);
      assert.equal(r.status, 0, show(r));
      const pid = JSON.parse(cli(['state', id]).stdout).pid;
      await waitUntil(() => r.stdout.split('\n').length > 3, 20_000, `${name}: probe output`);
      const dir = devicesDir(pid);
      seen[name] = { probe: r.stdout, list: dir ? fs.readFileSync(path.join(dir, 'devices.list'), 'utf8').split('\n').filter(Boolean).sort() : 'no v1 devices' };
      cli(['delete', '--force', id]);
    }
    assert.match(seen.runc.probe, want, `runc, case ${i}`);
    assert.deepEqual(seen.tsrt, seen.runc, `case ${i}: ${JSON.stringify({ devices: devices.map((d) => d.path), rules })}`);
  }
});

test('parity exec --cgroup: "/" and "CTRL:/" are the container\'s own cgroup, as runc (on cgroup v2 both refuse a controller name)', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
  for (const [name, cli, id] of [['runc', runc, runc.id('cgtop')], ['tsrt', (a) => sb.tsrt(a), sb.id('cgtop')]]) {
    assert.equal(cli(['run', '-d', '--bundle', b.dir, id]).status, 0);
    const pid = JSON.parse(cli(['state', id]).stdout).pid;
    const init = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    // pure cgroup v2: one "0::PATH" line, no controller has a hierarchy of its own
    const v2 = init.trim().split('\n').every((l) => l.startsWith('0::'));
    for (const arg of ['/', 'memory:/', 'pids,memory:/']) {
      const r = cli(['exec', '--cgroup', arg, id, 'cat', '/proc/self/cgroup']);
      if (v2 && arg !== '/') {
        assert.notEqual(r.status, 0, `${name} exec --cgroup ${arg} on cgroup v2\n${show(r)}`);
        if (name === 'tsrt') assert.match(r.stderr, /--cgroup: the container has no (pids|memory) cgroup \(it has: unified\)/, show(r));
        continue;
      }
      assert.equal(r.status, 0, `${name} exec --cgroup ${arg}\n${show(r)}`);
      assert.equal(r.stdout, init, `${name} exec --cgroup ${arg}: the init's cgroups`);
    }
    cli(['delete', '--force', id]);
  }
});

// runc 1.2+ (libcontainer's Create) refuses a cgroup with processes anywhere below it;
// runc 1.1.5, installed here, only warns, so this follows the source, not the binary.
test('parity cgroups: a cgroupsPath whose cgroup has processes below it is refused in runc\'s words, nothing left', { skip: process.getuid() === 0 ? false : 'needs root' }, async (t) => {
  const pidsRoot = '/sys/fs/cgroup/pids';
  if (!fs.existsSync(path.join(pidsRoot, 'cgroup.procs'))) return t.skip('no v1 pids hierarchy here');
  const sb = new Sandbox(t);
  const name = `tsrt-test-busy-${process.pid}-${Date.now()}`;
  const child = path.join(pidsRoot, name, 'inner');
  fs.mkdirSync(child, { recursive: true });
  const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore' });
  t.after(async () => {
    sleeper.kill('SIGKILL');
    await waitUntil(() => sleeper.exitCode !== null || sleeper.signalCode !== null, 10_000, 'sleep did not die');
    for (const d of [child, path.dirname(child)]) {
      await waitUntil(() => { try { fs.rmdirSync(d); return true; } catch (e) { return e.code === 'ENOENT'; } }, 10_000, `rmdir ${d}`);
    }
  });
  fs.writeFileSync(path.join(child, 'cgroup.procs'), String(sleeper.pid));
  const b = sb.bundle({ patch: (c) => { c.linux.cgroupsPath = `/${name}`; c.process.args = ['true']; } });
  const id = sb.id('busy');
  const r = sb.tsrt(['create', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /linux\.cgroupsPath: container's cgroup is not empty: 1 process\(es\) found/, show(r));
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state left');
  const others = fs.readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h, name)).filter((d) => !d.startsWith(pidsRoot + '/'));
  assert.deepEqual(others.filter((d) => fs.existsSync(d)), [], 'no cgroup made for it in the other hierarchies');
  assert.equal(fs.readFileSync(path.join(child, 'cgroup.procs'), 'utf8').trim(), String(sleeper.pid), 'the process stays where it was');
});

/** The v1 cgroup dir of a pid in the hierarchy of `controller` (undefined when there is none). */
function v1Dir(pid, controller) {
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  return line && path.join('/sys/fs/cgroup', controller, line.split(':').slice(2).join(':'));
}

test('parity update: --memory -1 after a swap limit lifts both (runc\'s unlimited-memory rule), then --memory 50M', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const b = sb.bundle({ patch: (c) => {
    c.process.args = ['sleep', '1000'];
    c.linux.resources.memory = { limit: 100 * 2 ** 20, swap: 200 * 2 ** 20 };
  } });
  const seen = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('memunl')], ['tsrt', (a) => sb.tsrt(a), sb.id('memunl')]]) {
    assert.equal(cli(['run', '-d', '--bundle', b.dir, id]).status, 0);
    const dir = v1Dir(JSON.parse(cli(['state', id]).stdout).pid, 'memory');
    if (!dir || !fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes'))) {
      cli(['delete', '--force', id]);
      return t.skip('no v1 memory hierarchy with swap accounting here');
    }
    const files = () => ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join(' ');
    const steps = [];
    for (const args of [['--memory', '-1'], ['--memory', '50M'], ['--memory-swap', '-1']]) {
      const r = cli(['update', ...args, id]);
      steps.push(`${args.join(' ')}: ${r.status} ${files()}`);
    }
    cli(['delete', '--force', id]);
    seen[name] = steps;
  }
  // "unlimited" reads back as the largest page multiple (the page size varies).
  const unl = /^--memory -1: 0 (\d{18,}) \1$/.exec(seen.runc[0])?.[1];
  assert.ok(unl, `runc: both unlimited\n${seen.runc.join('\n')}`);
  assert.deepEqual(seen.runc, [`--memory -1: 0 ${unl} ${unl}`, `--memory 50M: 0 52428800 ${unl}`, `--memory-swap -1: 0 52428800 ${unl}`]);
  assert.deepEqual(seen.tsrt, seen.runc);
});

// --- no mount namespace of its own --------------------------------------------------------

const HAVE_UNSHARE = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0;
const NO_UNSHARE = NO_RUNC || (HAVE_UNSHARE ? false : 'unshare --mount does not work here');

/** The demo bundle without a mount namespace (and so without masked/read-only paths). */
function sharedMountBundle(sb, args) {
  return sb.bundle({ patch: (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'mount');
    delete c.linux.maskedPaths;
    delete c.linux.readonlyPaths;
    c.process.args = args;
  } });
}

/**
 * Runs `script` (sh, with $RT the runtime command) in a mount namespace of its own made
 * by unshare: "the runtime's mount namespace" is then a throwaway one, never the host's.
 */
function inPrivateMountNs(sb, rt, script) {
  return runToFiles('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    ...sb.ioFiles(), label: `unshare sh -c (${rt})`, cwd: sb.dir, env: { ...process.env, RT: rt },
  });
}

test('parity mount namespace: none in linux.namespaces, the container mounts in the runtime\'s and chroots, as runc', { skip: NO_UNSHARE }, (t) => {
  const sb = new Sandbox(t);
  const runcRoot = path.join(sb.dir, 'runc-state');
  const b = sharedMountBundle(sb, ['sh', '-c', 'readlink /proc/self/ns/mnt; ls /; ls /dev/null /proc/1/status']);
  const bd = sharedMountBundle(sb, ['sleep', '1000']);
  const script = (id) => `
    readlink /proc/self/ns/mnt
    $RT run --bundle ${b.dir} ${id}; echo "run rc=$?"
    echo "left after run: $(grep -c ' ${b.rootfs} ' /proc/self/mountinfo)"
    $RT run -d --bundle ${bd.dir} ${id}-d >/dev/null 2>&1; echo "run -d rc=$?"
    $RT exec ${id}-d ls /etc/passwd /linuxrc; echo "exec rc=$?"
    $RT delete --force ${id}-d; echo "left after delete: $(grep -c ' ${b.rootfs} ' /proc/self/mountinfo)"`;
  const seen = {};
  for (const [name, rt, id] of [['runc', `runc --root ${runcRoot}`, sb.id('runc-nomnt')], ['tsrt', `${TSRT} --root ${sb.root}`, sb.id('nomnt')]]) {
    // (if the script stops half-way: processes and cgroups go, the namespace goes with them)
    if (name === 'tsrt') sb.ids.add(`${id}-d`);
    else sb.beforeCleanup(() => spawnSync('runc', ['--root', runcRoot, 'delete', '--force', `${id}-d`], { stdio: 'ignore', timeout: 30_000 }));
    const r = inPrivateMountNs(sb, rt, script(id));
    assert.equal(r.status, 0, show(r));
    seen[name] = r.stdout;
  }
  for (const [name, out] of Object.entries(seen)) {
    const [runtimeNs, containerNs] = out.split('\n');
    assert.equal(containerNs, runtimeNs, `${name}: the container is in the runtime's mount namespace\n${out}`);
    assert.match(out, /^linuxrc$/m, `${name}: its / is the rootfs`);
    assert.match(out, /^\/dev\/null\n\/proc\/1\/status\nrun rc=0$/m, `${name}: /dev and /proc are mounted for it`);
    assert.match(out, /^run -d rc=0$/m, name);
  }
  // Differences, by design: runc leaves the container's mounts in the namespace after
  // delete, and its exec (no mount namespace to join) runs in the runtime's root; tsrt
  // detaches them and chroots the exec'd process into the rootfs like the init.
  assert.match(seen.tsrt, /^left after run: 0$/m, seen.tsrt);
  assert.match(seen.tsrt, /^\/etc\/passwd\n\/linuxrc\nexec rc=0$/m, seen.tsrt);
  assert.match(seen.tsrt, /^left after delete: 0$/m, seen.tsrt);
  assert.match(seen.runc, /^left after run: [1-9]/m, `runc leaves its mounts:\n${seen.runc}`);
});

test('parity mount namespace: masked or read-only paths without one are refused by both', { skip: NO_UNSHARE }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'mount'); c.process.args = ['true']; } });
  const runcRoot = path.join(sb.dir, 'runc-state');
  for (const [name, rt] of [['runc', `runc --root ${runcRoot}`], ['tsrt', `${TSRT} --root ${sb.root}`]]) {
    const r = inPrivateMountNs(sb, rt, `$RT run --bundle ${b.dir} ${sb.id('masked')}`);
    assert.notEqual(r.status, 0, `${name}\n${show(r)}`);
    assert.match(r.stderr, /unable to restrict sys entries without a private MNT namespace/, `${name}\n${show(r)}`);
  }
});

test('parity mount namespace: joining one by path, the container is set up and pivots inside it, as runc', { skip: NO_UNSHARE }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const before = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(ROOTFS)).length;
  for (const [name, cli, id] of [['runc', runc, runc.id('joinmnt')], ['tsrt', (a) => sb.tsrt(a), sb.id('joinmnt')]]) {
    // A namespace of its own for each runtime: pivot_root in it changes its root.
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
    t.after(() => holder.kill('SIGKILL'));
    const nsPath = `/proc/${holder.pid}/ns/mnt`;
    await waitUntil(() => { try { return fs.readlinkSync(nsPath) !== fs.readlinkSync('/proc/self/ns/mnt'); } catch { return false; } }, 10_000, 'the holder did not unshare');
    const b = sb.bundle({ patch: (c) => {
      c.linux.namespaces = c.linux.namespaces.map((n) => (n.type === 'mount' ? { type: 'mount', path: nsPath } : n));
      c.process.args = ['sh', '-c', 'readlink /proc/self/ns/mnt; ls / | grep -c linuxrc'];
    } });
    const r = cli(['run', '--bundle', b.dir, id]);
    assert.equal(r.status, 0, `${name}\n${show(r)}`);
    assert.equal(r.stdout, `${fs.readlinkSync(nsPath)}\n1\n`, `${name}: in the joined namespace, in its rootfs`);
    holder.kill('SIGKILL');
  }
  const after = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(ROOTFS)).length;
  assert.equal(after, before, 'nothing was mounted in the test\'s own mount namespace');
});

test('mount namespace shared: delete detaches what the container stacked on the rootfs, never a mount that was there before', { skip: HAVE_UNSHARE ? false : 'unshare --mount does not work here' }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'mount');
    delete c.linux.maskedPaths;
    delete c.linux.readonlyPaths;
    c.process.args = ['sleep', '1000'];
  } });
  const id = sb.id('decoy');
  sb.ids.add(id);
  // The decoy: the rootfs bound onto itself before create, as an engine's rootfs mount,
  // with a file only that mount shows.
  const r = inPrivateMountNs(sb, `${TSRT} --root ${sb.root}`, `
    R=${b.rootfs}
    mount --bind $R $R && mount -t tmpfs decoy $R/tmp && touch $R/tmp/decoy-marker || exit 9
    echo "before: $(grep -c " $R " /proc/self/mountinfo)"
    $RT run -d --bundle ${b.dir} ${id} >/dev/null 2>&1; echo "run -d rc=$?"
    echo "running: $(grep -c " $R " /proc/self/mountinfo)"
    $RT delete --force ${id}; echo "delete rc=$?"
    echo "after: $(grep -c " $R " /proc/self/mountinfo)"
    ls $R/tmp/decoy-marker`);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^before: 1\nrun -d rc=0\nrunning: 2\ndelete rc=0\nafter: 1\n.*decoy-marker\n$/m, show(r));
});

// --- kill --all after the init died ------------------------------------------------------------

test('parity kill: kill --all after the init died kills what it left in a pid namespace it joined (containerd\'s shims rely on it), and not the namespace\'s owner', { skip: NO_RUNC }, async (t) => {
  const sb = new Sandbox(t);
  const runc = runcIn(sb);
  const seen = {};
  for (const [name, cli, id] of [['runc', runc, runc.id('killall')], ['tsrt', (a) => sb.tsrt(a), sb.id('killall')]]) {
    const owner = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; } });
    assert.equal(cli(['run', '-d', '--bundle', owner.dir, `${id}-owner`]).status, 0);
    const ownerPid = sb.track(JSON.parse(cli(['state', `${id}-owner`]).stdout).pid);
    const joiner = sb.bundle({ patch: (c) => {
      c.process.args = ['sleep', '1000'];
      c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid').concat({ type: 'pid', path: `/proc/${ownerPid}/ns/pid` });
    } });
    const started = cli(['run', '-d', '--bundle', joiner.dir, id]);
    assert.equal(started.status, 0, show(started));
    const joinerPid = sb.track(JSON.parse(cli(['state', id]).stdout).pid);
    const ex = cli(['exec', '-d', id, 'sleep', '1001']);
    assert.equal(ex.status, 0, show(ex));
    // the exec'd sleep: in the owner's pid namespace, with the joiner's cgroup
    const cgroupOf = (pid) => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    let left;
    await waitUntil(() => {
      left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== joinerPid).find((p) => {
        try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x001001\x00' && cgroupOf(p) === cgroupOf(joinerPid); } catch { return false; }
      });
      return left;
    }, 10_000, `${name}: the exec'd process`);
    sb.track(left);
    process.kill(joinerPid, 'SIGKILL');
    await waitStopped(cli, id);
    const all = cli(['kill', '--all', id, 'KILL']);
    const gone = () => { try { return fs.readFileSync(`/proc/${left}/stat`, 'utf8').split(') ')[1][0] === 'Z'; } catch { return true; } };
    await waitUntil(gone, 5000, 'the exec\'d process to go').catch(() => {});
    seen[name] = { killAll: all.status, execdKilled: gone(), owner: JSON.parse(cli(['state', `${id}-owner`]).stdout).status };
    cli(['delete', '--force', id]);
    cli(['delete', '--force', `${id}-owner`]);
  }
  assert.deepEqual(seen.runc, { killAll: 0, execdKilled: true, owner: 'running' }, 'runc');
  assert.deepEqual(seen.tsrt, seen.runc);
});
