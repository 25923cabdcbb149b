import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vipRanges } from '../../src/allocate/index.js';
import { LiveView } from '../../src/controller/index.js';
import { emptyResources, type Workload } from '../../src/model/index.js';
import type { VipRoute } from '../../src/vip/index.js';
import { serviceEntry } from '../helpers/resources.js';

const opts = {
  scope: { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] },
  ranges: vipRanges('240.240.0.0/16', '2001:2::/48'),
  graceMs: 0,
};

function mesh() {
  const r = emptyResources();
  r.serviceEntries.push(
    serviceEntry('default', 'db-a', ['db-a.example.com'], {
      resolution: 'DNS',
      ports: [{ number: 3306, protocol: 'TCP', name: 'mysql' }],
      meta: {
        name: 'db-a',
        namespace: 'default',
        labels: {},
        annotations: {},
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
    }),
    serviceEntry('default', 'db-b', ['db-b.example.com'], {
      resolution: 'STATIC',
      ports: [
        { number: 3306, protocol: 'TCP', name: 'mysql', targetPort: 13306 },
        { number: 53, protocol: 'UDP', name: 'dns' },
      ],
      endpoints: [
        { address: '10.1.0.1', ports: {}, labels: {} },
        { address: '10.1.0.2', ports: { mysql: 23306 }, labels: {} },
      ],
      meta: {
        name: 'db-b',
        namespace: 'default',
        labels: {},
        annotations: {},
        creationTimestamp: '2026-01-02T00:00:00Z',
      },
    }),
    serviceEntry('default', 'wild', ['*.dyn.example.com'], { resolution: 'DYNAMIC_DNS' }),
    serviceEntry('default', 'fixed', ['fixed.example.com'], { addresses: ['192.0.2.1'], resolution: 'DNS' }),
  );
  return r;
}

/** The routes `serve` sends for a first view of the mesh, in the order sent. */
function vipRoutes(workload?: Workload): VipRoute[] {
  const live = new LiveView(opts.ranges, []);
  return live.update(mesh(), workload, opts, { now: 0 }).routes.set.flatMap(([, routes]) => routes);
}

describe('VIP routes', () => {
  it('routes each VIP on each TCP port to the entry backend', () => {
    const routes = vipRoutes();
    assert.deepEqual(
      routes.map(
        (r) =>
          `${r.vip}:${r.port} ${r.host} ${r.resolution} ${r.hostPort} ${r.endpoints.map((e) => `${e.address}:${e.port}`).join(',')}`,
      ),
      [
        '240.240.0.1:3306 db-a.example.com DNS 3306 ',
        '2001:2::1:3306 db-a.example.com DNS 3306 ',
        '240.240.0.2:3306 db-b.example.com STATIC 13306 10.1.0.1:13306,10.1.0.2:23306',
        '2001:2::2:3306 db-b.example.com STATIC 13306 10.1.0.1:13306,10.1.0.2:23306',
      ],
    );
  });

  it('has no routes when the workload does not auto-allocate', () => {
    const off: Workload = {
      kind: 'Deployment',
      meta: { name: 'app', namespace: 'default', labels: {}, annotations: {} },
      proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'false' },
      source: { file: 'x.yaml', doc: 0 },
    };
    assert.deepEqual(vipRoutes(off), []);
  });
});
