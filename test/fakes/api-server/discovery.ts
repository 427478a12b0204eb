// Legacy (unaggregated) discovery documents: /version, /api, /apis, /api/v1, /apis/<group>/<version>.
// Aggregated discovery (apidiscovery.k8s.io/v2) is not served: the answer is plain JSON with
// Content-Type application/json, which kubectl and client-go take as "fall back to legacy".

import { apiVersionOf, type KindInfo } from './kinds.js';

export function versionInfo(): Record<string, string> {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.23.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function coreVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function groupList(kinds: readonly KindInfo[]): Record<string, unknown> {
  const groups = new Map<string, string[]>();
  for (const k of kinds) {
    if (k.group === '') continue;
    const versions = groups.get(k.group) ?? [];
    if (!versions.includes(k.version)) versions.push(k.version);
    groups.set(k.group, versions);
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups.entries()].map(([name, versions]) => {
      const gvs = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: gvs, preferredVersion: gvs[0] };
    }),
  };
}

export function resourceList(group: string, version: string, kinds: readonly KindInfo[]): Record<string, unknown> | undefined {
  const mine = kinds.filter((k) => k.group === group && k.version === version);
  if (mine.length === 0 && !(group === '' && version === 'v1')) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const k of mine) {
    const r: Record<string, unknown> = {
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: k.verbs,
    };
    if (k.shortNames.length > 0) r.shortNames = k.shortNames;
    if (k.categories !== undefined) r.categories = k.categories;
    resources.push(r);
    if (k.hasStatus) {
      resources.push({ name: `${k.plural}/status`, singularName: '', namespaced: k.namespaced, kind: k.kind, verbs: ['get', 'patch', 'update'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}
