// The command line as runc's, each case run under tsrt and runc (the runc half skipped
// when runc is not installed): kill with signal 0 and runc's signal spellings, --debug
// and --log, --version, help in runc's layout, checkpoint and restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, show } from './helpers/tsrt.mjs';
import { RUNC, runtimes } from './helpers/runc-compare.mjs';

const skip = process.getuid() !== 0 ? 'needs root' : false;
const runcNote = RUNC ? '' : ' (runc not installed: tsrt only)';

test(`kill: signal 0 and runc's spellings of a signal; a stopped container is "not running"${runcNote}`, { skip }, async (t) => {
  const sb = new Sandbox(t);
  // An init that ignores nothing the test sends: these signals are ignored by default.
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; return c; } });
  for (const rt of runtimes(sb)) {
    const id = rt.id('kill');
    const pidFile = path.join(sb.dir, `${id}.pid`);
    let r = rt.run(['run', '--detach', '--pid-file', pidFile, '--bundle', b.dir, id]);
    assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
    const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
    for (const sig of ['0', 'WINCH', 'SIGWINCH', 'winch', 'SIGCHLD', 'URG', '28', '17', '23', 'CONT']) {
      r = rt.run(['kill', id, sig]);
      assert.equal(r.status, 0, `${rt.name} kill ${sig}: ${show(r)}`);
    }
    assert.equal(JSON.parse(rt.run(['state', id]).stdout).status, 'running', `${rt.name}: still running after harmless signals`);
    r = rt.run(['kill', id, 'NOSUCHSIG']);
    assert.notEqual(r.status, 0, `${rt.name}: ${show(r)}`);
    assert.match(r.stderr, /unknown signal/, `${rt.name}: ${show(r)}`);
    r = rt.run(['kill', id, 'KILL']);
    assert.equal(r.status, 0, show(r));
    assert.ok(await sb.waitDead(pid), `${rt.name}: SIGKILL ends the init`);
    r = rt.run(['kill', id, '0']);
    assert.notEqual(r.status, 0, `${rt.name}: signal 0 to a stopped container fails\n${show(r)}`);
    assert.match(r.stderr, /container not running/, `${rt.name}: ${show(r)}`);
    assert.equal(rt.run(['delete', id]).status, 0);
  }
});

test(`--debug logs the create stages at debug level, to --log FILE in text and json; --log FILE exists even when nothing is logged${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['true']; return c; } });
  for (const rt of runtimes(sb)) {
    for (const format of ['text', 'json']) {
      const log = path.join(sb.dir, `${rt.name}-${format}.log`);
      const id = rt.id(`debug-${format}`);
      const r = rt.run(['--debug', '--log', log, '--log-format', format, 'run', '--bundle', b.dir, id]);
      assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
      assert.doesNotMatch(r.stderr, /level=debug/, `${rt.name}: with --log the debug lines go to the file only`);
      const lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
      assert.ok(lines.length >= 3, `${rt.name}: several debug lines in ${log}: ${lines.join('\n')}`);
      for (const l of lines) {
        if (format === 'json') {
          const o = JSON.parse(l);
          assert.equal(o.level, 'debug', l);
          assert.equal(typeof o.msg, 'string', l);
          assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, l);
        } else {
          assert.match(l, /^time="[^"]+" level=debug msg=".*"/, l);
        }
      }
      if (rt.name === 'tsrt') {
        const msgs = lines.map((l) => (format === 'json' ? JSON.parse(l).msg : l)).join('\n');
        for (const stage of ['init plan of \\d+ steps', 'init started, pid \\d+', 'cgroups', 'created', 'exited with wait status']) {
          assert.match(msgs, new RegExp(stage), `tsrt logs the stage "${stage}"`);
        }
      }
    }
    // Without --debug nothing is logged, yet the file is made (containerd reads it).
    const quiet = path.join(sb.dir, `${rt.name}-quiet.log`);
    const r = rt.run(['--log', quiet, 'list']);
    assert.equal(r.status, 0, show(r));
    assert.ok(fs.existsSync(quiet), `${rt.name}: --log ${quiet} exists`);
    assert.equal(fs.readFileSync(quiet, 'utf8'), '', `${rt.name}: nothing logged without --debug`);
  }
});

test(`--version, -v: "<name> version X", "commit: ...", "spec: ..." first${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  for (const rt of runtimes(sb)) {
    for (const flag of ['--version', '-v']) {
      const r = rt.run([flag]);
      assert.equal(r.status, 0, show(r));
      const [l1, l2, l3] = r.stdout.split('\n');
      assert.match(l1, new RegExp(`^${rt.name} version \\S+$`), `${rt.name} ${flag}: ${r.stdout}`);
      assert.match(l2, /^commit: \S+$/, `${rt.name} ${flag}: ${r.stdout}`);
      assert.match(l3, /^spec: \d+\.\d+\.\d+/, `${rt.name} ${flag}: ${r.stdout}`);
    }
  }
  assert.equal(sb.tsrt(['--version']).stdout.split('\n')[2], 'spec: 1.3.0');
});

