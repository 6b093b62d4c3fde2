// ttrpc, containerd's small RPC protocol over a unix socket: each message is a 10-byte
// header (payload length and stream id as big-endian uint32, a type byte, a flags byte)
// and a protobuf payload: a ttrpc.Request (service, method, payload) or a
// ttrpc.Response (a google.rpc.Status and the payload). Streams are unary here: one
// request, one response with the same stream id. The server answers requests of one
// connection concurrently (a Wait blocks until the process exits).
import { connect, type Server, type Socket, createServer } from 'node:net';
import { decode, encode } from './proto';

const HEADER = 10;
const MAX_MESSAGE = 4 << 20;
const TYPE_REQUEST = 1;
const TYPE_RESPONSE = 2;

/** An error carrying a gRPC status code (codes.go): NotFound 5, AlreadyExists 6, FailedPrecondition 9, Unimplemented 12, Internal 13. */
export class RpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}
export const Code = { Unknown: 2, InvalidArgument: 3, NotFound: 5, AlreadyExists: 6, FailedPrecondition: 9, Unimplemented: 12, Internal: 13 } as const;

/** A method: the decoded request in, a plain response object out (encoded as `response`). */
export interface Method {
  request: string;
  response: string;
  call(req: any): Promise<object> | object;
}

function frame(streamId: number, type: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeUInt32BE(streamId, 4);
  b.writeUInt8(type, 8);
  b.writeUInt8(0, 9);
  b.set(payload, HEADER);
  return b;
}

/** Splits a byte stream into messages; calls on(streamId, type, payload) for each. */
function reader(on: (streamId: number, type: number, payload: Buffer) => void, bad: (why: string) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= HEADER) {
      const len = buf.readUInt32BE(0);
      if (len > MAX_MESSAGE) return bad(`ttrpc message of ${len} bytes exceeds the ${MAX_MESSAGE}-byte limit`);
      if (buf.length < HEADER + len) return;
      on(buf.readUInt32BE(4), buf.readUInt8(8), buf.subarray(HEADER, HEADER + len));
      buf = buf.subarray(HEADER + len);
    }
  };
}

export type Services = Record<string, Record<string, Method>>;

/**
 * Serves `services` on a listening server (from a path or an inherited fd). `timed`, when
 * given, hears each call's method and time taken (the shim's -debug log: docs/shim.md).
 */
export function serve(server: Server, services: Services, log: (msg: string) => void, timed?: (method: string, ms: number) => void): void {
  server.on('connection', (sock: Socket) => {
    const answer = (streamId: number, status: { code: number; message: string } | undefined, payload?: Uint8Array) => {
      if (!sock.writable) return;
      sock.write(frame(streamId, TYPE_RESPONSE, encode('ttrpc.Response', status ? { status } : { payload })));
    };
    sock.on('data', reader((streamId, type, payload) => {
      if (type !== TYPE_REQUEST) return;
      let req: { service: string; method: string; payload: Buffer };
      try {
        req = decode('ttrpc.Request', payload);
      } catch (e) {
        answer(streamId, { code: Code.InvalidArgument, message: `bad ttrpc request: ${(e as Error).message}` });
        return;
      }
      const m = services[req.service]?.[req.method];
      if (!m) {
        answer(streamId, { code: Code.Unimplemented, message: `${req.service}/${req.method} is not implemented` });
        return;
      }
      const t0 = timed && performance.now();
      Promise.resolve()
        .then(() => m.call(decode(m.request, req.payload)))
        .then((res) => {
          answer(streamId, undefined, encode(m.response, res));
          if (timed) timed(req.method, performance.now() - t0!);
        })
        .catch((e: Error) => {
          log(`${req.method}: ${e.message}`);
          answer(streamId, { code: e instanceof RpcError ? e.code : Code.Unknown, message: e.message });
        });
    }, (why) => {
      log(why);
      sock.destroy();
    }));
    sock.on('error', () => sock.destroy());
  });
}

/** A ttrpc client of one connection, for containerd's event service (events.ts). */
export class Client {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private constructor(private readonly sock: Socket) {
    sock.on('data', reader((streamId, type, payload) => {
      const p = this.pending.get(streamId);
      if (!p || type !== TYPE_RESPONSE) return;
      this.pending.delete(streamId);
      const r = decode<{ status?: { code: number; message: string }; payload: Buffer }>('ttrpc.Response', payload);
      if (r.status && r.status.code) p.reject(new RpcError(r.status.code, r.status.message));
      else p.resolve(r.payload);
    }, (why) => this.fail(new Error(why))));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  private fail(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.sock.destroy();
  }

  get closed(): boolean {
    return this.sock.destroyed;
  }

  call(service: string, method: string, payload: Uint8Array): Promise<Buffer> {
    const id = this.next;
    this.next += 2; // clients use odd stream ids
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(frame(id, TYPE_REQUEST, encode('ttrpc.Request', { service, method, payload })));
    });
  }

  close(): void {
    this.sock.end();
  }
}

export { createServer };
