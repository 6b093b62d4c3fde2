// The cgroup manager: one interface over a container's cgroup directories, whatever the
// host mounts. The directories are saved in state.json as `cgroupPaths` (key = v1
// controller name, e.g. "memory", "cpu", "name=systemd", or "unified" for the v2
// directory), and a manager is rebuilt from them by every command. Each controller is
// used where it lives: the v1 hierarchy that has it, else the v2 directory if its
// cgroup.controllers lists it. Freezing and device control fall back to v2's core
// features (cgroup.freeze, an eBPF device program) when no v1 freezer / devices exists.
import { readdirSync } from 'node:fs';
import type { LinuxDevice, LinuxResources } from '../oci/spec-types';
import { CgroupError, errCode, hasFile, readCg, sleepMs, writeCg } from './cgfs';
import { deviceState, writeDevicesV1 } from './devices';
import * as v1 from './resources-v1';
import * as v2 from './resources-v2';

export type Warn = (msg: string) => void;

export interface Place {
  version: 1 | 2;
  dir: string;
}

/** v1 controller name -> the v2 controller that does its job. */
const V2_NAME: Record<string, string> = { blkio: 'io', cpuacct: 'cpu' };

export interface ApplyOptions {
  warn: Warn;
  /** linux.devices (each gets an allow rule after the defaults) */
  devices?: LinuxDevice[];
  /** update: apply only these top-level sections of linux.resources */
  only?: Set<string>;
}

function isSet(o: object | undefined | null): boolean {
  if (!o) return false;
  if (Array.isArray(o)) return o.length > 0;
  return Object.values(o).some((v) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0));
}

export class CgroupManager {
  private v2Controllers?: Set<string>;

  /** @param whyMissing v2 controllers create could not enable, with the failed write */
  constructor(readonly paths: Record<string, string>, private readonly whyMissing?: ReadonlyMap<string, string>) {}

  get unified(): string | undefined {
    return this.paths.unified;
  }

