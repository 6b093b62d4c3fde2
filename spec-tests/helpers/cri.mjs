// A minimal CRI client for the tests (no crictl in Debian 12): gRPC from @grpc/grpc-js
// over containerd's socket, the messages from cri-runtime-v1.proto (our own subset of
// k8s.io/cri-api's runtime.v1) encoded by protobufjs. Not a test file.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { SLOWDOWN } from './tsrt.mjs';

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cri-runtime-v1.proto');
const CALL_LIMIT_MS = 120_000;

/** Plain objects from decoded messages: enums as names, int64 as numbers, bytes as Buffers. */
const TO_OBJECT = { enums: String, longs: Number, defaults: true };

/**
 * A client of the CRI at the unix socket `socket`: `call(method, request)` (a method of
 * RuntimeService, or of ImageService as 'ImageService/Name')
 * resolves to the response as a plain object, rejects with an Error naming the method and
 * gRPC's status; `close()` ends the channel.
 */
export function criClient(socket) {
  const root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
  const services = { RuntimeService: root.lookupService('runtime.v1.RuntimeService'), ImageService: root.lookupService('runtime.v1.ImageService') };
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  function call(fullName, request = {}, limitMs = CALL_LIMIT_MS) {
    const [serviceName, name] = fullName.includes('/') ? fullName.split('/') : ['RuntimeService', fullName];
    const method = services[serviceName]?.methods[name];
    if (!method) throw new Error(`no method ${serviceName}.${name} in ${PROTO}`);
    method.resolve();
    const req = method.resolvedRequestType;
    const res = method.resolvedResponseType;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(`/runtime.v1.${serviceName}/${name}`,
        (m) => Buffer.from(req.encode(req.fromObject(m)).finish()),
        (b) => res.toObject(res.decode(b), TO_OBJECT),
        request, { deadline: Date.now() + limitMs * SLOWDOWN },
        (e, reply) => (e ? reject(new Error(`CRI ${name}: ${e.code} ${e.details}`, { cause: e })) : resolve(reply)));
    });
  }
  return { call, close: () => client.close() };
}
