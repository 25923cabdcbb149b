// Delta ADS subscriptions by name over real gRPC on loopback (Envoy's incremental xDS): an agent that
// names resources gets only those, hears that a name it asked for does not exist (removed_resources),
// adds and drops names later, and can switch to the wildcard. The waits are bounds, never a measure.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Client, type ClientDuplexStream, credentials, Metadata } from '@grpc/grpc-js';
import {
  DELTA_METHOD_PATH,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
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

const BOUND_MS = 10_000;
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

function put(pub: ResourcePublisher, host: string, ip: string): void {
  const value = encodeNameEntry(host, { ips: [ip], registry: 'External', altHosts: [] });
  pub.set(NAME_TABLE_TYPE_URL, host, { typeUrl: NAME_TABLE_TYPE_URL, value }, ip);
}

/** A raw delta stream: what it sends is written by the test, every response is kept. */
class RawStream {
  readonly responses: DeltaDiscoveryResponse[] = [];
  readonly #call: ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

  constructor(port: number) {
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    this.#call = client.makeBidiStreamRequest(
      DELTA_METHOD_PATH,
      encodeDeltaRequest,
      decodeDeltaResponse,
      new Metadata(),
    );
    this.#call.on('data', (res: DeltaDiscoveryResponse) => this.responses.push(res));
    this.#call.on('error', () => {});
    closers.push(() => {
      this.#call.cancel();
      client.close();
    });
  }

  /** Subscribes or changes names; ACKs the last response when there is one. */
  send(subscribe: string[], unsubscribe: string[] = []): void {
    this.#call.write({
      node: agentNode({ podName: 'named-1', namespace: 'shop', metadata: {} }),
      typeUrl: NAME_TABLE_TYPE_URL,
      resourceNamesSubscribe: subscribe,
      resourceNamesUnsubscribe: unsubscribe,
      initialResourceVersions: {},
      responseNonce: this.responses.at(-1)?.nonce ?? '',
    });
  }

  /** The n-th response (1-based), once it came: the names it set and removed, sorted. */
  async response(n: number): Promise<{ set: string[]; removed: string[] }> {
    for (let waited = 0; this.responses.length < n; waited += 10) {
      if (waited > BOUND_MS) assert.fail(`still waiting for response ${n}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const res = this.responses[n - 1]!;
    return { set: res.resources.map((r) => r.name).sort(), removed: [...res.removedResources].sort() };
  }
}

describe('xds delta subscriptions by name', () => {
  it('sends only the names asked for, says which do not exist, and follows later changes', async () => {
    const pub = new ResourcePublisher();
    for (const [host, ip] of [
      ['a.example', '10.0.0.1'],
      ['b.example', '10.0.0.2'],
      ['c.example', '10.0.0.3'],
    ])
      put(pub, host!, ip!);
    pub.commit();
    const server = new AdsServer({ listen: '127.0.0.1:0', subscribe: () => pub });
    await server.start();
    closers.push(() => server.close());
    const agent = new RawStream(server.address().port);

    agent.send(['a.example', 'missing.example']);
    assert.deepEqual(await agent.response(1), { set: ['a.example'], removed: ['missing.example'] });

    put(pub, 'a.example', '10.0.1.1');
    put(pub, 'b.example', '10.0.1.2');
    pub.commit();
    assert.deepEqual(await agent.response(2), { set: ['a.example'], removed: [] }, 'b was not asked for');

    agent.send(['b.example']);
    assert.deepEqual(
      await agent.response(3),
      { set: ['b.example'], removed: [] },
      'b, unchanged, once asked',
    );

    // Dropping a name sends nothing; asking for another in the same request shows it was read.
    agent.send(['gone.example'], ['a.example']);
    assert.deepEqual(await agent.response(4), { set: [], removed: ['gone.example'] });
    put(pub, 'a.example', '10.0.2.1');
    put(pub, 'b.example', '10.0.2.2');
    put(pub, 'c.example', '10.0.2.3');
    pub.commit();
    assert.deepEqual(await agent.response(5), { set: ['b.example'], removed: [] }, 'a was dropped');

    agent.send(['*']);
    assert.deepEqual(
      await agent.response(6),
      { set: ['a.example', 'c.example'], removed: [] },
      'the wildcard: everything the agent lacks, not b again',
    );
    pub.remove(NAME_TABLE_TYPE_URL, 'c.example');
    pub.commit();
    assert.deepEqual(await agent.response(7), { set: [], removed: ['c.example'] });
  });
});
