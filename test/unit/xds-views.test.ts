// The controller's views and the agent's table together: a NameTable carries each host once, and the
// agent derives aliases and search forms itself, so what an agent answers must equal what `serve`
// builds from the resources for the same workload — after a full build and after every edit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vipRanges } from '../../src/allocate/index.js';
import { MeshViews } from '../../src/controller/index.js';
import type { ServiceEntry } from '../../src/model/index.js';
import { buildTableRecords, type TableScope } from '../../src/nametable/index.js';
import {
  AgentNameTable,
  agentNode,
  NAME_TABLE_TYPE_URL,
  nameTableFromResources,
  VIP_ROUTES_TYPE_URL,
  vipRoutesFromResources,
  WORKLOAD_CONFIG_TYPE_URL,
  workloadConfigFromResources,
  type XdsSubscription,
} from '../../src/xds/index.js';
import {
  type Giver,
  plainRecords,
  prng,
  randomResource,
  snapshot,
  toResources,
} from '../helpers/random-mesh.js';
import { sampleMesh, serviceEntry } from '../helpers/resources.js';

const ranges = vipRanges('240.240.0.0/16', '2001:2::/48');
const SEARCH = ['default.svc.cluster.local', 'svc.cluster.local'];

function node(namespace: string, meta: Record<string, string> = {}) {
  return agentNode({ podName: `app-${namespace}`, namespace, metadata: meta });
}

const ON = { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'true' };

/** The agent's side: each new table of the subscription taken into one AgentNameTable. */
function follow(sub: XdsSubscription, scope: TableScope) {
  const agent = new AgentNameTable(scope);
  return () => {
    agent.update(nameTableFromResources(sub.current(NAME_TABLE_TYPE_URL)!.resources));
    return agent.records;
  };
}

