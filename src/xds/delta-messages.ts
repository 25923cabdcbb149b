// DeltaDiscoveryRequest / DeltaDiscoveryResponse (Envoy's incremental ADS) as plain types, and the gRPC
// method that carries them. The response is written and read field by field: at the first sync it holds
// one Resource per host (15,000 and more), which protobufjs's generic fromObject/toObject would build twice.
import type { MethodDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { nodeFromWire, nodeToWire, type WireNode } from './messages.js';
import { xdsMessages } from './proto.js';
import type { XdsNode, XdsResource } from './types.js';

export interface DeltaDiscoveryRequest {
  /** Sent on a stream's first request; later requests may omit it. */
  node?: XdsNode;
  typeUrl: string;
  /** On a type's first request: empty, or "*", subscribes every resource of the type (wildcard). */
  resourceNamesSubscribe: string[];
  resourceNamesUnsubscribe: string[];
  /** On a type's first request after a reconnect: the resources the client holds, name → version. */
  initialResourceVersions: Record<string, string>;
  /** Empty on a subscription; else the nonce of the response this request ACKs or NACKs. */
  responseNonce: string;
  /** Set on a NACK (google.rpc.Status). */
  errorDetail?: { code: number; message: string };
}

export interface DeltaResource {
  name: string;
  version: string;
  resource: XdsResource;
  /** The same as resourceField() makes, when already made. */
  wire?: Uint8Array;
}

export interface DeltaDiscoveryResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: DeltaResource[];
  removedResources: string[];
  /** ControlPlane.identifier: which controller replica sent it. */
  controlPlane?: string;
  /** Sending only: more resources, already written as fields (resourceField), after `resources`. */
  encoded?: Uint8Array | readonly Uint8Array[];
  /**
   * Sending only: the whole response already encoded (wholeDeltaResponse), sent as these very bytes; the
   * other fields describe it. Every stream that sends the same response shares one Buffer.
   */
  message?: Buffer;
}

export const DELTA_METHOD_PATH =
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

interface WireRequest {
  node?: WireNode;
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code?: number; message?: string };
}

export function encodeDeltaRequest(req: DeltaDiscoveryRequest): Buffer {
  const { deltaDiscoveryRequest: type } = xdsMessages();
  const wire: WireRequest = {
    typeUrl: req.typeUrl,
    resourceNamesSubscribe: req.resourceNamesSubscribe,
    resourceNamesUnsubscribe: req.resourceNamesUnsubscribe,
    initialResourceVersions: req.initialResourceVersions,
    responseNonce: req.responseNonce,
  };
  if (req.node) wire.node = nodeToWire(req.node);
  if (req.errorDetail) wire.errorDetail = req.errorDetail;
  return Buffer.from(type.encode(type.fromObject(wire)).finish());
}

export function decodeDeltaRequest(bytes: Buffer): DeltaDiscoveryRequest {
  const { deltaDiscoveryRequest: type } = xdsMessages();
  const wire = type.toObject(type.decode(bytes), { arrays: true, objects: true }) as WireRequest;
  const req: DeltaDiscoveryRequest = {
    typeUrl: wire.typeUrl ?? '',
    resourceNamesSubscribe: wire.resourceNamesSubscribe ?? [],
    resourceNamesUnsubscribe: wire.resourceNamesUnsubscribe ?? [],
    initialResourceVersions: wire.initialResourceVersions ?? {},
    responseNonce: wire.responseNonce ?? '',
  };
  if (wire.node) req.node = nodeFromWire(wire.node);
  if (wire.errorDetail)
    req.errorDetail = { code: wire.errorDetail.code ?? 0, message: wire.errorDetail.message ?? '' };
  return req;
}

// Field tags of envoy.service.discovery.v3 (discovery.proto): number << 3 | wire type 2.
const tag = (field: number) => (field << 3) | 2;
const RES_SYSTEM_VERSION = tag(1);
const RES_RESOURCES = tag(2);
const RES_TYPE_URL = tag(4);
const RES_NONCE = tag(5);
const RES_REMOVED = tag(6);
const RES_CONTROL_PLANE = tag(7);
const CONTROL_PLANE_IDENTIFIER = tag(1);
const RESOURCE_VERSION = tag(1);
const RESOURCE_ANY = tag(2);
const RESOURCE_NAME = tag(3);
const ANY_TYPE_URL = tag(1);
const ANY_VALUE = tag(2);

