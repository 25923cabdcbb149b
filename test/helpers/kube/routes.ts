// URL → what a request is about: a discovery document, or a resource path and its Kubernetes verb
// (list and watch are both GET on a collection; `?watch=true` or `?watch=1` tells them apart).
import type { Target } from './handlers.js';
import { openApiGroupVersion, openApiRoot } from './openapi.js';
import type { ResourceCatalog } from './resources.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'discovery';

export type Route =
  | { kind: 'discovery'; body: object }
  | { kind: 'openapi-v2' }
  | { kind: 'resource'; verb: Exclude<Verb, 'discovery'>; target: Target }
  | { kind: 'none' };

export function route(catalog: ResourceCatalog, method: string, url: URL, serverAddress: string): Route {
  const parts = url.pathname.split('/').filter((p) => p !== '');
  if (method === 'GET' && url.pathname === '/openapi/v2') return { kind: 'openapi-v2' };
  if (method === 'GET') {
    const doc = discovery(catalog, parts, serverAddress);
    if (doc) return { kind: 'discovery', body: doc };
  }
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(1);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    rest = parts.slice(2);
  } else {
    return { kind: 'none' };
  }
  const version = rest[0]!;
  const segs = rest.slice(1);
  // `namespaces/<ns>/<plural>/...` is a namespaced path unless <plural> is not a namespaced type, as in
  // `/api/v1/namespaces/<name>/status`, which is the Namespace object's own subresource.
  const nsType =
    segs[0] === 'namespaces' && segs.length >= 3 ? catalog.byPlural(group, version, segs[2]!) : undefined;
  const [namespace, plural, name, subresource] =
    nsType?.namespaced === true
      ? [segs[1], segs[2]!, segs[3], segs[4]]
      : [undefined, segs[0]!, segs[1], segs[2]];
  const type = catalog.byPlural(group, version, plural);
  if (!type || (subresource !== undefined && (subresource !== 'status' || !type.status)))
    return { kind: 'none' };
  const target: Target = { type, version };
  if (namespace !== undefined) target.namespace = namespace;
  if (name !== undefined) target.name = name;
  if (subresource !== undefined) target.subresource = subresource;
  const verb = verbOf(method, name !== undefined, url.searchParams);
  return verb ? { kind: 'resource', verb, target } : { kind: 'none' };
}

function verbOf(
  method: string,
  named: boolean,
  query: URLSearchParams,
): Exclude<Verb, 'discovery'> | undefined {
  const watch = query.get('watch');
  if (method === 'GET') {
    if (named) return 'get';
    return watch === 'true' || watch === '1' ? 'watch' : 'list';
  }
  if (method === 'POST' && !named) return 'create';
  if (method === 'PUT' && named) return 'update';
  if (method === 'PATCH' && named) return 'patch';
  if (method === 'DELETE' && named) return 'delete';
  return undefined;
}

function discovery(catalog: ResourceCatalog, parts: string[], serverAddress: string): object | undefined {
  const path = parts.join('/');
  if (path === 'api') return catalog.coreVersions(serverAddress);
  if (path === 'api/v1') return catalog.resourceList('', 'v1');
  if (path === 'apis') return catalog.groupList();
  if (path === 'version')
    return { major: '1', minor: '30', gitVersion: 'v1.30.0-meshdns-test', platform: 'linux/amd64' };
  if (path === 'openapi/v3') return openApiRoot(catalog);
  if (parts[0] === 'openapi' && parts[1] === 'v3') return openApiGroupVersion(catalog, path);
  if (parts[0] === 'apis' && parts.length === 2) return catalog.group(parts[1]!);
  if (parts[0] === 'apis' && parts.length === 3) return catalog.resourceList(parts[1]!, parts[2]!);
  return undefined;
}
