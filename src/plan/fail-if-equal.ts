// "Fail when a stored value equals X" for the plan, whose check pseudo-op can only fail
// when a value differs (Plan.checkEquals). The kernel does the subtraction: lseek on a
// private memfd to the value, then by -X relative to it, leaves offset 0 exactly when
// the two are equal (a negative offset is EINVAL, tolerated); a non-zero result jumps
// over the failing step. Used to refuse a mount destination that turns out, inside the
// container's namespace, to be on procfs.
import { Plan, type Blob } from './plan';

const EINVAL = 22;
const SEEK_SET = 0;
const SEEK_CUR = 1;
const MFD_CLOEXEC = 1;

/**
 * Fails the plan with `explain()` as its message when the u64 at `value` + `offset`
 * equals `forbidden` (a non-negative number below 2^63).
 */
export function failIfEqual(plan: Plan, value: Blob, offset: number, forbidden: number, describe: string, explain: () => string): void {
  const memfd = plan.slot(`memfd to compare ${value.label}`);
  const differs = plan.label(`${value.label} is not ${forbidden}`);
  plan.add('memfd_create', [plan.cstr('tsrt-compare'), MFD_CLOEXEC], `${describe}: a scratch memfd to compare with`, { store: memfd });
  plan.add('lseek', [{ load: memfd }, { load: value, plus: offset }, SEEK_SET], `${describe}: seek the scratch memfd to the value`);
  plan.add('lseek', [{ load: memfd }, -forbidden, SEEK_CUR], `${describe}: seek back by ${forbidden} (offset 0 only if equal)`, { okErrno: EINVAL, jumpIfNonzero: differs });
  plan.check(plan.slot('always 1', 1n), 1n, describe, explain);
  plan.place(differs);
  plan.add('close', [{ load: memfd }], `${describe}: close the scratch memfd`);
}
