// Mount propagation and the old root: nothing a container mounts may reach the host, a
// bidirectional (rshared) volume still works both ways, and --no-pivot leaves no full
// proc or sysfs mount reachable (issue 12, items 7 and 8). The bundles sit under a shared
// mount the test makes (mount --bind D D; mount --make-shared D), as under a systemd host
// whose / is shared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Sandbox, hostMounts, mountChanges, mountPoint, runToFiles, show, waitUntil, withUserNs, TSRT, ROOTFS, DEMO_CONFIG } from './helpers/tsrt.mjs';
import { which } from './helpers/clients.mjs';
import { addCaps } from './helpers/cgroups.mjs';

const RUNC = which('runc');
const FOREIGN = [os.tmpdir(), '/run', '/var/lib/containers', '/var/lib/containerd'];
const PROPAGATIONS = ['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable', undefined];

function sh(cmd) {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

/** A directory of the sandbox made a shared mount point of its own (the sandbox detaches it). */
function sharedMount(sb, name) {
  const dir = sb.mkdir(name);
  sh(`mount --bind '${dir}' '${dir}' && mount --make-shared '${dir}'`);
  return dir;
}

let bundles = 0;

/** A bundle with a private copy of the rootfs, made under `parent`; patch(config, {dir, rootfs}). */
function bundleUnder(parent, patch) {
  const dir = path.join(parent, `bundle-${++bundles}`);
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(dir);
  sh(`cp -a '${ROOTFS}' '${rootfs}'`);
  const config = JSON.parse(fs.readFileSync(DEMO_CONFIG, 'utf8'));
  config.root = { path: rootfs, readonly: false };
  patch(config, { dir, rootfs });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/**
 * Where a mount of the container would land on the host: under the sandbox (the rootfs,
 * the volumes and their peers live there), on / (the --no-pivot move), or on the host's
 * own /proc, /sys and /dev. Other helpers' tests mount elsewhere meanwhile.
 */
function reachable(line, sb) {
  const mp = mountPoint(line);
  return mp === '/' || mp === sb.dir || mp.startsWith(sb.dir + '/') || /^\/(proc|sys|dev)(\/|$)/.test(mp);
}

function assertNoHostMounts(before, sb, when) {
  const { added, removed } = mountChanges(before, sb.dir);
  assert.deepEqual(added.filter((l) => reachable(l, sb)), [], `mounts that reached the host ${when}`);
  assert.deepEqual(removed.filter((l) => reachable(l, sb)), [], `host mounts gone ${when}`);
}

/** The propagation of the mount at `mp` in a mountinfo text: shared/master fields or "private". */
function propagationOf(mountinfo, mp) {
  const line = mountinfo.split('\n').find((l) => l.split(' ')[4] === mp);
  if (!line) return undefined;
  const opt = line.slice(0, line.indexOf(' - ')).split(' ').slice(6).map((o) => o.replace(/:\d+$/, ''));
  return opt.length ? opt.sort().join(',') : 'private';
}

for (const prop of PROPAGATIONS) {
  test(`rootfsPropagation ${prop ?? 'unset'}: a bundle under a shared mount runs, and no container mount reaches the host (created, stopped, deleted)`, (t) => {
    const sb = new Sandbox(t);
    const parent = sharedMount(sb, 'shared-parent');
    const data = path.join(parent, 'data');
    fs.mkdirSync(data);
    const dir = bundleUnder(parent, (c) => {
      if (prop) c.linux.rootfsPropagation = prop;
      // a volume whose source lives on the shared mount as well
      c.mounts.push({ destination: '/mnt', type: 'bind', source: data, options: ['rbind', 'rw'] });
      c.process.args = ['sh', '-c', 'cat /proc/self/mountinfo'];
    });
    const before = hostMounts();
    const id = sb.id('prop');
    sb.create(id, dir);
    assertNoHostMounts(before, sb, 'after create');
    sb.ok(['start', id]);
    sb.ok(['delete', '--force', id]);
    assertNoHostMounts(before, sb, 'after delete --force');
    // A plain run shows what the container sees: its / carries the configured propagation.
    const r = sb.tsrt(['run', '--bundle', dir, sb.id('prop-run')]);
    assert.equal(r.status, 0, show(r));
    const want = { shared: 'shared', rshared: 'shared', slave: 'private', rslave: 'private', unbindable: 'unbindable', runbindable: 'unbindable' }[prop] ?? 'private';
    assert.equal(propagationOf(r.stdout, '/'), want, `propagation of the container's / under ${prop}:\n${r.stdout}`);
    assertNoHostMounts(before, sb, 'after run');
  });
}

/**
 * The runtime commands of one test: tsrt, or runc (when installed) for the same flow, with
 * its own --root under the sandbox. Made before the Sandbox, so that runc's containers are
 * deleted before the sandbox's cleanup removes their state.
 */
function runtimeOf(t, name) {
  let sb;
  const ids = [];
  const root = () => path.join(sb.dir, 'runc-state');
  if (name === 'runc') t.after(() => ids.forEach((id) => spawnSync(RUNC, ['--root', root(), 'delete', '--force', id], { stdio: 'ignore' })));
  return {
    use(sandbox) { sb = sandbox; },
    run(args) {
      if (name === 'tsrt') return sb.tsrt(args);
      if (args[0] === 'create') ids.push(args.at(-1));
      return runToFiles(RUNC, ['--root', root(), ...args], { ...sb.ioFiles(), label: `runc ${args.join(' ')}` });
    },
  };
}

for (const runtime of ['tsrt', 'runc']) {
  test(`rshared volume under rootfsPropagation rshared (${runtime}): mounts cross both ways while the container lives; nothing is left after delete`, { skip: runtime === 'runc' && !RUNC && 'runc is not installed' }, async (t) => {
    const rt = runtimeOf(t, runtime);
    const sb = new Sandbox(t);
    rt.use(sb);
    const ok = (args) => {
      const r = rt.run(args);
      assert.equal(r.status, 0, show(r));
      return r;
    };
    const parent = sharedMount(sb, 'shared-parent');
    const vol = sharedMount(sb, 'bidirectional');
    fs.mkdirSync(path.join(vol, 'from-container'));
    fs.mkdirSync(path.join(vol, 'from-host'));
    const dir = bundleUnder(parent, (c, { rootfs }) => {
      c.linux.rootfsPropagation = 'rshared';
      fs.mkdirSync(path.join(rootfs, 'vol'));
      c.mounts.push({ destination: '/vol', type: 'bind', source: vol, options: ['rbind', 'rshared'] });
      addCaps(c, 'CAP_SYS_ADMIN');
      // mount in the volume, wait for the host's mount to show, then unmount ours
      c.process.args = ['sh', '-c', [
        'mount -t tmpfs -o size=1m from-container /vol/from-container || exit 1',
        'echo made-inside > /vol/from-container/marker',
        'i=0; while [ ! -e /vol/from-host/marker ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done',
        'echo "seen from the host: $(cat /vol/from-host/marker)"',
        'umount /vol/from-container && echo unmounted',
        'while [ -e /vol/from-host/marker ]; do sleep 0.05; done; echo "host mount gone"',
      ].join('\n')];
    });
    const before = hostMounts();
    const id = sb.id('bidir');
    const create = ok(['create', '--bundle', dir, '--pid-file', path.join(sb.dir, 'bidir.pid'), id]);
    sb.track(Number(fs.readFileSync(path.join(sb.dir, 'bidir.pid'), 'utf8')));
    ok(['start', id]);
    // container -> host
    await waitUntil(() => fs.existsSync(path.join(vol, 'from-container', 'marker')), 20_000, 'the container\'s tmpfs in the volume to show on the host');
    assert.equal(fs.readFileSync(path.join(vol, 'from-container', 'marker'), 'utf8'), 'made-inside\n');
    assert.ok(hostMounts().some((l) => mountPoint(l) === path.join(vol, 'from-container')), 'a host mount at the volume\'s from-container');
    // host -> container
    sh(`mount -t tmpfs -o size=1m from-host '${path.join(vol, 'from-host')}' && echo made-outside > '${path.join(vol, 'from-host', 'marker')}'`);
    await waitUntil(() => !hostMounts().some((l) => mountPoint(l) === path.join(vol, 'from-container')), 20_000, 'the container\'s unmount to reach the host');
    sh(`umount '${path.join(vol, 'from-host')}'`);
    await waitUntil(() => JSON.parse(ok(['state', id]).stdout).status === 'stopped', 20_000, 'the container to stop');
    assert.match(create.stdout, /^seen from the host: made-outside$/m, show(create));
    assert.match(create.stdout, /^unmounted$/m, show(create));
    assert.match(create.stdout, /^host mount gone$/m, show(create));
    ok(['delete', '--force', id]);
    assertNoHostMounts(before, sb, 'after delete --force');
  });
}

/** Runs the attack shell of `attack` in a --no-pivot container with docker's default capabilities. */
function noPivotRun(t, script, patch) {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    // docker's default set: CAP_SETFCAP lets `unshare -r` map root (Linux 5.12+)
    addCaps(c, 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_SYS_CHROOT', 'CAP_MKNOD');
    c.process.noNewPrivileges = false;
    c.process.args = ['sh', '-c', script];
    if (patch) patch(c);
  } });
  const before = hostMounts();
  const r = sb.tsrt(['run', '--no-pivot', '--bundle', b.dir, sb.id('nopivot')]);
  assertNoHostMounts(before, sb, 'after a --no-pivot run');
  return r;
}

