export { Controller, type ControllerOptions } from './controller.js';
export {
  defaultStateFile,
  type LoadedView,
  type LoadOptions,
  legacyStateFile,
  loadView,
} from './load.js';
export { vipRoutes, workloadVips } from './routes.js';
export { buildView, type ViewOptions, type WorkloadRef, type WorkloadView } from './view.js';
