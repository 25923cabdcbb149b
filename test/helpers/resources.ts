// Hand-built resources for unit and component tests, in the model's own types.
import {
  type Endpoint,
  type EndpointSet,
  emptyResources,
  type Resources,
  type Service,
  type ServiceEntry,
} from '../../src/model/index.js';

const src = { file: 'test.yaml', doc: 0 };
const meta = (namespace: string, name: string) => ({ name, namespace, labels: {}, annotations: {} });

export function service(
  ns: string,
  name: string,
  clusterIPs: string[],
  extra: Partial<Service> = {},
): Service {
  return {
    kind: 'Service',
    meta: meta(ns, name),
    clusterIPs,
    headless: false,
    ports: [{ port: 80, protocol: 'TCP' }],
    publishNotReadyAddresses: false,
    source: src,
    ...extra,
  };
}

export function endpoints(ns: string, svc: string, eps: Endpoint[]): EndpointSet {
  return {
    kind: 'EndpointSlice',
    meta: meta(ns, `${svc}-abc`),
    serviceName: svc,
    endpoints: eps,
    source: src,
  };
}

export function serviceEntry(
  ns: string,
  name: string,
  hosts: string[],
  extra: Partial<ServiceEntry> = {},
): ServiceEntry {
  return {
    kind: 'ServiceEntry',
    meta: meta(ns, name),
    hosts,
    addresses: [],
    ports: [{ number: 443, protocol: 'TLS', name: 'tls' }],
    location: 'MESH_EXTERNAL',
    resolution: 'NONE',
    endpoints: [],
    exportTo: ['*'],
    statusAddresses: [],
    source: src,
    ...extra,
  };
}

/** A small mesh covering every kind of table entry. */
export function sampleMesh(): Resources {
  const r = emptyResources();
  r.services.push(
    service('default', 'productpage', ['10.96.0.10']),
    service('default', 'reviews', ['10.96.0.11', 'fd00:10:96::11']),
    service('payments', 'checkout', ['10.96.1.10']),
    service('payments', 'ledger', [], { headless: true }),
    service('default', 'billing', [], { externalName: 'productpage.default.svc.cluster.local' }),
    service('default', 'shared', ['10.96.0.50']),
  );
  r.endpoints.push(
    endpoints('payments', 'ledger', [
      { addresses: ['10.244.1.5'], ready: true, hostname: 'ledger-0' },
      { addresses: ['10.244.1.6'], ready: true, hostname: 'ledger-1' },
      { addresses: ['10.244.1.7'], ready: false },
    ]),
  );
  r.serviceEntries.push(
    serviceEntry('default', 'partner', ['api.partner.com'], { addresses: ['192.0.2.10', '2001:db8::10'] }),
    serviceEntry('default', 'legacy-a', ['legacy.internal'], { addresses: ['192.0.2.20'] }),
    serviceEntry('default', 'legacy-b', ['legacy.internal'], { addresses: ['192.0.2.21', '10.0.0.0/8'] }),
    serviceEntry('default', 'wiki', ['*.wiki.example.org'], { addresses: ['192.0.2.30'] }),
    serviceEntry('default', 'deep-wiki', ['*.deep.wiki.example.org'], { addresses: ['192.0.2.31'] }),
    serviceEntry('default', 'shadow', ['shared.default.svc.cluster.local'], { addresses: ['192.0.2.99'] }),
    serviceEntry('payments', 'private', ['private.example.com'], {
      addresses: ['192.0.2.40'],
      exportTo: ['.'],
    }),
    serviceEntry('default', 'many', ['many.example.com'], {
      addresses: Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`),
    }),
    serviceEntry('default', 'no-address', ['vip.example.com'], { resolution: 'DNS' }),
  );
  return r;
}
