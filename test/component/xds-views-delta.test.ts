// MeshViews behind a real AdsServer, an agent following over delta xDS on loopback: after edits and
// after the mesh config moves the agent to another view (VIPs off, where hosts that only have a VIP are
// gone), what it answers equals what `serve` builds for the same workload. The waits are bounds for a correct run, never a measure.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { vipRanges } from '../../src/allocate/index.js';
import { MeshViews } from '../../src/controller/index.js';
import type { Resources, ServiceEntry } from '../../src/model/index.js';
import { buildTableRecords } from '../../src/nametable/index.js';
import { AdsClient, AdsServer, AgentNameTable, agentNode } from '../../src/xds/index.js';
import { plainRecords } from '../helpers/random-mesh.js';
import { sampleMesh, serviceEntry } from '../helpers/resources.js';

const BOUND_MS = 10_000;
const ranges = vipRanges('240.240.0.0/16', '2001:2::/48');
const scope = {
  namespace: 'default',
  clusterDomain: 'cluster.local',
  searchDomains: ['default.svc.cluster.local', 'svc.cluster.local'],
};

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

/** Waits (bounded) until `check` stops throwing; fails with its last error. */
async function eventually(check: () => void): Promise<void> {
  for (let waited = 0; ; waited += 20) {
    try {
      check();
      return;
    } catch (err) {
      if (waited > BOUND_MS) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('MeshViews over delta xDS', () => {
  it('keeps an agent equal to a fresh build through edits and a move to another view', async () => {
    const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
    const mesh = (on: boolean) => [
      {
        kind: 'MeshConfig' as const,
        proxyMetadata: { ISTIO_META_DNS_CAPTURE: String(on), ISTIO_META_DNS_AUTO_ALLOCATE: String(on) },
        source: { file: 'mesh.yaml', doc: 0 },
      },
    ];
    const base = sampleMesh();
    const tcp = { resolution: 'DNS' as const, ports: [{ number: 3306, protocol: 'TCP', name: 'tcp' }] };
    const auto = serviceEntry('default', 'auto', ['auto.example.com'], tcp);
    const fixed = serviceEntry('default', 'fixed', ['fixed.example.com'], { addresses: ['192.0.2.9'] });
    let res: Resources = { ...base, mesh: mesh(true) };
    views.update(res, { now: 0 });
    const server = new AdsServer({ listen: '127.0.0.1:0', subscribe: (n) => views.subscribe(n) });
    await server.start();
    closers.push(() => server.close());
    const table = new AgentNameTable(scope);
    const client = new AdsClient({
      target: `127.0.0.1:${server.address().port}`,
      // Capture and auto-allocation come from the mesh config only, so a mesh change moves the agent.
      node: agentNode({ podName: 'app', namespace: 'default', metadata: {} }),
      onNameTableDelta: (set, removed) => {
        table.applyDelta(set, removed);
      },
    });
    await client.start();
    closers.push(() => client.close());
    const vips = (se: ServiceEntry, host: string) => views.allocation!.vips(se, host);
    const edits: Resources['serviceEntries'][] = [
      [...base.serviceEntries, auto],
      [...base.serviceEntries, auto, fixed],
      [...base.serviceEntries.slice(1), auto, fixed],
    ];
    for (const [i, serviceEntries] of edits.entries()) {
      res = { ...res, serviceEntries };
      views.update(res, { now: i + 1 });
      await eventually(() =>
        assert.deepEqual(plainRecords(table.records), plainRecords(buildTableRecords(res, scope, vips))),
      );
    }
    assert.ok(table.table.has('auto.example.com'), 'a host that only has a VIP');
    res = { ...res, mesh: mesh(false) };
    views.update(res, { now: 10 });
    assert.equal(views.views().length, 1, 'the old view was dropped');
    await eventually(() =>
      assert.deepEqual(plainRecords(table.records), plainRecords(buildTableRecords(res, scope))),
    );
    assert.ok(!table.table.has('auto.example.com'));
    assert.equal(client.status().protocol, 'delta');
  });
});