const ATTACK = [
  // control: a user namespace made in the container can mount what it owns
  'unshare -mrpf sh -c "mount -t tmpfs none /mnt && echo TMPFS-MOUNTED"',
  // the attack: a fresh proc (or sysfs), allowed only while a full one is reachable
  'unshare -mrpf sh -c "mount -t proc none /proc && echo PROC-MOUNTED"',
  'unshare -mrpfn sh -c "mount -t sysfs none /sys && echo SYSFS-MOUNTED"',
  'true',
].join('; ');

for (const userns of [false, true]) {
  test(`--no-pivot${userns ? ' with a user namespace' : ''}: a user namespace made inside cannot mount proc or sysfs (the host's full mounts are detached or covered)`, (t) => {
    const r = noPivotRun(t, ATTACK, userns ? withUserNs : undefined);
    assert.equal(r.status, 0, show(r));
    if (!r.stdout.includes('TMPFS-MOUNTED')) {
      t.skip(`unshare -mrpf cannot make a user namespace in the container here: ${r.stderr.trim()}`);
      return;
    }
    assert.doesNotMatch(r.stdout, /PROC-MOUNTED/, `a fresh proc was mounted:\n${show(r)}`);
    assert.doesNotMatch(r.stdout, /SYSFS-MOUNTED/, `a fresh sysfs was mounted:\n${show(r)}`);
    assert.match(r.stderr, /permission denied|Operation not permitted/i, show(r));
  });
}

