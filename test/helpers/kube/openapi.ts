// The OpenAPI v3 documents kubectl reads before `apply`: the root index (`/openapi/v3`) and one document
// per group-version. They carry no object schemas, only what tells kubectl the server validates fields
// itself: each resource's PATCH operation, tagged with its group-version-kind, takes `fieldValidation`.
// (kubectl then sends `fieldValidation=Strict`, which this server accepts and does not enforce.)
import { apiVersionOf, type ResourceCatalog } from './resources.js';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

function groupVersions(catalog: ResourceCatalog): [string, string][] {
  const seen = new Map<string, [string, string]>();
  for (const t of catalog.types) for (const v of t.versions) seen.set(gvPath(t.group, v), [t.group, v]);
  return [...seen.values()];
}

/** GET /openapi/v3 */
export function openApiRoot(catalog: ResourceCatalog): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [group, version] of groupVersions(catalog)) {
    const p = gvPath(group, version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}` };
  }
  return { paths };
}

/** GET /openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version>; undefined if not served. */
export function openApiGroupVersion(catalog: ResourceCatalog, path: string): object | undefined {
  const gv = groupVersions(catalog).find(([g, v]) => `openapi/v3/${gvPath(g, v)}` === path);
  if (!gv) return undefined;
  const [group, version] = gv;
  const paths: Record<string, object> = {};
  for (const t of catalog.types.filter((x) => x.group === group && x.versions.includes(version))) {
    const base = `/${gvPath(group, version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}/{name}`;
    paths[base] = {
      patch: {
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group, version, kind: t.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: apiVersionOf(group, version) },
    paths,
    components: { schemas: {} },
  };
}
