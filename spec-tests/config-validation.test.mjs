// config.json validation (src/oci/validate-config.ts + schemas/*.schema.json), tested through
// dist/lib.js (`npm run build` first). Covers the runtime-spec's own example configs
// (../shared/oci-runtime-spec/schema/test/config), each semantic check, and exact message texts.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  validateConfig,
  collectConfigProblems,
  requireProcess,
  checkTerminalSocket,
  KNOWN_CAPABILITIES,
  KNOWN_RLIMITS,
  NAMESPACE_TYPES,
} from '../dist/lib.js';

const SPEC_EXAMPLES = fileURLToPath(new URL('../../shared/oci-runtime-spec/schema/test/config', import.meta.url));
const GOOD = join(SPEC_EXAMPLES, 'good');
const BAD = join(SPEC_EXAMPLES, 'bad');
const LIB = fileURLToPath(new URL('../dist/lib.js', import.meta.url));

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** A minimal valid config for create; tests mutate a fresh copy. */
function base() {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } },
  };
}

/** Runs validateConfig, expects a ConfigError, returns its message. */
function refused(config) {
  let err;
  assert.throws(
    () => validateConfig(config),
    (e) => {
      err = e;
      return true;
    },
  );
  assert.equal(err.name, 'ConfigError', `expected ConfigError, got ${err.name}: ${err.message}`);
  assert.equal(err.code, 'EBADCONFIG');
  assert.match(err.message, /^config\.json: /);
  return err.message;
}

function with_(mutate) {
  const c = base();
  mutate(c);
  return c;
}

// ---------------------------------------------------------------------------------------------

describe('runtime-spec example configs: good/', () => {
  const files = readdirSync(GOOD).filter((f) => f.endsWith('.json')).sort();

  test('the example directory is present and non-empty', () => {
    assert.ok(files.length >= 5, `only ${files.length} files in ${GOOD}`);
  });

  for (const file of files) {
    test(`accepts ${file}`, () => {
      const config = readJson(join(GOOD, file));
      // A few spec examples carry the pre-1.0 draft version "0.5.0-dev": accepted as is.
      assert.deepEqual(collectConfigProblems(config), []);
      assert.equal(validateConfig(config), config);
    });
  }
});

