// process.capabilities: the five sets the container process ends up with, read from
// /proc/self/status inside, match config.json exactly; refusals name the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, show } from './helpers/tsrt.mjs';
import { CAP_BITS, assertRefused, capHex, hostBoundingSet, parseStatus } from './helpers/security.mjs';

const ALL = Object.keys(CAP_BITS);
/** Every capability this host can give (a container without a user namespace). */
const GRANTABLE = ALL.filter((n) => hostBoundingSet() & (1n << BigInt(CAP_BITS[n])));

const STATUS = 'grep -E "^(Cap|NoNewPrivs|Uid|Gid)" /proc/self/status';

function runWithCaps(t, caps, { user, noNewPrivileges = true, extra } = {}) {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => {
    c.process.capabilities = caps;
    c.process.noNewPrivileges = noNewPrivileges;
    if (user) c.process.user = user;
    c.process.args = ['sh', '-c', STATUS];
    extra?.(c);
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('caps')]);
  assert.equal(r.status, 0, show(r));
  return parseStatus(r.stdout);
}

function assertSets(st, caps, what) {
  assert.equal(st.CapBnd, capHex(caps.bounding), `${what}: CapBnd`);
  assert.equal(st.CapEff, capHex(caps.effective), `${what}: CapEff`);
  assert.equal(st.CapPrm, capHex(caps.permitted), `${what}: CapPrm`);
  assert.equal(st.CapInh, capHex(caps.inheritable), `${what}: CapInh`);
  assert.equal(st.CapAmb, capHex(caps.ambient), `${what}: CapAmb`);
}

test('caps: the default set of `tsrt spec` (3 capabilities, ambient without inheritable is dropped as by runc)', (t) => {
  const d = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const st = runWithCaps(t, { bounding: d, effective: d, permitted: d, ambient: d });
  // The kernel raises an ambient capability only if it is permitted AND inheritable.
  assertSets(st, { bounding: d, effective: d, permitted: d, inheritable: [], ambient: [] }, 'default');
  assert.equal(st.NoNewPrivs, '1');
});

test('caps: four different sets for root (effective = permitted)', (t) => {
  const caps = {
    bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_SETUID', 'CAP_SETGID'],
    permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SETUID'],
    effective: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SETUID'],
    inheritable: ['CAP_KILL', 'CAP_SYS_CHROOT'],
    ambient: ['CAP_KILL'],
  };
  assertSets(runWithCaps(t, caps), caps, 'root');
});

test('caps: for root, execve makes the effective set the permitted set (the kernel\'s rule for uid 0)', (t) => {
  // capabilities(7): a program run by uid 0 has its file effective bit treated as set,
  // so whatever effective set the runtime leaves, the program starts with E = P (runc
  // behaves the same). With no_new_privs, P cannot grow beyond what was configured.
  const caps = {
    bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW', 'CAP_SYS_CHROOT'],
    permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW'],
    effective: ['CAP_CHOWN'],
    inheritable: ['CAP_SYS_CHROOT'],
    ambient: [],
  };
  assertSets(runWithCaps(t, caps), { ...caps, effective: caps.permitted }, 'root');
});

test('caps: every capability the host allows', (t) => {
  const caps = { bounding: GRANTABLE, effective: GRANTABLE, permitted: GRANTABLE, inheritable: GRANTABLE, ambient: GRANTABLE };
  assertSets(runWithCaps(t, caps), caps, 'all');
});

test('caps: no capabilities at all (empty lists)', (t) => {
  const caps = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
  assertSets(runWithCaps(t, caps), caps, 'none');
});