test(`help: -h, --help and help in the NAME/USAGE/COMMANDS layout; help for a command; no help topic for an unknown one${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  for (const rt of runtimes(sb)) {
    for (const args of [['--help'], ['-h'], ['help'], ['h']]) {
      const r = rt.run(args);
      assert.equal(r.status, 0, `${rt.name} ${args}: ${show(r)}`);
      for (const section of ['NAME:', 'USAGE:', 'VERSION:', 'COMMANDS:', 'GLOBAL OPTIONS:']) {
        assert.match(r.stdout, new RegExp(`^${section}$`, 'm'), `${rt.name} ${args}: ${section}`);
      }
      for (const cmd of ['create', 'start', 'state', 'kill', 'delete', 'checkpoint', 'restore', 'features']) {
        assert.match(r.stdout, new RegExp(`^   ${cmd}\\s`, 'm'), `${rt.name} ${args}: lists ${cmd}`);
      }
      assert.match(r.stdout, /^ {3}--debug\s/m, `${rt.name}: global options`);
    }
    for (const args of [['help', 'kill'], ['kill', '--help'], ['kill', '-h']]) {
      const r = rt.run(args);
      assert.equal(r.status, 0, `${rt.name} ${args}: ${show(r)}`);
      assert.match(r.stdout, new RegExp(`^NAME:\\n   ${rt.name} kill - `, 'm'), `${rt.name} ${args}: ${r.stdout}`);
      assert.match(r.stdout, /^USAGE:$/m);
    }
    const r = rt.run(['help', 'foo']);
    assert.equal(r.status, 3, `${rt.name}: ${show(r)}`);
    assert.match(r.stderr, /No help topic for 'foo'/, `${rt.name}: ${show(r)}`);
  }
});

test(`checkpoint --help and restore --help exit 0 (podman probes them); the commands fail clearly on bad input${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  for (const rt of runtimes(sb)) {
    for (const cmd of ['checkpoint', 'restore']) {
      const r = rt.run([cmd, '--help']);
      assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
      assert.match(r.stdout, new RegExp(`${rt.name} ${cmd} - `), `${rt.name}: ${show(r)}`);
    }
  }
  const id = sb.id('ckpt');
  const c = sb.tsrt(['checkpoint', '--image-path', path.join(sb.dir, 'img'), '--work-path', path.join(sb.dir, 'work'), '--leave-running', id]);
  assert.equal(c.status, 1, show(c));
  assert.match(c.stderr, new RegExp(`container ${id} does not exist`), show(c));
  // podman passes -no-subreaper with one dash
  const r = sb.tsrt(['restore', '--image-path', path.join(sb.dir, 'img'), '--detach', '-no-subreaper', '--bundle', sb.dir, id]);
  assert.equal(r.status, 1, show(r));
  assert.match(r.stderr, /cannot read .*config\.json|descriptors\.json/, show(r));
  assert.ok(!fs.existsSync(path.join(sb.dir, 'img')), 'nothing made');
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'no state left');
});
