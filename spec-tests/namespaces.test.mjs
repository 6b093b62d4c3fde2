// Namespaces: each configured type is a NEW namespace (its inode differs from the host's),
// types that are not configured are shared with the host, and namespaces given by path
// are joined (the inode equals the one of the container that owns them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { Sandbox, hostMounts, nsLink, show, waitUntil, withUserNs } from './helpers/tsrt.mjs';

/** config type -> name under /proc/PID/ns */
const NS = { pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup', user: 'user', time: 'time' };
const HAS_TIME_NS = fs.existsSync('/proc/self/ns/time');
const NO_TIME_NS = HAS_TIME_NS ? false : 'this kernel has no time namespaces (/proc/self/ns/time is missing)';

const TEN_DAYS = 86400 * 10;

/** Adds namespace types to a config (user gets the test mappings, time an offset). */
function addNamespaces(c, types) {
  for (const type of types) {
    if (c.linux.namespaces.some((n) => n.type === type)) continue;
    if (type === 'user') withUserNs(c);
    else c.linux.namespaces.push({ type });
    if (type === 'time') c.linux.timeOffsets = { monotonic: { secs: TEN_DAYS, nanosecs: 0 } };
  }
}

/** A script printing "name link" for every namespace of the calling process. */
const PRINT_NS = Object.values(NS).map((n) => `echo ${n} $(readlink /proc/self/ns/${n})`).join('; ');

function parseNs(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+) (\w+:\[\d+\])$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

for (const [type, name] of Object.entries(NS)) {
  test(`namespaces: ${type} is a new namespace`, { skip: type === 'time' && NO_TIME_NS }, (t) => {
    const sb = new Sandbox(t);
    const b = sb.bundle({ patch: (c) => {
      addNamespaces(c, [type]);
      c.process.args = ['sh', '-c', PRINT_NS];
    } });
    const r = sb.tsrt(['run', '--bundle', b.dir, sb.id(type)]);
    assert.equal(r.status, 0, show(r));
    const inside = parseNs(r.stdout);
    const host = nsLink('self', name);
    assert.match(inside[name] ?? '', new RegExp(`^${name}:\\[\\d+\\]$`), `container printed its ${name} namespace:\n${r.stdout}`);
    assert.notEqual(inside[name], host, `${type}: the container's namespace differs from the host's`);
  });
}

test('namespaces: types that are not configured are the host\'s', (t) => {
  const sb = new Sandbox(t);
  // The demo config has pid, network, ipc, uts and mount only.
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sh', '-c', PRINT_NS]; } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('shared')]);
  assert.equal(r.status, 0, show(r));
  const inside = parseNs(r.stdout);
  const shared = ['cgroup', 'user', ...(HAS_TIME_NS ? ['time'] : [])];
  for (const n of shared) assert.equal(inside[n], nsLink('self', n), `${n} is shared with the host`);
  for (const n of ['pid', 'net', 'ipc', 'uts', 'mnt']) assert.notEqual(inside[n], nsLink('self', n), `${n} is new`);
});

test('namespaces: all eight at once, hostname and uid inside', { skip: NO_TIME_NS }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    addNamespaces(c, Object.keys(NS));
    c.process.args = ['sh', '-c', `${PRINT_NS}; hostname; id -u`];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('all')]);
  assert.equal(r.status, 0, show(r));
  const inside = parseNs(r.stdout);
  for (const n of Object.values(NS)) assert.notEqual(inside[n], nsLink('self', n), `${n} is new`);
  assert.deepEqual(r.stdout.split('\n').slice(-3), ['tsrt', '0', '']);
});

test('namespaces: time offsets shift the container\'s clocks', { skip: NO_TIME_NS }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    addNamespaces(c, ['time']);
    // /proc/uptime follows CLOCK_BOOTTIME; CLOCK_MONOTONIC's offset shows in timens_offsets.
    c.linux.timeOffsets = { monotonic: { secs: TEN_DAYS }, boottime: { secs: 2 * TEN_DAYS, nanosecs: 5 } };
    c.process.args = ['sh', '-c', 'cat /proc/self/timens_offsets; cat /proc/uptime'];
  } });
  const hostBefore = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('time')]);
  const hostAfter = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 2).map((l) => l.trim().split(/\s+/)), [['monotonic', String(TEN_DAYS), '0'], ['boottime', String(2 * TEN_DAYS), '5']]);
  const uptime = Number(lines[2].split(' ')[0]);
  assert.ok(uptime >= hostBefore + 2 * TEN_DAYS - 0.01, `uptime inside ${uptime} >= host ${hostBefore} + 20 days`);
  assert.ok(uptime <= hostAfter + 2 * TEN_DAYS + 0.01, `uptime inside ${uptime} <= host ${hostAfter} + 20 days`);
});

test('namespaces: a monotonic offset alone shifts the monotonic clock only', { skip: NO_TIME_NS }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    addNamespaces(c, ['time']);
    c.process.args = ['sh', '-c', 'cat /proc/self/timens_offsets; cat /proc/uptime'];
  } });
  const hostBefore = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('mono')]);
  const hostAfter = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 2).map((l) => l.trim().split(/\s+/)), [['monotonic', String(TEN_DAYS), '0'], ['boottime', '0', '0']]);
  const uptime = Number(lines[2].split(' ')[0]);
  assert.ok(uptime >= hostBefore - 0.01 && uptime <= hostAfter + 0.01, `boottime not shifted: ${uptime} within [${hostBefore}, ${hostAfter}]`);
});

// --- joining namespaces by path ---------------------------------------------------------

