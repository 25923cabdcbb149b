export {
  type AllocateOptions,
  type Allocation,
  allocate,
  allocationKey,
  entryAge,
  type HostVips,
  type StoredAllocation,
  type VipState,
} from './allocator.js';
export {
  AUTOALLOCATE_LABEL,
  type Ineligible,
  ineligibility,
  PER_NAME_LABEL,
  perNameWildcard,
} from './eligibility.js';
export { type HeldBackVip, holdbackEnd, stillHeldBack } from './holdback.js';
export { type AllocationUpdate, type EntryDelta, VipAllocator } from './incremental.js';
export { type PerNameAsk, PerNameHosts, type PerNameLimits, underWildcard } from './per-name.js';
export {
  bigIntToIp,
  type Family,
  ipToBigInt,
  parseVipRange,
  type VipRange,
  type VipRanges,
  vipRanges,
} from './range.js';
export { parseState, STATE_VERSION, serializeState } from './state-format.js';
export {
  AllocationFile,
  type LoadedState,
  readAllocationState,
  type StateFileOptions,
  writeAllocationState,
} from './store.js';
export { entryName } from './tables.js';
