// Helpers shared by the security tests: reading /proc/self/status of a container
// process, and checking that a refused config leaves nothing behind. Not a test file.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOTFS, hostMounts, mountChanges, processesUsing, show } from './tsrt.mjs';

/** Capability name -> bit, as in linux/capability.h. */
export const CAP_BITS = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4,
  CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10, CAP_NET_BROADCAST: 11, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14, CAP_IPC_OWNER: 15, CAP_SYS_MODULE: 16, CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18, CAP_SYS_PTRACE: 19, CAP_SYS_PACCT: 20, CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22, CAP_SYS_NICE: 23, CAP_SYS_RESOURCE: 24, CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26, CAP_MKNOD: 27, CAP_LEASE: 28, CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30, CAP_SETFCAP: 31, CAP_MAC_OVERRIDE: 32, CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34, CAP_WAKE_ALARM: 35, CAP_BLOCK_SUSPEND: 36, CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38, CAP_BPF: 39, CAP_CHECKPOINT_RESTORE: 40,
};

/** The 16-hex-digit mask /proc/PID/status shows for a list of names. */
export function capHex(names = []) {
  let m = 0n;
  for (const n of names) m |= 1n << BigInt(CAP_BITS[n]);
  return m.toString(16).padStart(16, '0');
}

/** tsrt's own bounding set (what a container without a user namespace can get at most). */
export function hostBoundingSet() {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return BigInt('0x' + m[1]);
}

/** "Name:\tvalue" lines of /proc/self/status (as printed by the container) -> object. */
export function parseStatus(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

/**
 * Runs `tsrt run` on a config that must be refused: the command fails, its error names
 * `field` and matches `why`, and nothing is left (no state dir, no process using the
 * bundle, no new host mount).
 */
export function assertRefused(sb, bundle, { field, why }) {
  const before = hostMounts();
  const id = sb.id('refused');
  const r = sb.tsrt(['run', '--bundle', bundle.dir, id]);
  assert.notEqual(r.status, 0, `the config is refused:\n${show(r)}`);
  assert.ok(r.stderr.includes(field), `the error names ${field}:\n${show(r)}`);
  if (why) assert.match(r.stderr, why, `the error says why:\n${show(r)}`);
  assert.equal(fs.existsSync(sb.stateDir(id)), false, 'no state dir is left');
  // (the shared demo rootfs may be in use by other test runs on this machine)
  if (bundle.rootfs !== ROOTFS) assert.deepEqual(processesUsing(bundle.rootfs), [], 'no process is left in the rootfs');
  assert.deepEqual(mountChanges(before, sb.dir), { added: [], removed: [] }, 'no host mount is left');
  return r;
}

// --- a seccomp agent (SCMP_ACT_NOTIFY) ------------------------------------------------------

export const HAVE_PYTHON = spawnSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' }).status === 0;

/**
 * The agent: accepts connections on sockPath; from each it receives the listener fd and
 * the container process state (a JSON line appended to `out`), and answers every
 * notification with EXDEV (its syscall number appended to out.calls). It exits once
 * `expect` connections came and all their filters are gone (or after 20 s idle).
 */
const AGENT = `
import errno, fcntl, json, select, socket, struct, sys
sock_path, out, expect = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(4)
print('ready', flush=True)
RECV, SEND = 0xc0502100, 0xc0182101
p = select.poll()
p.register(srv.fileno(), select.POLLIN)
listeners, seen = set(), 0
while seen < expect or listeners:
    ev = p.poll(20000)
    if not ev:
        break
    for fd, what in ev:
        if fd == srv.fileno():
            conn, _ = srv.accept()
            data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
            while True:
                more = conn.recv(65536)
                if not more:
                    break
                data += more
            conn.close()
            with open(out, 'a') as f:
                f.write(json.dumps({'state': json.loads(data), 'nfds': len(fds)}) + '\\n')
            seen += 1
            listeners.add(fds[0])
            p.register(fds[0], select.POLLIN)
            continue
        if what & select.POLLHUP:
            p.unregister(fd)
            listeners.discard(fd)
            continue
        buf = bytearray(80)
        try:
            fcntl.ioctl(fd, RECV, buf)
        except OSError:
            continue
        nid, pid, flags, nr = struct.unpack_from('<QIIi', buf, 0)
        with open(out + '.calls', 'a') as f:
            f.write(f'{nr}\\n')
        try:
            fcntl.ioctl(fd, SEND, struct.pack('<QqiI', nid, 0, -errno.EXDEV, 0))
        except OSError:
            pass
`;

/** Starts the agent (killed when the test ends) and waits until it listens. */
export async function startSeccompAgent(t, sb, sockPath, out, expect) {
  const script = path.join(sb.dir, `agent-${path.basename(sockPath)}.py`);
  fs.writeFileSync(script, AGENT, { mode: 0o755 });
  const agent = spawn('python3', [script, sockPath, out, String(expect)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { if (agent.exitCode === null) agent.kill('SIGKILL'); });
  await new Promise((resolve, reject) => {
    agent.stdout.once('data', resolve);
    agent.once('exit', () => reject(new Error('seccomp agent exited early')));
  });
  return agent;
}