describe('MeshViews → AgentNameTable', () => {
  it('gives an agent the table serve builds for the same workload, VIPs included', () => {
    const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
    const res = sampleMesh();
    views.update(res, { now: 0 });
    for (const namespace of ['default', 'prod']) {
      const scope = { namespace, clusterDomain: 'cluster.local', searchDomains: SEARCH };
      const take = follow(views.subscribe(node(namespace, ON)), scope);
      const vips = (se: ServiceEntry, host: string) => views.allocation!.vips(se, host);
      assert.deepEqual(plainRecords(take()), plainRecords(buildTableRecords(res, scope, vips)), namespace);
    }
  });

  it('after every random edit, an agent of each kind matches a fresh build', () => {
    for (const seed of [11, 12, 13, 14]) {
      const pick = prng(seed);
      const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
      const files = new Map<number, Giver[]>();
      let res = toResources(snapshot(files));
      views.update(res, { now: 0 });
      const agents = [
        { namespace: 'default', meta: ON, withVips: true },
        { namespace: 'prod', meta: ON, withVips: true },
        { namespace: 'default', meta: { DNS_CAPTURE: 'true' }, withVips: false },
      ].map((a) => {
        const scope = { namespace: a.namespace, clusterDomain: 'cluster.local', searchDomains: SEARCH };
        return { ...a, scope, take: follow(views.subscribe(node(a.namespace, a.meta)), scope) };
      });
      for (let step = 0; step < 80; step++) {
        const file = pick(6);
        const docs =
          pick(5) === 0
            ? []
            : Array.from({ length: 1 + pick(3) }, (_, doc) => randomResource(pick, file, doc));
        if (docs.length > 0) files.set(file, docs);
        else files.delete(file);
        res = toResources(snapshot(files));
        views.update(res, { now: step });
        for (const a of agents) {
          const vips = a.withVips
            ? (se: ServiceEntry, host: string) => views.allocation!.vips(se, host)
            : undefined;
          assert.deepEqual(
            plainRecords(a.take()),
            plainRecords(buildTableRecords(res, a.scope, vips)),
            `seed ${seed} step ${step} ${a.namespace} vips ${a.withVips}`,
          );
        }
      }
    }
  });

  it('names the same table the same way whatever history built it (replicas, restarts)', () => {
    const res = sampleMesh();
    // The agent connects after the first snapshot: the rest of the history reaches its view as edits.
    const version = ([first, ...rest]: (typeof res)[]) => {
      const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
      views.update(first!, { now: 0 });
      const sub = views.subscribe(node('default', { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'false' }));
      for (const [i, r] of rest.entries()) views.update(r, { now: i + 1 });
      return sub.current(NAME_TABLE_TYPE_URL)!.version;
    };
    const fewer = { ...res, services: res.services.slice(1), serviceEntries: res.serviceEntries.slice(1) };
    assert.equal(version([res]), version([fewer, res]));
    assert.equal(version([res]), version([res, fewer, res]));
    assert.notEqual(version([res]), version([fewer]));
  });

  it('shares one table among the agents of one kind and drops it when the last one leaves', () => {
    const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
    views.update(sampleMesh(), { now: 0 });
    const a = views.subscribe(node('default', ON));
    const b = views.subscribe(node('default', ON));
    const c = views.subscribe(node('prod', ON));
    const stops = [a, b, c].map((s) => s.watch(() => {}));
    assert.equal(a.current(NAME_TABLE_TYPE_URL), b.current(NAME_TABLE_TYPE_URL));
    assert.notEqual(a.current(NAME_TABLE_TYPE_URL), c.current(NAME_TABLE_TYPE_URL));
    assert.deepEqual(
      views.views().map((v) => [v.namespace, v.agents]),
      [
        ['default', 2],
        ['prod', 1],
      ],
    );
    for (const stop of stops) stop();
    assert.deepEqual(views.views(), []);
  });

  it('pushes a change only to the agents whose view it touches', () => {
    const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
    const own = serviceEntry('default', 'own', ['own.example.com'], {
      addresses: ['192.0.2.7'],
      exportTo: ['.'],
    });
    const res = sampleMesh();
    views.update(res, { now: 0 });
    const heard = { default: [] as string[], prod: [] as string[] };
    for (const ns of ['default', 'prod'] as const)
      views.subscribe(node(ns, ON)).watch((t) => heard[ns].push(t));
    views.update({ ...res, serviceEntries: [...res.serviceEntries, own] }, { now: 1 });
    assert.deepEqual(heard, { default: [NAME_TABLE_TYPE_URL], prod: [] });
  });

  it("gives each agent its settings: its own metadata first, else the mesh's, else off", () => {
    const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
    const res = sampleMesh();
    const mesh = {
      kind: 'MeshConfig' as const,
      proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true' },
      source: { file: 'mesh.yaml', doc: 0 },
    };
    views.update(res, { now: 0 });
    const config = (s: XdsSubscription) =>
      workloadConfigFromResources(s.current(WORKLOAD_CONFIG_TYPE_URL)!.resources);
    const plain = views.subscribe(node('default'));
    const off = views.subscribe(node('default', { DNS_CAPTURE: 'false' }));
    assert.deepEqual([config(plain).dnsCapture.value, config(plain).dnsCapture.origin], [false, 'default']);
    // Without auto-allocation no VIP routes, and no VIPs in the table.
    assert.deepEqual(vipRoutesFromResources(plain.current(VIP_ROUTES_TYPE_URL)!.resources), []);
    const pushed: string[] = [];
    plain.watch((t) => pushed.push(t));
    views.update({ ...res, mesh: [mesh] }, { now: 1 });
    assert.equal(config(plain).dnsCapture.value, true);
    assert.equal(config(plain).dnsCapture.origin, 'mesh-config');
    assert.ok(pushed.includes(WORKLOAD_CONFIG_TYPE_URL) && pushed.includes(VIP_ROUTES_TYPE_URL));
    assert.ok(vipRoutesFromResources(plain.current(VIP_ROUTES_TYPE_URL)!.resources).length > 0);
    assert.deepEqual([config(off).dnsCapture.value, config(off).dnsCapture.origin], [false, 'workload']);
    assert.match(config(off).dnsCapture.detail, /DNS_CAPTURE of agent sidecar~/);
  });
});
