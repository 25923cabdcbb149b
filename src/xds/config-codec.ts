// XdsWorkloadConfig <-> meshdns.v1.WorkloadConfig bytes: the workload's effective DNS settings.
import { MeshdnsError } from '../errors.js';
import { WORKLOAD_CONFIG_TYPE_URL, xdsMessages } from './proto.js';
import type { XdsResource, XdsSetting, XdsWorkloadConfig } from './types.js';

export function encodeWorkloadConfig(config: XdsWorkloadConfig): Uint8Array {
  const { workloadConfig } = xdsMessages();
  return workloadConfig.encode(workloadConfig.fromObject(config)).finish();
}

export function decodeWorkloadConfig(bytes: Uint8Array): XdsWorkloadConfig {
  const { workloadConfig } = xdsMessages();
  let message: { dnsCapture?: Partial<XdsSetting>; dnsAutoAllocate?: Partial<XdsSetting> };
  try {
    message = workloadConfig.toObject(workloadConfig.decode(bytes), { defaults: true }) as typeof message;
  } catch (err) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `WorkloadConfig: not a valid message: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { dnsCapture: setting(message.dnsCapture), dnsAutoAllocate: setting(message.dnsAutoAllocate) };
}

export function workloadConfigResource(config: XdsWorkloadConfig): XdsResource {
  return { typeUrl: WORKLOAD_CONFIG_TYPE_URL, value: encodeWorkloadConfig(config) };
}

/** The settings in a WorkloadConfig response: exactly one resource. */
export function workloadConfigFromResources(resources: readonly XdsResource[]): XdsWorkloadConfig {
  const [resource] = resources;
  if (resources.length !== 1 || resource === undefined) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `WorkloadConfig: ${resources.length} resources, expected one`,
    );
  }
  if (resource.typeUrl !== WORKLOAD_CONFIG_TYPE_URL) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `WorkloadConfig: resource of type ${resource.typeUrl}`);
  }
  return decodeWorkloadConfig(resource.value);
}

/** A setting the controller left out is off, as an unset Istio setting is. */
function setting(wire: Partial<XdsSetting> | undefined): XdsSetting {
  return { value: wire?.value ?? false, origin: wire?.origin || 'default', detail: wire?.detail ?? '' };
}
