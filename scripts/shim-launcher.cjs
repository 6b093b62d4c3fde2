#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS -u NODE_OPTIONS node
// dist/containerd-shim-tsrt-v2: the launcher of tsrt's containerd shim (docs/shim.md).
//
// containerd runs `containerd-shim-tsrt-v2 -namespace N -address A -publish-binary P -id ID
// start` in the bundle directory for every task, and waits for it to print the shim's
// address. That path stays here, in a few lines of plain node without the bundle: it
// finds the shim of the task's pod (the sandbox id annotation) and prints its address,
// or makes the listening socket and spawns the daemon (this launcher again, without
// `start`, the socket as fd 3), which loads dist/containerd-shim-tsrt-v2.js once.
'use strict';

/** The flag values of argv (the bundle's src/shim/flags.ts reads the same). */
function flagsOf(argv) {
  const f = { namespace: '', address: '', id: '', command: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-')) { f.command = a; continue; }
    const [name, value] = a.replace(/^--?/, '').split(/=(.*)/s);
    if (name === 'debug') continue;
    const v = value ?? argv[++i] ?? '';
    if (name in f) f[name] = v;
  }
  return f;
}

/** The key of the shim serving this task: its pod's sandbox id, else its own id (as the runc shim groups). */
function groupOf(fs, id) {
  try {
    const a = JSON.parse(fs.readFileSync('config.json', 'utf8')).annotations ?? {};
    return a['io.kubernetes.cri.sandbox-id'] || id;
  } catch {
    return id;
  }
}

/** containerd's socket address scheme: /run/containerd/s/sha256(address/namespace/key). */
function socketPath(f, key) {
  const hash = require('crypto').createHash('sha256').update(`${f.address}/${f.namespace}/${key}`).digest('hex');
  return `${process.env.TSRT_SHIM_SOCKET_DIR ?? '/run/containerd/s'}/${hash}`;
}

function answer(fs, path) {
  fs.writeFileSync('address', `unix://${path}`);
  process.stdout.write(`unix://${path}`);
  process.exit(0);
}

function start(argv) {
  const fs = require('fs');
  const net = require('net');
  const f = flagsOf(argv);
  const key = groupOf(fs, f.id);
  const path = socketPath(f, key);
  const listen = () => {
    fs.mkdirSync(require('path').dirname(path), { recursive: true, mode: 0o711 });
    fs.rmSync(path, { force: true });
    const server = net.createServer();
    server.on('error', (e) => { process.stderr.write(`listen on ${path}: ${e.message}\n`); process.exit(1); });
    server.listen(path, () => {
      const daemonArgs = argv.filter((a) => a !== 'start');
      const child = require('child_process').spawn(process.execPath, [__filename, ...daemonArgs], {
        detached: true, stdio: ['ignore', 'ignore', 'ignore', server._handle.fd], env: process.env,
      });
      child.unref();
      answer(fs, path);
    });
  };
  if (key === f.id) return listen();
  // A later container of a pod: the pod's shim serves it if it is there.
  const probe = net.connect(path);
  probe.once('connect', () => { probe.destroy(); answer(fs, path); });
  probe.once('error', listen);
}

const argv = process.argv.slice(2);
if (flagsOf(argv).command === 'start') start(argv);
else require('./containerd-shim-tsrt-v2.js');