/**
 * The response as bytes. Resources come from `resources` (each as its `wire` bytes when given) and from
 * `encoded`, fields already written (resourceFields): a resource encoded once serves every stream.
 */
export function encodeDeltaResponse(res: DeltaDiscoveryResponse): Buffer {
  if (res.message) return res.message;
  const head = protobuf.Writer.create();
  if (res.systemVersionInfo) head.uint32(RES_SYSTEM_VERSION).string(res.systemVersionInfo);
  const parts: Uint8Array[] = [head.finish()];
  for (const r of res.resources) parts.push(r.wire ?? resourceField(r));
  if (res.encoded instanceof Uint8Array) parts.push(res.encoded);
  else if (res.encoded) for (const part of res.encoded) parts.push(part);
  const w = protobuf.Writer.create();
  if (res.typeUrl) w.uint32(RES_TYPE_URL).string(res.typeUrl);
  if (res.nonce) w.uint32(RES_NONCE).string(res.nonce);
  for (const name of res.removedResources) w.uint32(RES_REMOVED).string(name);
  if (res.controlPlane)
    w.uint32(RES_CONTROL_PLANE).fork().uint32(CONTROL_PLANE_IDENTIFIER).string(res.controlPlane).ldelim();
  parts.push(w.finish());
  return Buffer.concat(parts);
}

/** One Resource as field 2 of a DeltaDiscoveryResponse: tag, length and message. */
export function resourceField(r: DeltaResource): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(RES_RESOURCES).fork();
  if (r.version) w.uint32(RESOURCE_VERSION).string(r.version);
  w.uint32(RESOURCE_ANY).fork();
  w.uint32(ANY_TYPE_URL).string(r.resource.typeUrl);
  if (r.resource.value.length > 0) w.uint32(ANY_VALUE).bytes(r.resource.value);
  w.ldelim();
  w.uint32(RESOURCE_NAME).string(r.name);
  w.ldelim();
  return w.finish();
}

/** Reads a response; throws a RangeError on truncated bytes. Unknown fields are skipped. */
export function decodeDeltaResponse(bytes: Buffer): DeltaDiscoveryResponse {
  const r = protobuf.Reader.create(bytes);
  const res: DeltaDiscoveryResponse = {
    systemVersionInfo: '',
    typeUrl: '',
    nonce: '',
    resources: [],
    removedResources: [],
  };
  while (r.pos < r.len) {
    const t = r.uint32();
    if (t === RES_SYSTEM_VERSION) res.systemVersionInfo = r.string();
    else if (t === RES_RESOURCES) res.resources.push(readResource(r, end(r)));
    else if (t === RES_TYPE_URL) res.typeUrl = r.string();
    else if (t === RES_NONCE) res.nonce = r.string();
    else if (t === RES_REMOVED) res.removedResources.push(r.string());
    else if (t === RES_CONTROL_PLANE) {
      const stop = end(r);
      while (r.pos < stop) {
        const f = r.uint32();
        if (f === CONTROL_PLANE_IDENTIFIER) res.controlPlane = r.string();
        else r.skipType(f & 7);
      }
    } else r.skipType(t & 7);
  }
  return res;
}

function end(r: protobuf.Reader): number {
  const length = r.uint32();
  if (length > r.len - r.pos) throw new RangeError(`field length ${length} runs past the message`);
  return r.pos + length;
}

function readResource(r: protobuf.Reader, stop: number): DeltaResource {
  const out: DeltaResource = { name: '', version: '', resource: { typeUrl: '', value: new Uint8Array() } };
  while (r.pos < stop) {
    const t = r.uint32();
    if (t === RESOURCE_NAME) out.name = r.string();
    else if (t === RESOURCE_VERSION) out.version = r.string();
    else if (t === RESOURCE_ANY) {
      const anyStop = end(r);
      while (r.pos < anyStop) {
        const f = r.uint32();
        if (f === ANY_TYPE_URL) out.resource.typeUrl = r.string();
        else if (f === ANY_VALUE) out.resource.value = r.bytes();
        else r.skipType(f & 7);
      }
    } else r.skipType(t & 7);
  }
  return out;
}

/** The delta ADS method for grpc-js, with our codecs. */
export const DELTA_METHOD: MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = {
  path: DELTA_METHOD_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: encodeDeltaRequest,
  requestDeserialize: decodeDeltaRequest,
  responseSerialize: encodeDeltaResponse,
  responseDeserialize: decodeDeltaResponse,
};
