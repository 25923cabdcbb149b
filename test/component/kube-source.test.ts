// KubeSource against the Kubernetes API test server over loopback HTTP, through the real
// @kubernetes/client-node: first list, changes, the v1beta1 fallback, dropped watches and 410 relists,
// invalid objects, the mesh settings (istio ConfigMap, Kyma's Istio CR) and retried failures.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { vipRanges } from '../../src/allocate/index.js';
import { buildView, LiveView } from '../../src/controller/index.js';
import type { MeshdnsError } from '../../src/errors.js';
import type { Resources } from '../../src/model/index.js';
import type { TableRecords } from '../../src/nametable/index.js';
import type { SnapshotChange } from '../../src/sources/index.js';
import { KubeSource, type KubeSourceOptions, loadKubeConfig } from '../../src/sources/kube/index.js';
import {
  BUILTIN_RESOURCES,
  type KubeApiOptions,
  type KubeApiServer,
  type KubeObject,
  type ResourceType,
  startKubeApi,
} from '../helpers/kube/index.js';
import { eventually } from '../helpers/meshdns.js';

const SE_V1 = 'networking.istio.io/v1';
/** Services, EndpointSlices, Namespaces, the istio ConfigMap, ServiceEntries (no Kyma CRD by default). */
const WATCHES = 5;
const KYMA_ISTIO: ResourceType = {
  group: 'operator.kyma-project.io',
  versions: ['v1alpha2'],
  plural: 'istios',
  singular: 'istio',
  kind: 'Istio',
  namespaced: true,
  custom: true,
};

function serviceEntry(name: string, hosts: string[], apiVersion = SE_V1, extra: object = {}): KubeObject {
  return {
    apiVersion,
    kind: 'ServiceEntry',
    metadata: { name, namespace: 'default' },
    spec: { hosts, ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'DNS' },
    ...extra,
  };
}

function service(name: string, clusterIP: string, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { clusterIP, clusterIPs: [clusterIP], ports: [{ port: 80, protocol: 'TCP' }] },
  };
}

function endpointSlice(name: string, serviceName: string, addresses: string[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
  };
}

function meshConfigMap(namespace: string, capture: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'istio', namespace },
    data: { mesh: `defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: "${capture}"\n` },
  };
}

interface Snapshot {
  resources: Resources;
  errors: MeshdnsError[];
  failedFiles: ReadonlySet<string>;
  change: SnapshotChange;
}

