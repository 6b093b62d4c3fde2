// The trampolines themselves, byte for byte as shipped: a plan that exercises every
// feature of the step format (tolerated errno, stored result, indirect argument,
// jump-if-nonzero, the check pseudo-op, the error report) runs in a tiny static
// program on x86-64 natively and on aarch64 under qemu-user. The aarch64 half needs
// binutils-aarch64-linux-gnu and qemu-user (.ci/run installs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const lib = require('../dist/lib.js');

const PLAN_ADDR = 0x600000n;
const ARCHES = {
  x64: { code: lib.TRAMPOLINE_X86_64, as: 'as', ld: 'ld', run: [], entry: 'mov $0x600000, %rdi\njmp tramp' },
  arm64: { code: lib.TRAMPOLINE_AARCH64, as: 'aarch64-linux-gnu-as', ld: 'aarch64-linux-gnu-ld', run: ['qemu-aarch64'], entry: 'mov x0, #0x600000\nb tramp' },
};

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The test plan and what it must print: A, B, C on stdout; one error record on stderr. */
function testPlan(failBy) {
  const p = new lib.Plan();
  const AT_FDCWD = -100;
  p.add('write', [1, p.cstr('A\n'), 2], 'print A');
  p.add('openat', [AT_FDCWD, p.cstr('/nonexistent-tsrt'), 0, 0], 'tolerated ENOENT', { okErrno: 2 });
  const ret = p.slot('write result');
  const skip = p.label('after skipped');
  p.add('write', [1, p.cstr('B\n'), 2], 'print B, jump over the next step', { store: ret, jumpIfNonzero: skip });
  p.add('write', [1, p.cstr('SKIPPED\n'), 8], 'never runs');
  p.place(skip);
  // the stored result of the write (2) is the length of the next one
  p.add('write', [1, p.cstr('C\n'), { load: ret }], 'print C with a length loaded from a slot');
  p.check(p.slot('zero', 0n), 0xffffn, 'a check of zero passes');
  // a 16-byte struct: the equality check reads its second word (an offset load)
  const st = p.blob(Buffer.from('0000000000000000' + '3412000000000080', 'hex'), 'struct');
  p.checkEquals(st, 8, 0xffffn, 0x1234n, 'an equality check on a loaded field passes');
  if (failBy === 'check') p.checkEquals(st, 8, 0xffffffffffffffffn, 0x1234n, 'fails: the whole word differs, reported whole');
  else p.add('openat', [AT_FDCWD, p.cstr('/nonexistent-tsrt'), 0, 0], 'fails: reported');
  p.add('write', [1, p.cstr('NEVER\n'), 6], 'after the failure');
  return { plan: p, failingStep: 7, failingValue: failBy === 'check' ? 0x8000000000000000n : 2n };
}

for (const [arch, a] of Object.entries(ARCHES)) {
  const missing = [a.as, a.ld, ...a.run].filter((c) => !have(c));
  const skip = missing.length ? `needs ${missing.join(', ')}` : false;
  test(`trampoline ${arch}: every step feature, and the error report`, { skip }, (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-tramp-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    for (const failBy of ['syscall', 'check']) {
    const { plan, failingStep, failingValue } = testPlan(failBy);
    const mem = Buffer.alloc((lib.planBytes(plan) + 4095) & ~4095);
    lib.encodePlan(plan, 2, PLAN_ADDR, mem, arch);
    fs.writeFileSync(path.join(dir, 'plan.bin'), mem);
    fs.writeFileSync(path.join(dir, 'tramp.bin'), Buffer.from(a.code));
    fs.writeFileSync(path.join(dir, 'h.S'), `.globl _start\n.text\n_start:\n${a.entry}\ntramp:\n.incbin "tramp.bin"\n.data\n.incbin "plan.bin"\n`);
    for (const [cmd, args] of [[a.as, ['-o', 'h.o', 'h.S']], [a.ld, ['-static', '-Ttext=0x400000', '-Tdata=0x600000', '-o', 'h', 'h.o']]]) {
      const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    }
    const [cmd, ...pre] = [...a.run, path.join(dir, 'h')];
    const r = spawnSync(cmd, pre, { cwd: dir });
    assert.equal(r.stdout.toString(), 'A\nB\nC\n');
    assert.equal(r.status, 1, 'a failing step ends the process with exit_group(1)');
    assert.equal(r.stderr.length, 16, 'one 16-byte error record');
    assert.equal(r.stderr.readBigUInt64LE(0), BigInt(failingStep), 'the index of the failing step');
    assert.equal(r.stderr.readBigUInt64LE(8), failingValue, failBy === 'check' ? 'the masked value, whole' : 'its errno (ENOENT)');
    }
  });
}
