// The test command (`npm test`): builds dist/, makes sure the demo rootfs exists, then
// runs the black-box and unit tests in spec-tests/ one file at a time, and exits with
// the test runner's exit code.
//
//   npm test                                   all of spec-tests/*.test.mjs
//   npm test -- spec-tests/state.test.mjs      only the files given
//   npm test -- --test-name-pattern=kill       options (--opt=value form) go to node --test
//   npm run test:vm -- FILES                   the same, inside the VM lane (scripts/vm/run.sh:
//                                              Debian 12's kernel, cgroup v2 alone; VM_CGROUP=...)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a command with inherited stdio; exits this script if it fails. */
function step(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  const code = exitCode(r);
  if (code !== 0) {
    console.error(`run-tests: ${what} failed (exit ${code})`);
    process.exit(code);
  }
}

function exitCode(r) {
  if (r.error) {
    console.error(`run-tests: ${r.error.message}`);
    return 127;
  }
  if (r.signal) return 128 + (constants.signals[r.signal] ?? 0);
  return r.status ?? 1;
}

step('build', process.execPath, [join(root, 'scripts', 'build.mjs')]);

const rootfs = join(root, 'bundle', 'rootfs');
if (!existsSync(join(rootfs, 'bin', 'busybox')) || !existsSync(join(rootfs, 'bin', 'sh'))) {
  step('make-rootfs', 'bash', [join(root, 'scripts', 'make-rootfs.sh'), rootfs]);
}

const extra = process.argv.slice(2);
// --vm: build and make the rootfs here, run the tests in the VM (it sees this checkout).
const inVm = extra.includes('--vm');
const options = extra.filter((a) => a.startsWith('-') && a !== '--vm');
let files = extra.filter((a) => !a.startsWith('-'));
if (files.length === 0) {
  const dir = join(root, 'spec-tests');
  files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.test.mjs'))
        .sort()
        .map((f) => relative(root, join(dir, f)))
    : [];
  if (files.length === 0) {
    // A test command that passes with nothing to run would hide a broken layout.
    console.error('run-tests: no test files match spec-tests/*.test.mjs');
    process.exit(1);
  }
}

// Node 20 picks the TAP reporter when stdout is not a terminal (CI); ask for the spec
// reporter explicitly so the summary ("ℹ tests N", "ℹ pass N", "ℹ fail N") is always
// printed the same way.
/** The VM's tests get CI and a slowdown for their waits' limits (TCG runs them 7-11x slower). */
function vmEnv() {
  return {
    ...process.env,
    TSRT_TEST_SLOWDOWN: process.env.TSRT_TEST_SLOWDOWN ?? '10',
    VM_PASSENV: `${process.env.VM_PASSENV ?? 'CI'} TSRT_TEST_SLOWDOWN`,
  };
}

const testArgs = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...options, ...files];
const r = inVm
  ? spawnSync(join(root, 'scripts', 'vm', 'run.sh'), ['node', ...testArgs], { cwd: root, stdio: 'inherit', env: vmEnv() })
  : spawnSync(process.execPath, testArgs, { cwd: root, stdio: 'inherit' });
process.exit(exitCode(r));
