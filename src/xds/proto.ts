// Loads the contract in proto/ once. The folder is found by walking up from this module, so the same code
// works from dist/src/xds (build, packed install) and from src/xds (a TypeScript runner).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { MeshdnsError } from '../errors.js';

/**
 * Every file, imports before importers. They are parsed one by one instead of through protobufjs's
 * loader, which would swap in its bundled google/protobuf files (whose Any keeps snake_case field names
 * while everything else is camelCase): the messages used are exactly the ones in proto/.
 */
const FILES = [
  'google/protobuf/any.proto',
  'google/protobuf/struct.proto',
  'google/rpc/status.proto',
  'envoy/config/core/v3/base.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/discovery/v3/ads.proto',
  'istio/networking/nds/v1/nds.proto',
  'meshdns/v1/config.proto',
  'meshdns/v1/vip.proto',
  'meshdns/v1/per-name.proto',
];
/** dist/src/xds is three levels below the package root, src/xds two; a few more cover odd layouts. */
const MAX_LEVELS_UP = 5;

export const NAME_TABLE_TYPE_URL = 'type.googleapis.com/istio.networking.nds.v1.NameTable';
export const VIP_ROUTES_TYPE_URL = 'type.googleapis.com/meshdns.v1.VipRoutes';
export const WORKLOAD_CONFIG_TYPE_URL = 'type.googleapis.com/meshdns.v1.WorkloadConfig';

/** The folder holding the .proto files of this installation. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i <= MAX_LEVELS_UP; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, FILES.at(-1)!))) return candidate;
    dir = dirname(dir);
  }
  throw new MeshdnsError(
    'MESHDNS_XDS_PROTO',
    `proto/${FILES.at(-1)} not found above ${fileURLToPath(import.meta.url)}: the package was installed without its proto/ folder`,
  );
}

export interface XdsMessages {
  root: protobuf.Root;
  discoveryRequest: protobuf.Type;
  discoveryResponse: protobuf.Type;
  deltaDiscoveryRequest: protobuf.Type;
  deltaDiscoveryResponse: protobuf.Type;
  nameTable: protobuf.Type;
  vipRoutes: protobuf.Type;
  workloadConfig: protobuf.Type;
  perNameAsk: protobuf.Type;
  perNameReply: protobuf.Type;
  perNameTouch: protobuf.Type;
  perNameTouched: protobuf.Type;
}

let loaded: XdsMessages | undefined;

/** The message types, loaded on first use (an agent that never speaks xDS never reads the files). */
export function xdsMessages(): XdsMessages {
  if (loaded) return loaded;
  const dir = protoDir();
  const root = new protobuf.Root();
  for (const file of FILES) {
    try {
      protobuf.parse(readFileSync(join(dir, file), 'utf8'), root);
    } catch (err) {
      throw new MeshdnsError('MESHDNS_XDS_PROTO', `${join(dir, file)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  root.resolveAll();
  loaded = {
    root,
    discoveryRequest: root.lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
    discoveryResponse: root.lookupType('envoy.service.discovery.v3.DiscoveryResponse'),
    deltaDiscoveryRequest: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
    deltaDiscoveryResponse: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
    nameTable: root.lookupType('istio.networking.nds.v1.NameTable'),
    vipRoutes: root.lookupType('meshdns.v1.VipRoutes'),
    workloadConfig: root.lookupType('meshdns.v1.WorkloadConfig'),
    perNameAsk: root.lookupType('meshdns.v1.PerNameAsk'),
    perNameReply: root.lookupType('meshdns.v1.PerNameReply'),
    perNameTouch: root.lookupType('meshdns.v1.PerNameTouch'),
    perNameTouched: root.lookupType('meshdns.v1.PerNameTouched'),
  };
  return loaded;
}
