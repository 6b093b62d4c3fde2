// Process-level parity with runc, each case on the same bundle under tsrt and runc (the
// runc half is skipped when runc is not installed): loopback in a new network namespace,
// the init's and exec's own session, an execve that fails after `start`, the messages of
// commands that cannot run, and the cwd of every hook kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, isAlive, procStat, show, waitUntil, withUserNs, writeScript } from './helpers/tsrt.mjs';
import { RUNC, runtimes, zombieExitCode } from './helpers/runc-compare.mjs';

const skip = process.getuid() !== 0 ? 'needs root' : false;
const runcNote = RUNC ? '' : ' (runc not installed: tsrt only)';

/** `run` of a bundle whose process is `sh -c script` under each runtime: [{rt, r}] */
function runEach(sb, t, script, patch) {
  const b = sb.bundle({ patch: (c, ctx) => { c.process.args = ['sh', '-c', script]; return patch?.(c, ctx) ?? c; } });
  return runtimes(sb).map((rt) => ({ rt, r: rt.run(['run', '--bundle', b.dir, rt.id('par')]) }));
}

test(`loopback is up in a network namespace the runtime creates, and carries traffic${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  // A listener and a client over 127.0.0.1 inside the container.
  const script = 'ip -o link show lo; ip -o -4 addr show lo; (echo pong | nc -l -p 4567 127.0.0.1 &); sleep 0.5; echo ping | nc 127.0.0.1 4567';
  for (const { rt, r } of runEach(sb, t, script)) {
    assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
    assert.match(r.stdout, /^1: lo: <LOOPBACK,UP,LOWER_UP>/m, `${rt.name}: lo is up\n${show(r)}`);
    assert.match(r.stdout, /inet 127\.0\.0\.1\/8/, `${rt.name}: 127.0.0.1/8 on lo\n${show(r)}`);
    assert.match(r.stdout, /^pong$/m, `${rt.name}: a TCP exchange over 127.0.0.1\n${show(r)}`);
  }
});

test(`loopback is up with a user namespace, and in a two-stage init${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  const cases = {
    userns: (c) => withUserNs(c),
    // joining the host's UTS namespace by path makes tsrt's init a grandchild (two stages)
    joined: (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'uts').concat({ type: 'uts', path: '/proc/self/ns/uts' });
      delete c.hostname;
      return c;
    },
  };
  for (const [name, patch] of Object.entries(cases)) {
    for (const { rt, r } of runEach(sb, t, 'ip -o link show lo', patch)) {
      assert.equal(r.status, 0, `${name} ${rt.name}: ${show(r)}`);
      assert.match(r.stdout, /<LOOPBACK,UP,LOWER_UP>/, `${name} ${rt.name}: lo is up\n${show(r)}`);
    }
  }
});

