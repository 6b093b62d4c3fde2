// Task events to containerd. containerd 1.6 gives a shim two ways: its ttrpc events
// service (TTRPC_ADDRESS in the environment, containerd.services.events.ttrpc.v1.Events/
// Forward), which its own runc shim uses, and the publish binary (`containerd --address A
// publish --topic T --namespace N`, the event as a google.protobuf.Any on stdin). The
// ttrpc way costs a message; the binary a process per event. Events go out one at a
// time, in the order they were raised (TaskStart before TaskExit).
import { spawn } from 'node:child_process';
import { any, encode, timestamp } from './proto';
import { Client } from './ttrpc';

export interface PublisherOptions {
  namespace: string;
  /** containerd's gRPC address (-address) and its publish binary (-publish-binary) */
  address: string;
  publishBinary: string;
  /** containerd's ttrpc address (TTRPC_ADDRESS), preferred when set */
  ttrpcAddress?: string;
  log(msg: string): void;
}

export const TOPIC: Record<string, string> = {
  TaskCreate: '/tasks/create', TaskStart: '/tasks/start', TaskExit: '/tasks/exit', TaskOOM: '/tasks/oom',
  TaskExecAdded: '/tasks/exec-added', TaskExecStarted: '/tasks/exec-started', TaskPaused: '/tasks/paused',
  TaskResumed: '/tasks/resumed', TaskDelete: '/tasks/delete',
};

export class Publisher {
  private queue: Promise<void> = Promise.resolve();
  private client?: Promise<Client>;

  constructor(private readonly o: PublisherOptions) {}

  /** Queues an event (a containerd.events.* message name and its fields). */
  publish(event: keyof typeof TOPIC, fields: object): Promise<void> {
    const name = `containerd.events.${event}`;
    const topic = TOPIC[event]!;
    const body = any(name, fields);
    this.queue = this.queue.then(() => this.send(topic, body)).catch((e: Error) => this.o.log(`publish ${topic}: ${e.message}`));
    return this.queue;
  }

  /** Resolves when every queued event went out. */
  flush(): Promise<void> {
    return this.queue;
  }

  private async send(topic: string, event: { typeUrl: string; value: Uint8Array }): Promise<void> {
    if (this.o.ttrpcAddress) {
      try {
        await this.forward(topic, event);
        return;
      } catch (e) {
        this.o.log(`forward ${topic} over ttrpc: ${(e as Error).message}; trying the publish binary`);
        this.client = undefined;
      }
    }
    await this.exec(topic, event);
  }

  private async forward(topic: string, event: { typeUrl: string; value: Uint8Array }): Promise<void> {
    this.client ??= Client.open(this.o.ttrpcAddress!.replace(/^unix:\/\//, ''));
    let c = await this.client;
    if (c.closed) {
      this.client = Client.open(this.o.ttrpcAddress!.replace(/^unix:\/\//, ''));
      c = await this.client;
    }
    const envelope = { timestamp: timestamp(Date.now()), namespace: this.o.namespace, topic, event };
    await c.call('containerd.services.events.ttrpc.v1.Events', 'Forward', encode('containerd.services.events.ttrpc.v1.ForwardRequest', { envelope }));
  }

  private exec(topic: string, event: { typeUrl: string; value: Uint8Array }): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn(this.o.publishBinary, ['--address', this.o.address, 'publish', '--topic', topic, '--namespace', this.o.namespace], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${this.o.publishBinary} exited ${code}: ${err.trim().slice(0, 500)}`))));
      p.stdin!.end(encode('google.protobuf.Any', event));
    });
  }
}
