// `node dist/bench/kube-source.js [entries] [services] [changes]`: the Kubernetes source alone against the
// test API server (same process, loopback HTTP): time to the first snapshot for issue 10's cluster
// (10,000 ServiceEntries, 5,000 Services and as many EndpointSlices), heap after it, then the time from
// one ServiceEntry edit on the API to its snapshot, with the default debounce and with none (the
// pipeline's own cost: watch event, validation, snapshot). Not a test: figures vary with the machine.
import { KubeConfig } from '@kubernetes/client-node';
import { KubeSource } from '../src/sources/kube/index.js';
import { type KubeObject, startKubeApi } from '../test/helpers/kube/index.js';

const entries = Number(process.argv[2] ?? 10_000);
const services = Number(process.argv[3] ?? 5000);
const changes = Number(process.argv[4] ?? 50);

const entry = (i: number, host: string): KubeObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name: `se-${i}`, namespace: `ns-${i % 50}` },
  spec: { hosts: [host], ports: [{ number: 443, name: 'https', protocol: 'TLS' }], resolution: 'DNS' },
});
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

const api = await startKubeApi({ historyLimit: 100_000 });
for (let i = 0; i < entries; i++) api.put(entry(i, `e${i}.example.com`));
for (let i = 0; i < services; i++) {
  const meta = { name: `svc-${i}`, namespace: `ns-${i % 50}` };
  api.put({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta,
    spec: { clusterIP: ip(i), ports: [{ port: 80 }] },
  });
  api.put({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { ...meta, labels: { 'kubernetes.io/service-name': meta.name } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip(i + 1_000_000)], conditions: { ready: true } }],
  });
}
const kc = new KubeConfig();
kc.loadFromString(api.kubeconfig());

/** Hosts waited for, resolved by the snapshot whose delta adds them. */
const waiting = new Map<string, () => void>();

async function run(debounceMs: number, first: boolean): Promise<Record<string, unknown>> {
  const source = new KubeSource({
    kubeConfig: kc,
    istioNamespace: 'istio-system',
    debounceMs,
    onChange: (_snapshot, _errors, _failed, change) => {
      for (const r of change.delta?.added ?? []) {
        if (r.kind !== 'ServiceEntry') continue;
        for (const h of r.hosts) waiting.get(h)?.();
      }
    },
  });
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await source.start();
  const firstSnapshotMs = performance.now() - t0;
  global.gc?.();
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  const lat: number[] = [];
  for (let c = 0; c < changes; c++) {
    const i = (c * 7919) % entries;
    const host = `e${i}-d${debounceMs}-${c}.example.com`;
    const seen = new Promise<void>((resolve) => waiting.set(host, resolve));
    const start = performance.now();
    api.put(entry(i, host));
    await seen;
    lat.push(performance.now() - start);
    waiting.delete(host);
  }
  await source.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!.toFixed(1);
  return {
    debounceMs,
    ...(first ? { firstSnapshotMs: Math.round(firstSnapshotMs) } : { relistMs: Math.round(firstSnapshotMs) }),
    // The first run only: the closed source of the first is still being collected during the second.
    ...(first ? { heapMiB: global.gc ? Math.round(heapMiB) : 'run node with --expose-gc' } : {}),
    changeToSnapshotP50Ms: pct(50),
    changeToSnapshotP99Ms: pct(99),
  };
}

try {
  const objects = { serviceEntries: entries, services, endpointSlices: services, changes };
  console.log(JSON.stringify({ ...objects, ...(await run(100, true)) }));
  console.log(JSON.stringify({ ...objects, ...(await run(0, false)) }));
} finally {
  await api.close();
}
