// API discovery: which version of a custom resource the server serves, if any. A group version that is
// not served is a 404; one that is served may still lack the resource (an older CRD version list).
import type { KubeConfig } from '@kubernetes/client-node';
import type { WatchedKind } from './kinds.js';
import { getJson, KubeRequestError } from './request.js';

interface ResourceList {
  resources?: { name?: unknown }[];
}

/** The first of `kind.versions` that serves `kind.plural`, or undefined; throws on other failures. */
export async function servedVersion(
  kc: KubeConfig,
  kind: WatchedKind,
  signal?: AbortSignal,
): Promise<string | undefined> {
  if (!kind.discover) return kind.versions[0];
  for (const version of kind.versions) {
    let list: ResourceList;
    try {
      list = (await getJson(kc, `/apis/${kind.group}/${version}`, {}, signal)) as ResourceList;
    } catch (e) {
      if (e instanceof KubeRequestError && e.statusCode === 404) continue;
      throw e;
    }
    if (list.resources?.some((r) => r.name === kind.plural)) return version;
  }
  return undefined;
}
