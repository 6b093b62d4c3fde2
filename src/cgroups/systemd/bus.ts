// A connection to systemd's manager (org.freedesktop.systemd1) over D-Bus, with the few
// calls the cgroup driver makes: StartTransientUnit and StopUnit waiting for their job's
// JobRemoved signal, SetUnitProperties, ResetFailedUnit and the Version property.
//
// The D-Bus client is @jellybrick/dbus-next (a maintained fork of dbus-next: pure
// JavaScript, BigInt for 64-bit values, no native addon), bundled apart as
// dist/tsrt-dbus.js and loaded only here, so that only --systemd-cgroup pays for it
// (docs/cgroups.md, "The systemd driver").
//
// Where to connect, as runc (go-systemd): the system bus ($DBUS_SYSTEM_BUS_ADDRESS or
// /run/dbus/system_bus_socket), and for root, systemd's private socket when the bus is
// not there (early boot, no dbus-daemon).
import type { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import type { Message as DBusMessage, MessageBus } from '@jellybrick/dbus-next';
import { TsrtError } from '../../util/errors';
import type { UnitProperty } from './properties';

/** systemd cannot be reached, or refused what was asked. */
export class SystemdError extends TsrtError {
  constructor(message: string) {
    super('ESYSTEMD', message);
  }
}

type DBus = typeof import('@jellybrick/dbus-next');

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const PRIVATE_SOCKET = '/run/systemd/private';
const CONNECT_TIMEOUT_MS = 10_000;
/** runc waits this long for a unit's job; a method call gets as long */
const JOB_TIMEOUT_MS = 30_000;
const CALL_TIMEOUT_MS = 30_000;

let dbusModule: DBus | undefined;
function dbus(): DBus {
  dbusModule ??= require('@jellybrick/dbus-next') as DBus;
  return dbusModule;
}

/** systemd's own test for "booted with systemd" (sd_booted(3)), as runc's IsRunningSystemd. */
export function systemdBooted(): boolean {
  try {
    return statSync('/run/systemd/system').isDirectory();
  } catch {
    return false;
  }
}

function systemBusAddress(): string {
  return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/run/dbus/system_bus_socket';
}

function errText(e: unknown): string {
  const x = e as { code?: string; type?: string; text?: string; message?: string };
  if (x?.type) return `${x.type}: ${x.text ?? x.message}`;
  return x?.code ?? x?.message ?? String(e);
}

/**
 * A connected bus, or the reason it could not connect (within CONNECT_TIMEOUT_MS).
 * `direct`: systemd's private socket is a peer-to-peer connection with no bus daemon, so
 * it refuses the client library's Hello (UnknownObject /org/freedesktop/DBus): once
 * authenticated, that refusal means connected (go-systemd sends no Hello there).
 */
function open(address: string, direct: boolean): Promise<MessageBus> {
  const d = dbus();
  const bus = d.sessionBus({ busAddress: address });
  // The library emits 'error' (its typings do not list it): unheard, it would end tsrt.
  const events = bus as unknown as EventEmitter;
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`no answer in ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
    // The first error decides; later ones (EPIPE after a refused handshake, systemd going
    // away) must still be heard: the call waiting on them fails instead.
    events.on('error', (e: unknown) => {
      if (direct && (e as { type?: string })?.type === 'org.freedesktop.DBus.Error.UnknownObject') connected();
      else fail(e);
    });
    function fail(e: unknown): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        bus.disconnect();
      } catch {
        // never connected
      }
      reject(e);
    }
    function connected(): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(bus);
    }
    events.once('connect', connected);
  });
}

export class SystemdConnection {
  /** JobRemoved results that arrived for jobs nobody waits for yet (path -> result) */
  private readonly finished = new Map<string, string>();
  private readonly waiting = new Map<string, (result: string) => void>();

  private constructor(private readonly bus: MessageBus, readonly address: string) {
    bus.on('message', (m: DBusMessage) => {
      if (m.type !== dbus().MessageType.SIGNAL || m.interface !== MANAGER || m.member !== 'JobRemoved') return;
      const [, job, , result] = m.body as [number, string, string, string];
      const w = this.waiting.get(job);
      if (w) w(result);
      else this.finished.set(job, result);
    });
  }

  /** Connects to systemd; the error says what was tried, and why each failed. */
  static async connect(): Promise<SystemdConnection> {
    const tried: string[] = [];
    const addresses = [systemBusAddress()];
    if (process.geteuid?.() === 0) addresses.push(`unix:path=${PRIVATE_SOCKET}`);
    for (const address of addresses) {
      let c: SystemdConnection | undefined;
      try {
        const direct = address === `unix:path=${PRIVATE_SOCKET}`;
        c = new SystemdConnection(await open(address, direct), address);
        // JobRemoved is broadcast on the bus: ask for it (a private connection gets it unasked).
        if (!direct) {
          await c.call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's',
            [`type='signal',sender='${SYSTEMD}',interface='${MANAGER}',member='JobRemoved'`]);
        }
        return c;
      } catch (e) {
        c?.close(); // an open socket would keep tsrt from exiting
        tried.push(`${address.replace(/^unix:path=/, '')}: ${errText(e)}`);
      }
    }
    const booted = systemdBooted() ? 'systemd looks booted (/run/systemd/system exists) but cannot be reached' : 'systemd is not running (no /run/systemd/system: this host was not booted with systemd as PID 1)';
    throw new SystemdError(`--systemd-cgroup: ${booted}; connecting over D-Bus to ${tried.join('; to ')}`);
  }

  close(): void {
    try {
      this.bus.disconnect();
    } catch {
      // already gone
    }
  }

  /** A method call; one with no reply in CALL_TIMEOUT_MS (the peer gone mid-call) fails instead of hanging tsrt. */
  private async call(destination: string, path: string, iface: string, member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    const d = dbus();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${member}: no reply in ${CALL_TIMEOUT_MS / 1000} s`)), CALL_TIMEOUT_MS);
    });
    try {
      const reply = await Promise.race([this.bus.call(new d.Message({ destination, path, interface: iface, member, signature, body })), late]);
      return (reply?.body ?? []) as unknown[];
    } finally {
      clearTimeout(timer);
    }
  }

  private manager(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return this.call(SYSTEMD, MANAGER_PATH, MANAGER, member, signature, body);
  }

  private variants(props: UnitProperty[]): [string, unknown][] {
    const { Variant } = dbus();
    return props.map(([name, sig, value]) => [name, new Variant(sig, value)]);
  }

  /** The job's result ("done", "failed", "canceled", "timeout", ...). */
  private waitJob(job: string, what: string): Promise<string> {
    const early = this.finished.get(job);
    if (early !== undefined) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(job);
        reject(new SystemdError(`${what}: systemd's job ${job} did not finish in ${JOB_TIMEOUT_MS / 1000} s`));
      }, JOB_TIMEOUT_MS);
      this.waiting.set(job, (result) => {
        clearTimeout(timer);
        this.waiting.delete(job);
        resolve(result);
      });
    });
  }

  /** systemd's major version (252 for "252.38-1~deb12u1"). */
  async version(): Promise<number> {
    const [v] = await this.call(SYSTEMD, MANAGER_PATH, 'org.freedesktop.DBus.Properties', 'Get', 'ss', [MANAGER, 'Version']);
    const text = String((v as { value?: unknown })?.value ?? '');
    return Number.parseInt(text.replace(/^v/, ''), 10) || 0;
  }

  /**
   * StartTransientUnit(unit, "replace", props) and its job's end. A unit of that name
   * left failed is reset and the start tried once more (runc's retry).
   */
  async startTransientUnit(unit: string, props: UnitProperty[]): Promise<void> {
    const what = `--systemd-cgroup: starting ${unit}`;
    let job: string;
    try {
      [job] = (await this.startCall(unit, props)) as [string];
    } catch (e) {
      if ((e as { type?: string }).type !== 'org.freedesktop.systemd1.UnitExists') throw new SystemdError(`${what}: ${errText(e)}`);
      await this.resetFailedUnit(unit);
      try {
        [job] = (await this.startCall(unit, props)) as [string];
      } catch (e2) {
        throw new SystemdError(`${what}: ${errText(e2)}`);
      }
    }
    const result = await this.waitJob(job, what);
    if (result !== 'done') {
      await this.resetFailedUnit(unit);
      throw new SystemdError(`${what}: the job ended "${result}" (journalctl -u ${unit} says why)`);
    }
  }

  private startCall(unit: string, props: UnitProperty[]): Promise<unknown[]> {
    return this.manager('StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', this.variants(props), []]);
  }

  /** StopUnit and its job's end, then ResetFailedUnit; a unit systemd does not know is already gone. */
  async stopUnit(unit: string): Promise<void> {
    const what = `stopping ${unit}`;
    let job: string | undefined;
    try {
      [job] = (await this.manager('StopUnit', 'ss', [unit, 'replace'])) as [string];
    } catch (e) {
      if ((e as { type?: string }).type !== 'org.freedesktop.systemd1.NoSuchUnit') throw new SystemdError(`${what}: ${errText(e)}`);
    }
    if (job !== undefined) {
      const result = await this.waitJob(job, what);
      if (result !== 'done') {
        await this.resetFailedUnit(unit);
        throw new SystemdError(`${what}: the job ended "${result}"`);
      }
    }
    await this.resetFailedUnit(unit);
  }

  async resetFailedUnit(unit: string): Promise<void> {
    try {
      await this.manager('ResetFailedUnit', 's', [unit]);
    } catch {
      // not failed, or not loaded: nothing to reset
    }
  }

  /** SetUnitProperties(unit, runtime = true, props): the values last until the unit stops. */
  async setUnitProperties(unit: string, props: UnitProperty[]): Promise<void> {
    try {
      await this.manager('SetUnitProperties', 'sba(sv)', [unit, true, this.variants(props)]);
    } catch (e) {
      throw new SystemdError(`setting the properties of ${unit}: ${errText(e)}`);
    }
  }
}
