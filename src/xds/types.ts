// Our side of the contract: plain types the controller fills and the agent reads. The wire messages
// (protobufjs objects) stay inside this module.

/** Istio's registry names (NameInfo.registry). */
export type XdsRegistry = 'Kubernetes' | 'External';

export interface XdsNameInfo {
  ips: string[];
  registry: XdsRegistry;
  /** Kubernetes services only: the service's name and namespace. */
  shortname?: string;
  namespace?: string;
  altHosts: string[];
  /** meshdns only: a Kubernetes ExternalName service's target (lower case, no trailing dot). */
  externalName?: string;
  /** meshdns only: what gave the name, for explain and /debug. */
  origin?: string;
  /** meshdns only: a wildcard whose names each get a VIP of their own when asked (PerNameVips). */
  perNameWildcard?: boolean;
  /** meshdns only: a name asked under a per-name wildcard, with a VIP of its own: that wildcard. */
  perNameOf?: string;
}

/** Host (lower case, no trailing dot, as Istio sends it) → what it resolves to. */
export type XdsNameTable = ReadonlyMap<string, XdsNameInfo>;

export type XdsResolution = 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';

export interface XdsVipBackend {
  /** An IP address, or a name resolved through the upstream resolvers. */
  address: string;
  port: number;
}

/** One VIP:port of a ServiceEntry host (the fields of vip/'s VipRoute). */
export interface XdsVipRoute {
  vip: string;
  port: number;
  host: string;
  resolution: XdsResolution;
  endpoints: XdsVipBackend[];
  hostPort: number;
  origin: string;
}

/** One effective setting and where it came from (model's Setting, as it travels). */
export interface XdsSetting {
  value: boolean;
  origin: string;
  detail: string;
}

/** A workload's effective DNS settings (meshdns.v1.WorkloadConfig). */
export interface XdsWorkloadConfig {
  dnsCapture: XdsSetting;
  dnsAutoAllocate: XdsSetting;
}

/** A google.protobuf.Any: a resource as it travels, decoded only by whoever knows its type. */
export interface XdsResource {
  typeUrl: string;
  value: Uint8Array;
}

/** The agent's identity as sent in DiscoveryRequest.node (Envoy's Node; metadata as strings). */
export interface XdsNode {
  id: string;
  cluster: string;
  metadata: Record<string, string>;
}