describe('runtime-spec example configs: bad/', () => {
  // For every bad example: either the path the message must name, or why it is skipped.
  const expectations = {
    'linux-hugepage.json': {
      message:
        'config.json: linux.resources.hugepageLimits[0].pageSize: must be a size such as 64KB, 2MB or 1GB, got "64kB"',
    },
    'linux-netdevice.json': { message: 'config.json: linux.netDevices.eth0.name: must be a string, got 23' },
    'linux-rdma.json': {
      message: 'config.json: linux.resources.rdma.mlx5_1.hcaHandles: must be an integer, got "not a uint32"',
    },
    'invalid-json.json': { invalidJson: true },
    'freebsd-vnet-disable.json': { skip: 'FreeBSD-only (freebsd.jail.vnet); tsrt does not interpret the freebsd section' },
  };
  const files = readdirSync(BAD).filter((f) => f.endsWith('.json')).sort();

  test('every bad example is classified here', () => {
    const unclassified = files.filter((f) => !(f in expectations));
    assert.deepEqual(unclassified, [], 'new bad examples: decide how tsrt must treat them');
  });

  for (const file of files) {
    const exp = expectations[file];
    if (!exp) continue;
    test(`refuses ${file}`, { skip: exp.skip }, () => {
      const text = readFileSync(join(BAD, file), 'utf8');
      if (exp.invalidJson) {
        // Not JSON at all: the loader's JSON.parse refuses it before validation.
        assert.throws(() => JSON.parse(text), SyntaxError);
        return;
      }
      assert.equal(refused(JSON.parse(text)), exp.message);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('schema: types of known fields, leniency on unknown ones', () => {
  test('unknown properties are tolerated at every level', () => {
    const c = with_((c) => {
      c['org.example.extension'] = { anything: [1, 2] };
      c.process.someFutureField = 7;
      c.linux = { futureThing: true, namespaces: [{ type: 'pid', extra: 'x' }] };
      c.root.extra = null;
    });
    assert.equal(validateConfig(c), c);
  });

  test('other platforms\' sections are carried without interpretation', () => {
    const c = with_((c) => {
      c.windows = { layerFolders: ['x'] };
      c.solaris = { milestone: 'x' };
      c.vm = { hypervisor: { path: '/x' } };
    });
    assert.equal(validateConfig(c), c);
  });

  test('process.args: exact message for empty, missing, and non-string entries', () => {
    const expected = 'config.json: process.args: must be a non-empty array of strings';
    assert.equal(refused(with_((c) => (c.process.args = []))), expected);
    assert.equal(refused(with_((c) => delete c.process.args)), expected);
    assert.equal(refused(with_((c) => (c.process.args = ['sh', 3]))), expected);
    assert.equal(refused(with_((c) => (c.process.args = 'sh'))), expected);
  });

  test('missing required fields name the missing path', () => {
    assert.equal(refused(with_((c) => delete c.root)), 'config.json: root: is required');
    assert.equal(refused(with_((c) => delete c.process.cwd)), 'config.json: process.cwd: is required');
    assert.equal(refused(with_((c) => delete c.ociVersion)), 'config.json: ociVersion: is required');
    assert.equal(
      refused(with_((c) => (c.mounts = [{ destination: '/a' }, { source: 'x' }]))),
      'config.json: mounts[1].destination: is required',
    );
  });

  test('type errors name path, expected type and the value found', () => {
    assert.equal(refused(with_((c) => (c.process = 'sh'))), 'config.json: process: must be an object, got "sh"');
    assert.equal(refused(with_((c) => (c.mounts = {}))), 'config.json: mounts: must be an array, got an object');
    assert.equal(
      refused(with_((c) => (c.process.terminal = 'yes'))),
      'config.json: process.terminal: must be a boolean, got "yes"',
    );
    assert.equal(
      refused(with_((c) => (c.process.user.uid = 1.5))),
      'config.json: process.user.uid: must be an integer, got 1.5',
    );
    assert.equal(
      refused(with_((c) => (c.process.user.gid = -1))),
      'config.json: process.user.gid: must be at least 0, got -1',
    );
    assert.equal(
      refused(with_((c) => (c.process.oomScoreAdj = 1001))),
      'config.json: process.oomScoreAdj: must be at most 1000, got 1001',
    );
  });

  test('keys that are not identifiers are quoted in paths', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { sysctl: { 'net.ipv4.ip_forward': 1 } }))),
      'config.json: linux.sysctl["net.ipv4.ip_forward"]: must be a string, got 1',
    );
    assert.equal(
      refused(with_((c) => (c.annotations = { 'com.example.key': true }))),
      'config.json: annotations["com.example.key"]: must be a string, got true',
    );
    assert.equal(refused(with_((c) => (c.annotations = { '': 'x' }))), 'config.json: annotations: keys must not be empty');
  });

  test('unknown namespace type: exact message', () => {
    const msg = refused(
      with_((c) => (c.linux = { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'foo' }] })),
    );
    assert.equal(
      msg,
      'config.json: linux.namespaces[3].type: unknown namespace type "foo" ' +
        '(expected one of pid, network, mount, ipc, uts, user, cgroup, time)',
    );
  });

  test('other enums say what kind of value is unknown', () => {
    assert.match(
      refused(with_((c) => (c.linux = { seccomp: { defaultAction: 'ALLOW' } }))),
      /^config\.json: linux\.seccomp\.defaultAction: unknown seccomp action "ALLOW" \(expected one of SCMP_ACT_KILL, .*SCMP_ACT_NOTIFY\)$/,
    );
    assert.match(
      refused(with_((c) => (c.linux = { devices: [{ path: '/dev/x', type: 'x', major: 1, minor: 1 }] }))),
      /^config\.json: linux\.devices\[0\]\.type: unknown device type "x" \(expected one of c, b, u, p\)$/,
    );
    assert.match(
      refused(with_((c) => (c.linux = { rootfsPropagation: 'bogus' }))),
      /linux\.rootfsPropagation: unknown rootfs propagation "bogus"/,
    );
    assert.match(
      refused(with_((c) => (c.process.scheduler = { policy: 'SCHED_FAST' }))),
      /process\.scheduler\.policy: unknown scheduler policy "SCHED_FAST"/,
    );
  });

  test('anyOf "at least one of" constraints give one sentence', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { resources: { blockIO: { weightDevice: [{ major: 8, minor: 0 }] } } }))),
      'config.json: linux.resources.blockIO.weightDevice[0]: must set at least one of weight, leafWeight',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { resources: { rdma: { mlx5_1: {} } } }))),
      'config.json: linux.resources.rdma.mlx5_1: must set at least one of hcaHandles, hcaObjects',
    );
  });

  test('seccomp syscall names must be non-empty', () => {
    assert.equal(
      refused(
        with_((c) => (c.linux = { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] } })),
      ),
      'config.json: linux.seccomp.syscalls[0].names: must be a non-empty array of syscall names',
    );
  });

  test('device cgroup access is a combination of r, w, m', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { resources: { devices: [{ allow: true, access: 'rwx' }] } }))),
      'config.json: linux.resources.devices[0].access: must be a combination of r, w and m, got "rwx"',
    );
  });

  test('several problems: up to three joined with "; ", then a count', () => {
    const msg = refused(
      with_((c) => {
        c.hostname = 1;
        c.domainname = 2;
        c.process.terminal = 'yes';
        c.process.noNewPrivileges = 'no';
      }),
    );
    assert.equal(
      msg,
      'config.json: hostname: must be a string, got 1; domainname: must be a string, got 2; ' +
        'process.terminal: must be a boolean, got "yes"; and 1 more problem',
    );
  });

  test('not an object at all', () => {
    assert.equal(refused([]), 'config.json: (top level): must be a JSON object, got an array');
    assert.equal(refused(null), 'config.json: (top level): must be a JSON object, got null');
  });
});

