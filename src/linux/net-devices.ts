// linux.netDevices: move host network interfaces into the container's network namespace,
// from the parent over rtnetlink, while the init waits at its first sync point.
//
// For each device: its permanent, global-scope addresses are read (a move flushes them),
// the device is moved and renamed in one RTM_NEWLINK (IFLA_NET_NS_PID + IFLA_IFNAME: the
// kernel refuses with EEXIST a name already taken in the container, and expands a "%d"
// template), then a netlink socket opened inside the container's namespace adds the
// addresses back and sets the device up. Nothing is moved back on delete (the spec
// leaves that to the kernel: physical devices return to the host when the namespace dies).
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import type { Spec } from '../oci/spec-types';
import { koffi } from '../libc/libc';
import { errnoName, strerror } from '../libc/errno';
import { ConfigError, TsrtError } from '../util/errors';
import type { NamespacePlan } from './namespaces';
import { quote } from '../util/quote';

const NETLINK_ROUTE = 0, AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000;
const RTM_NEWLINK = 16, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_GETADDR = 22;
const NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2, NLMSG_DONE = 3;
const IFLA_IFNAME = 3, IFLA_NET_NS_PID = 19;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_BROADCAST = 4, IFA_FLAGS = 8;
const IFA_F_PERMANENT = 0x80, RT_SCOPE_UNIVERSE = 0, IFF_UP = 1;
const CLONE_NEWNET = 0x40000000;

interface Sys {
  socket(domain: number, type: number, proto: number): number;
  setns(fd: number, type: number): number;
}
let sys: Sys | undefined;
function s(): Sys {
  if (!sys) {
    const lib = koffi().load('libc.so.6');
    sys = {
      socket: lib.func('int socket(int, int, int)') as Sys['socket'],
      setns: lib.func('int setns(int, int)') as Sys['setns'],
    };
  }
  return sys;
}

function fail(what: string): never {
  const e = koffi().errno();
  throw new TsrtError(errnoName(e), `${what}: ${errnoName(e)} (${strerror(e)})`);
}

function attr(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}

const cstr = (v: string) => Buffer.from(v + '\0');
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v, 0); return b; };

function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

interface Msg { type: number; body: Buffer }

class Netlink {
  private seq = 1;
  constructor(readonly fd: number) {}

  static open(what: string): Netlink {
    const fd = s().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) fail(`${what}: socket(AF_NETLINK)`);
    return new Netlink(fd);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Sends one request and returns the replies up to the ack / NLMSG_DONE; throws on error. */
  request(type: number, flags: number, payload: Buffer[], what: string): Msg[] {
    const body = Buffer.concat(payload);
    const hdr = Buffer.alloc(16);
    const seq = this.seq++;
    hdr.writeUInt32LE(16 + body.length, 0);
    hdr.writeUInt16LE(type, 4);
    hdr.writeUInt16LE(flags | NLM_F_REQUEST, 6);
    hdr.writeUInt32LE(seq, 8);
    writeSync(this.fd, Buffer.concat([hdr, body]));
    const out: Msg[] = [];
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, null);
      let off = 0;
      while (off + 16 <= n) {
        const len = buf.readUInt32LE(off);
        const mtype = buf.readUInt16LE(off + 4);
        const mseq = buf.readUInt32LE(off + 8);
        if (len < 16) throw new TsrtError('EPROTO', `${what}: malformed netlink reply`);
        if (mseq === seq) {
          if (mtype === NLMSG_DONE) return out;
          if (mtype === NLMSG_ERROR) {
            const err = -buf.readInt32LE(off + 16);
            if (err) throw new TsrtError(errnoName(err), `${what}: ${errnoName(err)} (${strerror(err)})`);
            return out;
          }
          out.push({ type: mtype, body: Buffer.from(buf.subarray(off + 16, off + len)) });
        }
        off += (len + 3) & ~3;
      }
      if (!(flags & NLM_F_DUMP) && !(flags & NLM_F_ACK)) return out;
    }
  }
}

function attrs(b: Buffer, start: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    const type = b.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) break;
    m.set(type, b.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return m;
}

interface Address { family: number; prefixlen: number; flags: number; scope: number; attrs: Map<number, Buffer> }

function permanentGlobalAddresses(nl: Netlink, index: number, name: string): Address[] {
  const replies = nl.request(RTM_GETADDR, NLM_F_DUMP, [Buffer.alloc(8)], `read the addresses of ${name}`);
  const out: Address[] = [];
  for (const r of replies) {
    if (r.type !== RTM_NEWADDR || r.body.readInt32LE(4) !== index) continue;
    const a = attrs(r.body, 8);
    const flags = a.get(IFA_FLAGS)?.readUInt32LE(0) ?? r.body[2]!;
    const scope = r.body[3]!;
    if (!(flags & IFA_F_PERMANENT) || scope !== RT_SCOPE_UNIVERSE) continue;
    out.push({ family: r.body[0]!, prefixlen: r.body[1]!, flags, scope, attrs: a });
  }
  return out;
}

