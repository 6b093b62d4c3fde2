// OOM notifications for `events`.
//
// v1 (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control"): an eventfd is
// registered by writing "<eventfd> <fd of memory.oom_control>" to cgroup.event_control;
// the eventfd counts OOM situations. It is also signalled when the cgroup is removed, so a
// wake-up after the directory is gone is not an OOM.
// v2 (cgroup-v2.rst): memory.events' oom_kill counter grows with each OOM kill.
import { closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { CgroupError, readKeyValues, writeCg } from './cgfs';
import type { CgroupManager } from './manager';

export interface OomWatch {
  /** Reads the kernel's count now, calling onOom for what the polls have not seen yet. */
  check(): void;
  close(): void;
}

type EventfdFn = (init: number, flags: number) => number;
let eventfdFn: EventfdFn | undefined;

function eventfd(): number {
  const { koffi, errno } = require('../libc/libc') as typeof import('../libc/libc');
  eventfdFn ??= koffi().load('libc.so.6').func('int eventfd(unsigned int initval, int flags)') as EventfdFn;
  const fd = eventfdFn(0, 0o2000000 | 0o4000 /* EFD_CLOEXEC | EFD_NONBLOCK */);
  if (fd < 0) {
    const { errnoName } = require('../libc/errno') as typeof import('../libc/errno');
    throw new CgroupError(`events: eventfd: ${errnoName(errno())}`);
  }
  return fd;
}

/** Calls onOom for every OOM of the container; undefined when there is no memory controller. */
export function watchOom(m: CgroupManager, onOom: () => void): OomWatch | undefined {
  const p = m.locate('memory');
  if (!p) return undefined;
  if (p.version === 1) {
    const efd = eventfd();
    const ctl = openSync(`${p.dir}/memory.oom_control`, constants.O_RDONLY);
    try {
      writeCg(p.dir, 'cgroup.event_control', `${efd} ${ctl}`, 'events: registering for OOM notifications');
    } catch (e) {
      closeSync(efd);
      closeSync(ctl);
      throw e;
    }
    // Non-blocking, polled: a read blocked on libuv's thread pool would keep the process
    // from exiting (the pool's threads are joined at exit).
    const buf = Buffer.alloc(8);
    return polled(() => {
      let n = 0;
      try {
        n = readSync(efd, buf, 0, 8, null);
      } catch {
        return; // EAGAIN: nothing yet
      }
      if (n !== 8) return;
      if (!existsSync(`${p.dir}/memory.oom_control`)) return; // the cgroup was removed
      onOom();
    }, () => {
      for (const fd of [ctl, efd]) {
        try { closeSync(fd); } catch { /* closed */ }
      }
    });
  }
  let seen = readKeyValues(p.dir, 'memory.events').get('oom_kill') ?? 0n;
  return polled(() => {
    let now: bigint | undefined;
    try {
      now = readKeyValues(p.dir, 'memory.events').get('oom_kill');
    } catch {
      return; // the cgroup was removed
    }
    if (now === undefined) return;
    for (; seen < now; seen++) onOom();
  });
}

/** A watch that runs `check` every 100 ms and on demand until closed, then `release`s. */
function polled(check: () => void, release: () => void = () => {}): OomWatch {
  let closed = false;
  const timer = setInterval(check, 100);
  return {
    check: () => { if (!closed) check(); },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      release();
    },
  };
}
