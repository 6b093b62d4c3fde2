// Terminals: process.terminal with --console-socket (the pty master handed over with one
// sendmsg carrying one SCM_RIGHTS fd, received here by a python3 receiver: node cannot
// receive fds), consoleSize, /dev/console, and the interactive `tsrt run` / `tsrt exec -t`
// at a real terminal (tmux): raw mode, typing, resizing, ^C, exit code, terminal restored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, TSRT, show, sleep, waitUntil } from './helpers/tsrt.mjs';
import { ConsoleReceiver, Tmux } from './helpers/terminal.mjs';

/** A bundle whose process has a terminal and runs args (PS1 "ctr# " for busybox sh). */
function ttyBundle(sb, args, patch) {
  return sb.bundle({
    patch: (c) => {
      c.process.args = args;
      c.process.terminal = true;
      c.process.env.push('PS1=ctr# ');
      if (patch) patch(c);
    },
  });
}

/** Lines of pty output, \r\n line ends undone. */
const ttyLines = (text) => text.split(/\r?\n/).map((l) => l.replace(/\r/g, ''));

// Inside the container: the tty's name, its size, and the device numbers (hex, as stat
// %t %T prints them) of /dev/console and of the tty.
const SHOW_TTY = 'tty; stty size; echo "console=$(stat -c "%t:%T %F" /dev/console)"; echo "self=$(stat -L -c "%t:%T" $(tty))"';

test('console socket: one message with exactly one fd, the pty master, before start; consoleSize and /dev/console inside', async (t) => {
  const sb = new Sandbox(t);
  const rx = await ConsoleReceiver.start(sb);
  t.after(() => rx.stop());
  const b = ttyBundle(sb, ['sh', '-c', `${SHOW_TTY}; read line; echo "got:$line"; exit 3`], (c) => {
    c.process.consoleSize = { height: 33, width: 111 };
  });
  const id = sb.id('console');
  sb.create(id, b.dir, { args: ['--console-socket', rx.path] });
  // The whole exchange is over when create returns: the init closed its end.
  const info = await rx.received();
  assert.equal(info.messages, 1, `one message: ${JSON.stringify(info)}`);
  assert.equal(info.fds, 1, `one fd: ${JSON.stringify(info)}`);
  assert.deepEqual(info.names, ['/dev/ptmx'], 'the data is the name of the master, as runc sends it');
  assert.equal(info.chr, true, 'a character device');
  assert.equal(info.major, 5, 'a pty master (/dev/ptmx is 5:2)');
  assert.equal(info.isatty, true);
  assert.equal(sb.state(id).status, 'created');

  sb.ok(['start', id]);
  await rx.waitOutput(/self=/);
  rx.type('hello from the master\n');
  const out = ttyLines(await rx.waitOutput(/got:hello from the master/));
  assert.equal(out[0], '/dev/pts/0', 'the first pty of the container\'s own devpts');
  assert.equal(out[1], '33 111', 'consoleSize: stty size prints rows then columns');
  assert.equal(out[2], 'console=88:0 character special file', '/dev/console is the pty slave, 136:0');
  assert.equal(out[3], 'self=88:0');
  await sb.waitStatus(id, 'stopped');
  await rx.hangup();
  sb.ok(['delete', id]);
});

test('console socket: run -d returns with the container running and its terminal sent; foreground run returns the exit code', async (t) => {
  const sb = new Sandbox(t);
  const rx = await ConsoleReceiver.start(sb);
  t.after(() => rx.stop());
  const b = ttyBundle(sb, ['sh', '-c', 'echo ready; read x; echo "bye $x"; exit 0']);
  const id = sb.id('rund');
  const pidFile = path.join(sb.dir, 'run.pid');
  sb.ids.add(id);
  sb.ok(['run', '-d', '--pid-file', pidFile, '--console-socket', rx.path, '--bundle', b.dir, id]);
  const pid = sb.track(Number(fs.readFileSync(pidFile, 'utf8')));
  assert.equal(sb.state(id).status, 'running');
  assert.equal(sb.state(id).pid, pid);
  const info = await rx.received();
  assert.deepEqual([info.messages, info.fds], [1, 1], JSON.stringify(info));
  await rx.waitOutput(/ready/);
  rx.type('now\n');
  await rx.waitOutput(/bye now/);
  await sb.waitStatus(id, 'stopped');
  sb.ok(['delete', id]);

  // Foreground run with a console socket: the caller holds the terminal, tsrt the exit code.
  const rx2 = await ConsoleReceiver.start(sb);
  t.after(() => rx2.stop());
  const b2 = ttyBundle(sb, ['sh', '-c', 'echo hi; exit 4']);
  const id2 = sb.id('runfg');
  const r = sb.tsrt(['run', '--console-socket', rx2.path, '--bundle', b2.dir, id2]);
  assert.equal(r.status, 4, show(r));
  assert.equal(r.stdout, '', 'the process wrote to its terminal, not to tsrt\'s stdout');
  await rx2.waitOutput(/hi/);
  assert.ok(!fs.existsSync(sb.stateDir(id2)));
});