// ---------------------------------------------------------------------------------------------

describe('semantic checks', () => {
  test('ociVersion range 1.0.0 to 1.3.x', () => {
    for (const v of ['0.5.0-dev', '1.0.0', '1.0.2-dev', '1.1.0', '1.2.1', '1.3.0', '1.3.0+dev', '1.3.7']) {
      assert.deepEqual(collectConfigProblems(with_((c) => (c.ociVersion = v))), [], v);
    }
    assert.equal(
      refused(with_((c) => (c.ociVersion = '2.0.0'))),
      'config.json: ociVersion: unsupported version "2.0.0" (tsrt supports 1.0.0 to 1.3.x, and the 0.5.x drafts)',
    );
    assert.equal(
      refused(with_((c) => (c.ociVersion = '1.4.0'))),
      'config.json: ociVersion: unsupported version "1.4.0" (tsrt supports 1.0.0 to 1.3.x, and the 0.5.x drafts)',
    );
    assert.equal(
      refused(with_((c) => (c.ociVersion = '0.6.0'))),
      'config.json: ociVersion: unsupported version "0.6.0" (tsrt supports 1.0.0 to 1.3.x, and the 0.5.x drafts)',
    );
    assert.equal(
      refused(with_((c) => (c.ociVersion = 'v1.0'))),
      'config.json: ociVersion: must be a SemVer version such as "1.2.0", got "v1.0"',
    );
    assert.equal(refused(with_((c) => (c.ociVersion = 1))), 'config.json: ociVersion: must be a string, got 1');
  });

  test('mount destinations must be absolute: exact message', () => {
    const msg = refused(
      with_((c) => (c.mounts = [{ destination: '/proc', type: 'proc' }, { destination: '/dev' }, { destination: 'tmp' }])),
    );
    assert.equal(msg, 'config.json: mounts[2].destination: must be an absolute path, got "tmp"');
  });

  test('mount uidMappings and gidMappings go together; idmap needs mappings or a user namespace', () => {
    const map = [{ containerID: 0, hostID: 1000, size: 10 }];
    assert.equal(
      refused(with_((c) => (c.mounts = [{ destination: '/data', uidMappings: map, options: ['idmap'] }]))),
      'config.json: mounts[0]: uidMappings and gidMappings must be given together (only uidMappings is set)',
    );
    assert.deepEqual(
      collectConfigProblems(
        with_((c) => (c.mounts = [{ destination: '/data', uidMappings: map, gidMappings: map, options: ['rbind', 'idmap'] }])),
      ),
      [],
    );
    assert.equal(
      refused(with_((c) => (c.mounts = [{ destination: '/data', source: '/src', options: ['rbind', 'ridmap'] }]))),
      'config.json: mounts[0].options: "ridmap" needs uidMappings/gidMappings on the mount or a user namespace in linux.namespaces',
    );
  });

  test('process.cwd must be absolute', () => {
    assert.equal(
      refused(with_((c) => (c.process.cwd = 'home'))),
      'config.json: process.cwd: must be an absolute path, got "home"',
    );
  });

  test('an unknown capability is no error: validateConfig drops it (config.md: "Runtimes SHOULD NOT fail")', () => {
    const cfg = with_((c) => (c.process.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL', 'CAP_TEST'] }));
    assert.deepEqual(collectConfigProblems(cfg), []);
    assert.deepEqual(validateConfig(cfg).process.capabilities, { bounding: ['CAP_KILL'], effective: ['CAP_KILL'] });
    // every known name is accepted in every set
    const all = [...KNOWN_CAPABILITIES];
    const c = with_((c) => (c.process.capabilities = { bounding: all, effective: all, inheritable: all, permitted: all, ambient: all }));
    assert.deepEqual(collectConfigProblems(c), []);
  });

  test('KNOWN_CAPABILITIES: the 41 Linux capabilities in bit order', () => {
    assert.equal(KNOWN_CAPABILITIES.length, 41);
    assert.equal(KNOWN_CAPABILITIES[0], 'CAP_CHOWN');
    assert.equal(KNOWN_CAPABILITIES[21], 'CAP_SYS_ADMIN');
    assert.equal(KNOWN_CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
    assert.equal(new Set(KNOWN_CAPABILITIES).size, 41);
    assert.ok(KNOWN_CAPABILITIES.every((n) => /^CAP_[A-Z_]+$/.test(n)));
  });

  test('rlimits: known types, no duplicates, soft <= hard', () => {
    assert.equal(KNOWN_RLIMITS.length, 16);
    assert.equal(
      refused(with_((c) => (c.process.rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }]))),
      'config.json: process.rlimits[0].type: unknown rlimit "RLIMIT_FOO" (expected an RLIMIT_* name from getrlimit(2))',
    );
    assert.equal(
      refused(
        with_(
          (c) =>
            (c.process.rlimits = [
              { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 },
              { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
              { type: 'RLIMIT_NOFILE', soft: 10, hard: 10 },
            ]),
        ),
      ),
      'config.json: process.rlimits[2].type: duplicate rlimit "RLIMIT_NOFILE" (also at process.rlimits[0])',
    );
    assert.equal(
      refused(with_((c) => (c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]))),
      'config.json: process.rlimits[0]: soft limit 2048 is greater than hard limit 1024',
    );
    const all = KNOWN_RLIMITS.map((type) => ({ type, soft: 1, hard: 18446744073709551615 }));
    assert.deepEqual(collectConfigProblems(with_((c) => (c.process.rlimits = all))), []);
  });

  test('hooks: absolute path, timeout > 0', () => {
    assert.equal(
      refused(with_((c) => (c.hooks = { createRuntime: [{ path: '/bin/true' }, { path: 'hook.sh' }] }))),
      'config.json: hooks.createRuntime[1].path: must be an absolute path, got "hook.sh"',
    );
    assert.equal(
      refused(with_((c) => (c.hooks = { poststart: [{ path: '/bin/true', timeout: 0 }] }))),
      'config.json: hooks.poststart[0].timeout: must be greater than 0, got 0',
    );
    assert.equal(
      refused(with_((c) => (c.hooks = { poststop: [{ path: '/bin/true', timeout: 1.5 }] }))),
      'config.json: hooks.poststop[0].timeout: must be an integer, got 1.5',
    );
  });

  test('namespaces: no duplicates, absolute paths; empty path means a new namespace', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'pid', path: '/proc/1/ns/pid' }] }))),
      'config.json: linux.namespaces[2].type: duplicate namespace type "pid" (also at linux.namespaces[0])',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'network', path: 'var/run/netns/a' }] }))),
      'config.json: linux.namespaces[0].path: must be an absolute path, got "var/run/netns/a"',
    );
    assert.deepEqual(collectConfigProblems(with_((c) => (c.linux = { namespaces: [{ type: 'network', path: '' }] }))), []);
    const all = NAMESPACE_TYPES.filter((t) => t !== 'user').map((type) => ({ type }));
    assert.deepEqual(collectConfigProblems(with_((c) => (c.linux = { namespaces: all }))), []);
  });

  test('a new user namespace needs uid and gid mappings', () => {
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'pid' }, { type: 'user' }] }))),
      'config.json: linux.uidMappings: required when a new user namespace is created (linux.namespaces[1] has type user and no path); ' +
        'linux.gidMappings: required when a new user namespace is created (linux.namespaces[1] has type user and no path)',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'user' }], uidMappings: map }))),
      'config.json: linux.gidMappings: required when a new user namespace is created (linux.namespaces[0] has type user and no path)',
    );
    assert.deepEqual(
      collectConfigProblems(with_((c) => (c.linux = { namespaces: [{ type: 'user' }], uidMappings: map, gidMappings: map }))),
      [],
    );
    // joining an existing user namespace: no mappings needed
    assert.deepEqual(
      collectConfigProblems(with_((c) => (c.linux = { namespaces: [{ type: 'user', path: '/proc/42/ns/user' }] }))),
      [],
    );
    assert.equal(
      refused(
        with_((c) => (c.linux = { namespaces: [{ type: 'user' }], uidMappings: [{ containerID: 0, hostID: 1, size: 0 }], gidMappings: map })),
      ),
      'config.json: linux.uidMappings[0].size: must be greater than 0',
    );
  });

  test('mappings without a user namespace are refused', () => {
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'pid' }], uidMappings: map, gidMappings: map }))),
      'config.json: linux.uidMappings: user namespace mappings given but linux.namespaces has no user namespace',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { gidMappings: map }))),
      'config.json: linux.gidMappings: user namespace mappings given but linux.namespaces has no user namespace',
    );
  });

  test('timeOffsets need a new time namespace and known clocks', () => {
    const offsets = { monotonic: { secs: 10 }, boottime: { secs: 1, nanosecs: 5 } };
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'pid' }], timeOffsets: offsets }))),
      'config.json: linux.timeOffsets: requires a time namespace (no entry of type time in linux.namespaces)',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'time', path: '/proc/1/ns/time' }], timeOffsets: offsets }))),
      'config.json: linux.timeOffsets: cannot be applied when joining an existing time namespace (linux.namespaces[0].path is set)',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { namespaces: [{ type: 'time' }], timeOffsets: { realtime: { secs: 1 } } }))),
      'config.json: linux.timeOffsets.realtime: unknown clock "realtime" (expected monotonic or boottime)',
    );
    assert.deepEqual(collectConfigProblems(with_((c) => (c.linux = { namespaces: [{ type: 'time' }], timeOffsets: offsets }))), []);
  });

  test('devices: major/minor required for c, b, u (not p); absolute path', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { devices: [{ path: '/dev/fuse', type: 'c', minor: 229 }] }))),
      'config.json: linux.devices[0].major: is required for device type "c"',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { devices: [{ path: 'dev/fuse', type: 'c', major: 10, minor: 229 }] }))),
      'config.json: linux.devices[0].path: must be an absolute path, got "dev/fuse"',
    );
    assert.deepEqual(collectConfigProblems(with_((c) => (c.linux = { devices: [{ path: '/dev/fifo', type: 'p' }] }))), []);
  });

  test('maskedPaths / readonlyPaths must be absolute', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { maskedPaths: ['/proc/kcore', 'proc/keys'] }))),
      'config.json: linux.maskedPaths[1]: must be an absolute path, got "proc/keys"',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { readonlyPaths: ['sys'] }))),
      'config.json: linux.readonlyPaths[0]: must be an absolute path, got "sys"',
    );
  });

  test('seccomp: errnoRet only with ERRNO/TRACE actions; listenerMetadata needs listenerPath', () => {
    assert.equal(
      refused(
        with_(
          (c) =>
            (c.linux = {
              seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_KILL', errnoRet: 1 }] },
            }),
        ),
      ),
      'config.json: linux.seccomp.syscalls[0].errnoRet: cannot be used with action "SCMP_ACT_KILL" (only SCMP_ACT_ERRNO, SCMP_ACT_TRACE)',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' } }))),
      'config.json: linux.seccomp.listenerMetadata: requires linux.seccomp.listenerPath',
    );
    assert.deepEqual(
      collectConfigProblems(
        with_((c) => (c.linux = { seccomp: { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] } })),
      ),
      [],
    );
  });

  test('memory policy nodes must fit the mode', () => {
    assert.equal(
      refused(with_((c) => (c.linux = { memoryPolicy: { mode: 'MPOL_BIND' } }))),
      'config.json: linux.memoryPolicy.nodes: is required for mode MPOL_BIND',
    );
    assert.equal(
      refused(with_((c) => (c.linux = { memoryPolicy: { mode: 'MPOL_LOCAL', nodes: '0' } }))),
      'config.json: linux.memoryPolicy.nodes: must be empty for mode MPOL_LOCAL, got "0"',
    );
  });

  test('sysctl keys are not validated here', () => {
    assert.deepEqual(collectConfigProblems(with_((c) => (c.linux = { sysctl: { 'no.such.key': '1', 'kernel.foo': '' } }))), []);
  });

  test('consoleSize is only type-checked (no terminal requirement)', () => {
    assert.deepEqual(collectConfigProblems(with_((c) => (c.process.consoleSize = { height: 25, width: 80 }))), []);
    assert.equal(
      refused(with_((c) => (c.process.consoleSize = { height: 25 }))),
      'config.json: process.consoleSize.width: is required',
    );
  });

  test('a missing process.user defaults to uid 0, gid 0 (as in runc)', () => {
    const c = with_((c) => delete c.process.user);
    assert.equal(validateConfig(c), c);
    assert.deepEqual(c.process.user, { uid: 0, gid: 0 });
    const d = with_((c) => (c.process.user = { uid: 1000, gid: 100, additionalGids: [5] }));
    assert.deepEqual(validateConfig(d).process.user, { uid: 1000, gid: 100, additionalGids: [5] });
  });

  test('process is optional for validateConfig but requireProcess insists', () => {
    const c = with_((c) => delete c.process);
    assert.equal(validateConfig(c), c);
    assert.throws(() => requireProcess(c), {
      name: 'ConfigError',
      message: 'config.json: process: required to create a container',
    });
    const d = base();
    assert.equal(requireProcess(d), d.process);
  });
});