test(`a joined network namespace is left as it is: its lo stays down${runcNote}`, { skip }, async (t) => {
  const sb = new Sandbox(t);
  // A network namespace of our own, held by a sleeping `unshare --net`.
  const holder = spawn('unshare', ['--net', 'sleep', '120'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  const nsPath = `/proc/${holder.pid}/ns/net`;
  await waitUntil(() => { try { return fs.readlinkSync(nsPath) !== fs.readlinkSync('/proc/self/ns/net'); } catch { return false; } }, 10_000, 'unshare --net');
  const patch = (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network').concat({ type: 'network', path: nsPath });
    return c;
  };
  for (const { rt, r } of runEach(sb, t, 'ip -o link show lo', patch)) {
    assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
    assert.match(r.stdout, /1: lo: <LOOPBACK> /, `${rt.name}: lo of a joined namespace is not touched\n${show(r)}`);
  }
});

/** pid, pgid and sid of pid as the host sees them. */
function hostIds(pid) {
  const st = procStat(pid);
  return st && { pid: Number(pid), pgid: Number(st[2]), sid: Number(st[3]) };
}

test(`the init and exec processes lead their own session and process group${runcNote}`, { skip }, async (t) => {
  const sb = new Sandbox(t);
  for (const pidNs of [true, false]) {
    const b = sb.bundle({ patch: (c) => {
      c.process.args = ['sleep', '1000'];
      if (!pidNs) c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'pid');
      return c;
    } });
    for (const rt of runtimes(sb)) {
      const what = `${rt.name}, ${pidNs ? 'own' : 'host'} pid namespace`;
      const id = rt.id('sid');
      const pidFile = path.join(sb.dir, `${id}.pid`);
      let r = rt.run(['run', '--detach', '--pid-file', pidFile, '--bundle', b.dir, id]);
      assert.equal(r.status, 0, `${what}: ${show(r)}`);
      const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
      assert.deepEqual(hostIds(pid), { pid, pgid: pid, sid: pid }, `${what}: the init leads its session (host view)`);
      // exec, without a terminal: its own session too (runc's nsexec does setsid for both)
      r = rt.run(['exec', id, 'sh', '-c', 'cat /proc/self/stat']);
      assert.equal(r.status, 0, `${what}: ${show(r)}`);
      const f = r.stdout.slice(r.stdout.lastIndexOf(')') + 2).split(' ');
      const inner = Number(r.stdout.split(' ')[0]);
      assert.deepEqual([Number(f[2]), Number(f[3])], [inner, inner], `${what}: the exec process leads its session: ${r.stdout}`);
      if (pidNs) {
        r = rt.run(['exec', id, 'ps', '-o', 'pid,pgid,sid,comm']);
        assert.match(r.stdout, /^\s*1\s+1\s+1\s+sleep$/m, `${what}: ps inside\n${show(r)}`);
      }
      r = rt.run(['delete', '--force', id]);
      assert.equal(r.status, 0, show(r));
      assert.ok(await sb.waitDead(pid), `${what}: init gone`);
    }
  }
});

/** A private rootfs with files that cannot be executed, one for each way. */
function badFilesBundle(sb) {
  return sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    fs.writeFileSync(path.join(rootfs, 'garbage'), 'not an executable\n\x01\x02', { mode: 0o755 });
    fs.writeFileSync(path.join(rootfs, 'badinterp'), '#!/no/such/interpreter\n', { mode: 0o755 });
    fs.writeFileSync(path.join(rootfs, 'noexec'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    fs.mkdirSync(path.join(rootfs, 'adir'));
    return c;
  } });
}

