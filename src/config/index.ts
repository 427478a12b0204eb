export { parseConfig, parseConfigObjects, parseConfigText, assertValidConfig, METALLB_API_VERSION, type ConfigInput, type ParseOptions } from './parse.js';
export { findPool, poolForIp, poolForIps, l2AdvertisementsForPool } from './queries.js';
export {
  matchesSelector,
  matchesAnySelector,
  formatSelector,
  formatLabels,
  validateLabelSelector,
  type LabelSelector,
  type LabelSelectorRequirement,
  type Labels,
} from './label-selector.js';
export { CONFIG_ERROR_CODES, CONFIG_WARNING_CODES, CONFIG_ISSUE_CODES, type ConfigIssueCode } from './issue-codes.js';
export type {
  Config,
  ConfigIssue,
  ConfigObjectRef,
  ConfigParseResult,
  L2Advertisement,
  Pool,
  PreferredNodeSelector,
  ServiceAllocation,
} from './types.js';