  /** Controllers enabled for the container's v2 directory (its cgroup.controllers). */
  unifiedControllers(): Set<string> {
    if (!this.v2Controllers) {
      const u = this.unified;
      this.v2Controllers = new Set(u ? (readCg(u, 'cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean) : []);
    }
    return this.v2Controllers;
  }

  /** Where a (v1-named) controller lives for this container. */
  locate(ctrl: string): Place | undefined {
    const d = this.paths[ctrl];
    if (d) return { version: 1, dir: d };
    const u = this.unified;
    if (u && this.unifiedControllers().has(V2_NAME[ctrl] ?? ctrl)) return { version: 2, dir: u };
    return undefined;
  }

  private need(ctrl: string, field: string): Place {
    const p = this.locate(ctrl);
    if (p) return p;
    const u = this.unified;
    const v2name = V2_NAME[ctrl] ?? ctrl;
    const why = this.whyMissing?.get(v2name);
    throw new CgroupError(`${field}: no ${ctrl} controller for this container: it is not mounted as a cgroup v1 hierarchy`
      + (u ? ` and ${v2name} is not in ${u}/cgroup.controllers (${[...this.unifiedControllers()].join(' ') || 'empty'})` : ' and cgroup v2 is not mounted')
      + (why ? `: ${why}` : ''));
  }

  /** Directories, each once (co-mounted controllers share one). */
  dirs(): string[] {
    return [...new Set(Object.values(this.paths))];
  }

  // --- limits -------------------------------------------------------------------------

  /**
   * Writes linux.resources. At create every section applies (devices always: a container
   * gets the default device rules even with no linux.resources.devices); an update passes
   * `only` with the sections it changes.
   */
  apply(r: LinuxResources, o: ApplyOptions): void {
    const want = (k: string) => !o.only || o.only.has(k);
    const R = 'linux.resources';
    if (want('devices')) this.applyDevices(r, o);
    if (r.cpu && want('cpu')) {
      const { cpus, mems, ...rest } = r.cpu;
      if (cpus || mems) v1.setCpuset(this.need('cpuset', `${R}.cpu.${cpus ? 'cpus' : 'mems'}`).dir, r.cpu);
      if (isSet(rest)) {
        const p = this.need('cpu', `${R}.cpu`);
        if (p.version === 1) v1.setCpuV1(p.dir, rest);
        else v2.setCpuV2(p.dir, rest);
      }
    }
    if (isSet(r.memory) && want('memory')) {
      const p = this.need('memory', `${R}.memory`);
      if (p.version === 1) v1.setMemoryV1(p.dir, r.memory!, o.warn);
      else v2.setMemoryV2(p.dir, r.memory!, o.warn);
    }
    if (r.pids && r.pids.limit !== undefined && r.pids.limit !== null && want('pids')) {
      v1.setPids(this.need('pids', `${R}.pids`).dir, r.pids.limit);
    }
    if (isSet(r.blockIO) && want('blockIO')) {
      const p = this.need('blkio', `${R}.blockIO`);
      if (p.version === 1) v1.setBlkioV1(p.dir, r.blockIO!, o.warn);
      else v2.setIoV2(p.dir, r.blockIO!, o.warn);
    }
    if (isSet(r.hugepageLimits) && want('hugepageLimits')) {
      const p = this.need('hugetlb', `${R}.hugepageLimits`);
      if (p.version === 1) v1.setHugetlbV1(p.dir, r.hugepageLimits!);
      else v2.setHugetlbV2(p.dir, r.hugepageLimits!);
    }
    if (r.network && want('network')) {
      // net_cls / net_prio exist only on cgroup v1 (v2 classifies sockets with eBPF instead).
      if (r.network.classID !== undefined && r.network.classID !== null) {
        const d = this.paths.net_cls;
        if (!d) throw new CgroupError(`${R}.network.classID: no net_cls controller: it is not mounted as a cgroup v1 hierarchy (cgroup v2 has none)`);
        v1.setNetClsV1(d, r.network);
      }
      if (r.network.priorities?.length) {
        const d = this.paths.net_prio;
        if (!d) throw new CgroupError(`${R}.network.priorities: no net_prio controller: it is not mounted as a cgroup v1 hierarchy (cgroup v2 has none)`);
        v1.setNetPrioV1(d, r.network);
      }
    }
    if (isSet(r.rdma) && want('rdma')) v1.setRdma(this.need('rdma', `${R}.rdma`).dir, r.rdma!);
    if (r.unified && Object.keys(r.unified).length && want('unified')) {
      const u = this.unified;
      if (!u) throw new CgroupError(`${R}.unified: cgroup v2 is not mounted on this host: the unified keys (${Object.keys(r.unified).join(', ')}) have nowhere to go`);
      v2.setUnified(u, r.unified, this.unifiedControllers(), (ctrl) => this.paths[ctrl === 'io' ? 'blkio' : ctrl]);
    }
  }

  private applyDevices(r: LinuxResources, o: ApplyOptions): void {
    const st = deviceState(r.devices, o.devices);
    if (this.paths.devices) {
      writeDevicesV1(this.paths.devices, st);
    } else if (this.unified) {
      const { attachDeviceFilter } = require('./bpf-devices') as typeof import('./bpf-devices');
      attachDeviceFilter(this.unified, st);
    } else if (r.devices?.length) {
      throw new CgroupError('linux.resources.devices: no devices controller is mounted and cgroup v2 is not mounted');
    }
  }

  /** Moves a process into every directory (cgroup.procs). */
  join(pid: number): void {
    for (const dir of this.dirs()) writeCg(dir, 'cgroup.procs', pid, `linux.cgroupsPath: moving pid ${pid} into its cgroup`);
  }

  // --- freezer --------------------------------------------------------------------------

  private freezerPlace(): Place | undefined {
    if (this.paths.freezer) return { version: 1, dir: this.paths.freezer };
    if (this.unified && hasFile(this.unified, 'cgroup.freeze')) return { version: 2, dir: this.unified };
    return undefined;
  }

  canFreeze(): boolean {
    return this.freezerPlace() !== undefined;
  }

  isFrozen(): boolean {
    const p = this.freezerPlace();
    if (!p) return false;
    if (p.version === 1) return (readCg(p.dir, 'freezer.state')?.trim() ?? 'THAWED') !== 'THAWED';
    return readCg(p.dir, 'cgroup.freeze')?.trim() === '1';
  }

  /** Freezes every process and waits until the kernel reports the cgroup frozen. */
  freeze(): void {
    const p = this.freezerPlace();
    if (!p) throw new CgroupError('cannot freeze: no freezer cgroup (v1 freezer is not mounted and there is no cgroup v2 directory)');
    if (p.version === 1) {
      // FREEZING can last while a task is stuck in the kernel: keep asking, and thaw and
      // retry now and then (a task in vfork() can hold a freeze back forever).
      for (let i = 0; i < 2000; i++) {
        if (i > 0 && i % 100 === 0) {
          writeCg(p.dir, 'freezer.state', 'THAWED', 'pause');
          sleepMs(1);
        }
        writeCg(p.dir, 'freezer.state', 'FROZEN', 'pause');
        if (readCg(p.dir, 'freezer.state')?.trim() === 'FROZEN') return;
        sleepMs(i < 20 ? 1 : 5);
      }
      writeCg(p.dir, 'freezer.state', 'THAWED', 'pause');
      throw new CgroupError(`pause: ${p.dir}/freezer.state did not reach FROZEN: thawed again`);
    }
    writeCg(p.dir, 'cgroup.freeze', '1', 'pause');
    if (!this.waitFrozenV2(p.dir, true)) {
      writeCg(p.dir, 'cgroup.freeze', '0', 'pause');
      throw new CgroupError(`pause: ${p.dir}/cgroup.events did not report frozen 1: thawed again`);
    }
  }

  thaw(): void {
    const p = this.freezerPlace();
    if (!p) return;
    if (p.version === 1) {
      writeCg(p.dir, 'freezer.state', 'THAWED', 'resume');
      return;
    }
    writeCg(p.dir, 'cgroup.freeze', '0', 'resume');
    this.waitFrozenV2(p.dir, false);
  }

  private waitFrozenV2(dir: string, frozen: boolean): boolean {
    const want = `frozen ${frozen ? 1 : 0}`;
    for (let i = 0; i < 2000; i++) {
      const ev = readCg(dir, 'cgroup.events');
      if (ev === undefined) return !frozen; // the cgroup is gone
      if (ev.split('\n').includes(want)) return true;
      sleepMs(i < 20 ? 1 : 5);
    }
    return false;
  }

  /**
   * SIGKILL to the whole cgroup tree at once through v2's cgroup.kill (kernel 5.14+), as
   * runc does: no listing that a fork can outrun, and frozen tasks die too. Not where a
   * v1 freezer holds the tasks (they die only once thawed). False when not done.
   */
  killAll(): boolean {
    const u = this.unified;
    if (!u || this.paths.freezer || !hasFile(u, 'cgroup.kill')) return false;
    writeCg(u, 'cgroup.kill', '1', 'kill --all');
    return true;
  }

  // --- processes ------------------------------------------------------------------------

  /** Every pid in the container's cgroup and its sub-cgroups, ascending. */
  pids(): number[] {
    const dir = ['freezer', 'pids', 'memory', 'devices', 'cpu', 'unified'].map((k) => this.paths[k]).find(Boolean) ?? this.dirs()[0];
    if (!dir) return [];
    const out = new Set<number>();
    const walk = (d: string) => {
      for (const line of (readCg(d, 'cgroup.procs') ?? '').split('\n')) if (line) out.add(Number(line));
      let entries: string[] = [];
      try {
        entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch (e) {
        if (errCode(e) !== 'ENOENT') throw e;
      }
      for (const e of entries) walk(`${d}/${e}`);
    };
    walk(dir);
    return [...out].sort((a, b) => a - b);
  }
}

export function managerFor(paths: Record<string, string> | undefined): CgroupManager {
  return new CgroupManager(paths ?? {});
}
