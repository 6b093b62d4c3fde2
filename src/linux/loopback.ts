// The loopback interface of a network namespace tsrt creates starts DOWN; runc brings it
// up (127.0.0.1/8 and ::1 appear by themselves once it is), and pods whose containers
// talk over localhost rely on it. Done in the init with ioctl(SIOCSIFFLAGS) on a socket:
// three syscalls in the child, where rtnetlink from the parent would cost a setns into
// the child's namespace and a netlink round trip while the init waits.
import type { Plan } from '../plan/plan';

const AF_INET = 2, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000;
const SIOCSIFFLAGS = 0x8914, IFF_UP = 1;

export function buildLoopbackUpSteps(plan: Plan): void {
  // struct ifreq { char ifr_name[16]; short ifr_flags; ... } (40 bytes)
  const ifr = Buffer.alloc(40);
  ifr.write('lo', 0);
  ifr.writeUInt16LE(IFF_UP, 16);
  const sock = plan.slot('loopback ioctl socket');
  plan.add('socket', [AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0], 'open a socket to bring the loopback interface up', { store: sock });
  plan.add('ioctl', [{ load: sock }, SIOCSIFFLAGS, plan.blob(ifr, 'ifreq lo IFF_UP')], 'bring the loopback interface up in the new network namespace (SIOCSIFFLAGS lo)');
  plan.add('close', [{ load: sock }], 'close the loopback ioctl socket');
}