test('on a host whose / is rshared (a private copy made by the test), neither pivot_root nor --no-pivot leaks a mount, with every rootfsPropagation', (t) => {
  const sb = new Sandbox(t);
  const lines = [];
  for (const prop of PROPAGATIONS) {
    for (const noPivot of [false, true]) {
      const b = sb.bundle({ patch: (c) => {
        if (prop) c.linux.rootfsPropagation = prop;
        c.process.args = ['true'];
      } });
      const id = sb.id('rshared-host');
      // mount points (field 5) before and after, sorted, on one line each
      lines.push(`b=$(cut -d' ' -f5 /proc/self/mountinfo | sort | tr '\\n' ' '); '${TSRT}' --root '${sb.root}' run ${noPivot ? '--no-pivot ' : ''}--bundle '${b.dir}' ${id} >&2; rc=$?; echo "${prop ?? 'unset'} ${noPivot ? 'no-pivot' : 'pivot'} rc=$rc"; echo "$b"; cut -d' ' -f5 /proc/self/mountinfo | sort | tr '\\n' ' '; echo`);
    }
  }
  // The test's own mount namespace, where / is made rshared as systemd makes it: a leak
  // would land there, never on the real host.
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', '--', 'sh', '-c', `mount --make-rshared / && ${lines.join('\n')}`], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const results = r.stdout.trim().split('\n');
  assert.equal(results.length, PROPAGATIONS.length * 2 * 3, r.stdout + r.stderr);
  for (let i = 0; i < results.length; i += 3) {
    const [what, before, after] = results.slice(i, i + 3);
    assert.match(what, / rc=0$/, `${what}\n${r.stderr}`);
    // Other tests' mounts come and go in the copy too: a mount point they delete on the
    // host is detached here as well.
    const mine = (m) => !FOREIGN.some((d) => m.startsWith(d + '/')) || m === sb.dir || m.startsWith(sb.dir + '/');
    const removed = before.trim().split(' ').filter(mine);
    const added = [];
    for (const m of after.trim().split(' ').filter(mine)) {
      const j = removed.indexOf(m);
      if (j >= 0) removed.splice(j, 1);
      else added.push(m);
    }
    assert.deepEqual({ added, removed }, { added: [], removed: [] }, `mount points that changed in the namespace whose / is rshared: ${what}`);
  }
});