/** logrus text with its quotes unescaped. */
const unquote = (text) => text.replace(/\\"/g, '"');

/** config.json of bundle b with process.args = args. */
function setArgs(b, args) {
  const c = JSON.parse(fs.readFileSync(b.configPath, 'utf8'));
  c.process.args = args;
  fs.writeFileSync(b.configPath, JSON.stringify(c, null, 2));
}

test(`an execve that fails after start says why on the container's stderr, with runc's words${runcNote}`, { skip }, async (t) => {
  const sb = new Sandbox(t);
  const b = badFilesBundle(sb);
  const later = path.join(b.rootfs, 'later');
  const cases = [
    ['/garbage', 'exec /garbage: exec format error'],
    ['/badinterp', 'exec /badinterp: no such file or directory'],
    // executable at create, not any more at start: EACCES, another errno of the selection
    ['/later', 'exec /later: permission denied', () => fs.chmodSync(later, 0o644)],
  ];
  for (const [exe, sentence, beforeStart] of cases) {
    setArgs(b, [exe]);
    for (const rt of runtimes(sb)) {
      writeScript(later, 'echo ran');
      fs.chmodSync(later, 0o755);
      const id = rt.id('execfail');
      const pidFile = path.join(sb.dir, `${id}.pid`);
      // create's stderr is the container's: the init writes there after create has exited.
      const create = rt.run(['create', '--bundle', b.dir, '--pid-file', pidFile, id]);
      assert.equal(create.status, 0, `${rt.name}: ${show(create)}`);
      const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
      beforeStart?.();
      const start = rt.run(['start', id]);
      assert.equal(start.status, 0, `${rt.name} start: ${show(start)}`);
      await waitUntil(() => !isAlive(pid), 20_000, `${rt.name}: the init of ${exe} exits`);
      await waitUntil(() => create.stderr.includes('\n'), 5_000, () => `${rt.name}: a line on the container's stderr\n${show(create)}`);
      assert.equal(create.stderr, `${sentence}\n`, `${rt.name}: ${exe}`);
      // runc 1.1 exits 1 here, current runc 255 (libcontainer/init_linux.go Init); tsrt 255.
      const code = zombieExitCode(pid);
      if (code !== undefined) assert.ok(rt.name === 'runc' ? [1, 255].includes(code) : code === 255, `${rt.name}: exit code ${code}`);
      assert.equal(JSON.parse(rt.run(['state', id]).stdout).status, 'stopped', `${rt.name}: state after the failed exec`);
      const del = rt.run(['delete', id]);
      assert.equal(del.status, 0, show(del));
    }
  }
  // With a reader (run in the foreground), tsrt reports the failure itself.
  setArgs(b, ['/garbage']);
  const r = sb.tsrt(['run', '--bundle', b.dir, sb.id('execfail-run')]);
  assert.equal(r.status, 1, show(r));
  assert.match(unquote(r.stderr), /exec "\/garbage" in the container: ENOEXEC \(exec format error\)/, show(r));
  // Detached, nobody reads: the sentence goes to the container's stderr.
  const d = sb.tsrt(['run', '--detach', '--bundle', b.dir, sb.id('execfail-detach')]);
  assert.equal(d.status, 0, show(d));
  await waitUntil(() => d.stderr.includes('\n'), 20_000, () => show(d));
  assert.equal(d.stderr, 'exec /garbage: exec format error\n');
});

test(`a command that is not executable, a directory or missing: runc's messages (126 vs 127 under engines), nothing left${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  const b = badFilesBundle(sb);
  // A script on a noexec bind mount: only the init can see that (runc's LookPath checks
  // access(X_OK) in the container before it waits for start).
  const hostDir = sb.mkdir('noexec-src');
  writeScript(path.join(hostDir, 'script'), 'echo ran');
  const c = JSON.parse(fs.readFileSync(b.configPath, 'utf8'));
  c.mounts.push({ destination: '/mnt', type: 'bind', source: hostDir, options: ['bind', 'noexec'] });
  fs.writeFileSync(b.configPath, JSON.stringify(c, null, 2));
  const cases = [
    ['/mnt/script', /exec:? "?\/mnt\/script"?: .*permission denied/],
    ['/noexec', /exec: "\/noexec": permission denied/],
    ['/adir', /exec: "\/adir": permission denied/],
    ['/nothere', /exec: "\/nothere": stat \/nothere: no such file or directory/],
    ['nothere', /exec: "nothere": executable file not found in \$PATH/],
  ];
  for (const [exe, message] of cases) {
    setArgs(b, [exe]);
    for (const rt of runtimes(sb)) {
      const id = rt.id('noexec');
      const r = rt.run(['create', '--bundle', b.dir, id]);
      assert.notEqual(r.status, 0, `${rt.name}: ${show(r)}`);
      assert.match(unquote(r.stderr), message, `${rt.name}: ${exe}\n${show(r)}`);
      if (exe !== '/nothere' && exe !== 'nothere') assert.doesNotMatch(r.stderr, /no such file or directory/, `${rt.name}: podman would map it to 127`);
      assert.equal(rt.run(['state', id]).status, 1, `${rt.name}: no container left`);
    }
  }
  assert.deepEqual(fs.existsSync(sb.root) ? fs.readdirSync(sb.root) : [], [], 'no tsrt state left');
});

test(`hooks run in runc's working directories: the bundle, the rootfs for createContainer, the caller's for delete's poststop (run's: the bundle)${runcNote}`, { skip }, (t) => {
  const sb = new Sandbox(t);
  const logDir = sb.mkdir('hooklog');
  const hook = writeScript(path.join(logDir, 'hook.sh'), `echo "$1 $(pwd)" >> ${logDir}/"$2"`);
  const b = sb.bundle({ patch: (c) => {
    c.process.args = ['true'];
    const h = (kind, rt) => [{ path: hook, args: ['hook.sh', kind, rt] }];
    c.hooks = {};
    for (const kind of ['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop']) c.hooks[kind] = h(kind, 'RT');
    return c;
  } });
  const callerDirs = { create: sb.mkdir('create-cwd'), start: sb.mkdir('start-cwd'), delete: sb.mkdir('delete-cwd') };
  const logs = {};
  for (const rt of runtimes(sb)) {
    // each runtime logs to its own file: the hooks' args name it
    const text = fs.readFileSync(b.configPath, 'utf8').replaceAll('"RT"', JSON.stringify(rt.name));
    fs.writeFileSync(b.configPath, text);
    const id = rt.id('hookcwd');
    for (const [verb, args] of [['create', ['create', '--bundle', b.dir, id]], ['start', ['start', id]]]) {
      const r = rt.run(args, { cwd: callerDirs[verb] });
      assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
    }
    const pidOf = () => JSON.parse(rt.run(['state', id]).stdout);
    for (let i = 0; i < 400 && pidOf().status !== 'stopped'; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
    const r = rt.run(['delete', id], { cwd: callerDirs.delete });
    assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
    logs[rt.name] = fs.readFileSync(path.join(logDir, rt.name), 'utf8');
    fs.rmSync(path.join(logDir, rt.name));
    // `run` works in the bundle directory: poststop too runs there.
    const run = rt.run(['run', '--bundle', b.dir, rt.id('hookcwd-run')], { cwd: callerDirs.delete });
    assert.equal(run.status, 0, `${rt.name}: ${show(run)}`);
    logs[`${rt.name} run`] = fs.readFileSync(path.join(logDir, rt.name), 'utf8');
    fs.writeFileSync(b.configPath, text.replaceAll(JSON.stringify(rt.name), '"RT"'));
  }
  const expected = (poststop) => [
    `prestart ${b.dir}`, `createRuntime ${b.dir}`, `createContainer ${b.rootfs}`, `poststart ${b.dir}`, `poststop ${poststop}`,
  ].join('\n') + '\n';
  assert.equal(logs.tsrt, expected(callerDirs.delete), 'tsrt create/start/delete');
  assert.equal(logs['tsrt run'], expected(b.dir), 'tsrt run');
  if (logs.runc !== undefined) {
    assert.equal(logs.runc, expected(callerDirs.delete), 'runc create/start/delete, on the same bundle');
    assert.equal(logs['runc run'], expected(b.dir), 'runc run');
  }
});

test(`startContainer hooks run in the container with process.cwd as their working directory${runcNote}`, { skip }, async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ copyRootfs: true, patch: (c, { rootfs }) => {
    fs.mkdirSync(path.join(rootfs, 'tmp'), { recursive: true });
    c.process.args = ['true'];
    c.process.cwd = '/etc';
    c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'pwd > /tmp/hook-cwd'] }] };
    return c;
  } });
  for (const rt of runtimes(sb)) {
    fs.rmSync(path.join(b.rootfs, 'tmp', 'hook-cwd'), { force: true });
    const r = rt.run(['run', '--bundle', b.dir, rt.id('startcwd')]);
    assert.equal(r.status, 0, `${rt.name}: ${show(r)}`);
    assert.equal(fs.readFileSync(path.join(b.rootfs, 'tmp', 'hook-cwd'), 'utf8'), '/etc\n', rt.name);
  }
});
