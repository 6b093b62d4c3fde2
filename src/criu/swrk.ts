// One conversation with `criu swrk 3`: CRIU's RPC over an AF_UNIX SOCK_SEQPACKET
// socketpair (each message one protobuf, criu_req from tsrt, criu_resp back), the way
// runc drives CRIU. The child's end is CRIU's fd 3, handed over through spawn's stdio
// array (the only way node places an fd at a chosen number in a child); extra fds follow
// from 4. CRIU's notifications (post-dump, setup-namespaces, post-restore,
// orphan-pts-master with a pty master fd) are answered one by one. protobufjs is loaded
// here only: checkpoint and restore are the only commands that speak to CRIU.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type * as Protobuf from 'protobufjs';
import { libc } from '../libc/libc';
import { TsrtError } from '../util/errors';
import { logDebug } from '../cli/log';
import { CRIU_RPC_DESCRIPTOR } from './rpc-schema';
import { criuBinary } from './binary';

export type CriuReqType = 'DUMP' | 'RESTORE' | 'CHECK' | 'PRE_DUMP' | 'FEATURE_CHECK' | 'VERSION' | 'NOTIFY';

export interface CriuRequest {
  type: CriuReqType;
  opts?: Record<string, unknown>;
  features?: Record<string, boolean>;
}

export interface CriuResponse {
  type: string;
  success: boolean;
  cr_errno?: number;
  cr_errmsg?: string;
  notify?: { script?: string; pid?: number };
  restore?: { pid: number };
  version?: { major_number: number; minor_number: number; sublevel?: number; gitid?: string };
  features?: Record<string, boolean>;
}

export interface SwrkOptions {
  /** CRIU's fds 0-2 (restore: the restored process's stdio comes from them); default /dev/null */
  stdio?: [number, number, number];
  /** fds CRIU gets as 4, 5, ... (an external namespace for inherit_fd) */
  extraFds?: number[];
  /** called with CRIU's pid before the request is sent (restore puts it in the container's cgroups and adds cg_root) */
  beforeRequest?(criuPid: number): void;
  /** a notification; `fd` is the fd that came with it (orphan-pts-master) */
  onNotify?(script: string, pid: number, fd: number | undefined): void | Promise<void>;
}

/** CRIU answered with success = false: the caller adds the log's errors. */
export class CriuFailedError extends TsrtError {
  constructor(readonly type: string, readonly crErrno: number | undefined, detail: string) {
    super('ECRIU', `criu failed: type ${type}${crErrno ? ` errno ${crErrno}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

/** CRIU closed the socket (exited) without answering. */
export class CriuExitedError extends TsrtError {
  constructor(readonly status: string) {
    super('ECRIU', `criu swrk exited without an answer (${status})`);
  }
}

const SOCK_SEQPACKET = 5;
/** The largest criu_resp accepted; CRIU's answers are a few hundred bytes. */
const MAX_MESSAGE = 64 * 1024;

let rpc: { req: Protobuf.Type; resp: Protobuf.Type } | undefined;

function messages(): { req: Protobuf.Type; resp: Protobuf.Type } {
  if (!rpc) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pb = require('protobufjs/light') as typeof Protobuf;
    const root = pb.Root.fromJSON(CRIU_RPC_DESCRIPTOR);
    rpc = { req: root.lookupType('criu_req'), resp: root.lookupType('criu_resp') };
  }
  return rpc;
}

export function encodeRequest(r: CriuRequest): Buffer {
  const { req } = messages();
  return Buffer.from(req.encode(req.fromObject(r)).finish());
}

export function decodeResponse(data: Buffer): CriuResponse {
  const { resp } = messages();
  return resp.toObject(resp.decode(data), { enums: String, defaults: false }) as CriuResponse;
}

function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(describeExit(child.exitCode, child.signalCode));
    else child.once('exit', (code, signal) => resolve(describeExit(code, signal)));
  });
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `killed by ${signal}` : `exit status ${code}`;
}


/**
 * Runs one request through a new `criu swrk`, answers its notifications and returns the
 * final response; waits for CRIU to exit. Throws CriuFailedError / CriuExitedError.
 */
export async function criuSwrk(request: CriuRequest, o: SwrkOptions = {}): Promise<CriuResponse> {
  encodeRequest(request); // a malformed request fails before CRIU starts
  const [mine, theirs] = libc.socketpair(SOCK_SEQPACKET);
  let child: ChildProcess;
  try {
    const std: (number | 'ignore')[] = o.stdio ?? ['ignore', 'ignore', 'ignore'];
    child = spawn(criuBinary(), ['swrk', '3'], { stdio: [...std, theirs, ...(o.extraFds ?? [])] });
  } finally {
    closeSync(theirs);
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = exitOf(child);
  if (child.pid === undefined) {
    closeSync(mine);
    const e = await spawnError;
    const code = (e as NodeJS.ErrnoException).code;
    throw new TsrtError('ENOCRIU', code === 'ENOENT'
      ? `checkpoint/restore needs CRIU: ${criuBinary()} was not found in $PATH (Debian: apt-get install criu)`
      : `starting ${criuBinary()} swrk: ${e.message}`);
  }
  let socketOpen = true;
  const closeSocket = () => { if (socketOpen) { socketOpen = false; closeSync(mine); } };
  try {
    o.beforeRequest?.(child.pid);
    logDebug(`criu swrk (pid ${child.pid}): ${request.type} ${JSON.stringify(request.opts ?? request.features ?? {})}`);
    writeSync(mine, encodeRequest(request));
    for (;;) {
      const { data, fd } = libc.recvMessage(mine, MAX_MESSAGE, 'recvmsg from criu swrk');
      if (data.length === 0) {
        closeSocket();
        throw new CriuExitedError(await exited);
      }
      const resp = decodeResponse(data);
      if (!resp.success) {
        if (fd !== undefined) closeSync(fd);
        throw new CriuFailedError(resp.type, resp.cr_errno, resp.cr_errmsg ?? '');
      }
      if (resp.type !== 'NOTIFY') {
        closeSocket();
        const status = await exited;
        // CRIU stays in a pre-dump loop waiting for the next request: the closed socket ends it
        if (status !== 'exit status 0' && request.type !== 'PRE_DUMP') throw new CriuExitedError(status);
        return resp;
      }
      const script = resp.notify?.script ?? '';
      logDebug(`criu swrk: notify ${script} pid ${resp.notify?.pid ?? 0}`);
      await o.onNotify?.(script, resp.notify?.pid ?? 0, fd);
      writeSync(mine, encodeRequest({ type: 'NOTIFY', notify_success: true } as CriuRequest));
    }
  } catch (e) {
    closeSocket();
    await exited;
    throw e;
  }
}