test('console socket: either one without the other is refused and leaves nothing behind', (t) => {
  const sb = new Sandbox(t);
  const noTty = sb.bundle({ patch: (c) => { c.process.args = ['true']; } });
  const tty = ttyBundle(sb, ['true']);
  const sock = path.join(sb.dir, 'nobody-listens.sock');
  const cases = [
    ['create', '--console-socket', sock, '--bundle', noTty.dir],
    ['run', '-d', '--console-socket', sock, '--bundle', noTty.dir],
    ['create', '--bundle', tty.dir],
    ['run', '-d', '--bundle', tty.dir],
  ];
  for (const args of cases) {
    const id = sb.id('refused');
    const r = sb.tsrt([...args, id]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /console-socket/, show(r));
    assert.ok(!fs.existsSync(sb.stateDir(id)), `no state left by ${args.join(' ')}`);
  }
});

test('foreground run and exec -t with input from a pipe: copied to the pty, its end is the terminal\'s end-of-file', (t) => {
  const sb = new Sandbox(t);
  const b = ttyBundle(sb, ['sh', '-c', 'n=0; while read l; do n=$((n+1)); echo "line:$l"; done; echo "lines=$n $(tty)"; exit 9']);
  const id = sb.id('piped');
  const r = sb.tsrt(['run', '--bundle', b.dir, id], { input: 'one\ntwo\n' });
  assert.equal(r.status, 9, show(r));
  const out = ttyLines(r.stdout);
  assert.ok(out.includes('line:one') && out.includes('line:two'), show(r));
  assert.ok(out.includes('lines=2 /dev/pts/0'), show(r));

  const c = sb.bundle({ patch: (cfg) => { cfg.process.args = ['sleep', '1000']; } });
  const cid = sb.id('pipedexec');
  sb.ids.add(cid);
  sb.ok(['run', '-d', '--bundle', c.dir, cid]);
  sb.track(sb.state(cid).pid);
  const e = sb.tsrt(['exec', '-t', cid, 'sh', '-c', 'cat; echo "[$(tty)]"'], { input: 'piped input\n' });
  assert.equal(e.status, 0, show(e));
  assert.match(ttyLines(e.stdout).join('\n'), /piped input\n(.*\n)?\[\/dev\/pts\/\d+\]/, show(e));
});

/**
 * Starts `command` in the tmux shell with the caller's terminal settings saved before
 * and after (stty -g) and tsrt's exit code written to a file. Returns the file paths.
 */
function startInTmux(sb, tm, command) {
  const files = { before: path.join(sb.dir, 'stty-before'), after: path.join(sb.dir, 'stty-after'), exit: path.join(sb.dir, 'exit-code') };
  tm.line(`stty -g > ${files.before}; ${command}; echo $? > ${files.exit}; stty -g > ${files.after}`);
  return files;
}

/** After tsrt exited in tmux: its exit code, and the terminal back as it was (cooked, echo). */
async function checkExitAndRestored(tm, files, code) {
  await waitUntil(() => fs.existsSync(files.after) && fs.readFileSync(files.after, 'utf8').length > 0, 20_000, () => `tsrt did not exit:\n${tm.screen()}`);
  assert.equal(fs.readFileSync(files.exit, 'utf8').trim(), String(code), 'tsrt\'s exit code is the container process\'s');
  assert.equal(fs.readFileSync(files.after, 'utf8'), fs.readFileSync(files.before, 'utf8'), 'the terminal settings are restored exactly');
  tm.line('stty -a; echo stty-done');
  const screen = await tm.waitScreen(/^stty-done$/m);
  const words = screen.slice(screen.lastIndexOf('stty -a;')).split(/[\s;]+/);
  for (const flag of ['icanon', 'echo', 'isig', 'icrnl', 'opost']) {
    assert.ok(words.includes(flag) && !words.includes(`-${flag}`), `${flag} is on again after exit:\n${screen}`);
  }
}

