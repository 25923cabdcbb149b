// The controller's views and the agent's table together: a NameTable carries each host once, and the
// agent derives aliases and search forms itself, so what an agent answers must equal what `serve`
// builds from the resources for the same workload — after a full build and after every edit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vipRanges } from '../../src/allocate/index.js';
import { hostRoutes, MeshViews } from '../../src/controller/index.js';
import type { ServiceEntry } from '../../src/model/index.js';
import { buildTableRecords, type TableScope, visibleTo } from '../../src/nametable/index.js';
import {
  AgentNameTable,
  agentNode,
  decodeNameTable,
  decodeVipRoutes,
  NAME_TABLE_TYPE_URL,
  nameTableFromResources,
  VIP_ROUTES_TYPE_URL,
  vipRoutesFromResources,
  WORKLOAD_CONFIG_TYPE_URL,
  workloadConfigFromResources,
  type XdsNameInfo,
  type XdsSubscription,
} from '../../src/xds/index.js';
import {
  editRandomFile,
  type Giver,
  plainRecords,
  prng,
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

/**
 * The agent's side over delta xDS: a second AgentNameTable fed only the names each commit changed (the
 * publisher's log, as a delta stream reads it), and the routes kept by allocation key.
 */
function followDelta(sub: XdsSubscription, scope: TableScope) {
  const agent = new AgentNameTable(scope);
  const routes = new Map<string, string[]>();
  const seen = new Map<string, number>();
  const changes = (typeUrl: string) => {
    const source = sub.named(typeUrl)!;
    const names = source.changedSince(seen.get(typeUrl) ?? 0);
    assert.ok(names, 'the log reaches back to the last step');
    seen.set(typeUrl, source.sequence);
    return [...names].map((name) => [name, source.resources.get(name)?.resource] as const);
  };
  return {
    take() {
      const set: [string, XdsNameInfo][] = [];
      const removed: string[] = [];
      for (const [name, resource] of changes(NAME_TABLE_TYPE_URL)) {
        if (resource) set.push(...decodeNameTable(resource.value));
        else removed.push(name);
      }
      agent.applyDelta(set, removed);
      return agent.records;
    },
    routes() {
      for (const [key, resource] of changes(VIP_ROUTES_TYPE_URL)) {
        if (resource)
          routes.set(
            key,
            decodeVipRoutes(resource.value).map((r) => JSON.stringify(r)),
          );
        else routes.delete(key);
      }
      return [...routes.values()].flat().sort();
    },
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

  it('after every random edit, an agent of each kind matches a fresh build, routes included', () => {
    let routesSeen = 0;
    for (const seed of [11, 12, 13, 14]) {
      const pick = prng(seed);
      const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
      const files = new Map<number, Giver[]>();
      let res = toResources(snapshot(files));
      views.update(res, { now: 0 });
      const agents = [
        { namespace: 'default', meta: ON, withVips: true },
        { namespace: 'prod', meta: ON, withVips: true },
        { namespace: 'default', meta: { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'false' }, withVips: false },
      ].map((a) => {
        const scope = { namespace: a.namespace, clusterDomain: 'cluster.local', searchDomains: SEARCH };
        const sub = views.subscribe(node(a.namespace, a.meta));
        return { ...a, scope, sub, take: follow(sub, scope), delta: followDelta(sub, scope) };
      });
      for (let step = 0; step < 80; step++) {
        editRandomFile(pick, files);
        res = toResources(snapshot(files));
        views.update(res, { now: step });
        for (const a of agents) {
          const vips = a.withVips
            ? (se: ServiceEntry, host: string) => views.allocation!.vips(se, host)
            : undefined;
          const fresh = plainRecords(buildTableRecords(res, a.scope, vips));
          const where = `seed ${seed} step ${step} ${a.namespace} vips ${a.withVips}`;
          assert.deepEqual(plainRecords(a.take()), fresh, where);
          assert.deepEqual(plainRecords(a.delta.take()), fresh, `${where} (delta)`);
          // The VIP proxy's routes: every VIP this agent's table answers with, on every TCP port.
          const allocation = views.allocation!;
          const want = a.withVips
            ? allocation.hosts
                .filter((h) => allocation.vips(h.entry, h.host) && visibleTo(h.entry, a.namespace))
                .flatMap(hostRoutes)
            : [];
          const got = vipRoutesFromResources(a.sub.current(VIP_ROUTES_TYPE_URL)!.resources);
          const sorted = (rs: object[]) => rs.map((r) => JSON.stringify(r)).sort();
          assert.deepEqual(sorted(got), sorted(want), `seed ${seed} step ${step} routes`);
          assert.deepEqual(a.delta.routes(), sorted(want), `seed ${seed} step ${step} routes (delta)`);
          routesSeen += got.length;
        }
      }
    }
    assert.ok(routesSeen > 100, `routes were compared (${routesSeen})`);
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
