// `tsrt features`: the OCI Features structure (features.md, features-linux.md). Valid
// against the spec's schema, shaped like `runc features` (what containerd parses), and
// truthful: everything it lists is accepted by tsrt itself (`create --print-plan`
// compiles a config without starting anything), and what it says is unsupported is
// refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import lib from '../dist/lib.js';
import { REPO, Sandbox, TSRT, show } from './helpers/tsrt.mjs';

const SPEC_SCHEMA = path.join(REPO, '..', 'shared', 'oci-runtime-spec', 'schema');

/** `tsrt features` exactly as containerd calls it: no global flags. */
function features() {
  const r = spawnSync(TSRT, ['features'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `tsrt features: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return JSON.parse(r.stdout);
}

/** The spec's features schema (draft-04 files) compiled with ajv, $refs resolved by file name. */
function featuresValidator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const load = (name) => {
    const s = JSON.parse(fs.readFileSync(path.join(SPEC_SCHEMA, name), 'utf8'));
    delete s.$schema; // draft-04: the keywords these files use mean the same in ajv's draft
    s.$id = `https://spec.invalid/schema/${name}`;
    return s;
  };
  for (const name of ['defs.json', 'defs-linux.json', 'features-linux.json']) ajv.addSchema(load(name));
  return ajv.compile(load('features-schema.json'));
}

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

test('features: valid against the spec\'s features schema, printed with no global flags', { skip: !fs.existsSync(SPEC_SCHEMA) && 'the runtime spec is not in ../shared' }, () => {
  const f = features();
  const validate = featuresValidator();
  assert.ok(validate(f), JSON.stringify(validate.errors, null, 2));
  assert.match(f.ociVersionMin, /^1\.\d+\.\d+/);
  assert.match(f.ociVersionMax, /^1\.\d+\.\d+/);
  const num = (v) => v.split(/[-+]/)[0].split('.').map(Number);
  const [a, b] = [num(f.ociVersionMin), num(f.ociVersionMax)];
  assert.ok(a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] <= b[2]))), 'ociVersionMin <= ociVersionMax');
  // A config at either end of the range is accepted (features.md: MUST accept).
  for (const v of [f.ociVersionMin, f.ociVersionMax]) {
    assert.doesNotThrow(() => lib.validateConfig({ ociVersion: v, root: { path: 'rootfs' } }), v);
  }
  // Nothing beyond what the schema defines (features.md: MUST NOT contain undefined properties).
  const known = JSON.parse(fs.readFileSync(path.join(SPEC_SCHEMA, 'features-schema.json'), 'utf8')).properties;
  for (const k of Object.keys(f)) assert.ok(k in known, `top-level property ${k} is defined by the schema`);
  const knownLinux = JSON.parse(fs.readFileSync(path.join(SPEC_SCHEMA, 'features-linux.json'), 'utf8')).linux.properties;
  for (const k of Object.keys(f.linux)) assert.ok(k in knownLinux, `linux.${k} is defined by the schema`);
});

test('features: the shape of `runc features`, which containerd parses', { skip: !spawnSync('runc', ['--version']).stdout?.length && 'runc is not installed' }, (t) => {
  const runc = JSON.parse(spawnSync('runc', ['features'], { encoding: 'utf8' }).stdout);
  const f = features();
  // Every property runc prints, tsrt prints too, with the same JSON type.
  const compare = (ours, theirs, where) => {
    for (const [k, v] of Object.entries(theirs)) {
      if (where === '.annotations') continue; // each runtime's own keys
      assert.ok(k in ours, `${where}.${k} is printed (runc prints it)`);
      assert.equal(typeOf(ours[k]), typeOf(v), `${where}.${k} has runc's type`);
      if (typeOf(v) === 'object') compare(ours[k], v, `${where}.${k}`);
    }
  };
  compare(f, runc, '');
  // The vocabulary is the same where both implement the same thing.
  assert.deepEqual(f.hooks, runc.hooks);
  assert.deepEqual(f.linux.capabilities, runc.linux.capabilities);
  for (const ns of runc.linux.namespaces) assert.ok(f.linux.namespaces.includes(ns), `namespace ${ns}`);
  assert.deepEqual(f.linux.seccomp.actions, runc.linux.seccomp.actions);
  assert.deepEqual(f.linux.seccomp.operators, runc.linux.seccomp.operators);
  const onlyRunc = runc.mountOptions.filter((o) => !f.mountOptions.includes(o));
  const onlyOurs = f.mountOptions.filter((o) => !runc.mountOptions.includes(o));
  t.diagnostic(`mount options runc lists and tsrt does not: ${onlyRunc.join(' ') || 'none'}; tsrt only: ${onlyOurs.join(' ') || 'none'}`);
  assert.deepEqual(onlyOurs, [], 'every option tsrt lists is a mount(2) option runc knows too');
});

