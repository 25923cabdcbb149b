// A restart's snapshot carries the VIPs and VIP routes with the table (issue 14 item 3): a successor that
// answers mesh names from its predecessor's table before it hears from its controller answers them with
// VIPs, and without the routes a connection to one of them would reach nothing. Fresh ones always win.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { Agent, parseSnapshot, type Snapshot, SnapshotKeeper, writeSnapshot } from '../../src/agent/index.js';
import { buildTableRecords, NameTable, type TableScope } from '../../src/nametable/index.js';
import type { VipRoute } from '../../src/vip/index.js';
import { tempFolder } from '../helpers/manifests.js';
import { sampleMesh } from '../helpers/resources.js';
import { deadAddress } from '../helpers/stub-dns.js';

const SCOPE: TableScope = { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] };
const logger = pino({ level: 'silent' });

const ROUTE: VipRoute = {
  vip: '240.240.0.1',
  port: 3306,
  host: 'db-a.example.com',
  resolution: 'STATIC',
  endpoints: [{ address: '192.0.2.10', port: 3306 }],
  hostPort: 3306,
  origin: 'ServiceEntry default/db-a',
};
const HOST = {
  namespace: 'default',
  name: 'db-a',
  host: 'db-a.example.com',
  state: 'allocated',
  v4: '240.240.0.1',
};

describe('restart snapshot: VIPs and routes', () => {
  const tmp = tempFolder('meshdns-snapshot-vips-');
  const agents: Agent[] = [];
  after(() => Promise.all(agents.map((a) => a.close())));

  async function agent(): Promise<Agent> {
    const a = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [await deadAddress()],
      upstreamTimeoutMs: 300,
      logger,
    });
    agents.push(a);
    return a;
  }

  const keeper = (file: string, a: Agent) => new SnapshotKeeper({ file, agent: a, logger, pollMs: 60_000 });

  async function written(): Promise<string> {
    const file = join(tmp(), `${agents.length}.snapshot.json`);
    const old = await agent();
    old.setTable(NameTable.fromRecords(buildTableRecords(sampleMesh(), SCOPE)));
    await old.setVips(
      () => [HOST as never],
      () => [ROUTE],
    );
    await keeper(file, old).save();
    // As another process wrote it: a process never loads its own snapshot back.
    await writeSnapshot(file, { ...(await saved(file)), pid: process.pid + 1 });
    return file;
  }

  const saved = async (file: string): Promise<Snapshot> =>
    (await parseSnapshot(await readFile(file), file)).snapshot;

  /** A new agent that loaded `file` as a restarted one does. */
  async function restored(file: string): Promise<Agent> {
    const next = await agent();
    const k = keeper(file, next);
    await k.start();
    await k.close();
    return next;
  }

  it('come back with the table, and are used until fresh ones come', async () => {
    const file = await written();
    assert.deepEqual((await saved(file)).vips, { hosts: [HOST], routes: [ROUTE] });

    const next = await restored(file);
    assert.ok(next.tableFromSnapshot);
    assert.deepEqual(next.routes, [ROUTE]);
    assert.deepEqual(next.vips, [HOST]);
    assert.ok(next.vipsFromSnapshot, 'serve applies the first view even without VIP changes');

    // A view's VIPs replace them whole.
    await next.setVips([], []);
    assert.deepEqual(next.routes, []);
    assert.ok(!next.vipsFromSnapshot);
    assert.equal(next.setSnapshotVips([HOST as never], [ROUTE]), false, 'a snapshot never overrides a view');
    assert.deepEqual(next.routes, []);
  });

  it("come back from a version 1 snapshot (an older release's: one JSON document)", async () => {
    const file = await written();
    await writeFile(file, JSON.stringify({ ...(await saved(file)), version: 1 }), { mode: 0o600 });
    const next = await restored(file);
    assert.ok(next.tableFromSnapshot);
    assert.deepEqual(next.routes, [ROUTE]);
    assert.deepEqual(next.vips, [HOST]);
  });

  for (const [what, bad] of [
    ['a VIP of every address', { vip: '0.0.0.0' }],
    ['port 0', { port: 0 }],
    ['an unknown resolution', { resolution: 'MAGIC' }],
    ['an endpoint without an address', { endpoints: [{ address: '', port: 3306 }] }],
  ] as const) {
    it(`are ignored, table kept, with ${what}`, async () => {
      const file = await written();
      const s = await saved(file);
      s.vips!.routes = [{ ...ROUTE, ...bad } as VipRoute];
      await writeSnapshot(file, s);
      const next = await restored(file);
      assert.ok(next.tableFromSnapshot, 'the table still came back');
      assert.deepEqual(next.routes, []);
      assert.equal(next.vipsFromSnapshot, false);
    });
  }

  it('are not used when fresh VIPs came before the snapshot was read', async () => {
    const file = await written();
    const next = await agent();
    const fresh = { ...ROUTE, endpoints: [{ address: '192.0.2.99', port: 3306 }] };
    await next.setVips([], [fresh]);
    const k = keeper(file, next);
    await k.start();
    await k.close();
    assert.deepEqual(next.routes, [fresh]);
  });
});
