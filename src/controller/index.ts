export { Controller, type ControllerOptions } from './controller.js';
export { type LiveUpdate, LiveView } from './live.js';
export {
  defaultStateFile,
  type LoadedView,
  type LoadOptions,
  legacyStateFile,
  loadView,
} from './load.js';
export type { ViewUpdate } from './messages.js';
export { type AppliedView, ControllerWorker, type ControllerWorkerOptions } from './remote.js';
export { buildView, type ViewOptions, type WorkloadRef, type WorkloadView } from './view.js';
