// The controller's Kubernetes writes (issue 10 item 2): VIPs in ServiceEntry status.addresses, the Lease
// that decides who writes them, and Warning Events for what could not be allocated.
export { type AllocationEvent, type AllocationEventReason, allocationEvents } from './allocation-events.js';
export { type EventObject, EventRecorder, type EventRecorderOptions } from './event-recorder.js';
export { HOLDBACK_KEY, HoldbackConfigMap, type HoldbackConfigMapOptions } from './holdback-configmap.js';
export { LeaderElector, type LeaderElectorOptions } from './leader-elector.js';
export {
  addressesOf,
  addressesPatch,
  desiredAddresses,
  type PatchOp,
  readStatus,
  type StatusAddress,
  type StatusRead,
  sameAddresses,
} from './status-patch.js';
export {
  SERVICE_ENTRY_GROUP,
  SERVICE_ENTRY_PLURAL,
  StatusWriter,
  type StatusWriterOptions,
  type WriteGate,
  type WriteOutcome,
} from './status-writer.js';
export { KubeStatusStore, type KubeStoreOptions } from './store.js';
