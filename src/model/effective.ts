// A workload's effective DNS settings and where each came from (SPEC §2): the workload's
// `proxy.istio.io/config` annotation beats the mesh-wide value in both directions; mesh-wide is
// Kyma's `Istio` CR, then MeshConfig; nothing set means off.
import { MeshdnsError } from '../errors.js';
import { formatSource } from './issues.js';
import type { MeshSettings, Resources, Workload } from './types.js';

export const DNS_CAPTURE = 'ISTIO_META_DNS_CAPTURE';
export const DNS_AUTO_ALLOCATE = 'ISTIO_META_DNS_AUTO_ALLOCATE';

/** Where a value came from, for `meshdns config` and logs. */
export type SettingOrigin = 'default' | 'no-workload' | 'mesh-config' | 'kyma-istio' | 'workload';

export interface Setting {
  value: boolean;
  origin: SettingOrigin;
  /** The object (and file) the value was read from, or why it is the default. */
  detail: string;
}

export interface EffectiveConfig {
  /** The workload the config is for; absent for `serve` without `--workload`. */
  workload?: Workload;
  capture: Setting;
  autoAllocate: Setting;
  /** Values that could not be read (each names its object and field); they count as unset. */
  errors: MeshdnsError[];
}

export interface EffectiveInput {
  /** The folder's MeshConfigs and Kyma `Istio` CRs (`Resources.mesh`), in file order. */
  mesh: readonly MeshSettings[];
  /** `--mesh-config FILE`: used instead of the folder's MeshConfigs (Kyma's CR still applies). */
  meshConfig?: MeshSettings;
  /** Absent: `serve` without `--workload`, which answers DNS as before (capture on). */
  workload?: Workload;
}

interface Level {
  value: boolean;
  origin: SettingOrigin;
  detail: string;
}

// Istio reads these through Go's strconv.ParseBool, so these spellings are what it accepts.
const BOOLEANS: Record<string, boolean> = {
  true: true,
  True: true,
  TRUE: true,
  t: true,
  T: true,
  '1': true,
  false: false,
  False: false,
  FALSE: false,
  f: false,
  F: false,
  '0': false,
};

export function workloadLabel(w: Workload): string {
  return `${w.kind} ${w.meta.namespace}/${w.meta.name}`;
}

/** The workload `namespace/name` names: a Pod first (its annotation is the one in effect), then its controllers. */
export function findWorkload(res: Resources, namespace: string, name: string): Workload | undefined {
  const matches = res.workloads.filter((w) => w.meta.namespace === namespace && w.meta.name === name);
  for (const kind of ['Pod', 'Deployment', 'StatefulSet'] as const) {
    const w = matches.find((m) => m.kind === kind);
    if (w) return w;
  }
  return undefined;
}

export function effectiveConfig(input: EffectiveInput): EffectiveConfig {
  const errors: MeshdnsError[] = [];
  // `where` and `field` name the value in the house form: `<file> doc <n> <object>: <field> <what>`.
  const read = (metadata: Record<string, string> | undefined, key: string, where: string, field: string) => {
    const text = metadata?.[key];
    if (text === undefined) return undefined;
    const value = BOOLEANS[text];
    if (value === undefined) {
      const message = `${where}: ${field}.${key} ${JSON.stringify(text)} is not "true" or "false"; ignored`;
      errors.push(new MeshdnsError('MESHDNS_MANIFEST_INVALID', message));
    }
    return value;
  };
  const meshConfigs = input.meshConfig
    ? [input.meshConfig]
    : input.mesh.filter((m) => m.kind === 'MeshConfig');
  const fromMeshConfig = (key: string): Level | undefined => {
    for (const m of meshConfigs) {
      const detail = `MeshConfig ${formatSource(m.source)}`;
      const where = `${formatSource(m.source)} MeshConfig`;
      const value = read(m.proxyMetadata, key, where, 'defaultConfig.proxyMetadata');
      if (value !== undefined) return { value, origin: 'mesh-config', detail };
    }
    return undefined;
  };
  // Kyma's operator writes enableDNSProxying into the mesh config it manages, so the CR wins.
  const kyma = input.mesh.find((m) => m.kind === 'KymaIstio' && m.enableDNSProxying !== undefined);
  const kymaLevel: Level | undefined = kyma && {
    value: kyma.enableDNSProxying!,
    origin: 'kyma-istio',
    detail: `Kyma Istio spec.config.enableDNSProxying (${formatSource(kyma.source)})`,
  };

  const w = input.workload;
  const fallback = w?.proxyConfigError
    ? `; the proxy.istio.io/config of ${workloadLabel(w)} is invalid and ignored`
    : '';
  const fromWorkload = (key: string): Level | undefined => {
    if (!w || w.proxyConfigError) return undefined;
    const detail = `proxy.istio.io/config of ${workloadLabel(w)} (${formatSource(w.source)})`;
    const where = `${formatSource(w.source)} ${workloadLabel(w)}`;
    const value = read(w.proxyMetadata, key, where, 'proxy.istio.io/config proxyMetadata');
    return value === undefined ? undefined : { value, origin: 'workload', detail };
  };
  const withFallback = (level: Level): Setting => ({ ...level, detail: `${level.detail}${fallback}` });

  const captureLevel: Level = w
    ? (fromWorkload(DNS_CAPTURE) ??
      kymaLevel ??
      fromMeshConfig(DNS_CAPTURE) ?? { value: false, origin: 'default', detail: 'default: off' })
    : { value: true, origin: 'no-workload', detail: 'serve without --workload answers DNS' };
  const capture = withFallback(captureLevel);
  // Istio 1.25+ serves the allocated addresses to every proxy that proxies DNS; the older
  // ISTIO_META_DNS_AUTO_ALLOCATE switch still turns them on or off explicitly.
  const autoAllocate = withFallback(
    fromWorkload(DNS_AUTO_ALLOCATE) ??
      fromMeshConfig(DNS_AUTO_ALLOCATE) ?? {
        value: capture.value,
        origin: 'default',
        detail: `default: follows DNS_CAPTURE (${capture.value ? 'on' : 'off'})`,
      },
  );
  return { ...(w ? { workload: w } : {}), capture, autoAllocate, errors };
}
