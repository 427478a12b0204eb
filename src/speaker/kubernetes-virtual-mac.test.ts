import { describe, expect, it } from 'vitest';
import { deriveVirtualMac } from '../announcer/virtual-mac.js';
import { parseConfigObjects } from '../config/parse.js';
import type { Config } from '../config/types.js';
import { kubernetesDesiredState, VIRTUAL_MAC_ANNOTATION, type ServiceLike } from './kubernetes-desired.js';

const V = 'metallb.io/v1beta1';
function config(): Config {
  const r = parseConfigObjects([
    { apiVersion: V, kind: 'IPAddressPool', metadata: { name: 'p', namespace: 'metallb-system' }, spec: { addresses: ['10.0.0.0/24'] } },
    { apiVersion: V, kind: 'L2Advertisement', metadata: { name: 'all', namespace: 'metallb-system' }, spec: {} },
  ]);
  if (r.config === undefined) throw new Error(JSON.stringify(r));
  return r.config;
}

function svc(name: string, ip: string, vmac?: string): ServiceLike {
  return {
    metadata: { name, namespace: 'ns', labels: {}, annotations: vmac === undefined ? {} : { [VIRTUAL_MAC_ANNOTATION]: vmac } },
    spec: { type: 'LoadBalancer' },
    status: { loadBalancer: { ingress: [{ ip }] } },
  };
}

function run(services: ServiceLike[], virtualMac?: boolean) {
  return kubernetesDesiredState({
    self: 'node-a',
    config: config(),
    services,
    endpointSlices: services.map((s) => ({
      metadata: { name: `${s.metadata?.name}-x`, namespace: 'ns', labels: { 'kubernetes.io/service-name': s.metadata?.name ?? '' } },
      endpoints: [{ nodeName: 'node-a', conditions: { ready: true } }],
    })),
    nodes: [{ metadata: { name: 'node-a', labels: {} }, status: { conditions: [{ type: 'Ready', status: 'True' }] } }],
    options: { virtualMac },
  });
}

describe(`Kubernetes: annotation ${VIRTUAL_MAC_ANNOTATION} and --virtual-mac`, () => {
  it('"true" derives the MAC from namespace/name; no annotation and no flag: none', () => {
    const d = run([svc('a', '10.0.0.1', 'true'), svc('b', '10.0.0.2')]);
    expect(d.services.map((s) => s.virtualMac)).toEqual([deriveVirtualMac('ns/a'), undefined]);
    expect(d.virtualMacIssues).toBeUndefined();
  });

  it('--virtual-mac is the default; "false" turns it off; an explicit MAC is used canonicalised', () => {
    const d = run([svc('a', '10.0.0.1'), svc('b', '10.0.0.2', 'false'), svc('c', '10.0.0.3', '02:AA:00:00:00:01')], true);
    expect(d.services.map((s) => s.virtualMac)).toEqual([deriveVirtualMac('ns/a'), undefined, '02:aa:00:00:00:01']);
  });

  it('a bad MAC or a collision leaves the service announced without a virtual MAC, with a reason', () => {
    const d = run([svc('a', '10.0.0.1', '02:00:00:00:00:01'), svc('b', '10.0.0.2', '02:00:00:00:00:01'), svc('c', '10.0.0.3', '00:11:22:33:44:55')]);
    expect(d.services.map((s) => [s.name, s.virtualMac])).toEqual([
      ['ns/a', '02:00:00:00:00:01'],
      ['ns/b', undefined],
      ['ns/c', undefined],
    ]);
    expect(d.virtualMacIssues?.map((i) => i.service).sort()).toEqual(['ns/b', 'ns/c']);
    expect(d.virtualMacIssues?.find((i) => i.service === 'ns/b')?.message).toMatch(/already used by ns\/a/);
    expect(d.virtualMacIssues?.find((i) => i.service === 'ns/c')?.message).toMatch(/locally administered/);
  });
});
