// The controller <-> agent stream over real gRPC on loopback (issue 10 item 3): push and ACK, NACK that
// keeps the agent's last good table, reconnect after a controller restart, and a close that releases
// the port. The waits below are bounds for a correct run, never a measure of speed.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import {
  AdsClient,
  type AdsClientOptions,
  AdsServer,
  type AdsServerOptions,
  agentNode,
  NAME_TABLE_TYPE_URL,
  nameTableResource,
  nodeView,
  ResourcePublisher,
  VIP_ROUTES_TYPE_URL,
  vipRoutesResource,
  type XdsNameTable,
  type XdsSubscription,
  type XdsVipRoute,
} from '../../src/xds/index.js';
import { ADS_METHOD_PATH, decodeResponse, encodeRequest } from '../../src/xds/messages.js';

const BOUND_MS = 10_000;

/** Waits (polling, bounded) until `cond` holds; fails naming what it waited for. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > BOUND_MS) assert.fail(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function table(...hosts: string[]): XdsNameTable {
  return new Map(hosts.map((h, i) => [h, { ips: [`10.0.0.${i + 1}`], registry: 'External', altHosts: [] }]));
}

const node = agentNode({ podName: 'web-1', namespace: 'shop', metadata: { DNS_CAPTURE: 'true' } });

/** An agent that keeps what it accepted, refusing any table with a host named bad.example. */
class Agent {
  tables: { version: string; table: XdsNameTable }[] = [];
  routes: XdsVipRoute[][] = [];
  offered: string[] = [];
  readonly client: AdsClient;

  constructor(target: string, extra: Partial<AdsClientOptions> = {}) {
    this.client = new AdsClient({
      target,
      node,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      onNameTable: (t, version) => {
        this.offered.push(version);
        if (t.has('bad.example')) throw new Error('bad.example is not allowed here');
        this.tables.push({ version, table: t });
      },
      onVipRoutes: (r) => {
        this.routes.push(r);
      },
      ...extra,
    });
  }

  get last(): { version: string; table: XdsNameTable } | undefined {
    return this.tables.at(-1);
  }
}

interface Recorded {
  acks: [string, string][];
  nacks: [string, string, string][];
  nodes: string[];
}

function serverOptions(
  subscription: XdsSubscription,
  rec: Recorded,
  listen = '127.0.0.1:0',
): AdsServerOptions {
  return {
    listen,
    controlPlane: 'test-controller',
    subscribe: (n) => {
      rec.nodes.push(`${nodeView(n).namespace} ${n.metadata.DNS_CAPTURE}`);
      return subscription;
    },
    onAck: (_s, type, version) => rec.acks.push([type, version]),
    onNack: (_s, type, version, message) => rec.nacks.push([type, version, message]),
  };
}

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function startServer(options: AdsServerOptions): Promise<AdsServer> {
  const server = new AdsServer(options);
  await server.start();
  closers.push(() => server.close());
  return server;
}

async function startAgent(server: AdsServer, extra?: Partial<AdsClientOptions>): Promise<Agent> {
  const agent = new Agent(`127.0.0.1:${server.address().port}`, extra);
  await agent.client.start();
  closers.push(() => agent.client.close());
  return agent;
}

