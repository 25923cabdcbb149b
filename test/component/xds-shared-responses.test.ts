// A view's whole table goes to every agent that syncs it as one response encoded once (issue 10: 200 agents
// each made their own 3.4 MB copy of the first table): over real gRPC on loopback, two raw streams, one of
// which has sent and ACKed other responses before, get byte-identical responses for the same content, and
// both ACKs are taken. Delta and state-of-the-world. The waits are bounds for a correct run, never a measure.
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
  VIP_ROUTES_TYPE_URL,
  vipRoutesResource,
} from '../../src/xds/index.js';
import {
  ADS_METHOD_PATH,
  type DiscoveryRequest,
  decodeResponse,
  encodeRequest,
} from '../../src/xds/messages.js';

const BOUND_MS = 10_000;
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

const node = agentNode({ podName: 'web-1', namespace: 'shop', metadata: {} });

function publisher(): ResourcePublisher {
  const pub = new ResourcePublisher();
  for (let i = 0; i < 50; i++) {
    const host = `h${i}.example`;
    const value = encodeNameEntry(host, { ips: [`10.0.0.${i + 1}`], registry: 'External', altHosts: [] });
    pub.set(NAME_TABLE_TYPE_URL, host, { typeUrl: NAME_TABLE_TYPE_URL, value }, `v${i}`);
  }
  pub.touch(NAME_TABLE_TYPE_URL);
  pub.publish(VIP_ROUTES_TYPE_URL, [vipRoutesResource([])]);
  pub.commit();
  return pub;
}

async function startServer(pub: ResourcePublisher, acks: string[]): Promise<number> {
  const server = new AdsServer({
    listen: '127.0.0.1:0',
    subscribe: () => pub,
    onAck: (s, typeUrl, version) => acks.push(`${s.id} ${typeUrl} ${version}`),
  });
  await server.start();
  closers.push(() => server.close());
  return server.address().port;
}

/** A raw stream keeping every response's bytes as they came off the wire. */
class RawStream<Req> {
  readonly responses: Buffer[] = [];
  readonly #call: ClientDuplexStream<Req, Buffer>;

  constructor(port: number, method: string, encode: (r: Req) => Buffer) {
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    this.#call = client.makeBidiStreamRequest(method, encode, (b: Buffer) => b, new Metadata());
    this.#call.on('data', (b: Buffer) => this.responses.push(b));
    this.#call.on('error', () => {});
    closers.push(() => {
      this.#call.cancel();
      client.close();
    });
  }

  write(req: Req): void {
    this.#call.write(req);
  }

