// A plan printed like strace of the init before it runs (`tsrt create --print-plan`).
import type { Arg, Plan } from './plan';
import { Blob } from './plan';

function showArg(a: Arg): string {
  if (typeof a === 'number') return a < 0 || a < 4096 ? String(a) : '0x' + a.toString(16);
  if (typeof a === 'bigint') return '0x' + a.toString(16);
  if (a instanceof Blob) return a.label;
  if ('load' in a) return a.plus ? `*[${a.load.label} + ${a.plus}]` : `*[${a.load.label}]`;
  return `${a.ptrTo.label}+${a.plus}`;
}

export function describePlan(plan: Plan, cloneFlags: number): string {
  const lines = [`clone(flags=0x${cloneFlags.toString(16)}) then ${plan.steps.length} steps:`];
  const targets = new Map<number, string>();
  plan.steps.forEach((s) => { if (s.opts.jumpIfNonzero) targets.set(s.opts.jumpIfNonzero.index, s.opts.jumpIfNonzero.name); });
  plan.steps.forEach((s, i) => {
    if (targets.has(i)) lines.push(`${targets.get(i)}:`);
    const call = s.nr === 'check' ? `check(${s.args.map(showArg).join(', ')})` : `${s.nr}(${s.args.map(showArg).join(', ')})`;
    const notes: string[] = [];
    if (s.opts.okErrno) notes.push(`ok errno ${s.opts.okErrno}`);
    if (s.opts.ignoreError) notes.push('errors ignored');
    if (s.opts.store) notes.push(`-> ${s.opts.store.label}`);
    if (s.opts.jumpIfNonzero) notes.push(`if non-zero goto ${s.opts.jumpIfNonzero.name}`);
    lines.push(`${String(i).padStart(4)}  ${call}${notes.length ? '  [' + notes.join('; ') + ']' : ''}\n        # ${s.describe}`);
  });
  return lines.join('\n') + '\n';
}
