import type { Cidr } from '../ip/cidr.js';
import type { ConfigIssueCode } from './issue-codes.js';
import type { LabelSelector, Labels } from './label-selector.js';

/** Where a ConfigIssue was found. */
export interface ConfigObjectRef {
  readonly kind: string;
  /** metadata.name; "" when missing. */
  readonly name: string;
  readonly namespace?: string;
}

/** One problem in the configuration: an error (invalid) or a warning (accepted, but suspicious). */
export interface ConfigIssue {
  readonly code: ConfigIssueCode;
  readonly severity: 'error' | 'warning';
  /** File the object came from, when read from a file. */
  readonly file?: string;
  /** 1-based line and column of `path` in the file, when known. */
  readonly line?: number;
  readonly column?: number;
  /** Index of the YAML document (0-based) or of the object in the input list. */
  readonly document?: number;
  readonly object?: ConfigObjectRef;
  /** Field path inside the object, e.g. `spec.addresses[2]`; "" for the whole object or file. */
  readonly path: string;
  readonly message: string;
}

/** IPAddressPool.spec.serviceAllocation. */
export interface ServiceAllocation {
  /** Lower wins; 0 means unset and sorts after every set priority. */
  readonly priority: number;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  readonly serviceSelectors: readonly LabelSelector[];
}

/** A validated IPAddressPool. */
export interface Pool {
  readonly name: string;
  readonly namespace?: string;
  readonly labels: Labels;
  /** spec.addresses as written. */
  readonly addresses: readonly string[];
  /**
   * The addresses as CIDRs in the order MetalLB allocates from: spec order, each "a-b" range
   * summarised into ascending CIDRs, host bits cleared.
   */
  readonly cidrs: readonly Cidr[];
  /** `cidrs` as text ("10.0.0.0/24", "fc00::/64"). */
  readonly cidrStrings: readonly string[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation?: ServiceAllocation;
  /** Names of the L2Advertisements that announce this pool, sorted. */
  readonly l2Advertisements: readonly string[];
}

/** L2Advertisement.spec.preferredNodeSelectors[] (MetalLB HEAD). */
export interface PreferredNodeSelector {
  readonly weight: number;
  readonly preference: LabelSelector;
}

/** A validated L2Advertisement. */
export interface L2Advertisement {
  readonly name: string;
  readonly namespace?: string;
  /** spec.ipAddressPools as written (names that do not exist are kept here, not in `pools`). */
  readonly ipAddressPools: readonly string[];
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  /** The existing pools it announces, sorted: all pools when neither list above is set. */
  readonly pools: readonly string[];
  /** Empty: every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Empty: every eligible interface. */
  readonly interfaces: readonly string[];
  /** Empty: every Service of the pools. */
  readonly serviceSelectors: readonly LabelSelector[];
  readonly preferredNodeSelectors: readonly PreferredNodeSelector[];
}

/** The whole validated configuration. Deeply frozen. */
export interface Config {
  /** Sorted by name. */
  readonly pools: readonly Pool[];
  /** Sorted by name. */
  readonly l2Advertisements: readonly L2Advertisement[];
}

/** What parseConfig returns: `config` is present exactly when `errors` is empty. */
export interface ConfigParseResult {
  readonly config?: Config;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}
