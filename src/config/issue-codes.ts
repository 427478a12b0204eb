/**
 * Codes of the problems `parseConfig` reports. Errors make the configuration invalid (MetalLB
 * rejects it too); warnings flag what MetalLB accepts but is almost surely a mistake.
 * docs/errors.md documents every code (errors.test.ts checks it).
 */
export const CONFIG_ERROR_CODES = {
  yamlSyntax: 'L2VIP_CONFIG_YAML',
  notAnObject: 'L2VIP_CONFIG_NOT_OBJECT',
  missingKind: 'L2VIP_CONFIG_MISSING_KIND',
  unknownKind: 'L2VIP_CONFIG_UNKNOWN_KIND',
  apiVersion: 'L2VIP_CONFIG_API_VERSION',
  schema: 'L2VIP_CONFIG_SCHEMA',
  unknownField: 'L2VIP_CONFIG_UNKNOWN_FIELD',
  nameMissing: 'L2VIP_CONFIG_NAME_MISSING',
  nameInvalid: 'L2VIP_CONFIG_NAME_INVALID',
  duplicateName: 'L2VIP_CONFIG_DUPLICATE_NAME',
  labelInvalid: 'L2VIP_CONFIG_LABEL_INVALID',
  noAddresses: 'L2VIP_CONFIG_NO_ADDRESSES',
  addressInvalid: 'L2VIP_CONFIG_ADDRESS_INVALID',
  addressNoPrefix: 'L2VIP_CONFIG_ADDRESS_NO_PREFIX',
  rangeReversed: 'L2VIP_CONFIG_RANGE_REVERSED',
  rangeMixedFamily: 'L2VIP_CONFIG_RANGE_MIXED_FAMILY',
  addressOverlap: 'L2VIP_CONFIG_ADDRESS_OVERLAP',
  duplicateEntry: 'L2VIP_CONFIG_DUPLICATE_ENTRY',
  selectorInvalid: 'L2VIP_CONFIG_SELECTOR_INVALID',
} as const;

export const CONFIG_WARNING_CODES = {
  bgpUnsupported: 'L2VIP_CONFIG_BGP_UNSUPPORTED',
  ignoredKind: 'L2VIP_CONFIG_IGNORED_KIND',
  legacyConfigMap: 'L2VIP_CONFIG_LEGACY_CONFIGMAP',
  emptyInput: 'L2VIP_CONFIG_EMPTY',
  noPools: 'L2VIP_CONFIG_NO_POOLS',
  poolNotFound: 'L2VIP_CONFIG_POOL_NOT_FOUND',
  selectorMatchesNothing: 'L2VIP_CONFIG_SELECTOR_MATCHES_NOTHING',
  poolNotAdvertised: 'L2VIP_CONFIG_POOL_NOT_ADVERTISED',
  hostBits: 'L2VIP_CONFIG_CIDR_HOST_BITS',
  duplicateInterface: 'L2VIP_CONFIG_DUPLICATE_INTERFACE',
  interfaceName: 'L2VIP_CONFIG_INTERFACE_NAME',
  negativePriority: 'L2VIP_CONFIG_NEGATIVE_PRIORITY',
  mixedNamespaces: 'L2VIP_CONFIG_MIXED_NAMESPACES',
  unknownField: 'L2VIP_CONFIG_UNKNOWN_FIELD_IGNORED',
} as const;

export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[keyof typeof CONFIG_ERROR_CODES];
export type ConfigWarningCode = (typeof CONFIG_WARNING_CODES)[keyof typeof CONFIG_WARNING_CODES];
export type ConfigIssueCode = ConfigErrorCode | ConfigWarningCode;

/** Every code a ConfigIssue can carry. */
export const CONFIG_ISSUE_CODES: readonly ConfigIssueCode[] = [
  ...Object.values(CONFIG_ERROR_CODES),
  ...Object.values(CONFIG_WARNING_CODES),
];