describe('xds stream', () => {
  it('pushes each new table, and records the ACK of each', async () => {
    const pub = new ResourcePublisher();
    const rec: Recorded = { acks: [], nacks: [], nodes: [] };
    const server = await startServer(serverOptions(pub, rec));
    const v1 = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example'))]);
    const agent = await startAgent(server);

    await until('the first table', () => agent.last?.version === v1);
    assert.deepEqual(agent.last?.table, table('a.example'));
    await until('its ACK', () => rec.acks.length === 1);
    assert.deepEqual(rec.acks, [[NAME_TABLE_TYPE_URL, v1]]);
    assert.deepEqual(rec.nodes, ['shop true'], 'the node of the first request reached the controller');

    const v2 = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example', 'b.example'))]);
    await until('the second ACK', () => rec.acks.length === 2);
    assert.deepEqual(rec.acks[1], [NAME_TABLE_TYPE_URL, v2]);
    assert.deepEqual(agent.last?.table, table('a.example', 'b.example'));

    const routes: XdsVipRoute[] = [
      {
        vip: '240.240.0.1',
        port: 3306,
        host: 'db.example.com',
        resolution: 'DNS',
        endpoints: [],
        hostPort: 3306,
        origin: 'ServiceEntry shop/db',
      },
    ];
    const r1 = pub.publish(VIP_ROUTES_TYPE_URL, [vipRoutesResource(routes)]);
    await until('the routes', () => agent.routes.length === 1);
    assert.deepEqual(agent.routes[0], routes);

    const state = agent.client.status();
    assert.equal(state.connected, true);
    assert.deepEqual(state.versions, { [NAME_TABLE_TYPE_URL]: v2, [VIP_ROUTES_TYPE_URL]: r1 });
    const [conn] = server.connections();
    assert.equal(conn?.node.id, node.id);
    assert.equal(conn?.types.get(NAME_TABLE_TYPE_URL)?.acked, v2);
  });

  it('an agent counts as connected before the controller has anything to send', async () => {
    const pub = new ResourcePublisher();
    const server = await startServer(serverOptions(pub, { acks: [], nacks: [], nodes: [] }));
    const agent = await startAgent(server);
    await until('connected', () => agent.client.status().connected);
    assert.deepEqual(agent.client.status().versions, {});
    assert.equal(server.connections().length, 1);
  });

  it('a refused table is NACKed: the agent stays on its last good one, the server records why', async () => {
    const pub = new ResourcePublisher();
    const rec: Recorded = { acks: [], nacks: [], nodes: [] };
    const server = await startServer(serverOptions(pub, rec));
    const good = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example'))]);
    const agent = await startAgent(server);
    await until('the good table ACK', () => rec.acks.length === 1);

    const bad = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example', 'bad.example'))]);
    await until('the NACK', () => rec.nacks.length === 1);
    assert.deepEqual(rec.nacks, [[NAME_TABLE_TYPE_URL, bad, 'bad.example is not allowed here']]);
    assert.equal(agent.last?.version, good);
    const state = agent.client.status();
    assert.equal(state.versions[NAME_TABLE_TYPE_URL], good, 'the agent reports its last good version');
    assert.equal(state.lastNack?.version, bad);
    assert.equal(server.connections()[0]?.types.get(NAME_TABLE_TYPE_URL)?.nack?.version, bad);

    // Bytes the agent cannot decode are NACKed the same way.
    const garbage = pub.publish(NAME_TABLE_TYPE_URL, [
      { typeUrl: NAME_TABLE_TYPE_URL, value: Uint8Array.of(0x0a, 0xff) },
    ]);
    await until('the second NACK', () => rec.nacks.length === 2);
    assert.equal(rec.nacks[1]?.[1], garbage);
    assert.match(rec.nacks[1]?.[2] ?? '', /NameTable: not a valid message/);

    const fixed = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('c.example'))]);
    await until('the fixed table', () => agent.last?.version === fixed);
    assert.deepEqual(agent.offered, [good, bad, fixed], 'undecodable bytes never reach the handler');
  });

  it('does not resend a version the agent refused, however often the subscription signals', async () => {
    const pub = new ResourcePublisher();
    const listeners = new Set<(t: string) => void>();
    const chatty: XdsSubscription = {
      current: (t) => pub.current(t),
      named: (t) => pub.named(t),
      watch: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    };
    const rec: Recorded = { acks: [], nacks: [], nodes: [] };
    const server = await startServer(serverOptions(chatty, rec));
    pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('bad.example'))]);
    const agent = await startAgent(server);
    await until('the NACK', () => rec.nacks.length === 1);
    for (let i = 0; i < 5; i++) for (const l of listeners) l(NAME_TABLE_TYPE_URL);
    const next = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('ok.example'))]);
    for (const l of listeners) l(NAME_TABLE_TYPE_URL);
    await until('the next table', () => agent.last?.version === next);
    assert.equal(agent.offered.length, 2, `offered ${agent.offered}`);
  });

  it('reconnects after the controller restarts on the same port, and gets the current version', async () => {
    const pub = new ResourcePublisher();
    const rec: Recorded = { acks: [], nacks: [], nodes: [] };
    const first = new AdsServer(serverOptions(pub, rec));
    await first.start();
    const { port } = first.address();
    const v1 = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example'))]);
    const agent = await startAgent(first);
    await until('the first table', () => agent.last?.version === v1);

    await first.close();
    await until('the agent to notice', () => !agent.client.status().connected);
    const v2 = pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example', 'b.example'))]);
    assert.equal(agent.last?.version, v1, 'the agent keeps its table while the controller is away');
    await until('a failed reconnect attempt', () => agent.client.status().connects >= 3);
    assert.match(agent.client.status().lastError?.message ?? '', /UNAVAILABLE/);

    await startServer(serverOptions(pub, rec, `127.0.0.1:${port}`));
    await until('the current table after the restart', () => agent.last?.version === v2);
    assert.equal(agent.client.status().connected, true);
    assert.deepEqual(rec.nodes.length >= 2, true, 'the new server saw the node again');
  });

  it('close ends the streams and releases the port', async () => {
    const pub = new ResourcePublisher();
    pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example'))]);
    const server = new AdsServer(serverOptions(pub, { acks: [], nacks: [], nodes: [] }));
    await server.start();
    const { port } = server.address();
    const agent = new Agent(`127.0.0.1:${port}`);
    await agent.client.start();
    await until('the table', () => agent.tables.length === 1);
    assert.equal(pub.watchers, 1);
    await server.close();
    assert.equal(pub.watchers, 0, 'the stream stopped watching');
    assert.deepEqual(server.connections(), []);
    await agent.client.close();
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('bounds the streams of one client address: past the bound a stream ends with RESOURCE_EXHAUSTED', async () => {
    const pub = new ResourcePublisher();
    pub.publish(NAME_TABLE_TYPE_URL, [nameTableResource(table('a.example'))]);
    const rec: Recorded = { acks: [], nacks: [], nodes: [] };
    const server = await startServer({ ...serverOptions(pub, rec), maxStreamsPerClient: 2 });
    const agents = [await startAgent(server), await startAgent(server)];
    await until('two streams', () => server.connections().length === 2);
    const third = await startAgent(server);
    await until('the third refused', () =>
      /RESOURCE_EXHAUSTED|streams/.test(third.client.status().lastError?.message ?? ''),
    );
    assert.equal(server.connections().length, 2);
    assert.ok(
      agents.every((a) => a.last !== undefined),
      'the first two are served',
    );
    assert.equal(third.last, undefined);
  });

  it('ends a stream whose first request carries no node with INVALID_ARGUMENT', async () => {
    const pub = new ResourcePublisher();
    const server = await startServer(serverOptions(pub, { acks: [], nacks: [], nodes: [] }));
    const raw = new Client(`127.0.0.1:${server.address().port}`, credentials.createInsecure());
    try {
      const call = raw.makeBidiStreamRequest(ADS_METHOD_PATH, encodeRequest, decodeResponse, new Metadata());
      const ended = new Promise<{ code: number; details: string }>((resolve) => call.on('status', resolve));
      call.on('error', () => {});
      call.write({ versionInfo: '', typeUrl: NAME_TABLE_TYPE_URL, responseNonce: '' });
      const st = await ended;
      assert.equal(st.code, status.INVALID_ARGUMENT);
      assert.match(st.details, /node\.id/);
      assert.equal(pub.watchers, 0);
    } finally {
      raw.close();
    }
  });

  it('refuses a listen address that is not host:port, and a port in use, with MESHDNS_XDS_LISTEN', async () => {
    const pub = new ResourcePublisher();
    assert.throws(() => new AdsClient({ target: 'nowhere', node }), { code: 'MESHDNS_XDS_LISTEN' });
    const bad = new AdsServer({ listen: 'localhost', subscribe: () => pub });
    await assert.rejects(bad.start(), { code: 'MESHDNS_XDS_LISTEN' });
    await bad.close();
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const clash = new AdsServer({ listen: `127.0.0.1:${port}`, subscribe: () => pub });
    try {
      await assert.rejects(clash.start(), {
        code: 'MESHDNS_XDS_LISTEN',
        message: new RegExp(`127.0.0.1:${port}`),
      });
    } finally {
      await clash.close();
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
  });
});
