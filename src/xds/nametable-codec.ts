// XdsNameTable <-> istio.networking.nds.v1.NameTable bytes. Decoding is the agent's edge (STYLE practice 4):
// every host and IP is checked here, and a bad table is refused whole so the agent NACKs it.
import { isIP } from 'node:net';
import protobuf from 'protobufjs';
import { MeshdnsError } from '../errors.js';
import {
  ALT_HOSTS_TAG,
  EXTERNAL_NAME_TAG,
  IPS_TAG,
  KEY_TAG,
  NAMESPACE_TAG,
  ORIGIN_TAG,
  PER_NAME_OF_TAG,
  PER_NAME_WILDCARD_TAG,
  REGISTRY_TAG,
  readNameTable,
  SHORTNAME_TAG,
  TABLE_TAG,
  VALUE_TAG,
  type WireNameInfo,
} from './nametable-reader.js';
import { NAME_TABLE_TYPE_URL, xdsMessages } from './proto.js';
import type { XdsNameInfo, XdsNameTable, XdsRegistry, XdsResource } from './types.js';

/** RFC 1035 §2.3.4: 255 octets on the wire, 253 characters in text form without the trailing dot. */
const MAX_HOST_LENGTH = 253;

export function encodeNameTable(table: XdsNameTable): Uint8Array {
  const { nameTable } = xdsMessages();
  const wire: Record<string, Record<string, unknown>> = {};
  for (const [host, info] of table) {
    wire[host] = {
      ips: info.ips,
      registry: info.registry,
      shortname: info.shortname ?? '',
      namespace: info.namespace ?? '',
      altHosts: info.altHosts,
      meshdnsExternalName: info.externalName ?? '',
      meshdnsOrigin: info.origin ?? '',
      meshdnsPerNameWildcard: info.perNameWildcard ?? false,
      meshdnsPerNameOf: info.perNameOf ?? '',
    };
  }
  return nameTable.encode(nameTable.fromObject({ table: wire })).finish();
}

/**
 * One host as a whole NameTable message of one entry. Protobuf messages concatenate into their merge,
 * so a table is the concatenation of its entries: the controller keeps each host's bytes and re-encodes
 * only the hosts an edit changed (nameTableOfEntries).
 */
export function encodeNameEntry(host: string, info: XdsNameInfo): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(TABLE_TAG).fork();
  w.uint32(KEY_TAG).string(host);
  w.uint32(VALUE_TAG).fork();
  for (const ip of info.ips) w.uint32(IPS_TAG).string(ip);
  w.uint32(REGISTRY_TAG).string(info.registry);
  if (info.shortname) w.uint32(SHORTNAME_TAG).string(info.shortname);
  if (info.namespace) w.uint32(NAMESPACE_TAG).string(info.namespace);
  for (const alt of info.altHosts) w.uint32(ALT_HOSTS_TAG).string(alt);
  if (info.externalName) w.uint32(EXTERNAL_NAME_TAG).string(info.externalName);
  if (info.origin) w.uint32(ORIGIN_TAG).string(info.origin);
  if (info.perNameWildcard) w.uint32(PER_NAME_WILDCARD_TAG).bool(true);
  if (info.perNameOf) w.uint32(PER_NAME_OF_TAG).string(info.perNameOf);
  w.ldelim();
  w.ldelim();
  return w.finish();
}

/** A NameTable resource from the bytes of its entries (encodeNameEntry). */
export function nameTableOfEntries(entries: Iterable<Uint8Array>): XdsResource {
  return { typeUrl: NAME_TABLE_TYPE_URL, value: Buffer.concat([...entries]) };
}

export function decodeNameTable(bytes: Uint8Array): XdsNameTable {
  let entries: [string, WireNameInfo][];
  try {
    entries = readNameTable(bytes);
  } catch (err) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `NameTable: not a valid message: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const out = new Map<string, XdsNameInfo>();
  for (const [key, info] of entries) {
    const host = hostKey(key);
    out.set(host, nameInfo(host, info));
  }
  return out;
}

export function nameTableResource(table: XdsNameTable): XdsResource {
  return { typeUrl: NAME_TABLE_TYPE_URL, value: encodeNameTable(table) };
}

/**
 * The table in a NameTable response. Istio sends exactly one resource; none means an empty table (a
 * workload that may resolve nothing locally).
 */
export function nameTableFromResources(resources: readonly XdsResource[]): XdsNameTable {
  if (resources.length === 0) return new Map();
  if (resources.length > 1) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `NameTable: ${resources.length} resources, expected one`);
  }
  const [resource] = resources as [XdsResource];
  if (resource.typeUrl !== NAME_TABLE_TYPE_URL) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `NameTable: resource of type ${resource.typeUrl}`);
  }
  return decodeNameTable(resource.value);
}

/** One name form inside (STYLE): lower case, no trailing dot, as Istio keys its table. */
function hostKey(key: string): string {
  const host = key.toLowerCase().replace(/\.$/, '');
  if (!isHostName(host)) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `NameTable: host ${JSON.stringify(key)} is not a host name`,
    );
  }
  return host;
}

function isHostName(name: string): boolean {
  const host = name.replace(/\.$/, '');
  return host !== '' && host.length <= MAX_HOST_LENGTH && !/\s/.test(host);
}

function nameInfo(host: string, wire: WireNameInfo): XdsNameInfo {
  const ips = wire.ips;
  ips.forEach((ip, i) => {
    if (isIP(ip) === 0) {
      throw new MeshdnsError(
        'MESHDNS_XDS_INVALID',
        `NameTable host ${host}: ips[${i}] ${JSON.stringify(ip)} is not an IP address`,
      );
    }
  });
  const info: XdsNameInfo = { ips, registry: registry(host, wire.registry), altHosts: wire.altHosts };
  if (wire.shortname) info.shortname = wire.shortname;
  if (wire.namespace) info.namespace = wire.namespace;
  if (wire.externalName) {
    if (ips.length > 0 || !isHostName(wire.externalName)) {
      throw new MeshdnsError(
        'MESHDNS_XDS_INVALID',
        `NameTable host ${host}: externalName ${JSON.stringify(wire.externalName)} ${ips.length > 0 ? 'given with ips' : 'is not a host name'}`,
      );
    }
    info.externalName = wire.externalName.toLowerCase().replace(/\.$/, '');
  }
  if (wire.origin) info.origin = wire.origin;
  if (wire.perNameWildcard) {
    if (!host.startsWith('*.')) {
      throw new MeshdnsError(
        'MESHDNS_XDS_INVALID',
        `NameTable host ${host}: marked a per-name wildcard, but is no wildcard`,
      );
    }
    info.perNameWildcard = true;
  }
  if (wire.perNameOf) {
    const of = wire.perNameOf.toLowerCase();
    if (!of.startsWith('*.') || !host.endsWith(of.slice(1)) || host.startsWith('*.')) {
      throw new MeshdnsError(
        'MESHDNS_XDS_INVALID',
        `NameTable host ${host}: per-name host under ${JSON.stringify(wire.perNameOf)}, which is no wildcard above it`,
      );
    }
    info.perNameOf = of;
  }
  return info;
}

function registry(host: string, value: string): XdsRegistry {
  if (value === 'Kubernetes' || value === 'External') return value;
  throw new MeshdnsError(
    'MESHDNS_XDS_INVALID',
    `NameTable host ${host}: registry ${JSON.stringify(value)} is neither "Kubernetes" nor "External"`,
  );
}
