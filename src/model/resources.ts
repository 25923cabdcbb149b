// Grouping resources into a snapshot, and telling the same object apart from a duplicate.
import { MeshdnsError } from '../errors.js';
import { formatSource } from './issues.js';
import { emptyResources, type Resource, type Resources, type SourceRef } from './types.js';

/** One object found in a manifest, valid or not. */
export interface ManifestObject {
  source: SourceRef;
  /** `Service default/db`: how errors name it. */
  label: string;
  /** `Kind/namespace/name`, when known. */
  key?: string;
  resource?: Resource;
  errors: MeshdnsError[];
}

/** Buckets resources by kind, keeping their order. */
export function toResources(list: Iterable<Resource>): Resources {
  const out = emptyResources();
  for (const r of list) {
    switch (r.kind) {
      case 'Service':
        out.services.push(r);
        break;
      case 'EndpointSlice':
      case 'Endpoints':
        out.endpoints.push(r);
        break;
      case 'ServiceEntry':
        out.serviceEntries.push(r);
        break;
      case 'Namespace':
        out.namespaces.push(r);
        break;
      case 'MeshConfig':
      case 'KymaIstio':
        out.mesh.push(r);
        break;
      default:
        out.workloads.push(r);
    }
  }
  return out;
}

/**
 * The valid resources of `objects` in order. The API server holds one object per kind/namespace/name,
 * so a second copy in the folder is a mistake: the first one wins and the other is reported.
 */
export function collectResources(
  objects: Iterable<ManifestObject>,
  /** The same map across calls collects a long list in slices (the manifests source yields between them). */
  seen = new Map<string, SourceRef>(),
): {
  resources: Resource[];
  errors: MeshdnsError[];
} {
  const resources: Resource[] = [];
  const errors: MeshdnsError[] = [];
  for (const o of objects) {
    if (!o.resource) continue;
    const first = o.key ? seen.get(o.key) : undefined;
    if (first) {
      const where = `${formatSource(o.source)} ${o.label}`;
      errors.push(
        new MeshdnsError('MESHDNS_MANIFEST_INVALID', `${where}: duplicates ${formatSource(first)}, ignored`),
      );
      continue;
    }
    if (o.key) seen.set(o.key, o.source);
    resources.push(o.resource);
  }
  return { resources, errors };
}
