// Incremental (delta) ADS over real gRPC on loopback: the first sync, a change that carries only its host,
// removal, a reconnect that sends only the differences, a NACK that keeps the agent's state and is not
// resent, state-of-the-world agents on the same publisher, and the fallback to state-of-the-world
// against a controller without the delta method. The waits are bounds for a correct run, never a measure.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  AdsClient,
  type AdsClientOptions,
  AdsServer,
  type AdsServerOptions,
  agentNode,
  encodeNameEntry,
  NAME_TABLE_TYPE_URL,
  ResourcePublisher,
  type XdsNameInfo,
  type XdsNameTable,
  type XdsSubscription,
} from '../../src/xds/index.js';

const BOUND_MS = 10_000;

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > BOUND_MS) assert.fail(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const info = (ip: string): XdsNameInfo => ({ ips: [ip], registry: 'External', altHosts: [] });

/** Puts one host as its own resource, versioned by its IP (the controller versions by content digest). */
function put(pub: ResourcePublisher, host: string, ip: string): void {
  const value = encodeNameEntry(host, info(ip));
  pub.set(NAME_TABLE_TYPE_URL, host, { typeUrl: NAME_TABLE_TYPE_URL, value }, ip);
}

function publisher(hosts: Record<string, string>): ResourcePublisher {
  const pub = new ResourcePublisher();
  for (const [host, ip] of Object.entries(hosts)) put(pub, host, ip);
  pub.touch(NAME_TABLE_TYPE_URL);
  pub.commit();
  return pub;
}

const node = agentNode({ podName: 'web-1', namespace: 'shop', metadata: {} });

/** An agent over delta keeping what it was told; it refuses any host named bad.example. */
class DeltaAgent {
  readonly updates: { set: string[]; removed: string[]; version: string }[] = [];
  readonly table = new Map<string, XdsNameInfo>();
  readonly client: AdsClient;

  constructor(target: string, extra: Partial<AdsClientOptions> = {}) {
    this.client = new AdsClient({
      target,
      node,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      onNameTableDelta: (set, removed, version) => {
        this.updates.push({ set: set.map(([h]) => h).sort(), removed: [...removed].sort(), version });
        if (set.some(([h]) => h === 'bad.example')) throw new Error('bad.example is not allowed here');
        for (const h of removed) this.table.delete(h);
        for (const [h, i] of set) this.table.set(h, i);
      },
      ...extra,
    });
  }

  ips(): Record<string, string> {
    return Object.fromEntries([...this.table].map(([h, i]) => [h, i.ips[0]!]).sort());
  }
}

interface Recorded {
  acks: string[];
  nacks: string[];
}

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function startServer(sub: XdsSubscription, rec: Recorded, extra: Partial<AdsServerOptions> = {}) {
  const server = new AdsServer({
    listen: '127.0.0.1:0',
    subscribe: () => sub,
    onAck: (_s, _t, version) => rec.acks.push(version),
    onNack: (_s, _t, version, message) => rec.nacks.push(`${version}: ${message}`),
    ...extra,
  });
  await server.start();
  closers.push(() => server.close());
  return server;
}

async function startAgent(port: number, extra?: Partial<AdsClientOptions>): Promise<DeltaAgent> {
  const agent = new DeltaAgent(`127.0.0.1:${port}`, extra);
  await agent.client.start();
  closers.push(() => agent.client.close());
  return agent;
}

describe('xds delta stream', () => {
  it('subscribes every host, then sends only the host that changed, and removals', async () => {
    const pub = publisher({ 'a.example': '10.0.0.1', 'b.example': '10.0.0.2' });
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(pub, rec);
    const agent = await startAgent(server.address().port);
    await until('the first sync', () => rec.acks.length === 1);
    assert.deepEqual(agent.updates[0]?.set, ['a.example', 'b.example']);
    assert.deepEqual(agent.ips(), { 'a.example': '10.0.0.1', 'b.example': '10.0.0.2' });
    assert.equal(server.connections()[0]?.protocol, 'delta');
    assert.equal(agent.client.status().protocol, 'delta');
    // The ACK names the type's state-of-the-world version: the same content has the same version.
    assert.equal(rec.acks[0], pub.current(NAME_TABLE_TYPE_URL)?.version);

    put(pub, 'b.example', '10.0.0.20');
    put(pub, 'c.example', '10.0.0.3');
    pub.commit();
    await until('the change', () => rec.acks.length === 2);
    assert.deepEqual(agent.updates[1], {
      set: ['b.example', 'c.example'],
      removed: [],
      version: pub.current(NAME_TABLE_TYPE_URL)?.version,
    });

    pub.remove(NAME_TABLE_TYPE_URL, 'a.example');
    pub.commit();
    await until('the removal', () => rec.acks.length === 3);
    assert.deepEqual(agent.updates[2]?.set, []);
    assert.deepEqual(agent.updates[2]?.removed, ['a.example']);
    assert.deepEqual(agent.ips(), { 'b.example': '10.0.0.20', 'c.example': '10.0.0.3' });
  });

  it('sends an empty table at once: an agent waits for its first table', async () => {
    const pub = publisher({});
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(pub, rec);
    const agent = await startAgent(server.address().port);
    await until('the empty first table', () => agent.updates.length === 1);
    assert.deepEqual(agent.updates[0]?.set, []);
  });

  it('on a reconnect, sends only the hosts whose version differs and removes the ones gone', async () => {
    const pub = publisher({ 'a.example': '10.0.0.1', 'b.example': '10.0.0.2', 'c.example': '10.0.0.3' });
    const rec: Recorded = { acks: [], nacks: [] };
    const first = await startServer(pub, rec);
    const { port } = first.address();
    const agent = await startAgent(port);
    await until('the first sync', () => rec.acks.length === 1);

    await first.close();
    await until('the agent to notice', () => !agent.client.status().connected);
    put(pub, 'b.example', '10.0.0.20');
    pub.remove(NAME_TABLE_TYPE_URL, 'c.example');
    pub.commit();
    await startServer(pub, rec, { listen: `127.0.0.1:${port}` });
    await until('the catch-up', () => rec.acks.length === 2);
    assert.deepEqual(agent.updates[1]?.set, ['b.example'], 'a.example is not sent again');
    assert.deepEqual(agent.updates[1]?.removed, ['c.example']);
    assert.deepEqual(agent.ips(), { 'a.example': '10.0.0.1', 'b.example': '10.0.0.20' });
  });

  it('a refused update keeps the agent on what it had, and that version is not sent again', async () => {
    const pub = publisher({ 'a.example': '10.0.0.1' });
    const listeners = new Set<(t: string) => void>();
    // Signals as often as asked, so a resend would show.
    const chatty: XdsSubscription = {
      current: (t) => pub.current(t),
      named: (t) => pub.named(t),
      watch: (l) => {
        listeners.add(l);
        const stop = pub.watch(l);
        return () => {
          listeners.delete(l);
          stop();
        };
      },
    };
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(chatty, rec);
    const agent = await startAgent(server.address().port);
    await until('the first sync', () => rec.acks.length === 1);
    const good = agent.client.status().versions[NAME_TABLE_TYPE_URL];

    put(pub, 'a.example', '10.0.0.9');
    put(pub, 'bad.example', '10.0.0.66');
    pub.commit();
    await until('the NACK', () => rec.nacks.length === 1);
    assert.match(rec.nacks[0]!, /bad.example is not allowed here/);
    assert.deepEqual(agent.ips(), { 'a.example': '10.0.0.1' }, 'nothing of the refused update was applied');
    assert.equal(agent.client.status().versions[NAME_TABLE_TYPE_URL], good);
    const offered = agent.updates.length;
    for (let i = 0; i < 5; i++) for (const l of listeners) l(NAME_TABLE_TYPE_URL);

    put(pub, 'c.example', '10.0.0.3');
    pub.commit();
    await until('the next update', () => rec.acks.length === 2);
    assert.equal(agent.updates.length, offered + 1, 'the refused versions were not offered again');
    assert.deepEqual(agent.updates.at(-1)?.set, ['c.example']);
  });

  it('refuses a whole update when one resource does not decode, and applies none of it', async () => {
    const pub = publisher({ 'a.example': '10.0.0.1' });
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(pub, rec);
    const agent = await startAgent(server.address().port);
    await until('the first sync', () => rec.acks.length === 1);
    put(pub, 'b.example', '10.0.0.2');
    pub.set(
      NAME_TABLE_TYPE_URL,
      'junk',
      { typeUrl: NAME_TABLE_TYPE_URL, value: Uint8Array.of(0x0a, 0xff) },
      'j1',
    );
    pub.commit();
    await until('the NACK', () => rec.nacks.length === 1);
    assert.match(rec.nacks[0]!, /NameTable: not a valid message/);
    assert.equal(agent.updates.length, 1, 'the handler never saw it');
    assert.equal(agent.client.status().lastNack?.typeUrl, NAME_TABLE_TYPE_URL);
  });

  it('a stream left behind by the change log is ended, and the agent catches up on its reconnect', async () => {
    const pub = new ResourcePublisher({ changeLogCommits: 2 });
    for (const [h, ip] of [
      ['a.example', '10.0.0.1'],
      ['b.example', '10.0.0.2'],
    ] as const)
      put(pub, h, ip);
    pub.commit();
    let quiet = false;
    // Drops signals while quiet: the stream misses commits, as if it had been held back.
    const lossy: XdsSubscription = {
      current: (t) => pub.current(t),
      named: (t) => pub.named(t),
      watch: (l) => pub.watch((t) => (quiet ? undefined : l(t))),
    };
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(lossy, rec);
    const agent = await startAgent(server.address().port);
    await until('the first sync', () => rec.acks.length === 1);
    quiet = true;
    for (let i = 3; i <= 5; i++) {
      put(pub, `h${i}.example`, `10.0.0.${i}`);
      pub.commit();
    }
    pub.remove(NAME_TABLE_TYPE_URL, 'b.example');
    quiet = false;
    pub.commit();
    await until('the catch-up', () => agent.client.status().connects === 2 && rec.acks.length === 2);
    assert.match(agent.client.status().lastError?.message ?? '', /ABORTED: fell 4 commits behind/);
    assert.deepEqual(Object.keys(agent.ips()), ['a.example', 'h3.example', 'h4.example', 'h5.example']);
    assert.deepEqual(agent.updates[1]?.removed, ['b.example']);
  });

  it('serves state-of-the-world agents from the same publisher, side by side', async () => {
    const pub = publisher({ 'a.example': '10.0.0.1' });
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(pub, rec);
    const tables: XdsNameTable[] = [];
    const sotw = new AdsClient({
      target: `127.0.0.1:${server.address().port}`,
      node,
      delta: false,
      onNameTable: (t) => {
        tables.push(t);
      },
    });
    await sotw.start();
    closers.push(() => sotw.close());
    const agent = await startAgent(server.address().port);
    await until('both synced', () => tables.length === 1 && agent.updates.length === 1);
    put(pub, 'b.example', '10.0.0.2');
    pub.commit();
    await until('both updated', () => tables.length === 2 && agent.updates.length === 2);
    const whole = Object.fromEntries([...tables[1]!].map(([h, i]) => [h, i.ips[0]]));
    assert.deepEqual(whole, agent.ips());
    assert.deepEqual(
      server
        .connections()
        .map((c) => c.protocol)
        .sort(),
      ['delta', 'sotw'],
    );
    assert.equal(
      sotw.status().versions[NAME_TABLE_TYPE_URL],
      agent.client.status().versions[NAME_TABLE_TYPE_URL],
    );
  });

  it('falls back to state-of-the-world against a controller without the delta method', async () => {
    const pub = publisher({ 'a.example': '10.0.0.1' });
    const rec: Recorded = { acks: [], nacks: [] };
    const server = await startServer(pub, rec, { delta: false });
    const agent = await startAgent(server.address().port);
    await until('the table', () => agent.updates.length === 1);
    assert.equal(agent.client.status().protocol, 'sotw');
    assert.deepEqual(agent.ips(), { 'a.example': '10.0.0.1' });
    put(pub, 'a.example', '10.0.0.9');
    pub.commit();
    await until('the change', () => agent.updates.length === 2);
    assert.deepEqual(agent.ips(), { 'a.example': '10.0.0.9' });
    assert.equal(agent.client.status().lastError, undefined, 'the fallback is not an error');
  });
});