interface Harness {
  api: KubeApiServer;
  source: KubeSource;
  snapshots: Snapshot[];
  logs: { level: number; msg: string }[];
  last(): Snapshot;
  /** Waits (bounded) until the last snapshot passes `check`. */
  until(check: (s: Snapshot) => void, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

async function harness(
  seed: (api: KubeApiServer) => void,
  apiOptions: KubeApiOptions = {},
  sourceOptions: Partial<KubeSourceOptions> = {},
): Promise<Harness> {
  const api = await startKubeApi({ bookmarkIntervalMs: 200, ...apiOptions });
  seed(api);
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  const snapshots: Snapshot[] = [];
  const logs: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const source = new KubeSource({
    kubeConfig: kc,
    istioNamespace: 'istio-system',
    debounceMs: 20,
    logger,
    onChange: (resources, errors, failedFiles, change) =>
      snapshots.push({ resources, errors, failedFiles, change }),
    ...sourceOptions,
  });
  const h: Harness = {
    api,
    source,
    snapshots,
    logs,
    last: () => snapshots.at(-1)!,
    until: (check, timeoutMs = 10_000) => eventually(async () => check(h.last()), timeoutMs),
    close: async () => {
      await source.close();
      await api.close();
    },
  };
  try {
    await source.start();
  } catch (e) {
    await h.close();
    throw e;
  }
  return h;
}

const names = (list: { meta: { namespace: string; name: string } }[]) =>
  list.map((r) => `${r.meta.namespace}/${r.meta.name}`).sort();
const hostsOf = (r: Resources) => r.serviceEntries.flatMap((se) => se.hosts).sort();

describe('KubeSource', () => {
  it('lists every kind once and publishes the first snapshot before start() resolves', async () => {
    const h = await harness((api) => {
      api.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
      api.put(service('web', '10.0.0.10'));
      api.put(endpointSlice('web-1', 'web', ['10.1.0.1']));
      api.put(
        serviceEntry('db', ['db.example.com'], SE_V1, {
          status: { addresses: [{ value: '240.240.0.7', host: 'db.example.com' }] },
        }),
      );
      api.put(meshConfigMap('istio-system', 'true'));
      // Not Istio's namespace: not read.
      api.put(meshConfigMap('other', 'false'));
    });
    try {
      assert.equal(h.snapshots.length, 1);
      const { resources, errors, failedFiles, change } = h.last();
      assert.deepEqual(errors, []);
      assert.equal(failedFiles.size, 0);
      assert.equal(change.seq, 1);
      assert.deepEqual(names(resources.services), ['default/web']);
      assert.deepEqual(resources.endpoints[0]?.endpoints[0]?.addresses, ['10.1.0.1']);
      assert.deepEqual(names(resources.namespaces), ['/default']);
      assert.deepEqual(resources.serviceEntries[0]?.statusAddresses, [
        { value: '240.240.0.7', host: 'db.example.com' },
      ]);
      assert.equal(resources.serviceEntries[0]?.source.file, 'k8s');
      // The istio ConfigMap's `mesh` key; no Kyma CRD here, and that is not worth a word above debug.
      assert.deepEqual(
        resources.mesh.map((m) => [m.kind, m.proxyMetadata]),
        [['MeshConfig', { ISTIO_META_DNS_CAPTURE: 'true' }]],
      );
      assert.deepEqual(
        h.logs.filter((l) => l.level > 20),
        [],
      );
      assert.ok(h.logs.some((l) => /no operator\.kyma-project\.io Istio/.test(l.msg)));
      // Each kind listed once; the ServiceEntries in v1; Pods are not read at all.
      for (const path of [
        '/api/v1/services',
        '/apis/discovery.k8s.io/v1/endpointslices',
        '/api/v1/namespaces',
        '/api/v1/namespaces/istio-system/configmaps',
        '/apis/networking.istio.io/v1/serviceentries',
      ]) {
        assert.equal(h.api.count({ verb: 'list', path }), 1, path);
      }
      assert.equal(h.api.count({ path: '/api/v1/pods' }), 0);
      assert.ok(h.api.requests.some((r) => r.verb === 'watch' && /allowWatchBookmarks=true/.test(r.query)));
    } finally {
      await h.close();
    }
  });

  it('brings adds, edits and deletes of ServiceEntries, Services and EndpointSlices, with a delta', async () => {
    const h = await harness((api) => {
      api.put(service('web', '10.0.0.10'));
      api.put(service('stays', '10.0.0.11'));
      api.put(serviceEntry('db', ['db.example.com']));
    });
    try {
      const first = h.last();
      const stays = first.resources.services.find((s) => s.meta.name === 'stays')!;
      const db = first.resources.serviceEntries[0]!;

      h.api.put(serviceEntry('cache', ['cache.example.com']));
      h.api.put(serviceEntry('db', ['db2.example.com']));
      h.api.put(service('api', '10.0.0.12'));
      h.api.put(endpointSlice('api-1', 'api', ['10.1.0.2']));
      await h.until((s) => {
        assert.deepEqual(hostsOf(s.resources), ['cache.example.com', 'db2.example.com']);
        assert.deepEqual(names(s.resources.services), ['default/api', 'default/stays', 'default/web']);
        assert.equal(s.resources.endpoints.length, 1);
      });
      // The unchanged Service is the same object; the edited entry left and its new version came.
      const now = h.last();
      assert.equal(
        now.resources.services.find((s) => s.meta.name === 'stays'),
        stays,
      );
      const delta = now.change.delta!;
      assert.ok(delta, 'a delta');
      assert.equal(delta.base, now.change.seq - 1);
      if (h.snapshots.length === 2) {
        assert.deepEqual(delta.removed, [db]);
        assert.deepEqual(delta.added.map((r) => `${r.kind} ${'meta' in r ? r.meta.name : ''}`).sort(), [
          'EndpointSlice api-1',
          'Service api',
          'ServiceEntry cache',
          'ServiceEntry db',
        ]);
      }

      h.api.delete(SE_V1, 'ServiceEntry', 'default', 'cache');
      h.api.delete('v1', 'Service', 'default', 'web');
      h.api.put(endpointSlice('api-1', 'api', ['10.1.0.3']));
      await h.until((s) => {
        assert.deepEqual(hostsOf(s.resources), ['db2.example.com']);
        assert.deepEqual(names(s.resources.services), ['default/api', 'default/stays']);
        assert.deepEqual(s.resources.endpoints[0]?.endpoints[0]?.addresses, ['10.1.0.3']);
      });
      // Every delta, applied in turn to the first snapshot, gives the last one.
      const live = new Set<unknown>([...first.resources.services, ...first.resources.serviceEntries]);
      for (const s of h.snapshots.slice(1)) {
        for (const r of s.change.delta!.removed) assert.ok(live.delete(r), 'removed what was there');
        for (const r of s.change.delta!.added) live.add(r);
      }
      const last = h.last().resources;
      assert.deepEqual(live, new Set([...last.services, ...last.serviceEntries, ...last.endpoints]));
    } finally {
      await h.close();
    }
  });

  it("drives the controller's LiveView by its deltas to the table a whole build gives", async () => {
    const opts = {
      scope: { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] },
      ranges: vipRanges('240.240.0.0/16', '2001:2::/48'),
      graceMs: 0,
    };
    const live = new LiveView(opts.ranges, []);
    let records: TableRecords | undefined;
    const h = await harness(
      (api) => {
        api.put(service('web', '10.0.0.10'));
        api.put(
          serviceEntry('fixed', ['fixed.example.com'], SE_V1, {
            spec: { hosts: ['fixed.example.com'], addresses: ['192.0.2.1'], resolution: 'STATIC' },
          }),
        );
      },
      {},
      {
        onChange: (resources, _errors, failedFiles, change) => {
          records = live.update(resources, undefined, opts, { now: 0, failedFiles }, change).view.records;
        },
      },
    );
    try {
      h.api.put(service('api', '10.0.0.12'));
      h.api.put({ ...service('headless', 'None'), spec: { clusterIP: 'None', ports: [{ port: 80 }] } });
      h.api.put(endpointSlice('headless-1', 'headless', ['10.1.0.5']));
      h.api.delete('v1', 'Service', 'default', 'web');
      h.api.put(
        serviceEntry('fixed', ['fixed2.example.com'], SE_V1, {
          spec: { hosts: ['fixed2.example.com'], addresses: ['192.0.2.2'], resolution: 'STATIC' },
        }),
      );
      await eventually(async () => {
        const last = h.source.snapshot();
        assert.deepEqual(names(last.services), ['default/api', 'default/headless']);
        assert.deepEqual(hostsOf(last), ['fixed2.example.com']);
        assert.equal(last.endpoints.length, 1);
        const want = buildView(last, [], undefined, opts, { now: 0 }).records;
        // The hosts of api and headless (their short forms are derived when asked), and the entry's.
        assert.equal(want.exact.size, 3);
        assert.deepEqual(records && new Map([...records.exact].sort()), new Map([...want.exact].sort()));
      });
    } finally {
      await h.close();
    }
  });

  it('debounces a burst into few snapshots', async () => {
    const h = await harness(() => {}, {}, { debounceMs: 300 });
    try {
      for (let i = 0; i < 30; i++) h.api.put(serviceEntry(`burst-${i}`, [`b${i}.example.com`]));
      await h.until((s) => assert.equal(s.resources.serviceEntries.length, 30));
      // One snapshot if the 30 events arrive within 300 ms of each other; a loaded host may split it.
      assert.ok(h.snapshots.length <= 4, `${h.snapshots.length} snapshots`);
    } finally {
      await h.close();
    }
  });

  it('reads ServiceEntries in v1beta1 where v1 is not served', async () => {
    const builtins = BUILTIN_RESOURCES.map((t) =>
      t.plural === 'serviceentries' ? { ...t, versions: ['v1beta1'] } : t,
    );
    const beta = 'networking.istio.io/v1beta1';
    const h = await harness((api) => api.put(serviceEntry('old', ['old.example.com'], beta)), { builtins });
    try {
      assert.deepEqual(hostsOf(h.last().resources), ['old.example.com']);
      h.api.put(serviceEntry('new', ['new.example.com'], beta));
      await h.until((s) => assert.deepEqual(hostsOf(s.resources), ['new.example.com', 'old.example.com']));
      assert.equal(
        h.api.count({ verb: 'list', path: '/apis/networking.istio.io/v1beta1/serviceentries' }),
        1,
      );
      assert.deepEqual(h.last().errors, []);
    } finally {
      await h.close();
    }
  });

  it('loses nothing changed while its watches were cut, nor after a 410 relist', async () => {
    const h = await harness((api) => {
      api.put(serviceEntry('kept', ['kept.example.com']));
      api.put(serviceEntry('gone-1', ['gone1.example.com']));
      api.put(serviceEntry('gone-2', ['gone2.example.com']));
      api.put(service('svc-gone', '10.0.0.20'));
    });
    try {
      await eventually(async () => assert.equal(h.api.watchCount, WATCHES));
      const seListPath = '/apis/networking.istio.io/v1/serviceentries';
      const lists = h.api.count({ verb: 'list', path: seListPath });

      // Cut: the client sees an error, and resumes from its resourceVersion after a backoff.
      h.api.dropWatches({ abrupt: true });
      h.api.delete(SE_V1, 'ServiceEntry', 'default', 'gone-1');
      h.api.put(serviceEntry('kept', ['kept2.example.com']));
      h.api.put(serviceEntry('added-1', ['added1.example.com']));
      await h.until((s) =>
        assert.deepEqual(hostsOf(s.resources), [
          'added1.example.com',
          'gone2.example.com',
          'kept2.example.com',
        ]),
      );
      assert.equal(h.api.count({ verb: 'list', path: seListPath }), lists, 'resumed, not relisted');
      assert.ok(h.logs.some((l) => l.level === 40 && /retrying/.test(l.msg)));
      await eventually(async () => assert.equal(h.api.watchCount, WATCHES));

      // Cut again, and the history is compacted meanwhile: the rewatch gets 410 and the informer relists.
      h.api.dropWatches({ abrupt: true });
      h.api.delete(SE_V1, 'ServiceEntry', 'default', 'gone-2');
      h.api.delete('v1', 'Service', 'default', 'svc-gone');
      h.api.put(serviceEntry('added-2', ['added2.example.com']));
      h.api.compact();
      await h.until((s) => {
        assert.deepEqual(hostsOf(s.resources), [
          'added1.example.com',
          'added2.example.com',
          'kept2.example.com',
        ]);
        assert.deepEqual(s.resources.services, []);
      });
      assert.equal(h.api.count({ verb: 'list', path: seListPath }), lists + 1, 'relisted once');

      // A clean end (the server's watch timeout): rewatched at once, and changes keep coming.
      await eventually(async () => assert.equal(h.api.watchCount, WATCHES));
      h.api.dropWatches();
      h.api.put(serviceEntry('added-3', ['added3.example.com']));
      await h.until((s) => assert.ok(hostsOf(s.resources).includes('added3.example.com')));
    } finally {
      await h.close();
    }
  });

  it('retries a watch the server refuses, and catches up', async () => {
    const h = await harness(
      (api) => api.put(serviceEntry('db', ['db.example.com'])),
      {},
      { random: () => 0 },
    );
    try {
      await eventually(async () => assert.equal(h.api.watchCount, WATCHES));
      const path = '/apis/networking.istio.io/v1/serviceentries';
      const watches = h.api.count({ verb: 'watch', path });
      // The clean end makes the informer rewatch at once; the server answers 500 twice.
      h.api.failNext({ path, verb: 'watch', count: 2 });
      h.api.dropWatches();
      h.api.put(serviceEntry('db', ['db2.example.com']));
      await h.until((s) => assert.deepEqual(hostsOf(s.resources), ['db2.example.com']));
      assert.equal(h.api.count({ verb: 'watch', path }), watches + 3);
      assert.equal(h.api.count({ verb: 'list', path }), 1, 'resumed from its resourceVersion');
    } finally {
      await h.close();
    }
  });

  it('reports a bad ServiceEntry once and loads the others', async () => {
    const h = await harness((api) => {
      api.put(serviceEntry('good', ['good.example.com']));
      api.put(serviceEntry('bad', ['']));
    });
    try {
      const { resources, errors } = h.last();
      assert.deepEqual(hostsOf(resources), ['good.example.com']);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'MESHDNS_MANIFEST_INVALID');
      assert.match(
        errors[0]!.message,
        /^k8s ServiceEntry default\/bad: spec\.hosts\[0\] "" is not a hostname/,
      );
      // Another change publishes again: the same error stays in errors() but is not logged again.
      h.api.put(serviceEntry('other', ['other.example.com']));
      await h.until((s) => assert.equal(s.resources.serviceEntries.length, 2));
      assert.equal(h.source.errors().length, 1);
      assert.equal(h.logs.filter((l) => /default\/bad/.test(l.msg)).length, 1);

      // An invalid edit of a good entry keeps its last good version (its names and VIPs stay) and says why.
      h.api.put(serviceEntry('good', ['bad host']));
      await h.until((s) => assert.equal(s.errors.length, 2));
      assert.deepEqual(hostsOf(h.last().resources), ['good.example.com', 'other.example.com']);
      // Fixed: the error goes.
      h.api.put(serviceEntry('bad', ['fixed.example.com']));
      h.api.put(serviceEntry('good', ['good2.example.com']));
      await h.until((s) => {
        assert.deepEqual(s.errors, []);
        assert.deepEqual(hostsOf(s.resources), [
          'fixed.example.com',
          'good2.example.com',
          'other.example.com',
        ]);
      });
    } finally {
      await h.close();
    }
  });

  it("reads Kyma's Istio CR where its CRD is served", async () => {
    const kyma = (enabled: boolean): KubeObject => ({
      apiVersion: 'operator.kyma-project.io/v1alpha2',
      kind: 'Istio',
      metadata: { name: 'default', namespace: 'kyma-system' },
      spec: { config: { enableDNSProxying: enabled } },
    });
    const h = await harness((api) => api.put(kyma(true)), { resources: [KYMA_ISTIO] });
    try {
      assert.deepEqual(
        h.last().resources.mesh.map((m) => [m.kind, m.enableDNSProxying]),
        [['KymaIstio', true]],
      );
      h.api.put(kyma(false));
      await h.until((s) => assert.equal(s.resources.mesh[0]?.enableDNSProxying, false));
      // Kyma ignores Istio CRs of other names, and so do we.
      h.api.put({ ...kyma(true), metadata: { name: 'other', namespace: 'kyma-system' } });
      h.api.put(meshConfigMap('istio-system', 'false'));
      await h.until((s) =>
        assert.deepEqual(s.resources.mesh.map((m) => m.kind).sort(), ['KymaIstio', 'MeshConfig']),
      );
      assert.equal(h.last().resources.mesh.find((m) => m.kind === 'KymaIstio')?.enableDNSProxying, false);
    } finally {
      await h.close();
    }
  });

  it('picks up ServiceEntries and the Kyma CR when their CRDs appear after start', async () => {
    const notFound = { verb: 'discovery', code: 404 } as const;
    const h = await harness(
      (api) => {
        // Discovery says "not served" for a while: as if Istio and Kyma were installed after meshdns.
        for (const v of [
          'networking.istio.io/v1',
          'networking.istio.io/v1beta1',
          'operator.kyma-project.io/v1alpha2',
        ])
          api.failNext({ path: `/apis/${v}`, ...notFound, count: 2 });
        api.put(serviceEntry('db', ['db.example.com']));
        api.put({
          apiVersion: 'operator.kyma-project.io/v1alpha2',
          kind: 'Istio',
          metadata: { name: 'default', namespace: 'kyma-system' },
          spec: { config: { enableDNSProxying: true } },
        });
      },
      { resources: [KYMA_ISTIO] },
      { discoveryRecheckMs: 100 },
    );
    try {
      assert.deepEqual(h.last().resources.serviceEntries, []);
      assert.ok(h.logs.some((l) => l.level === 30 && /serves no ServiceEntry/.test(l.msg)));
      await h.until((s) => {
        assert.deepEqual(hostsOf(s.resources), ['db.example.com']);
        assert.equal(s.resources.mesh[0]?.enableDNSProxying, true);
      });
      await eventually(async () => assert.equal(h.api.watchCount, WATCHES + 1));
    } finally {
      await h.close();
    }
  });

  it('retries a failed list with backoff before start() resolves', async () => {
    const h = await harness(
      (api) => {
        api.put(service('web', '10.0.0.10'));
        api.failNext({ path: '/api/v1/services', verb: 'list', count: 2 });
        api.failNext({ path: '/apis/networking.istio.io/v1', verb: 'discovery' });
      },
      {},
      { random: () => 0 },
    );
    try {
      assert.deepEqual(names(h.last().resources.services), ['default/web']);
      assert.equal(h.api.count({ verb: 'list', path: '/api/v1/services' }), 3);
      assert.ok(h.logs.some((l) => l.level === 40 && /injected failure 500/.test(l.msg)));
      assert.ok(h.logs.some((l) => l.level === 40 && /API discovery failed/.test(l.msg)));
    } finally {
      await h.close();
    }
  });

  it('stops every watch on close(), and a close() during start() ends start()', async () => {
    const h = await harness(() => {});
    await eventually(async () => assert.equal(h.api.watchCount, WATCHES));
    await h.source.close();
    await eventually(async () => assert.equal(h.api.watchCount, 0));
    await h.api.close();

    // The API fails every list: start() keeps retrying until close() ends it.
    const api = await startKubeApi();
    api.failNext({ path: '/api/v1/namespaces', verb: 'list', count: 1000 });
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    const source = new KubeSource({ kubeConfig: kc, istioNamespace: 'istio-system', onChange: () => {} });
    // Its outcome is taken at once: it settles during close(), before assert.rejects would look.
    const outcome = source.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    await eventually(async () => assert.ok(api.count({ verb: 'list', path: '/api/v1/namespaces' }) >= 1));
    await source.close();
    assert.equal(((await outcome) as MeshdnsError | undefined)?.code, 'MESHDNS_KUBE_API');
    await api.close();
  });
});

