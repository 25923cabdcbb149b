// Reads a NameTable straight off the bytes. protobufjs's generic path (decode, then toObject) builds
// each of the ~15,000 map entries twice; this reads each field once. Field numbers are Istio's nds.proto
// (test/unit/xds-wire.test.ts checks them against bytes written by hand); unknown fields are skipped.
import protobuf from 'protobufjs';

/** Tag = field number << 3 | wire type 2 (length-delimited). */
export const TABLE_TAG = (1 << 3) | 2;
export const KEY_TAG = (1 << 3) | 2;
export const VALUE_TAG = (2 << 3) | 2;
export const IPS_TAG = (1 << 3) | 2;
export const REGISTRY_TAG = (2 << 3) | 2;
export const SHORTNAME_TAG = (3 << 3) | 2;
export const NAMESPACE_TAG = (4 << 3) | 2;
export const ALT_HOSTS_TAG = (5 << 3) | 2;
export const EXTERNAL_NAME_TAG = (1001 << 3) | 2;
export const ORIGIN_TAG = (1002 << 3) | 2;
/** A bool: wire type 0 (varint). */
export const PER_NAME_WILDCARD_TAG = 1003 << 3;
export const PER_NAME_OF_TAG = (1004 << 3) | 2;

export interface WireNameInfo {
  ips: string[];
  registry: string;
  shortname: string;
  namespace: string;
  altHosts: string[];
  externalName: string;
  origin: string;
  perNameWildcard: boolean;
  perNameOf: string;
}

/** Host → info as on the wire, unchecked. Throws a RangeError on truncated bytes. */
export function readNameTable(bytes: Uint8Array): [string, WireNameInfo][] {
  const r = protobuf.Reader.create(bytes);
  const out: [string, WireNameInfo][] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === TABLE_TAG) out.push(readEntry(r, end(r)));
    else r.skipType(tag & 7);
  }
  return out;
}

/** The end of a length-delimited field; a length past the buffer is refused before anything is read. */
function end(r: protobuf.Reader): number {
  const length = r.uint32();
  if (length > r.len - r.pos) throw new RangeError(`field length ${length} runs past the message`);
  return r.pos + length;
}

function readEntry(r: protobuf.Reader, stop: number): [string, WireNameInfo] {
  let key = '';
  let info: WireNameInfo = emptyInfo();
  while (r.pos < stop) {
    const tag = r.uint32();
    if (tag === KEY_TAG) key = r.string();
    else if (tag === VALUE_TAG) info = readInfo(r, end(r));
    else r.skipType(tag & 7);
  }
  return [key, info];
}

function emptyInfo(): WireNameInfo {
  return {
    ips: [],
    registry: '',
    shortname: '',
    namespace: '',
    altHosts: [],
    externalName: '',
    origin: '',
    perNameWildcard: false,
    perNameOf: '',
  };
}

function readInfo(r: protobuf.Reader, stop: number): WireNameInfo {
  const info: WireNameInfo = emptyInfo();
  while (r.pos < stop) {
    const tag = r.uint32();
    if (tag === IPS_TAG) info.ips.push(r.string());
    else if (tag === REGISTRY_TAG) info.registry = r.string();
    else if (tag === SHORTNAME_TAG) info.shortname = r.string();
    else if (tag === NAMESPACE_TAG) info.namespace = r.string();
    else if (tag === ALT_HOSTS_TAG) info.altHosts.push(r.string());
    else if (tag === EXTERNAL_NAME_TAG) info.externalName = r.string();
    else if (tag === ORIGIN_TAG) info.origin = r.string();
    else if (tag === PER_NAME_WILDCARD_TAG) info.perNameWildcard = r.bool();
    else if (tag === PER_NAME_OF_TAG) info.perNameOf = r.string();
    else r.skipType(tag & 7);
  }
  return info;
}
