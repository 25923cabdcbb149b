// Names Istio gives things, in a module of their own: the kube source and the answering side use
// them without loading the converters (and zod) that read the objects.
import { basename } from 'node:path';

/** Istio reads MeshConfig from the ConfigMap of this name (in its own namespace), key `mesh`. */
export const MESH_CONFIGMAP = 'istio';
/** The Kyma `Istio` CR that configures the mesh; Kyma ignores CRs of other names. */
export const KYMA_ISTIO_NAME = 'default';
/** A workload's own proxy settings (ProxyConfig as YAML). */
export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';

/** A document without `kind` in a file named `meshconfig.yaml` is a MeshConfig (istioctl's layout). */
export function isMeshConfigFile(file: string): boolean {
  const name = basename(file).toLowerCase();
  return name === 'meshconfig.yaml' || name === 'meshconfig.yml';
}
