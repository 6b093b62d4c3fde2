// Helpers for the terminal and exec tests: a console-socket receiver, a tmux driver, a
// file-lease holder. Not a test file.
//
// Node cannot receive a file descriptor, so the receiver and the lease holder are small
// python3 programs written into the test's sandbox dir and run as children of the test:
// each is killed (by the pid the test started) when the test ends.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { collectJsonLines, waitUntil } from './tsrt.mjs';

// The receiver: listens on PATH, accepts ONE connection and reads it to EOF, counting the
// messages and the SCM_RIGHTS fds they carry; prints that as one JSON line. With exactly
// one fd it then copies its stdin to that fd (the pty master) and the master's output to
// OUTFILE until the pty hangs up, and prints {"eof": true}.
const RECEIVER_PY = String.raw`
import array, json, os, socket, stat, sys, threading
path, outfile = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)
print(json.dumps({"listening": True}), flush=True)
conn, _ = srv.accept()
messages, fds, names = 0, [], []
while True:
    data, anc, flags, _ = conn.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
    if not data and not anc:
        break
    messages += 1
    names.append(data.decode(errors="replace"))
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(cdata[: len(cdata) - len(cdata) % 4])
            fds.extend(a)
    if flags & socket.MSG_CTRUNC:
        names.append("<control data truncated>")
conn.close()
srv.close()
info = {"messages": messages, "fds": len(fds), "names": names}
if len(fds) == 1:
    st = os.fstat(fds[0])
    info.update(chr=stat.S_ISCHR(st.st_mode), major=os.major(st.st_rdev), isatty=os.isatty(fds[0]))
print(json.dumps(info), flush=True)
if len(fds) != 1:
    sys.exit(0)
master = fds[0]
def pump_in():
    for line in sys.stdin:
        try:
            os.write(master, line.encode())
        except OSError:
            return
threading.Thread(target=pump_in, daemon=True).start()
with open(outfile, "ab", buffering=0) as out:
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        out.write(b)
print(json.dumps({"eof": True}), flush=True)
`;