  async response(n: number): Promise<Buffer> {
    for (let waited = 0; this.responses.length < n; waited += 10) {
      if (waited > BOUND_MS) assert.fail(`still waiting for response ${n}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.responses[n - 1]!;
  }
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > BOUND_MS) assert.fail(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A delta request for every resource of `typeUrl`, ACKing `responseNonce` when given. */
const deltaRequest = (typeUrl: string, responseNonce = ''): DeltaDiscoveryRequest => ({
  node,
  typeUrl,
  resourceNamesSubscribe: [],
  resourceNamesUnsubscribe: [],
  initialResourceVersions: {},
  responseNonce,
});

describe('xds responses shared by streams', () => {
  it('delta: the first sync of one content is the same bytes on every stream, and each ACK is taken', async () => {
    const pub = publisher();
    const acks: string[] = [];
    const port = await startServer(pub, acks);
    const a = new RawStream(port, DELTA_METHOD_PATH, encodeDeltaRequest);
    // Stream a has had a response of its own first: its own count of responses is ahead of b's.
    a.write(deltaRequest(VIP_ROUTES_TYPE_URL));
    const routes = decodeDeltaResponse(await a.response(1));
    a.write(deltaRequest(VIP_ROUTES_TYPE_URL, routes.nonce));
    a.write(deltaRequest(NAME_TABLE_TYPE_URL));
    const b = new RawStream(port, DELTA_METHOD_PATH, encodeDeltaRequest);
    b.write(deltaRequest(NAME_TABLE_TYPE_URL));
    const [fromA, fromB] = [await a.response(2), await b.response(1)];
    assert.equal(decodeDeltaResponse(fromA).resources.length, 50);
    assert.ok(fromA.equals(fromB), 'both streams got the same bytes');
    const { nonce } = decodeDeltaResponse(fromA);
    a.write(deltaRequest(NAME_TABLE_TYPE_URL, nonce));
    b.write(deltaRequest(NAME_TABLE_TYPE_URL, nonce));
    const version = pub.named(NAME_TABLE_TYPE_URL)!.version;
    await until(
      'both ACKs',
      () => acks.filter((x) => x.endsWith(`${NAME_TABLE_TYPE_URL} ${version}`)).length === 2,
    );
  });

  it('delta: a change is the same bytes for every stream that was at the same version', async () => {
    const pub = publisher();
    const acks: string[] = [];
    const port = await startServer(pub, acks);
    const a = new RawStream(port, DELTA_METHOD_PATH, encodeDeltaRequest);
    // A reconnect that holds a route no longer there: a response of a's own (its own count moves on).
    a.write({ ...deltaRequest(VIP_ROUTES_TYPE_URL), initialResourceVersions: { gone: 'v0' } });
    assert.deepEqual(decodeDeltaResponse(await a.response(1)).removedResources, ['gone']);
    a.write(deltaRequest(NAME_TABLE_TYPE_URL));
    const b = new RawStream(port, DELTA_METHOD_PATH, encodeDeltaRequest);
    b.write(deltaRequest(NAME_TABLE_TYPE_URL));
    await Promise.all([a.response(2), b.response(1)]);
    const value = encodeNameEntry('h1.example', { ips: ['10.9.9.9'], registry: 'External', altHosts: [] });
    pub.set(NAME_TABLE_TYPE_URL, 'h1.example', { typeUrl: NAME_TABLE_TYPE_URL, value }, 'v1-edited');
    pub.remove(NAME_TABLE_TYPE_URL, 'h2.example');
    pub.commit();
    const [fromA, fromB] = [await a.response(3), await b.response(2)];
    assert.ok(fromA.equals(fromB), 'both streams got the same bytes');
    const change = decodeDeltaResponse(fromA);
    assert.deepEqual(
      change.resources.map((r) => r.name),
      ['h1.example'],
    );
    assert.deepEqual(change.removedResources, ['h2.example']);
    a.write(deltaRequest(NAME_TABLE_TYPE_URL, change.nonce));
    b.write(deltaRequest(NAME_TABLE_TYPE_URL, change.nonce));
    const version = pub.named(NAME_TABLE_TYPE_URL)!.version;
    await until(
      'both ACKs',
      () => acks.filter((x) => x.endsWith(`${NAME_TABLE_TYPE_URL} ${version}`)).length === 2,
    );
  });

  it('state of the world: one snapshot is the same bytes on every stream, and each ACK is taken', async () => {
    const pub = publisher();
    const acks: string[] = [];
    const port = await startServer(pub, acks);
    const req = (typeUrl: string, responseNonce = '', versionInfo = ''): DiscoveryRequest => ({
      node,
      typeUrl,
      versionInfo,
      responseNonce,
    });
    const a = new RawStream(port, ADS_METHOD_PATH, encodeRequest);
    a.write(req(VIP_ROUTES_TYPE_URL));
    const routes = decodeResponse(await a.response(1));
    a.write(req(VIP_ROUTES_TYPE_URL, routes.nonce, routes.versionInfo));
    a.write(req(NAME_TABLE_TYPE_URL));
    const b = new RawStream(port, ADS_METHOD_PATH, encodeRequest);
    b.write(req(NAME_TABLE_TYPE_URL));
    const [fromA, fromB] = [await a.response(2), await b.response(1)];
    assert.ok(fromA.equals(fromB), 'both streams got the same bytes');
    const { nonce, versionInfo } = decodeResponse(fromA);
    a.write(req(NAME_TABLE_TYPE_URL, nonce, versionInfo));
    b.write(req(NAME_TABLE_TYPE_URL, nonce, versionInfo));
    await until(
      'both ACKs',
      () => acks.filter((x) => x.endsWith(`${NAME_TABLE_TYPE_URL} ${versionInfo}`)).length === 2,
    );
  });
});
