// The Kubernetes API test server driven by the real @kubernetes/client-node over loopback HTTP: list,
// informers through dropped watches and 410 relists, JSON patch `test` on /status, Leases with conflicts,
// bookmarks, discovery and injected failures.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type Informer,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { type KubeApiServer, type KubeObject, startKubeApi } from '../helpers/kube/index.js';
import { eventually } from '../helpers/meshdns.js';

const SE = { group: 'networking.istio.io', version: 'v1', plural: 'serviceentries' } as const;
const SE_PATH = `/apis/${SE.group}/${SE.version}/serviceentries`;

function serviceEntry(name: string, host: string, namespace = 'default'): KubeObject {
  return {
    apiVersion: `${SE.group}/${SE.version}`,
    kind: 'ServiceEntry',
    metadata: { name, namespace },
    spec: { hosts: [host], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'DNS' },
  };
}

function kubeConfigFor(api: KubeApiServer): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  return kc;
}

/** The HTTP code of a client-node failure (ApiException.code, or statusCode on watch errors). */
async function failureCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: number }).code ?? (err as { statusCode?: number }).statusCode ?? -1;
  }
  assert.fail('expected the request to fail');
}

describe('kube API test server with @kubernetes/client-node', () => {
  let api: KubeApiServer;
  let kc: KubeConfig;
  const informers: Informer<KubernetesObject>[] = [];

  before(async () => {
    api = await startKubeApi();
    kc = kubeConfigFor(api);
  });
  afterEach(async () => {
    for (const inf of informers.splice(0)) await inf.stop();
  });
  after(async () => {
    await api.close();
  });

  it('lists cluster-wide and per namespace, with the list resourceVersion and selectors', async () => {
    api.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db', namespace: 'a', labels: { app: 'db' } },
    });
    api.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'b', labels: { app: 'web' } },
    });
    const core = kc.makeApiClient(CoreV1Api);
    const all = await core.listServiceForAllNamespaces();
    assert.deepEqual(
      all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
      ['a/db', 'b/web'],
    );
    assert.equal(all.metadata?.resourceVersion, api.resourceVersion);
    const inA = await core.listNamespacedService({ namespace: 'a' });
    assert.deepEqual(
      inA.items.map((s) => s.metadata?.name),
      ['db'],
    );
    const byLabel = await core.listServiceForAllNamespaces({ labelSelector: 'app in (web,other)' });
    assert.deepEqual(
      byLabel.items.map((s) => s.metadata?.name),
      ['web'],
    );
    const byName = await core.listServiceForAllNamespaces({ fieldSelector: 'metadata.name=db' });
    assert.deepEqual(
      byName.items.map((s) => s.metadata?.name),
      ['db'],
    );
  });

  it('serves discovery for the generic object client (ServiceEntry in v1 and v1beta1)', async () => {
    api.put(serviceEntry('disc', 'disc.example.com'));
    const objects = KubernetesObjectApi.makeApiClient(kc);
    for (const apiVersion of ['networking.istio.io/v1', 'networking.istio.io/v1beta1']) {
      const got = await objects.read({
        apiVersion,
        kind: 'ServiceEntry',
        metadata: { name: 'disc', namespace: 'default' },
      });
      assert.equal(got.apiVersion, apiVersion);
      assert.deepEqual((got as KubeObject).spec, serviceEntry('disc', 'disc.example.com').spec);
    }
    assert.ok(api.count({ verb: 'discovery', path: '/apis/networking.istio.io/v1beta1' }) >= 1);
  });

  it('serves a CRD given in options, and 404 for its group where it is absent (Kyma Istio)', async () => {
    const kyma = await startKubeApi({
      resources: [
        {
          group: 'operator.kyma-project.io',
          versions: ['v1alpha2'],
          plural: 'istios',
          singular: 'istio',
          kind: 'Istio',
          namespaced: true,
          status: true,
          custom: true,
        },
      ],
    });
    try {
      const auth = (s: KubeApiServer) => ({ headers: { Authorization: `Bearer ${s.token}` } });
      const path = '/apis/operator.kyma-project.io/v1alpha2';
      const there = await fetch(`${kyma.url}${path}`, auth(kyma));
      const list = (await there.json()) as { resources: { name: string }[] };
      assert.deepEqual(
        list.resources.map((r) => r.name),
        ['istios', 'istios/status'],
      );
      assert.equal((await fetch(`${api.url}${path}`, auth(api))).status, 404);
    } finally {
      await kyma.close();
    }
  });

  it('refuses a request without the token with 401', async () => {
    const res = await fetch(`${api.url}/api/v1/namespaces`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { reason: string }).reason, 'Unauthorized');
  });

  it('feeds an informer add, update and delete', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const seen: string[] = [];
    const inf = makeInformer(kc, SE_PATH, () => custom.listClusterCustomObject(SE) as never);
    informers.push(inf);
    inf.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    inf.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    inf.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    api.put(serviceEntry('one', 'one.example.com'));
    await inf.start();
    await eventually(async () => assert.ok(seen.includes('add one')));
    api.put(serviceEntry('two', 'two.example.com'));
    api.put(serviceEntry('one', 'one-changed.example.com'));
    api.delete(`${SE.group}/${SE.version}`, 'ServiceEntry', 'default', 'two');
    await eventually(async () =>
      assert.deepEqual(
        // Other tests' objects are in the cluster too; these are this test's.
        seen.filter((s) => / (one|two)$/.test(s)),
        ['add one', 'add two', 'update one', 'delete two'],
      ),
    );
    // A watch, not a relist, delivered them: one list only.
    assert.equal(api.count({ verb: 'list', path: SE_PATH }), 1);
  });

  it('keeps an informer whole through dropped watches and a 410 relist', async () => {
    const before = api.count({ verb: 'list', path: SE_PATH });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const seen: string[] = [];
    const errors: unknown[] = [];
    const inf = makeInformer(kc, SE_PATH, () => custom.listClusterCustomObject(SE) as never);
    informers.push(inf);
    inf.on('update', (o) => seen.push(`update ${o.metadata?.name} ${hostOf(o)}`));
    inf.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    inf.on('error', (err) => errors.push(err));
    api.put(serviceEntry('drop', 'v1.example.com'));
    api.put(serviceEntry('gone', 'gone.example.com'));
    await inf.start();
    await eventually(async () => assert.equal(api.watchCount, 1));

    // A clean end (the server's watch timeout): the informer rewatches from its resourceVersion by itself.
    const watchesBefore = api.count({ verb: 'watch', path: SE_PATH });
    api.dropWatches();
    await eventually(async () =>
      assert.equal(api.count({ verb: 'watch', path: SE_PATH }), watchesBefore + 1),
    );
    api.put(serviceEntry('drop', 'v2.example.com'));
    await eventually(async () => assert.ok(seen.includes('update drop v2.example.com')));

    // A cut connection: client-node reports an error and stops; what changes meanwhile arrives on restart.
    api.dropWatches({ abrupt: true });
    await eventually(async () => assert.equal(errors.length, 1));
    api.put(serviceEntry('drop', 'v3.example.com'));
    await inf.start();
    await eventually(async () => assert.ok(seen.includes('update drop v3.example.com')));
    assert.equal(
      api.count({ verb: 'list', path: SE_PATH }),
      before + 1,
      'resumed from its resourceVersion, no relist',
    );

    // History compacted while away: the watch gets 410 in the stream and the informer relists.
    api.dropWatches({ abrupt: true });
    await eventually(async () => assert.equal(errors.length, 2));
    api.put(serviceEntry('drop', 'v4.example.com'));
    api.delete(`${SE.group}/${SE.version}`, 'ServiceEntry', 'default', 'gone');
    api.compact();
    await inf.start();
    await eventually(async () => {
      assert.ok(seen.includes('update drop v4.example.com'));
      assert.ok(seen.includes('delete gone'));
    });
    assert.equal(api.count({ verb: 'list', path: SE_PATH }), before + 2, 'relisted once after 410');
  });

  it('streams BOOKMARK events and a 410 ERROR event to a raw watch', async () => {
    const events: { type: string; object: KubeObject }[] = [];
    let done: (err: unknown) => void = () => {};
    const ended = new Promise<unknown>((resolve) => {
      done = resolve;
    });
    const first = api.put(serviceEntry('bm', 'bm.example.com'));
    const req = await new Watch(kc).watch(
      `/apis/${SE.group}/${SE.version}/namespaces/default/serviceentries`,
      { resourceVersion: first.metadata.resourceVersion, allowWatchBookmarks: true },
      (type, object) => events.push({ type, object }),
      (err) => done(err),
    );
    api.put(serviceEntry('bm', 'bm2.example.com'));
    api.bookmarkNow();
    await eventually(async () =>
      assert.deepEqual(
        events.map((e) => e.type),
        ['MODIFIED', 'BOOKMARK'],
      ),
    );
    assert.equal(events[1]!.object.metadata.resourceVersion, api.resourceVersion);
    assert.equal(events[1]!.object.kind, 'ServiceEntry');
    req.abort();
    await ended;

    api.compact();
    const stale: { type: string; object: KubeObject }[] = [];
    const staleEnd = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(
        SE_PATH,
        { resourceVersion: first.metadata.resourceVersion },
        (type, object) => stale.push({ type, object }),
        resolve,
      );
    });
    assert.equal(await staleEnd, null, 'the stream ends cleanly after the ERROR event');
    assert.equal(stale.length, 1);
    assert.equal(stale[0]!.type, 'ERROR');
    assert.equal((stale[0]!.object as unknown as { code: number; reason: string }).code, 410);
    assert.equal((stale[0]!.object as unknown as { code: number; reason: string }).reason, 'Expired');
  });

  it('watches one namespace through a label selector: initial ADDED, objects entering and leaving it', async () => {
    const cm = (name: string, namespace: string, app: string) =>
      api.put({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels: { app } },
        data: { k: name },
      });
    cm('in', 'sel', 'db');
    cm('out', 'sel', 'web');
    cm('elsewhere', 'other', 'db');
    const events: string[] = [];
    let done: (err: unknown) => void = () => {};
    const ended = new Promise<unknown>((resolve) => {
      done = resolve;
    });
    // No resourceVersion: the current state first, as ADDED events, then changes.
    const req = await new Watch(kc).watch(
      '/api/v1/namespaces/sel/configmaps',
      { labelSelector: 'app=db' },
      (type, o) => events.push(`${type} ${o.metadata.name}`),
      (err) => done(err),
    );
    await eventually(async () => assert.deepEqual(events, ['ADDED in']));
    cm('in', 'sel', 'web');
    cm('out', 'sel', 'db');
    cm('elsewhere', 'other', 'web');
    cm('out', 'sel', 'db');
    await eventually(async () =>
      assert.deepEqual(events, ['ADDED in', 'DELETED in', 'ADDED out', 'MODIFIED out']),
    );
    req.abort();
    await ended;
  });

  it('ends a watch after its timeoutSeconds, cleanly', async () => {
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/namespaces',
        { resourceVersion: api.resourceVersion, timeoutSeconds: 1 },
        () => {},
        resolve,
      );
    });
    assert.equal(await ended, null);
  });

  it('applies a JSON patch with a test op on /status: 200 when it holds, 422 when not', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    api.put({ ...serviceEntry('vip', 'vip.example.com'), status: { addresses: [{ value: '240.240.0.1' }] } });
    const target = { ...SE, namespace: 'default', name: 'vip' };
    const asJsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    const patch = (from: string, to: string) =>
      custom.patchNamespacedCustomObjectStatus(
        {
          ...target,
          body: [
            { op: 'test', path: '/status/addresses', value: [{ value: from }] },
            { op: 'replace', path: '/status/addresses', value: [{ value: to }] },
            // Only status may change through /status: this spec edit must be dropped.
            { op: 'replace', path: '/spec/hosts', value: ['evil.example.com'] },
          ],
        },
        asJsonPatch,
      );
    const ok = (await patch('240.240.0.1', '240.240.0.2')) as KubeObject;
    assert.deepEqual(ok.status, { addresses: [{ value: '240.240.0.2' }] });
    assert.deepEqual((ok.spec as { hosts: string[] }).hosts, ['vip.example.com']);
    assert.equal(await failureCode(patch('240.240.0.1', '240.240.0.3')), 422);
    const stored = api.get(`${SE.group}/${SE.version}`, 'ServiceEntry', 'default', 'vip')!;
    assert.deepEqual(
      stored.status,
      { addresses: [{ value: '240.240.0.2' }] },
      'a failed test changes nothing',
    );

    // The other way round: a patch of the object leaves status alone.
    const merged = (await custom.patchNamespacedCustomObject(
      { ...target, body: { spec: { hosts: ['vip2.example.com'] }, status: { addresses: [] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as KubeObject;
    assert.deepEqual((merged.spec as { hosts: string[] }).hosts, ['vip2.example.com']);
    assert.deepEqual(merged.status, { addresses: [{ value: '240.240.0.2' }] });
    assert.equal(merged.metadata.generation, 2, 'a spec change bumps generation');
  });

  it('creates and updates a Lease, with 409 on a stale resourceVersion', async () => {
    const leases = kc.makeApiClient(CoordinationV1Api);
    const namespace = 'istio-system';
    const created = await leases.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: 'meshdns-controller' },
        spec: { holderIdentity: 'pod-a', leaseDurationSeconds: 15 },
      },
    });
    assert.equal(created.spec?.holderIdentity, 'pod-a');
    assert.equal(
      await failureCode(
        leases.createNamespacedLease({
          namespace,
          body: { metadata: { name: 'meshdns-controller' }, spec: {} },
        }),
      ),
      409,
    );
    const renewed = await leases.replaceNamespacedLease({
      namespace,
      name: 'meshdns-controller',
      body: { ...created, spec: { ...created.spec, holderIdentity: 'pod-a', leaseTransitions: 0 } },
    });
    assert.notEqual(renewed.metadata?.resourceVersion, created.metadata?.resourceVersion);
    // pod-b read the lease before pod-a renewed it: its takeover must lose.
    const stale = { ...created, spec: { ...created.spec, holderIdentity: 'pod-b', leaseTransitions: 1 } };
    const code = await failureCode(
      leases.replaceNamespacedLease({ namespace, name: 'meshdns-controller', body: stale }),
    );
    assert.equal(code, 409);
    const now = await leases.readNamespacedLease({ namespace, name: 'meshdns-controller' });
    assert.equal(now.spec?.holderIdentity, 'pod-a');
  });

  it('records Events in core v1 and events.k8s.io/v1', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'vip.' },
        involvedObject: {
          apiVersion: `${SE.group}/${SE.version}`,
          kind: 'ServiceEntry',
          name: 'vip',
          namespace: 'default',
        },
        reason: 'AllocationFailed',
        message: 'VIP range exhausted',
        type: 'Warning',
      },
    });
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'metadata.namespace=default',
    });
    assert.equal(events.items.length, 1);
    assert.match(events.items[0]!.metadata.name ?? '', /^vip\./);
    assert.equal(events.items[0]!.reason, 'AllocationFailed');
  });

  it('fails the next requests to a path as told, counts them, then serves again', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const path = '/api/v1/namespaces/default/configmaps';
    api.failNext({ path, verb: 'list', count: 2, code: 503 });
    assert.equal(await failureCode(core.listNamespacedConfigMap({ namespace: 'default' })), 503);
    assert.equal(await failureCode(core.listNamespacedConfigMap({ namespace: 'default' })), 503);
    const ok = await core.listNamespacedConfigMap({ namespace: 'default' });
    assert.deepEqual(ok.items, []);
    assert.equal(api.count({ verb: 'list', path }), 3);
  });
});

function hostOf(o: KubernetesObject): string {
  return ((o as KubeObject).spec as { hosts: string[] }).hosts[0]!;
}
