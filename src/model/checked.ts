// The converters and readers built on zod, loaded the first time something needs them (lazy.ts):
// the kinds quick.ts does not take, objects it is not sure of, and the errors of every invalid one.
// A folder of Services and ServiceEntries as tools write them never loads zod (issue 8: the first
// full table).
export { z } from 'zod';
export { check } from './fields.js';
export { meshConfig, meshConfigFromText, toKymaIstio, toMeshConfigMap } from './mesh.js';
export { readMeshConfig, readProxyConfig } from './proxyconfig.js';
export { toServiceEntry } from './serviceentry.js';
export { toEndpointSlice, toEndpoints, toService } from './services.js';
export { toController, toNamespace, toPod } from './workloads.js';
