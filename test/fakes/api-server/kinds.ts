// The kind registry: which group/version/plural the fake serves and how (scope, status subresource).

export interface KindInfo {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  /** A `/status` subresource: main-resource writes keep status, `/status` writes change only status. */
  hasStatus: boolean;
  shortNames: string[];
  /** Only `get`-style verbs for read-only kinds; everything for the rest. */
  verbs: string[];
  categories?: string[];
  /**
   * A compiled-in kind: list items carry no apiVersion/kind (as a real server writes typed lists;
   * custom resources' items do carry them).
   */
  builtIn: boolean;
  /** DELETE answers with the deleted object; otherwise with a `Status` of Success. */
  deleteReturnsObject: boolean;
  /**
   * metadata.generation is set and bumped on spec changes (custom resources and CRDs; none of the
   * served core kinds has it on a real server).
   */
  tracksGeneration: boolean;
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export interface KindSpec {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  hasStatus?: boolean;
  singular?: string;
  listKind?: string;
  shortNames?: string[];
  verbs?: string[];
  categories?: string[];
  builtIn?: boolean;
  deleteReturnsObject?: boolean;
  tracksGeneration?: boolean;
}

export function kindInfo(spec: KindSpec): KindInfo {
  const info: KindInfo = {
    group: spec.group,
    version: spec.version,
    plural: spec.plural,
    singular: spec.singular ?? spec.kind.toLowerCase(),
    kind: spec.kind,
    listKind: spec.listKind ?? `${spec.kind}List`,
    namespaced: spec.namespaced,
    hasStatus: spec.hasStatus ?? false,
    shortNames: spec.shortNames ?? [],
    verbs: spec.verbs ?? ALL_VERBS,
    builtIn: spec.builtIn ?? false,
    deleteReturnsObject: spec.deleteReturnsObject ?? true,
    tracksGeneration: spec.tracksGeneration ?? !(spec.builtIn ?? false),
  };
  if (spec.categories !== undefined) info.categories = spec.categories;
  return info;
}

export function apiVersionOf(k: { group: string; version: string }): string {
  return k.group === '' ? k.version : `${k.group}/${k.version}`;
}

/** Storage key: one object space per group+plural (all versions share it, as with a real server). */
export function storageKey(k: { group: string; plural: string }): string {
  return `${k.group}/${k.plural}`;
}

export function servingKey(group: string, version: string, plural: string): string {
  return `${group}/${version}/${plural}`;
}

export const BUILTIN_KINDS: readonly KindInfo[] = [
  kindInfo({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false, hasStatus: true, shortNames: ['ns'], builtIn: true, deleteReturnsObject: true }),
  kindInfo({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, hasStatus: true, shortNames: ['no'], builtIn: true, deleteReturnsObject: false }),
  kindInfo({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true, hasStatus: true, shortNames: ['po'], categories: ['all'], builtIn: true, deleteReturnsObject: true }),
  kindInfo({ group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true, hasStatus: true, shortNames: ['svc'], categories: ['all'], builtIn: true, deleteReturnsObject: true }),
  kindInfo({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, builtIn: true, deleteReturnsObject: false }),
  kindInfo({ group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'], builtIn: true, deleteReturnsObject: false }),
  kindInfo({ group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], builtIn: true, deleteReturnsObject: false }),
  kindInfo({ group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, shortNames: ['ev'], builtIn: true, deleteReturnsObject: false }),
  kindInfo({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true, builtIn: true, deleteReturnsObject: false, tracksGeneration: true }),
  kindInfo({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true, builtIn: true, deleteReturnsObject: false }),
  kindInfo({
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    hasStatus: true,
    shortNames: ['crd', 'crds'],
    builtIn: true,
    deleteReturnsObject: true,
    tracksGeneration: true,
  }),
];

/** MetalLB's kinds as a test may pre-register them without applying a CRD. */
export const METALLB_KINDS: readonly KindInfo[] = [
  kindInfo({ group: 'metallb.io', version: 'v1beta1', plural: 'ipaddresspools', kind: 'IPAddressPool', namespaced: true, hasStatus: true }),
  kindInfo({ group: 'metallb.io', version: 'v1beta1', plural: 'l2advertisements', kind: 'L2Advertisement', namespaced: true, hasStatus: true }),
  kindInfo({ group: 'metallb.io', version: 'v1beta1', plural: 'servicel2statuses', kind: 'ServiceL2Status', namespaced: true, hasStatus: true }),
];