function ifindexOf(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Refusals that need no process: called while the plan is built. */
export function checkNetDevices(spec: Spec, ns: NamespacePlan): void {
  const devs = spec.linux?.netDevices;
  if (!devs || !Object.keys(devs).length) return;
  if (!ns.has('network') || ns.joined.some((j) => j.type === 'network')) {
    throw new ConfigError('linux.netDevices: needs a new network namespace (add {"type": "network"} without a path to linux.namespaces)');
  }
  if (process.geteuid?.() !== 0) {
    throw new ConfigError('linux.netDevices: moving a host network device needs root (CAP_NET_ADMIN in the host network namespace)');
  }
  for (const [host, d] of Object.entries(devs)) {
    const field = `linux.netDevices.${host}`;
    if (!/^[^/\s:]{1,15}$/.test(host) || host === '.' || host === '..') throw new ConfigError(`${field}: not a valid interface name`);
    if (d.name !== undefined && !/^[^/\s:]{1,15}$/.test(d.name)) throw new ConfigError(`${field}.name: ${quote(d.name)} is not a valid interface name`);
    if (ifindexOf(host) === undefined) throw new ConfigError(`${field}: no network interface ${host} on the host`);
  }
}

/** Runs fn with a netlink socket inside the network namespace of pid. */
function inNetnsOf<T>(pid: number, fn: (nl: Netlink) => T): T {
  const own = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/proc/${pid}/ns/net`, 'r');
  let nl: Netlink | undefined;
  try {
    if (s().setns(target, CLONE_NEWNET) < 0) fail(`enter the network namespace of ${pid}`);
    try {
      nl = Netlink.open('netlink socket in the container');
    } finally {
      if (s().setns(own, CLONE_NEWNET) < 0) fail('return to tsrt\'s network namespace');
    }
    return fn(nl);
  } finally {
    nl?.close();
    closeSync(own);
    closeSync(target);
  }
}

/** Moves every linux.netDevices entry into the network namespace of pid. */
export function moveNetDevices(spec: Spec, pid: number): void {
  const devs = spec.linux?.netDevices;
  if (!devs || !Object.keys(devs).length) return;
  const host = Netlink.open('linux.netDevices');
  try {
    for (const [name, d] of Object.entries(devs)) {
      const field = `linux.netDevices.${name}`;
      const index = ifindexOf(name);
      if (index === undefined) throw new ConfigError(`${field}: no network interface ${name} on the host`);
      const newName = d.name || name;
      // Checked before the move: the kernel would move the device first and refuse the
      // rename after, leaving it in a namespace that is about to be torn down.
      if (!newName.includes('%d') && inNetnsOf(pid, (nl) => linkExists(nl, newName, field))) {
        throw new TsrtError('EEXIST', `${field}: a device named ${newName} already exists in the container's network namespace`);
      }
      const addrs = permanentGlobalAddresses(host, index, name);
      try {
        host.request(RTM_NEWLINK, NLM_F_ACK, [ifinfomsg(index), attr(IFLA_NET_NS_PID, u32(pid)), attr(IFLA_IFNAME, cstr(newName))],
          `${field}: move ${name} into the container as ${newName}`);
      } catch (e) {
        if ((e as TsrtError).code === 'EEXIST') throw new TsrtError('EEXIST', `${field}: a device named ${newName} already exists in the container's network namespace`);
        throw e;
      }
      inNetnsOf(pid, (nl) => {
        // The index is kept unless the container's namespace already uses it.
        let inside: number;
        try {
          const link = nl.request(RTM_GETLINK, NLM_F_ACK, [ifinfomsg(index)], `${field}: find ${newName} in the container`)
            .find((m) => m.type === RTM_NEWLINK);
          inside = link ? link.body.readInt32LE(4) : lookupByName(nl, newName, field);
        } catch (e) {
          if ((e as TsrtError).code !== 'ENODEV') throw e;
          inside = lookupByName(nl, newName, field);
        }
        for (const a of addrs) {
          const msg = Buffer.alloc(8);
          msg[0] = a.family; msg[1] = a.prefixlen; msg[2] = a.flags & 0xff; msg[3] = a.scope;
          msg.writeInt32LE(inside, 4);
          const parts: Buffer[] = [msg];
          for (const t of [IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST]) {
            const v = a.attrs.get(t);
            if (v) parts.push(attr(t, v));
          }
          parts.push(attr(IFA_FLAGS, u32(a.flags)));
          nl.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, parts, `${field}: restore an address of ${newName}`);
        }
        nl.request(RTM_NEWLINK, NLM_F_ACK, [ifinfomsg(inside, IFF_UP, IFF_UP)], `${field}: set ${newName} up`);
      });
    }
  } finally {
    host.close();
  }
}

function linkExists(nl: Netlink, name: string, field: string): boolean {
  try {
    lookupByName(nl, name, field);
    return true;
  } catch (e) {
    if ((e as TsrtError).code === 'ENODEV') return false;
    throw e;
  }
}

function lookupByName(nl: Netlink, name: string, field: string): number {
  const r = nl.request(RTM_GETLINK, NLM_F_ACK, [ifinfomsg(0), attr(IFLA_IFNAME, cstr(name))], `${field}: find ${name} in the container`)
    .find((m) => m.type === RTM_NEWLINK);
  if (!r) throw new TsrtError('ENODEV', `${field}: ${name} is not in the container's network namespace after the move`);
  return r.body.readInt32LE(4);
}
