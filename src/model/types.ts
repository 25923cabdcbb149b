// Typed resources, validated at the edge (manifests or the Kubernetes API) and trusted inside.
// Host names are stored in our one internal form: lower-case, no trailing dot (as in manifests);
// the name table turns them into FQDN keys.

/** Where an object came from, for error messages and `meshdns table` output. */
export interface SourceRef {
  /** File path (manifests) or `k8s` (API). */
  file: string;
  /** Zero-based index of the YAML document within the file (JSON: 0). */
  doc: number;
  /** Zero-based index within `items` when the object came from a `List` (`kubectl get -o yaml` output). */
  item?: number;
}

/** `SourceRef.file` of every object read from the Kubernetes API. */
export const API_SOURCE_FILE = 'k8s';

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339, when present; VIP conflict resolution prefers the oldest entry. */
  creationTimestamp?: string;
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol: string;
  targetPort?: number | string;
}

export interface Service {
  kind: 'Service';
  meta: ObjectMeta;
  /** `spec.clusterIPs` (or `spec.clusterIP`), IPs only; empty for headless and ExternalName. */
  clusterIPs: string[];
  headless: boolean;
  /** Set for `spec.type: ExternalName`, lower-case without trailing dot. */
  externalName?: string;
  ports: ServicePort[];
  publishNotReadyAddresses: boolean;
  source: SourceRef;
}

export interface Endpoint {
  addresses: string[];
  ready: boolean;
  hostname?: string;
}

/** `EndpointSlice` or `Endpoints`, normalised: the endpoints of one Service. */
export interface EndpointSet {
  kind: 'EndpointSlice' | 'Endpoints';
  meta: ObjectMeta;
  /** The Service these endpoints belong to (`kubernetes.io/service-name`, or the `Endpoints` name). */
  serviceName: string;
  endpoints: Endpoint[];
  source: SourceRef;
}

export const RESOLUTIONS = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export interface ServiceEntryPort {
  number: number;
  protocol: string;
  name: string;
  targetPort?: number;
}

export interface WorkloadEntrySpec {
  address: string;
  ports: Record<string, number>;
  labels: Record<string, string>;
}

export interface ServiceEntry {
  kind: 'ServiceEntry';
  meta: ObjectMeta;
  /** Lower-case, no trailing dot; may start with `*.`. */
  hosts: string[];
  /** `spec.addresses` as written: IPs or CIDRs. */
  addresses: string[];
  ports: ServiceEntryPort[];
  location: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution: Resolution;
  endpoints: WorkloadEntrySpec[];
  /** `*` (default), `.` (own namespace) or namespace names. */
  exportTo: string[];
  /** `status.addresses` (`{value, host}`), the allocator's store in Kubernetes. */
  statusAddresses: { value: string; host: string }[];
  source: SourceRef;
  /**
   * Set only on the copies allocate/per-name.ts makes (issue 14 item 5): the entry with one host, a
   * concrete name asked under its per-name wildcard, which this names (`*.db.example.com`).
   */
  perNameOf?: string;
}

export interface Namespace {
  kind: 'Namespace';
  meta: ObjectMeta;
  source: SourceRef;
}

/** A Pod, Deployment or StatefulSet: only its namespace and its `proxy.istio.io/config`. */
export interface Workload {
  kind: 'Pod' | 'Deployment' | 'StatefulSet';
  meta: ObjectMeta;
  /** The raw `proxy.istio.io/config` annotation (pod template's for Deployment/StatefulSet). */
  proxyConfig?: string;
  /** `proxyMetadata` of that annotation, parsed and checked (string values only, as in Istio). */
  proxyMetadata?: Record<string, string>;
  /** Set when the annotation could not be read: why. The workload then uses the mesh-wide values. */
  proxyConfigError?: string;
  source: SourceRef;
}

/** MeshConfig (`meshconfig.yaml`, ConfigMap `istio` key `mesh`) or Kyma's `Istio` CR. */
export interface MeshSettings {
  kind: 'MeshConfig' | 'KymaIstio';
  /** `defaultConfig.proxyMetadata`. */
  proxyMetadata: Record<string, string>;
  /** Kyma: `spec.config.enableDNSProxying`. */
  enableDNSProxying?: boolean;
  source: SourceRef;
}

export type Resource = Service | EndpointSet | ServiceEntry | Namespace | Workload | MeshSettings;

/** Everything known at one moment: an immutable snapshot, rebuilt and swapped on change. */
export interface Resources {
  services: Service[];
  endpoints: EndpointSet[];
  serviceEntries: ServiceEntry[];
  namespaces: Namespace[];
  workloads: Workload[];
  mesh: MeshSettings[];
}

export function emptyResources(): Resources {
  return { services: [], endpoints: [], serviceEntries: [], namespaces: [], workloads: [], mesh: [] };
}
