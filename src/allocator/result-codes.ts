/**
 * Why an allocation failed or an assignment was dropped: stable codes, documented in
 * docs/errors.md ("Allocation"). The `reason` text next to them follows MetalLB's wording
 * (controller/service.go, internal/allocator/allocator.go) where MetalLB has one.
 */
export const ALLOCATION_CODES = {
  /** spec.type is not LoadBalancer: nothing to allocate, any IP is released. */
  notLoadBalancer: 'L2VIP_ALLOC_NOT_LOAD_BALANCER',
  /** spec.loadBalancerClass names another implementation (or l2vip runs with a class the Service lacks). */
  otherClass: 'L2VIP_ALLOC_OTHER_CLASS',
  /** The configuration has no IPAddressPool. */
  noPools: 'L2VIP_ALLOC_NO_POOLS',
  /** Annotations or spec fields that cannot be read: bad IP text, both loadBalancerIP and the annotation, bad ipFamilies. */
  invalidService: 'L2VIP_ALLOC_INVALID_SERVICE',
  /** Requested or held IPs are of another family than the Service's. */
  familyMismatch: 'L2VIP_ALLOC_FAMILY_MISMATCH',
  /** An IP (requested, or held until a config change) is in no pool, or is a .0/.255 of an avoidBuggyIPs pool. */
  ipNotInPool: 'L2VIP_ALLOC_IP_NOT_IN_POOL',
  /** The metallb.io/address-pool annotation names a pool that does not exist. */
  unknownPool: 'L2VIP_ALLOC_UNKNOWN_POOL',
  /** The pool's serviceAllocation (namespaces, namespaceSelectors, serviceSelectors) excludes the Service. */
  poolIncompatible: 'L2VIP_ALLOC_POOL_INCOMPATIBLE',
  /** Requested IPs and the requested pool disagree, or the held IP is not from the requested pool. */
  poolMismatch: 'L2VIP_ALLOC_POOL_MISMATCH',
  /** The IP is held by a Service that does not share with this one (sharing key or selector differ). */
  ipInUse: 'L2VIP_ALLOC_IP_IN_USE',
  /** The IP is shared, but one of this Service's ports is taken on it. */
  portInUse: 'L2VIP_ALLOC_PORT_IN_USE',
  /** Every eligible pool is full (for this Service's family and sharing key). */
  noAvailableIps: 'L2VIP_ALLOC_NO_AVAILABLE_IPS',
} as const;

export type AllocationCode = (typeof ALLOCATION_CODES)[keyof typeof ALLOCATION_CODES];

export const ALLOCATION_CODE_LIST: readonly AllocationCode[] = Object.values(ALLOCATION_CODES);
