// The Kubernetes API test server (issue 10 item 6): start it, seed objects, point a client at it.
export type { Target } from './handlers.js';
export { haveKubectl, KUBECTL_MISSING, type Kubectl, type KubectlResult, kubectlFor } from './kubectl.js';
export { applyJsonPatch, applyMergePatch } from './patch.js';
export type { InjectedFailure, RequestRecord } from './requests.js';
export { BUILTIN_RESOURCES, type ResourceType } from './resources.js';
export type { Verb } from './routes.js';
export { type KubeApiOptions, KubeApiServer, startKubeApi } from './server.js';
export { KubeStatusError, type Status } from './status.js';
export type { KubeObject, ObjectMeta } from './store.js';
