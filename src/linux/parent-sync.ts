// The sync pipe: a plan's process waits for one byte from tsrt before each step only
// tsrt can do (id maps, cgroup join, hooks). Only tsrt holds the write end (the plan
// closed its inherited copy), so end-of-file means tsrt died: the process must stop
// there, not go on unconfined (no cgroup, no maps) and unrecorded. The parent-death
// signal misses the case where tsrt dies before the process set it.
import type { Blob, Plan } from '../plan/plan';

export function buildWaitForParentSteps(plan: Plan, syncFd: number, byte: Blob, describe: string): void {
  const got = plan.slot(`${describe}: bytes read`);
  plan.add('read', [syncFd, byte, 1], describe, { store: got });
  plan.checkEquals(got, 0, 0xffffffffn, 1n, `${describe}: tsrt is gone`, () => `${describe}: end of file (tsrt died)`);
}