test('features: every mount option listed is one tsrt applies (never passed on as filesystem data)', () => {
  const f = features();
  assert.ok(f.mountOptions.length > 40);
  for (const o of f.mountOptions) {
    const p = lib.parseMountOptions([o]);
    assert.equal(p.data, '', `${o} is recognized`);
  }
  assert.deepEqual([...f.mountOptions].sort(), f.mountOptions, 'sorted, as runc prints them');
  // Parsed but not applied yet: not claimed.
  for (const o of ['idmap', 'ridmap', 'tmpcopyup']) assert.ok(!f.mountOptions.includes(o), o);
  assert.equal(f.linux.mountExtensions?.idmap?.enabled, false);
});

/** `tsrt create --print-plan` of the demo bundle changed by patch: compiles the plan, starts nothing. */
function planOf(sb, patch) {
  const b = sb.bundle({ patch });
  return sb.tsrt(['create', '--print-plan', '--bundle', b.dir, sb.id('features')]);
}

test('features: the namespaces, capabilities, seccomp actions, operators and flags listed are accepted', (t) => {
  const sb = new Sandbox(t);
  const f = features();

  const ns = planOf(sb, (c) => {
    c.linux.namespaces = f.linux.namespaces.map((type) => ({ type }));
    c.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  assert.equal(ns.status, 0, show(ns));

  // Every name is one tsrt knows; those this host's bounding set has (a container cannot
  // get more) are granted.
  const all = { ociVersion: '1.0.0', root: { path: 'rootfs' }, process: { cwd: '/', args: ['sh'], capabilities: { bounding: f.linux.capabilities } } };
  assert.doesNotThrow(() => lib.validateConfig(all));
  const capBnd = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]}`);
  const onHost = f.linux.capabilities.filter((_, bit) => (capBnd >> BigInt(bit)) & 1n);
  const caps = planOf(sb, (c) => {
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set] = onHost;
  });
  assert.equal(caps.status, 0, show(caps));

  assert.equal(f.linux.seccomp.enabled, true, 'libseccomp2 is installed here (.ci/run)');
  const sc = f.linux.seccomp;
  const seccomp = planOf(sb, (c) => {
    const names = ['getpid', 'getppid', 'getuid', 'geteuid', 'getgid', 'getegid', 'gettid', 'getpgrp', 'getsid', 'getcwd'];
    c.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      listenerPath: path.join(sb.dir, 'agent.sock'), // SCMP_ACT_NOTIFY; not connected by --print-plan
      flags: sc.supportedFlags,
      syscalls: [
        ...sc.actions.filter((a) => a !== 'SCMP_ACT_ALLOW').map((action, i) => ({ names: [names[i]], action })),
        ...sc.operators.map((op, i) => ({ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: i + 1, valueTwo: i + 1, op }] })),
      ],
    };
  });
  assert.equal(seccomp.status, 0, show(seccomp));
  assert.match(seccomp.stdout, /seccomp\(/, 'the plan loads a filter');
  for (const f2 of sc.supportedFlags) assert.ok(sc.knownFlags.includes(f2), `${f2} is a known flag`);
});

test('features: every seccomp architecture listed is accepted', (t) => {
  const sb = new Sandbox(t);
  const { archs } = features().linux.seccomp;
  assert.ok(archs.includes({ x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' }[process.arch]), 'the native one');
  for (const arch of archs) {
    const r = planOf(sb, (c) => {
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: [arch], syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO' }] };
    });
    assert.equal(r.status, 0, `${arch}\n${show(r)}`);
  }
});

test('features: seccomp enabled means a filter is loaded in a real container', (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({
    patch: (c) => {
      c.process.args = ['sh', '-c', 'mkdir /tmp/x 2>&1; echo "rc=$?"'];
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    },
  });
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('seccomp')]);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /Operation not permitted/, 'mkdir got EPERM from the filter (the read-only rootfs would say EROFS)');
  assert.match(r.stdout, /rc=1/);
});

test('features: what it says is not supported is refused, never ignored', (t) => {
  const sb = new Sandbox(t);
  const f = features();
  assert.equal(f.linux.intelRdt.enabled, false);
  const rdt = planOf(sb, (c) => {
    c.linux.intelRdt = { closID: 'tsrt-test' };
  });
  assert.notEqual(rdt.status, 0, show(rdt));
  assert.match(rdt.stderr, /linux\.intelRdt/);
  assert.deepEqual(f.potentiallyUnsafeConfigAnnotations, [], 'tsrt gives no annotation a meaning');
  assert.equal(f.annotations['tsrt.version'], JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version);
});
