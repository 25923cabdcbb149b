// What the controller reads from the Kubernetes API (issue 10 item 1), and where.
//
// Pods, Deployments and StatefulSets are not watched: a workload's own config (the
// `proxy.istio.io/config` annotation) reaches the controller in its agent's xDS node metadata
// (`ISTIO_META_DNS_CAPTURE`, `ISTIO_META_DNS_AUTO_ALLOCATE`, set by the sidecar injector), so the
// controller never lists every pod of the cluster.
import { KYMA_ISTIO_NAME, MESH_CONFIGMAP } from '../../model/index.js';

export interface WatchedKind {
  /** As in messages and keys: `ServiceEntry`. */
  kind: string;
  /** API group, '' for the core group. */
  group: string;
  /** Versions we read, preferred first; discovery picks the first one the server serves. */
  versions: readonly string[];
  plural: string;
  /** Core and discovery.k8s.io kinds are always served; the others are asked of discovery first. */
  discover: boolean;
  /** Only this namespace (the `istio` ConfigMap lives in Istio's). */
  namespace?: string;
  /** Only objects of this name. */
  name?: string;
}

export function watchedKinds(istioNamespace: string): WatchedKind[] {
  return [
    { kind: 'Service', group: '', versions: ['v1'], plural: 'services', discover: false },
    {
      kind: 'EndpointSlice',
      group: 'discovery.k8s.io',
      versions: ['v1'],
      plural: 'endpointslices',
      discover: false,
    },
    { kind: 'Namespace', group: '', versions: ['v1'], plural: 'namespaces', discover: false },
    {
      kind: 'ConfigMap',
      group: '',
      versions: ['v1'],
      plural: 'configmaps',
      discover: false,
      namespace: istioNamespace,
      name: MESH_CONFIGMAP,
    },
    // v1 since Istio 1.22; older control planes serve only v1beta1 (same schema for what we read).
    {
      kind: 'ServiceEntry',
      group: 'networking.istio.io',
      versions: ['v1', 'v1beta1'],
      plural: 'serviceentries',
      discover: true,
    },
    // Kyma's mesh switch: a cluster without Kyma has no such CRD, which is normal.
    {
      kind: 'Istio',
      group: 'operator.kyma-project.io',
      versions: ['v1alpha2'],
      plural: 'istios',
      discover: true,
      name: KYMA_ISTIO_NAME,
    },
  ];
}

export function apiVersionOf(kind: WatchedKind, version: string): string {
  return kind.group === '' ? version : `${kind.group}/${version}`;
}

/** `/api/v1/services`, `/api/v1/namespaces/istio-system/configmaps`, `/apis/<group>/<version>/<plural>`. */
export function collectionPath(kind: WatchedKind, version: string): string {
  const base = kind.group === '' ? `/api/${version}` : `/apis/${kind.group}/${version}`;
  const ns = kind.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(kind.namespace)}`;
  return `${base}${ns}/${kind.plural}`;
}
