export {
  Allocator,
  type AllocatorOptions,
  type AllocationResult,
  type AllocationWarning,
  type Assignment,
  type ClearedAssignment,
  type LostAssignment,
  type PoolStats,
} from './allocator.js';
export { ALLOCATION_CODES, ALLOCATION_CODE_LIST, type AllocationCode } from './result-codes.js';
export { ANNOTATIONS, DEPRECATED_ANNOTATIONS, serviceKey, type ServiceInput, type ServicePort } from './service.js';
export { candidatePools, poolAcceptsService, comparePinnedPools, type NamespaceLabels } from './pool-selection.js';