test('interactive run in tmux: prompt, commands, resize, ^C to the container, exit code, terminal restored', { skip: !Tmux.available() && 'tmux is not installed' }, async (t) => {
  const sb = new Sandbox(t);
  const tm = new Tmux({ cols: 80, rows: 24 });
  t.after(() => tm.kill());
  const b = ttyBundle(sb, ['sh']);
  const id = sb.id('interactive');
  const files = startInTmux(sb, tm, `${TSRT} --root ${sb.root} run --bundle ${b.dir} ${id}`);
  await tm.waitScreen(/^ctr#$/m);
  sb.track(sb.state(id).pid);

  tm.line('echo "in=$(hostname)/$(cat /proc/1/cmdline)"');
  await tm.waitScreen(/^in=tsrt\/sh$/m);
  tm.line('stty size');
  await tm.waitScreen(/^24 80$/m);
  tm.resize(100, 30);
  tm.line('stty size');
  await tm.waitScreen(/^30 100$/m);
  tm.line(`echo "[$(tty)] [$(stat -c '%t:%T' /dev/console)]"`);
  await tm.waitScreen(/^\[\/dev\/pts\/0\] \[88:0\]$/m);

  // ^C is a byte for the container's terminal (raw mode): it interrupts the container's
  // foreground job, not tsrt.
  tm.line('sleep 1000');
  await sleep(300);
  tm.keys('C-c');
  tm.line('echo "rc=$?"');
  await tm.waitScreen(/^rc=130$/m);
  assert.ok(!fs.existsSync(files.exit), 'tsrt is still running');

  tm.line('exit 5');
  await checkExitAndRestored(tm, files, 5);
  assert.ok(!fs.existsSync(sb.stateDir(id)), 'the container is removed');
});

test('interactive exec -t in tmux: the window size from the start, prompt, resize, exit code, terminal restored', { skip: !Tmux.available() && 'tmux is not installed' }, async (t) => {
  const sb = new Sandbox(t);
  const b = sb.bundle({ patch: (c) => { c.process.args = ['sleep', '1000']; c.process.env.push('PS1=ctr# '); } });
  const id = sb.id('exectty');
  sb.ids.add(id);
  sb.ok(['run', '-d', '--bundle', b.dir, id]);
  const initPid = sb.track(sb.state(id).pid);
  const tm = new Tmux({ cols: 90, rows: 20 });
  t.after(() => tm.kill());

  // The size is there before the process first looks (tsrt gets the master only later).
  for (let i = 0; i < 3; i++) {
    const f = path.join(sb.dir, `size-${i}`);
    tm.line(`${TSRT} --root ${sb.root} exec -t ${id} stty size > ${f}.raw; echo $? > ${f}`);
    await waitUntil(() => fs.existsSync(f) && fs.readFileSync(f, 'utf8').endsWith('\n'), 20_000, () => tm.screen());
    assert.equal(fs.readFileSync(f, 'utf8').trim(), '0', `exec -t stty size exit code:\n${tm.screen()}`);
    assert.equal(fs.readFileSync(`${f}.raw`, 'utf8').replace(/\r/g, ''), '20 90\n', `try ${i}`);
  }

  const files = startInTmux(sb, tm, `${TSRT} --root ${sb.root} exec -t ${id} sh`);
  await tm.waitScreen(/^ctr#$/m);
  tm.line('echo "in=$(hostname) pid1=$(cat /proc/1/cmdline | tr "\\0" " ")"');
  await tm.waitScreen(/^in=tsrt pid1=sleep 1000 $/m);
  tm.line('stty size');
  await tm.waitScreen(/^20 90$/m);
  tm.resize(120, 35);
  tm.line('stty size');
  await tm.waitScreen(/^35 120$/m);
  tm.line('tty');
  await tm.waitScreen(/^\/dev\/pts\/\d+$/m);
  tm.line('exit 5');
  await checkExitAndRestored(tm, files, 5);
  assert.equal(sb.state(id).status, 'running', 'the container lives on');
  assert.equal(sb.state(id).pid, initPid);
});