/** Creates and starts container A (sleep) with every namespace type of its own. */
function startOwner(sb, types) {
  const b = sb.bundle({ patch: (c) => {
    addNamespaces(c, types);
    c.hostname = 'owner-a';
    c.process.args = ['sleep', '1000'];
  } });
  const id = sb.id('owner');
  const { pid } = sb.create(id, b.dir);
  sb.ok(['start', id]);
  assert.equal(sb.state(id).status, 'running');
  return { id, pid };
}

const JOINABLE = ['pid', 'network', 'ipc', 'uts', 'cgroup', 'user', ...(HAS_TIME_NS ? ['time'] : [])];

test('namespaces: joining another container\'s namespaces by path', async (t) => {
  const sb = new Sandbox(t);
  const a = startOwner(sb, [...JOINABLE, 'mount']);
  for (const type of JOINABLE) {
    await t.test(`join ${type}`, () => {
      const name = NS[type];
      const aNs = nsLink(a.pid, name);
      assert.notEqual(aNs, nsLink('self', name), `A's ${name} namespace is not the host's`);
      const extra = {
        pid: 'echo "pid1=$(cat /proc/1/cmdline | tr "\\0" " ")"; echo "pids=$(ls /proc | grep -E "^[0-9]+$" | tr "\\n" " ")"',
        user: 'echo "uid=$(id -u)"; echo "map=$(cat /proc/self/uid_map | tr -s " ")"',
        uts: 'echo "hostname=$(hostname)"',
        time: 'echo "offsets=$(cat /proc/self/timens_offsets | tr -s " " | tr "\\n" ";")"',
      }[type] ?? 'true';
      const b = sb.bundle({ patch: (c) => {
        const path = `/proc/${a.pid}/ns/${name}`;
        c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== type);
        c.linux.namespaces.push({ type, path });
        // Joining A's UTS namespace: the hostname is A's; setting one would change A's.
        if (type === 'uts') delete c.hostname;
        // A joined user namespace already has its maps: B sets none.
        delete c.linux.uidMappings;
        delete c.linux.gidMappings;
        c.process.args = ['sh', '-c', `echo "ns=$(readlink /proc/self/ns/${name})"; ${extra}`];
      } });
      const r = sb.tsrt(['run', '--bundle', b.dir, sb.id(`join-${type}`)]);
      assert.equal(r.status, 0, show(r));
      const got = Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.equal(got.ns, aNs, `B's ${name} namespace is A's`);
      if (type === 'pid') {
        assert.equal(got.pid1.trim(), 'sleep 1000', 'B sees A\'s init as pid 1');
        assert.ok(got.pids.trim().split(' ').includes('1'), `B's /proc lists A's pid 1: ${got.pids}`);
      }
      if (type === 'user') {
        assert.equal(got.uid, '0');
        assert.equal(got.map.trim(), '0 100000 65536');
      }
      if (type === 'uts') assert.equal(got.hostname, 'owner-a');
      if (type === 'time') assert.equal(got.offsets, `monotonic ${TEN_DAYS} 0;boottime 0 0;`);
      assert.ok(fs.existsSync(`/proc/${a.pid}`) && sb.state(a.id).status === 'running', 'A still runs');
    });
  }
});

test('namespaces: joining a mount namespace by path sets the rootfs up inside it (as runc)', { skip: spawnSync('unshare', ['--mount', 'true']).status === 0 ? false : 'unshare --mount does not work here' }, async (t) => {
  const sb = new Sandbox(t);
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  await waitUntil(() => { try { return nsLink(holder.pid, 'mnt') !== nsLink(process.pid, 'mnt'); } catch { return false; } }, 10_000, 'the holder did not unshare');
  const joining = (pid) => sb.bundle({ patch: (c) => {
    c.linux.namespaces = c.linux.namespaces.map((n) => (n.type === 'mount' ? { type: 'mount', path: `/proc/${pid}/ns/mnt` } : n));
    c.process.args = ['sh', '-c', 'readlink /proc/self/ns/mnt; ls /linuxrc'];
  } });
  const before = hostMounts().length;
  const id = sb.id('join-mnt');
  const r = sb.tsrt(['run', '--bundle', joining(holder.pid).dir, id]);
  assert.equal(r.status, 0, show(r));
  assert.equal(r.stdout, `${nsLink(holder.pid, 'mnt')}\n/linuxrc\n`, 'in the joined mount namespace, in the rootfs');
  assert.equal(hostMounts().length, before, 'nothing mounted in tsrt\'s own namespace');
  // Another container's namespace has pivoted into its rootfs: the bundle's rootfs path
  // does not exist there, and the error says so (runc fails there too).
  const a = startOwner(sb, []);
  const id2 = sb.id('join-mnt');
  const r2 = sb.tsrt(['run', '--bundle', joining(a.pid).dir, id2]);
  assert.notEqual(r2.status, 0, show(r2));
  assert.match(r2.stderr, /rootfs .*ENOENT/, show(r2));
  assert.ok(!fs.existsSync(sb.stateDir(id2)), 'no state dir left');
});

test('namespaces: a namespace path that does not exist fails and names it', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    c.linux.namespaces = c.linux.namespaces.map((n) => (n.type === 'ipc' ? { type: 'ipc', path: '/proc/999999999/ns/ipc' } : n));
  } });
  const id = sb.id('badpath');
  const r = sb.tsrt(['run', '--bundle', b.dir, id]);
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stderr, /\/proc\/999999999\/ns\/ipc/);
  assert.match(r.stderr, /ENOENT/);
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'no state dir left');
});