describe('loadKubeConfig', () => {
  const saved = { ...process.env };
  const restore = () => {
    for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  };

  it('reads --kubeconfig, else KUBECONFIG, else the service account, else says what to do', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdns-kubeconfig-'));
    const api = await startKubeApi();
    try {
      const file = await api.writeKubeconfig(dir);
      delete process.env.KUBECONFIG;
      delete process.env.KUBERNETES_SERVICE_HOST;
      delete process.env.KUBERNETES_SERVICE_PORT;
      assert.equal(loadKubeConfig({ kubeconfig: file }).getCurrentCluster()?.server, api.url);

      process.env.KUBECONFIG = file;
      assert.equal(loadKubeConfig().getCurrentCluster()?.server, api.url);
      delete process.env.KUBECONFIG;

      assert.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'missing') }), {
        code: 'MESHDNS_KUBE_CONFIG',
        message: /^--kubeconfig .*missing: cannot read the kubeconfig/,
      });
      await writeFile(join(dir, 'empty'), '{}');
      assert.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'empty') }), {
        code: 'MESHDNS_KUBE_CONFIG',
        message: /names no cluster with a server/,
      });
      assert.throws(() => loadKubeConfig(), {
        code: 'MESHDNS_KUBE_CONFIG',
        message: /pass --kubeconfig FILE, set KUBECONFIG, or run in a pod.*KUBERNETES_SERVICE_HOST/,
      });

      // In a pod: the API's address from the environment, the token from the service account's files.
      process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
      process.env.KUBERNETES_SERVICE_PORT = '443';
      assert.throws(() => loadKubeConfig({ serviceAccountRoot: dir }), { message: /token cannot be read/ });
      const sa = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
      await mkdir(sa, { recursive: true });
      await writeFile(join(sa, 'token'), 'a-token');
      assert.equal(
        loadKubeConfig({ serviceAccountRoot: dir }).getCurrentCluster()?.server,
        'https://10.96.0.1:443',
      );
    } finally {
      restore();
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
