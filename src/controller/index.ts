export { ControllerAdminSource } from './admin-source.js';
export {
  type AllocationStore,
  ControlPlane,
  type ControlPlaneOptions,
  type OnSnapshot,
  type ResourceSource,
  type StoredState,
} from './control-plane.js';
export { Controller, type ControllerOptions } from './controller.js';
export { StateFileStore } from './file-store.js';
export { type LiveUpdate, LiveView } from './live.js';
export {
  defaultStateFile,
  type LoadedView,
  type LoadOptions,
  legacyStateFile,
  loadView,
} from './load.js';
export { MeshViews, type MeshViewsOptions } from './mesh-views.js';
export type { ViewUpdate } from './messages.js';
export { type AppliedView, ControllerWorker, type ControllerWorkerOptions } from './remote.js';
export { hostRoutes } from './routes.js';
export { buildView, type ViewOptions, type WorkloadRef, type WorkloadView } from './view.js';