test('caps: a non-root user keeps ambient capabilities (permitted + inheritable) across execve', (t) => {
  const caps = {
    bounding: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_KILL'],
    permitted: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_KILL'],
    effective: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_KILL'],
    inheritable: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
    ambient: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
  };
  const st = runWithCaps(t, caps, { user: { uid: 1234, gid: 1234 } });
  assert.match(st.Uid, /^1234\s+1234\s+1234\s+1234$/);
  // After execve a non-root process has permitted = effective = ambient (the file has no
  // capabilities): CAP_KILL, permitted but not ambient, is gone, as the kernel defines.
  const amb = caps.ambient;
  assertSets(st, { bounding: caps.bounding, effective: amb, permitted: amb, inheritable: caps.inheritable, ambient: amb }, 'uid 1234');
});

test('caps: a non-root user without ambient capabilities has none after execve', (t) => {
  const caps = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: [], ambient: [] };
  const st = runWithCaps(t, caps, { user: { uid: 1234, gid: 1234 } });
  assertSets(st, { bounding: ['CAP_KILL'], effective: [], permitted: [], inheritable: [], ambient: [] }, 'uid 1234');
});

test('caps: noNewPrivileges false is shown as NoNewPrivs 0', (t) => {
  const d = ['CAP_KILL'];
  const st = runWithCaps(t, { bounding: d, effective: d, permitted: d }, { noNewPrivileges: false });
  assert.equal(st.NoNewPrivs, '0');
  assertSets(st, { bounding: d, effective: d, permitted: d }, 'nnp false');
});

test('caps: an unknown capability name is ignored with a warning naming the field (config.md: "Runtimes SHOULD NOT fail")', (t) => {
  const sb = new Sandbox(t);
  const d = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const b = sb.bundle({ patch: (c) => {
    c.process.capabilities = { bounding: [...d, 'CAP_TEST'], effective: d, permitted: ['CAP_TEST\u001b[2J', ...d] };
    c.process.args = ['sh', '-c', STATUS];
  } });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('unknown-cap')]);
  assert.equal(r.status, 0, show(r));
  assertSets(parseStatus(r.stdout), { bounding: d, effective: d, permitted: d, inheritable: [], ambient: [] }, 'unknown names dropped');
  assert.match(r.stderr, /level=warning msg=".*process\.capabilities\.bounding: ignoring unknown or unavailable capabilities \\"CAP_TEST\\""/, show(r));
  assert.match(r.stderr, /process\.capabilities\.permitted: ignoring unknown or unavailable capabilities \\"CAP_TEST\\\\u001b\[2J\\"/, show(r));
  assert.doesNotMatch(r.stderr, /\u001b/, 'the name is escaped in the warning');
});

test('caps: a capability missing from the host\'s bounding set is refused, not silently dropped', {
  skip: GRANTABLE.length === ALL.length ? 'this host\'s bounding set has every capability' : false,
}, (t) => {
  const missing = ALL.find((n) => !GRANTABLE.includes(n));
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.capabilities.bounding.push(missing); } });
  assertRefused(sb, b, { field: 'process.capabilities.bounding[3]', why: new RegExp(`${missing} is not in the capability bounding set of this host`) });
});

test('caps: effective outside permitted, inheritable outside bounding are refused by name', (t) => {
  const sb = new Sandbox(t);
  const e = sb.bundle({ patch: (c) => { c.process.capabilities.effective.push('CAP_CHOWN'); } });
  assertRefused(sb, e, { field: 'process.capabilities.effective', why: /CAP_CHOWN is not in process\.capabilities\.permitted/ });
  const i = sb.bundle({ patch: (c) => { c.process.capabilities.inheritable = ['CAP_CHOWN']; } });
  assertRefused(sb, i, { field: 'process.capabilities.inheritable', why: /CAP_CHOWN is not in process\.capabilities\.bounding/ });
});

test('caps: in a user namespace the sets are the same, relative to the namespace', (t) => {
  const caps = {
    bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'],
    permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'],
    effective: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'],
    inheritable: ['CAP_KILL'],
    ambient: ['CAP_KILL'],
  };
  const st = runWithCaps(t, caps, { extra: (c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  } });
  assertSets(st, caps, 'userns');
});
