// The resource types the test API server serves and the discovery documents (`/api`, `/apis`, ...) that
// describe them: what kubectl and client-node read to turn `serviceentry` or a kind into a URL.

export interface ResourceType {
  /** API group, '' for the core group (`/api/v1`). */
  group: string;
  /** Versions served, preferred first; objects are stored once and shown in the version asked for. */
  versions: string[];
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Has a `/status` subresource: status changes only through it, and other writes keep the old status. */
  status?: boolean;
  /** Defined by a CustomResourceDefinition: the server refuses strategic merge patches for it (415). */
  custom?: boolean;
}

/** What the controller of issue 10 reads and writes; tests may add more with `startKubeApi({ resources })`. */
export const BUILTIN_RESOURCES: readonly ResourceType[] = [
  {
    group: '',
    versions: ['v1'],
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    status: true,
  },
  {
    group: '',
    versions: ['v1'],
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    status: true,
  },
  {
    group: '',
    versions: ['v1'],
    plural: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
  },
  {
    group: '',
    versions: ['v1'],
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    status: true,
  },
  {
    group: '',
    versions: ['v1'],
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
  },
  {
    group: 'events.k8s.io',
    versions: ['v1'],
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
  },
  {
    group: 'coordination.k8s.io',
    versions: ['v1'],
    plural: 'leases',
    singular: 'lease',
    kind: 'Lease',
    namespaced: true,
  },
  {
    group: 'discovery.k8s.io',
    versions: ['v1'],
    plural: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    namespaced: true,
  },
  {
    group: 'networking.istio.io',
    versions: ['v1', 'v1beta1'],
    plural: 'serviceentries',
    singular: 'serviceentry',
    kind: 'ServiceEntry',
    namespaced: true,
    shortNames: ['se'],
    status: true,
    custom: true,
  },
];

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

export function apiVersionOf(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

/** `networking.istio.io/v1` → ['networking.istio.io', 'v1']; `v1` → ['', 'v1']. */
export function splitApiVersion(apiVersion: string): [group: string, version: string] {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? ['', apiVersion] : [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
}

/** The types served, looked up by URL parts or by apiVersion and kind. */
export class ResourceCatalog {
  readonly types: readonly ResourceType[];
  constructor(types: readonly ResourceType[]) {
    this.types = types;
  }

  byPlural(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.plural === plural && t.versions.includes(version));
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = splitApiVersion(apiVersion);
    return this.types.find((t) => t.group === group && t.kind === kind && t.versions.includes(version));
  }

  groups(): string[] {
    return [...new Set(this.types.map((t) => t.group).filter((g) => g !== ''))];
  }

  /** GET /api */
  coreVersions(serverAddress: string): object {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    };
  }

  /** GET /apis/<group>, and each entry of GET /apis. */
  group(name: string): object | undefined {
    const versions = [...new Set(this.types.filter((t) => t.group === name).flatMap((t) => t.versions))];
    if (versions.length === 0) return undefined;
    const list = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
    return { kind: 'APIGroup', apiVersion: 'v1', name, versions: list, preferredVersion: list[0] };
  }

  /** GET /apis */
  groupList(): object {
    const groups = this.groups().map((g) => {
      const { kind: _kind, apiVersion: _apiVersion, ...rest } = this.group(g) as Record<string, unknown>;
      return rest;
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }

  /** GET /api/v1 or /apis/<group>/<version>: the resources and their subresources. */
  resourceList(group: string, version: string): object | undefined {
    const types = this.types.filter((t) => t.group === group && t.versions.includes(version));
    if (types.length === 0) return undefined;
    const resources = types.flatMap((t) => {
      const main = {
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: VERBS,
        ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      };
      if (!t.status) return [main];
      const status = { name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind };
      return [main, { ...status, verbs: STATUS_VERBS }];
    });
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: apiVersionOf(group, version),
      resources,
    };
  }
}
