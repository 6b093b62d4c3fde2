// Unit tests for src/hooks/run-hooks.ts: OCI hooks get exactly their argv / env, the state
// on stdin, and fail with a HookError that says which hook and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lib from '../dist/lib.js';
import { isAlive, waitUntil } from './helpers/tsrt.mjs';

const { runHook, runHooks, runHookSync, runHooksSync } = lib;

const STATE = JSON.stringify({
  ociVersion: '1.2.0', id: 'c1', status: 'creating', pid: 4242, bundle: '/b', annotations: { a: 'b' },
});

/** Runs fn(dir) in a fresh temp dir, removed afterwards. */
async function withDir(fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-hooks-'));
  try {
    await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes an executable /bin/sh script and returns its path. */
function script(dir, name, body) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

async function waitGone(pid, ms = 2000) {
  await waitUntil(() => !isAlive(pid), ms, `pid ${pid} to exit`).catch(() => {});
  return !isAlive(pid);
}

// Both flavours must behave the same; each test runs against each.
const flavours = {
  async: { one: runHook, all: runHooks },
  sync: {
    one: async (...a) => runHookSync(...a),
    all: async (...a) => runHooksSync(...a),
  },
};

for (const [name, run] of Object.entries(flavours)) {
  test(`${name}: the hook gets the state on stdin, its argv (argv0 included) and only its env`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', [
        `cat > ${dir}/stdin`,
        `printf '%s\\n' "$0" "$@" > ${dir}/argv`,
        `env > ${dir}/env`,
      ].join('\n'));
      await run.one({ path: hook, args: ['my-argv0', 'one', 'two words', ''], env: ['FOO=bar', 'EQ=a=b'] }, STATE, 'prestart', 0);
      assert.equal(fs.readFileSync(path.join(dir, 'stdin'), 'utf8'), STATE);
      // sh sets $0 to the script path (the kernel passes it for #!); the args come through as given
      assert.deepEqual(fs.readFileSync(path.join(dir, 'argv'), 'utf8').split('\n').slice(1, -1), ['one', 'two words', '']);
      const env = fs.readFileSync(path.join(dir, 'env'), 'utf8').split('\n').filter((l) => l !== '');
      for (const v of ['FOO=bar', 'EQ=a=b']) assert.ok(env.includes(v), `${v} in ${env}`);
      // sh may add PWD / SHLVL / _ of its own, but nothing of ours may leak through
      assert.ok(!env.some((l) => l.startsWith('HOME=') || l.startsWith('PATH=/') || l.startsWith('NODE')), env.join(' '));
    });
  });

  test(`${name}: argv0 reaches a binary hook exactly`, async () => {
    await withDir(async (dir) => {
      // /bin/sh -c: argv[0] is what we pass as args[0], $0 is the next argument
      await run.one({ path: '/bin/sh', args: ['custom-argv0', '-c', `cat /proc/$$/cmdline > ${dir}/cmdline`] }, STATE, 'createRuntime', 0);
      const argv = fs.readFileSync(path.join(dir, 'cmdline'), 'utf8').split('\0').slice(0, -1);
      assert.equal(argv[0], 'custom-argv0');
      assert.equal(argv[1], '-c');
    });
  });

  test(`${name}: without args, argv0 is the path; without env, the runtime's environment (as runc: Go's nil Env)`, async () => {
    await withDir(async (dir) => {
      const out = path.join(dir, 'out');
      const hook = script(dir, 'hook', `for f in /proc/$$/cmdline /proc/$$/environ; do tr '\\0' '\\n' < $f; echo --; done > ${out}`);
      // the script reads its own /proc entries: $$ is the shell, argv is [sh, script]
      await run.one({ path: hook }, STATE, 'poststart', 0);
      const [cmdline, environ] = fs.readFileSync(out, 'utf8').split('--\n');
      assert.deepEqual(cmdline.split('\n').filter(Boolean).slice(-1), [hook], 'script is argv[1] of the interpreter, from argv0=path');
      const expected = Object.entries(process.env).map(([k, v]) => `${k}=${v}`).sort();
      assert.deepEqual(environ.split('\n').filter(Boolean).filter((e) => !/^(PWD|SHLVL|_)=/.test(e)).sort(), expected.filter((e) => !/^(PWD|SHLVL|_)=/.test(e)), 'the environment of the process running the hook');
    });
  });

  test(`${name}: a non-zero exit fails with the status and the first line of stderr`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', 'echo "  " >&2; echo "bad thing happened" >&2; echo second >&2; exit 3');
      await assert.rejects(run.one({ path: hook }, STATE, 'prestart', 0), (e) => {
        assert.equal(e.name, 'HookError');
        assert.equal(e.code, 'EHOOK');
        assert.equal(e.message, `prestart hook #0 (${hook}): exited with status 3: bad thing happened`);
        return true;
      });
    });
  });

  test(`${name}: stdout is used when stderr is empty; no output, no colon`, async () => {
    await withDir(async (dir) => {
      const talk = script(dir, 'talk', 'echo on stdout; exit 1');
      await assert.rejects(run.one({ path: talk }, STATE, 'poststop', 2), {
        message: `poststop hook #2 (${talk}): exited with status 1: on stdout`,
      });
      const quiet = script(dir, 'quiet', 'exit 7');
      await assert.rejects(run.one({ path: quiet }, STATE, 'poststop', 0), {
        message: `poststop hook #0 (${quiet}): exited with status 7`,
      });
    });
  });

  test(`${name}: a hook killed by a signal`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', 'kill -9 $$');
      await assert.rejects(run.one({ path: hook }, STATE, 'createContainer', 1), {
        message: `createContainer hook #1 (${hook}): killed by signal 9`,
      });
    });
  });

  test(`${name}: a hook that cannot be started`, async () => {
    await withDir(async (dir) => {
      const missing = path.join(dir, 'missing');
      await assert.rejects(run.one({ path: missing }, STATE, 'prestart', 0), {
        message: `prestart hook #0 (${missing}): could not be started: ENOENT (no such file or directory)`,
      });
      const notExec = path.join(dir, 'noexec');
      fs.writeFileSync(notExec, '#!/bin/sh\n', { mode: 0o644 });
      // execve wants an execute bit even for root
      await assert.rejects(run.one({ path: notExec }, STATE, 'prestart', 0), {
        message: `prestart hook #0 (${notExec}): could not be started: EACCES (permission denied)`,
      });
      await assert.rejects(run.one({ path: 'relative/hook' }, STATE, 'prestart', 0), {
        message: 'prestart hook #0 (relative/hook): could not be started: path is not absolute',
      });
    });
  });

  test(`${name}: a hook that does not read stdin is fine (no EPIPE)`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', 'exec 0<&-; exit 0');
      const big = JSON.stringify({ id: 'x', pad: 'x'.repeat(1 << 20) });
      await run.one({ path: hook }, big, 'prestart', 0);
    });
  });

  test(`${name}: a timeout kills the hook and everything it started`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', [
        `echo $$ > ${dir}/pid`,
        `sleep 5 & echo $! > ${dir}/child`,
        'echo starting >&2',
        'wait',
      ].join('\n'));
      const t0 = Date.now();
      await assert.rejects(run.one({ path: hook, timeout: 1 }, STATE, 'prestart', 0), {
        message: `prestart hook #0 (${hook}): timed out after 1s: starting`,
      });
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 4000, `took ${took}ms`);
      const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
      const child = Number(fs.readFileSync(path.join(dir, 'child'), 'utf8'));
      assert.ok(await waitGone(pid), `hook ${pid} is gone`);
      assert.ok(await waitGone(child), `its sleep ${child} is gone`);
    });
  });

  test(`${name}: an exec'd sleep past its timeout is killed`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', `echo $$ > ${dir}/pid; exec sleep 5`);
      await assert.rejects(run.one({ path: hook, timeout: 1 }, STATE, 'poststart', 3), {
        message: `poststart hook #3 (${hook}): timed out after 1s`,
      });
      assert.ok(await waitGone(Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'))));
    });
  });

  test(`${name}: a hook finishing within its timeout succeeds`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', 'exit 0');
      await run.one({ path: hook, timeout: 5 }, STATE, 'prestart', 0);
    });
  });

  test(`${name}: a daemon left behind by a hook does not block it`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', `sleep 3 & echo $! > ${dir}/daemon; exit 0`);
      const t0 = Date.now();
      await run.one({ path: hook }, STATE, 'createRuntime', 0);
      assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0}ms`);
      try { process.kill(Number(fs.readFileSync(path.join(dir, 'daemon'), 'utf8')), 'SIGKILL'); } catch { /* gone */ }
    });
  });

  test(`${name}: long output is capped and does not block the hook`, async () => {
    await withDir(async (dir) => {
      const hook = script(dir, 'hook', 'head -c 1000000 /dev/zero | tr "\\0" x >&2; exit 1');
      await assert.rejects(run.one({ path: hook }, STATE, 'prestart', 0), (e) => {
        assert.match(e.message, /exited with status 1: x+$/);
        assert.ok(e.message.length < 4096 + 200, `message length ${e.message.length}`);
        return true;
      });
    });
  });

  test(`${name}: runHooks runs in order and stops at the first failure`, async () => {
    await withDir(async (dir) => {
      const log = path.join(dir, 'log');
      const ok = (n) => ({ path: script(dir, `ok${n}`, `echo ${n} >> ${log}`) });
      const bad = { path: script(dir, 'bad', `echo bad >> ${log}; echo nope >&2; exit 2`) };
      await run.all([ok(0), ok(1)], STATE, 'prestart');
      assert.equal(fs.readFileSync(log, 'utf8'), '0\n1\n');
      fs.rmSync(log);
      await assert.rejects(run.all([ok(0), bad, ok(2)], STATE, 'startContainer'), {
        message: `startContainer hook #1 (${bad.path}): exited with status 2: nope`,
      });
      assert.equal(fs.readFileSync(log, 'utf8'), '0\nbad\n', 'the hook after the failure did not run');
      await run.all(undefined, STATE, 'prestart');
      await run.all([], STATE, 'prestart');
    });
  });
}
