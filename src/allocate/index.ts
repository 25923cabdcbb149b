export {
  type AllocateOptions,
  type Allocation,
  allocate,
  allocationKey,
  type HostVips,
  type StoredAllocation,
  type VipState,
} from './allocator.js';
export { AUTOALLOCATE_LABEL, type Ineligible, ineligibility } from './eligibility.js';
export {
  bigIntToIp,
  type Family,
  ipToBigInt,
  parseVipRange,
  type VipRange,
  type VipRanges,
  vipRanges,
} from './range.js';
export { AllocationFile, readAllocationState, writeAllocationState } from './store.js';