/** A python3 child of the test that prints JSON lines on stdout; `lines` collects them. */
function startPython(sb, name, source, args) {
  const script = path.join(sb.dir, name);
  fs.writeFileSync(script, source);
  const child = spawn('python3', [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  sb.track(child.pid);
  const lines = collectJsonLines(child.stdout);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let exited = false;
  child.on('exit', () => { exited = true; });
  child.on('error', (e) => { stderr += `${e.message}\n`; exited = true; }); // no python3
  return { child, lines, stderr: () => stderr, exited: () => exited };
}

export class ConsoleReceiver {
  /** Starts a receiver listening on a fresh socket path under the sandbox dir (python3 may start slowly on a busy machine: limitMs). */
  static async start(sb, limitMs = 10_000) {
    const r = new ConsoleReceiver();
    r.path = path.join(sb.dir, `console-${randomBytes(3).toString('hex')}.sock`);
    r.outFile = path.join(sb.dir, `console-${randomBytes(3).toString('hex')}.out`);
    fs.writeFileSync(r.outFile, '');
    r.py = startPython(sb, 'console-receiver.py', RECEIVER_PY, [r.path, r.outFile]);
    await waitUntil(() => r.py.lines.length >= 1 || r.py.exited(), limitMs, 'console receiver did not start');
    if (!r.py.lines[0]?.listening) throw new Error(`console receiver failed: ${r.py.stderr()}`);
    return r;
  }

  /** {messages, fds, names, chr, major, isatty} once the sender closed the socket. */
  async received(limitMs = 20_000) {
    await waitUntil(() => this.py.lines.length >= 2 || this.py.exited(), limitMs, () => `no message on the console socket (${this.py.stderr()})`);
    if (this.py.lines.length < 2) throw new Error(`console receiver exited: ${this.py.stderr()}`);
    return this.py.lines[1];
  }

  /** What arrived on the pty master so far (with the pty's \r\n line ends). */
  output() {
    return fs.readFileSync(this.outFile, 'utf8');
  }

  /** Waits until the master's output matches re; returns the output. */
  async waitOutput(re, limitMs = 20_000) {
    return waitUntil(() => re.test(this.output()) && this.output(), limitMs, () => `pty output did not match ${re}: ${JSON.stringify(this.output())}`);
  }

  /** Waits until the pty hung up (every slave fd closed: the container side is gone). */
  async hangup(limitMs = 20_000) {
    await waitUntil(() => this.py.lines.some((l) => l.eof) || this.py.exited(), limitMs, 'the pty did not hang up');
  }

  /** Types text into the pty (sent on the receiver's stdin, one line at a time). */
  type(text) {
    this.py.child.stdin.write(text);
  }

  stop() {
    if (!this.py.exited()) this.py.child.kill('SIGKILL');
  }
}

// The lease holder: takes a write lease on FILE (opened read-only, so the file is not
// busy for execve once the lease is gone), prints {"leased": true}; when someone opens
// the file the kernel holds that open() and sends SIGIO: prints {"break": true}; on a
// line on stdin it gives the lease up (the blocked open proceeds) and prints
// {"released": true}. The kernel breaks an unanswered lease itself after
// /proc/sys/fs/lease-break-time seconds (45 by default).
const LEASE_PY = String.raw`
import fcntl, json, os, signal, sys
signal.signal(signal.SIGIO, lambda *a: print(json.dumps({"break": True}), flush=True))
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print(json.dumps({"leased": True}), flush=True)
sys.stdin.readline()
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
os.close(fd)
print(json.dumps({"released": True}), flush=True)
`;

export class LeaseHolder {
  static async start(sb, file) {
    const l = new LeaseHolder();
    l.py = startPython(sb, 'lease-holder.py', LEASE_PY, [file]);
    await waitUntil(() => l.py.lines.length >= 1 || l.py.exited(), 10_000, 'lease holder did not start');
    if (!l.py.lines[0]?.leased) throw new Error(`lease holder failed: ${l.py.stderr()}`);
    return l;
  }

  broken() {
    return this.py.lines.some((x) => x.break);
  }

  release() {
    this.py.child.stdin.write('release\n');
  }

  stop() {
    if (!this.py.exited()) this.py.child.kill('SIGKILL');
  }
}

/**
 * A tmux server of its own (-L NAME, no config file) running one window, sized cols x
 * rows, status line off: a real terminal for tsrt, podman or ctr. The window runs
 * `command` (a shell command line; by default a plain /bin/sh with a clean environment)
 * and stays on screen after it exits, so its last lines can still be read.
 */
export class Tmux {
  constructor({ cols = 80, rows = 24, command } = {}) {
    this.name = `tsrt-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    const shell = 'env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=xterm HOME=/ PS1="host$ " /bin/sh';
    this.cmd(['new-session', '-d', '-s', 'main', '-x', String(cols), '-y', String(rows), command ?? shell]);
    this.cmd(['set-option', '-g', 'status', 'off']);
    this.cmd(['set-option', '-g', 'remain-on-exit', 'on']);
    this.cmd(['resize-window', '-t', 'main', '-x', String(cols), '-y', String(rows)]);
    this.socket = this.cmd(['display-message', '-p', '#{socket_path}']).trim();
  }

  static available() {
    return spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
  }

  cmd(args) {
    const r = spawnSync('tmux', ['-L', this.name, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** Types a line and Enter (literal keys: no tmux key names are interpreted). */
  line(text) {
    this.cmd(['send-keys', '-t', 'main', '-l', text]);
    this.cmd(['send-keys', '-t', 'main', 'Enter']);
  }

  /** Sends tmux key names (C-c, Enter). */
  keys(...names) {
    this.cmd(['send-keys', '-t', 'main', ...names]);
  }

  /** The visible screen and the scrollback, trailing blanks removed. */
  screen() {
    return this.cmd(['capture-pane', '-p', '-J', '-S', '-200', '-t', 'main']).replace(/\s+$/, '');
  }

  async waitScreen(re, limitMs = 20_000) {
    return waitUntil(() => re.test(this.screen()) && this.screen(), limitMs, () => `screen did not match ${re}:\n${this.screen()}`);
  }

  resize(cols, rows) {
    this.cmd(['resize-window', '-t', 'main', '-x', String(cols), '-y', String(rows)]);
  }

  /** Ends the server (its shells and what runs in them get SIGHUP) and removes its socket. */
  kill() {
    spawnSync('tmux', ['-L', this.name, '-f', '/dev/null', 'kill-server'], { stdio: 'ignore', timeout: 10_000 });
    if (this.socket?.endsWith(`/${this.name}`)) fs.rmSync(this.socket, { force: true });
  }
}
