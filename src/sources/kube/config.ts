// Where the Kubernetes API is and how to authenticate to it: `--kubeconfig FILE`, else the files
// named by KUBECONFIG (kubectl's rule: several, separated by ':', merged), else the pod's service account.
import { accessSync, constants } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { MeshdnsError } from '../../errors.js';

export interface LoadKubeConfigOptions {
  /** `--kubeconfig FILE`: used alone when given. */
  kubeconfig?: string;
  /** Prefix of the service account's files (`/var/run/secrets/kubernetes.io/serviceaccount`), for tests. */
  serviceAccountRoot?: string;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

function fail(where: string, why: string, cause?: unknown): MeshdnsError {
  return new MeshdnsError('MESHDNS_KUBE_CONFIG', `${where}: ${why}`, cause ? { cause } : undefined);
}

/** The config's current cluster must name a server, or every request would fail later and less clearly. */
function checked(kc: KubeConfig, where: string): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    const context = kc.getCurrentContext() || '(none)';
    throw fail(where, `current context "${context}" names no cluster with a server; set current-context`);
  }
  return kc;
}

function fromFiles(where: string, load: (kc: KubeConfig) => void): KubeConfig {
  const kc = new KubeConfig();
  try {
    load(kc);
  } catch (e) {
    throw fail(where, `cannot read the kubeconfig (${(e as Error).message})`, e);
  }
  return checked(kc, where);
}

/** Throws MESHDNS_KUBE_CONFIG naming what it tried when none of the three works. */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  if (opts.kubeconfig !== undefined) {
    const file = opts.kubeconfig;
    return fromFiles(`--kubeconfig ${file}`, (kc) => kc.loadFromFile(file));
  }
  const env = process.env.KUBECONFIG;
  if (env) {
    // With KUBECONFIG set, loadFromDefault reads (and merges) only those files.
    return fromFiles(`KUBECONFIG=${env}`, (kc) => kc.loadFromDefault());
  }
  const root = opts.serviceAccountRoot ?? '';
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = process.env;
  const token = `${root}${SERVICE_ACCOUNT_TOKEN}`;
  const none = 'no Kubernetes config: pass --kubeconfig FILE, set KUBECONFIG, or run in a pod';
  if (!host || !port) {
    throw fail('in-cluster', `${none} (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)`);
  }
  try {
    accessSync(token, constants.R_OK);
  } catch (e) {
    const why = `${none} with a service account token (${token} cannot be read; automountServiceAccountToken?)`;
    throw fail('in-cluster', why, e);
  }
  const kc = new KubeConfig();
  kc.loadFromCluster(root);
  return checked(kc, 'in-cluster');
}
