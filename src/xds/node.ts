// The agent's identity in DiscoveryRequest.node, in Istio's layout: id `sidecar~IP~POD.NS~NS.svc.DOMAIN`
// and the ISTIO_META_* variables as metadata without their prefix (NAMESPACE, DNS_CAPTURE, ...), so the
// controller reads an Istio agent's node the same way as ours.
import { DEFAULTS } from '../defaults.js';
import type { XdsNode } from './types.js';

export interface AgentIdentity {
  podName: string;
  namespace: string;
  /** The pod's IP, the second part of Istio's node id; empty when unknown. */
  ip?: string;
  clusterDomain?: string;
  /** ISTIO_META_* variables without the prefix, e.g. { DNS_CAPTURE: 'true' }. */
  metadata?: Record<string, string>;
}

/** What the controller needs of a node to compute its view. */
export interface NodeView {
  id: string;
  namespace: string;
  clusterDomain: string;
  /** DNS_CAPTURE / DNS_AUTO_ALLOCATE from the node; undefined when the node did not say. */
  dnsCapture: boolean | undefined;
  dnsAutoAllocate: boolean | undefined;
  metadata: Record<string, string>;
}

export function agentNode(identity: AgentIdentity): XdsNode {
  const domain = identity.clusterDomain ?? DEFAULTS.clusterDomain;
  const ns = identity.namespace;
  return {
    id: `sidecar~${identity.ip ?? ''}~${identity.podName}.${ns}~${ns}.svc.${domain}`,
    cluster: '',
    metadata: { ...identity.metadata, NAMESPACE: ns },
  };
}

export function nodeView(node: XdsNode): NodeView {
  const parts = node.id.split('~');
  // Istio's 4th part is the pod's DNS domain, NS.svc.DOMAIN.
  const dnsDomain = parts[3] ?? '';
  const podNamespace = parts[2]?.split('.')[1];
  const namespace = node.metadata.NAMESPACE || podNamespace || DEFAULTS.namespace;
  const prefix = `${namespace}.svc.`;
  const clusterDomain = dnsDomain.startsWith(prefix)
    ? dnsDomain.slice(prefix.length)
    : DEFAULTS.clusterDomain;
  return {
    id: node.id,
    namespace,
    clusterDomain: clusterDomain || DEFAULTS.clusterDomain,
    dnsCapture: stringBool(node.metadata.DNS_CAPTURE),
    dnsAutoAllocate: stringBool(node.metadata.DNS_AUTO_ALLOCATE),
    metadata: node.metadata,
  };
}

/** Istio's StringBool reads its value with Go's strconv.ParseBool. */
function stringBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (['1', 't', 'true'].includes(value.toLowerCase())) return true;
  if (['0', 'f', 'false'].includes(value.toLowerCase())) return false;
  return undefined;
}
