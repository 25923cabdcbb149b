export { checkAdminExposure, isLoopback } from './loopback.js';
export { type AdminOptions, AdminServer } from './server.js';
export type { AdminSource, MetricsText, Readiness } from './source.js';
