// DiscoveryRequest / DiscoveryResponse as plain types, and the gRPC method that carries them. Only the
// fields of state-of-the-world ADS that meshdns uses are read; the rest decode as unknown and are skipped.
import type { MethodDefinition } from '@grpc/grpc-js';
import { xdsMessages } from './proto.js';
import type { XdsNode, XdsResource } from './types.js';

export interface DiscoveryRequest {
  versionInfo: string;
  /** Sent on a stream's first request; later requests may omit it. */
  node?: XdsNode;
  typeUrl: string;
  /** Empty: a subscription; else the nonce of the response this request ACKs or NACKs. */
  responseNonce: string;
  /** Set on a NACK (google.rpc.Status). */
  errorDetail?: { code: number; message: string };
}

export interface DiscoveryResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: XdsResource[];
  /** ControlPlane.identifier: which controller replica sent it. */
  controlPlane?: string;
  /** Sending only: the whole response already encoded, sent as these very bytes (shared by streams). */
  message?: Buffer;
}

/** gRPC INVALID_ARGUMENT, the code Envoy puts in a NACK's error_detail. */
export const NACK_CODE = 3;

export const ADS_METHOD_PATH =
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

interface WireStruct {
  fields?: Record<string, { stringValue?: string; boolValue?: boolean; numberValue?: number }>;
}

export interface WireNode {
  id?: string;
  cluster?: string;
  metadata?: WireStruct;
}

interface WireRequest {
  versionInfo?: string;
  node?: WireNode;
  typeUrl?: string;
  responseNonce?: string;
  errorDetail?: { code?: number; message?: string };
}

interface WireResponse {
  versionInfo?: string;
  typeUrl?: string;
  nonce?: string;
  resources?: { typeUrl?: string; value?: Uint8Array }[];
  controlPlane?: { identifier?: string };
}

export function encodeRequest(req: DiscoveryRequest): Buffer {
  const { discoveryRequest: type } = xdsMessages();
  const wire: WireRequest = {
    versionInfo: req.versionInfo,
    typeUrl: req.typeUrl,
    responseNonce: req.responseNonce,
  };
  if (req.node) wire.node = nodeToWire(req.node);
  if (req.errorDetail) wire.errorDetail = req.errorDetail;
  return Buffer.from(type.encode(type.fromObject(wire)).finish());
}

export function decodeRequest(bytes: Buffer): DiscoveryRequest {
  const { discoveryRequest: type } = xdsMessages();
  const wire = type.toObject(type.decode(bytes)) as WireRequest;
  const req: DiscoveryRequest = {
    versionInfo: wire.versionInfo ?? '',
    typeUrl: wire.typeUrl ?? '',
    responseNonce: wire.responseNonce ?? '',
  };
  if (wire.node) req.node = nodeFromWire(wire.node);
  if (wire.errorDetail)
    req.errorDetail = { code: wire.errorDetail.code ?? 0, message: wire.errorDetail.message ?? '' };
  return req;
}

export function encodeResponse(res: DiscoveryResponse): Buffer {
  if (res.message) return res.message;
  const { discoveryResponse: type } = xdsMessages();
  const wire: WireResponse = {
    versionInfo: res.versionInfo,
    typeUrl: res.typeUrl,
    nonce: res.nonce,
    resources: res.resources.map((r) => ({ typeUrl: r.typeUrl, value: r.value })),
  };
  if (res.controlPlane) wire.controlPlane = { identifier: res.controlPlane };
  return Buffer.from(type.encode(type.fromObject(wire)).finish());
}

export function decodeResponse(bytes: Buffer): DiscoveryResponse {
  const { discoveryResponse: type } = xdsMessages();
  const wire = type.toObject(type.decode(bytes), { arrays: true }) as WireResponse;
  const res: DiscoveryResponse = {
    versionInfo: wire.versionInfo ?? '',
    typeUrl: wire.typeUrl ?? '',
    nonce: wire.nonce ?? '',
    resources: (wire.resources ?? []).map((r) => ({
      typeUrl: r.typeUrl ?? '',
      value: r.value ?? new Uint8Array(),
    })),
  };
  if (wire.controlPlane?.identifier) res.controlPlane = wire.controlPlane.identifier;
  return res;
}

/** Envoy's Node with the metadata as a Struct of strings (what Istio's agent sends). */
export function nodeToWire(node: XdsNode): WireNode {
  const fields: WireStruct['fields'] = {};
  for (const [k, v] of Object.entries(node.metadata)) fields[k] = { stringValue: v };
  return { id: node.id, cluster: node.cluster, metadata: { fields } };
}

export function nodeFromWire(wire: WireNode): XdsNode {
  return { id: wire.id ?? '', cluster: wire.cluster ?? '', metadata: metadata(wire.metadata) };
}

/** Metadata values as strings: Istio's agent sends its ISTIO_META_* as strings; nested values are skipped. */
function metadata(struct: WireStruct | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(struct?.fields ?? {})) {
    if (v.stringValue !== undefined) out[k] = v.stringValue;
    else if (v.boolValue !== undefined) out[k] = String(v.boolValue);
    else if (v.numberValue !== undefined) out[k] = String(v.numberValue);
  }
  return out;
}

/** The ADS method for grpc-js, with our codecs: messages never pass through a generic loader. */
export const ADS_METHOD: MethodDefinition<DiscoveryRequest, DiscoveryResponse> = {
  path: ADS_METHOD_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: encodeRequest,
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: decodeResponse,
};
