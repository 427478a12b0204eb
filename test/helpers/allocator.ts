import { parseConfigObjects } from '../../src/config/parse.js';
import type { Config } from '../../src/config/types.js';
import type { ServiceInput } from '../../src/allocator/service.js';

/** A pool as tests write it. */
export interface PoolSpec {
  readonly name: string;
  readonly addresses: readonly string[];
  readonly autoAssign?: boolean;
  readonly avoidBuggyIPs?: boolean;
  readonly serviceAllocation?: unknown;
  readonly labels?: Record<string, string>;
}

/** A validated Config from pool specs (plus one L2Advertisement for all); throws on errors. */
export function configOf(pools: readonly PoolSpec[]): Config {
  const objects: unknown[] = pools.map((p) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name: p.name, ...(p.labels ? { labels: p.labels } : {}) },
    spec: {
      addresses: p.addresses,
      ...(p.autoAssign !== undefined ? { autoAssign: p.autoAssign } : {}),
      ...(p.avoidBuggyIPs !== undefined ? { avoidBuggyIPs: p.avoidBuggyIPs } : {}),
      ...(p.serviceAllocation !== undefined ? { serviceAllocation: p.serviceAllocation } : {}),
    },
  }));
  objects.push({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'all' } });
  const r = parseConfigObjects(objects);
  if (!r.config) throw new Error(`bad test config: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return r.config;
}

export interface SvcOptions {
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** allow-shared-ip value. */
  readonly share?: string;
  /** externalTrafficPolicy Local with this selector (MetalLB's backend key). */
  readonly localSelector?: Record<string, string>;
  /** "tcp/80" style, as MetalLB's tests write ports. */
  readonly ports?: readonly string[];
  readonly family?: 'ipv4' | 'ipv6' | 'dual' | 'dual6';
  readonly policy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  readonly type?: string;
  readonly loadBalancerIP?: string;
  readonly loadBalancerClass?: string;
  readonly pool?: string;
  readonly ips?: string;
}

/** A LoadBalancer Service for tests. */
export function svc(name: string, o: SvcOptions = {}): ServiceInput {
  const annotations: Record<string, string> = { ...(o.annotations ?? {}) };
  if (o.share !== undefined) annotations['metallb.io/allow-shared-ip'] = o.share;
  if (o.pool !== undefined) annotations['metallb.io/address-pool'] = o.pool;
  if (o.ips !== undefined) annotations['metallb.io/loadBalancerIPs'] = o.ips;
  const ipFamilies =
    o.family === 'ipv4'
      ? ['IPv4']
      : o.family === 'ipv6'
        ? ['IPv6']
        : o.family === 'dual'
          ? ['IPv4', 'IPv6']
          : o.family === 'dual6'
            ? ['IPv6', 'IPv4']
            : undefined;
  const policy = o.policy ?? (o.family === 'dual' || o.family === 'dual6' ? 'RequireDualStack' : undefined);
  return {
    namespace: o.namespace ?? 'default',
    name,
    ...(o.labels ? { labels: o.labels } : {}),
    annotations,
    spec: {
      type: o.type ?? 'LoadBalancer',
      ...(o.loadBalancerIP !== undefined ? { loadBalancerIP: o.loadBalancerIP } : {}),
      ...(o.loadBalancerClass !== undefined ? { loadBalancerClass: o.loadBalancerClass } : {}),
      ...(ipFamilies ? { ipFamilies } : {}),
      ...(policy ? { ipFamilyPolicy: policy } : {}),
      ...(o.localSelector ? { externalTrafficPolicy: 'Local', selector: o.localSelector } : { externalTrafficPolicy: 'Cluster' }),
      ports: (o.ports ?? []).map((p) => {
        const [proto = 'tcp', port = '0'] = p.split('/');
        return { protocol: proto.toUpperCase(), port: Number(port) };
      }),
    },
  };
}