describe('checkTerminalSocket', () => {
  const spec = (terminal) => with_((c) => (c.process.terminal = terminal));

  test('socket given but no terminal', () => {
    assert.throws(() => checkTerminalSocket(spec(false), '/run/sock', { interactive: false }), {
      name: 'ConfigError',
      message: '--console-socket given but process.terminal is false',
    });
    assert.throws(() => checkTerminalSocket(with_((c) => delete c.process), '/run/sock', { interactive: true }), {
      message: '--console-socket given but process.terminal is false',
    });
  });

  test('terminal without socket: an error only when not interactive', () => {
    assert.throws(() => checkTerminalSocket(spec(true), undefined, { interactive: false }), {
      name: 'ConfigError',
      message: 'process.terminal is true: --console-socket is required (or run from a terminal)',
    });
    assert.doesNotThrow(() => checkTerminalSocket(spec(true), undefined, { interactive: true }));
  });

  test('consistent combinations pass', () => {
    assert.doesNotThrow(() => checkTerminalSocket(spec(true), '/run/sock', { interactive: false }));
    assert.doesNotThrow(() => checkTerminalSocket(spec(false), undefined, { interactive: false }));
    assert.doesNotThrow(() => checkTerminalSocket(spec(undefined), undefined, { interactive: true }));
  });
});

describe('cost', () => {
  test('dist/lib.js carries the standalone validator, not the ajv compiler', () => {
    const text = readFileSync(LIB, 'utf8');
    assert.match(text, /validateConfigSchema/);
    assert.doesNotMatch(text, /node_modules\/ajv\/dist\/(core|ajv|compile\/index)\.js/);
  });

  // How fast validation is: scripts/bench-phases.mjs (timings belong in benchmarks).
});
