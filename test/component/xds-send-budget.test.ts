// The server's budget of large responses in flight (send-budget.ts), over real gRPC on loopback: an agent
// that does not read holds its first sync's frame, the next agent's first sync waits for it and goes once
// it is read (or once it is stale); a small change never waits. The table is larger than what HTTP/2 flow
// control and the sockets' buffers let through unread, so an agent that does not read really holds it.
// The waits are bounds for a correct run, never a measure.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Client, type ClientDuplexStream, credentials, Metadata } from '@grpc/grpc-js';
import {
  DELTA_METHOD_PATH,
  type DeltaDiscoveryRequest,
  decodeDeltaResponse,
  encodeDeltaRequest,
} from '../../src/xds/delta-messages.js';
import {
  AdsServer,
  agentNode,
  encodeNameEntry,
  NAME_TABLE_TYPE_URL,
  ResourcePublisher,
} from '../../src/xds/index.js';
import type { SendBudgetOptions } from '../../src/xds/send-budget.js';

const BOUND_MS = 20_000;
/** 2,000 hosts of 8 KiB each: 16 MiB, past a stream's window and the loopback sockets' buffers. */
const HOSTS = 2000;
const HOST_BYTES = 8 * 1024;

const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

function put(pub: ResourcePublisher, host: string, ip: string, padding: number): void {
  // The origin text pads the entry to its size; the agent side never decodes it here.
  const origin = 'x'.repeat(padding);
  const value = encodeNameEntry(host, { ips: [ip], registry: 'External', altHosts: [], origin });
  pub.set(NAME_TABLE_TYPE_URL, host, { typeUrl: NAME_TABLE_TYPE_URL, value }, `${ip}/${padding}`);
}

function bigPublisher(): ResourcePublisher {
  const pub = new ResourcePublisher();
  for (let i = 0; i < HOSTS; i++) put(pub, `h${i}.example`, `10.0.${i >> 8}.${i & 255}`, HOST_BYTES);
  pub.commit();
  return pub;
}

async function startServer(pub: ResourcePublisher, budget: Partial<SendBudgetOptions>): Promise<AdsServer> {
  const server = new AdsServer({
    listen: '127.0.0.1:0',
    subscribe: () => pub,
    sendBudget: { bytes: 1, largeBytes: 64 * 1024, ...budget },
  });
  await server.start();
  closers.push(() => server.close());
  return server;
}

/** A raw delta agent that keeps each response's size and nonce; it may stop reading. */
class RawAgent {
  readonly responses: { bytes: number; nonce: string; resources: number }[] = [];
  readonly #call: ClientDuplexStream<DeltaDiscoveryRequest, Buffer>;
  readonly #client: Client;

  constructor(port: number, name: string, reading: boolean) {
    this.#client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    this.#call = this.#client.makeBidiStreamRequest(
      DELTA_METHOD_PATH,
      encodeDeltaRequest,
      (b: Buffer) => b,
      new Metadata(),
    );
    this.#call.on('data', (b: Buffer) => {
      const res = decodeDeltaResponse(b);
      this.responses.push({ bytes: b.length, nonce: res.nonce, resources: res.resources.length });
      this.#call.write(request(name, res.nonce));
    });
    if (!reading) this.#call.pause();
    this.#call.on('error', () => {});
    this.#call.write(request(name, ''));
    closers.push(() => this.close());
  }

  resume(): void {
    this.#call.resume();
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

function request(name: string, responseNonce: string): DeltaDiscoveryRequest {
  return {
    node: agentNode({ podName: name, namespace: 'shop', metadata: {} }),
    typeUrl: NAME_TABLE_TYPE_URL,
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    initialResourceVersions: {},
    responseNonce,
  };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > BOUND_MS) assert.fail(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('xds send budget', () => {
  it('a first sync waits while another agent holds the budget unread, and goes once that one reads', async () => {
    const pub = bigPublisher();
    const server = await startServer(pub, { staleMs: 600_000 });
    const port = server.address().port;
    const slow = new RawAgent(port, 'slow-1', false);
    await until('the slow agent holding the budget', () => server.sendBudget.inFlight > HOSTS * HOST_BYTES);
    const next = new RawAgent(port, 'next-1', true);
    await until('the next agent waiting', () => server.sendBudget.waiting === 1);
    assert.equal(next.responses.length, 0);
    slow.resume();
    await until('both first syncs', () => slow.responses.length === 1 && next.responses.length === 1);
    assert.equal(next.responses[0]!.resources, HOSTS);
    assert.deepEqual(next.responses[0], slow.responses[0]);
    await until('the budget given back', () => server.sendBudget.inFlight === 0);
  });

  it('an agent that stops reading holds the others back only until its send is stale', async () => {
    const pub = bigPublisher();
    const server = await startServer(pub, { staleMs: 300 });
    const port = server.address().port;
    const slow = new RawAgent(port, 'slow-2', false);
    await until('the slow agent holding the budget', () => server.sendBudget.inFlight > 0);
    const next = new RawAgent(port, 'next-2', true);
    await until('the next agent synced', () => next.responses.length === 1);
    assert.equal(slow.responses.length, 0);
    slow.close();
    await until('the budget given back', () => server.sendBudget.inFlight === 0);
  });

  it('a small change goes at once to a synced agent while another holds the budget', async () => {
    const pub = bigPublisher();
    const server = await startServer(pub, { staleMs: 600_000 });
    const port = server.address().port;
    const synced = new RawAgent(port, 'synced-3', true);
    await until('the first agent synced', () => synced.responses.length === 1);
    await until('its send flushed', () => server.sendBudget.inFlight === 0);
    const slow = new RawAgent(port, 'slow-3', false);
    await until('the slow agent holding the budget', () => server.sendBudget.inFlight > 0);
    put(pub, 'h0.example', '10.9.9.9', 16);
    pub.commit();
    await until('the change at the synced agent', () => synced.responses.length === 2);
    assert.equal(synced.responses[1]!.resources, 1);
    assert.equal(slow.responses.length, 0);
  });
});
