// The defaulting and allocation a real API server performs on create, for the fields our code
// reads: Services get a type, a ClusterIP from 10.96.0.0/12 (or fd00:10:96::/108 when
// ipFamilies asks for IPv6 first), clusterIPs/ipFamilies/ipFamilyPolicy, port protocol and
// targetPort, and NodePorts (30000-32767) for NodePort/LoadBalancer Services unless
// spec.allocateLoadBalancerNodePorts is false. Namespaces start with status.phase Active.
// Dual-stack RequireDualStack/PreferDualStack get one ClusterIP per family.
// A main-resource update to a type other than LoadBalancer clears status.loadBalancer.
// On every write (defaulting happens on decode): a LoadBalancer Service's status ingress entries
// with an `ip` and no `ipMode` get `ipMode: VIP` (LoadBalancerIPMode, default on since 1.30, GA in
// 1.32). A controller that compares the status it wants with the status it reads must expect it.

import type { KindInfo } from './kinds.js';
import { isRecord, type KubeObject } from './types.js';

export class Defaulter {
  private nextV4 = 10;
  private nextV6 = 10;
  private nextNodePort = 30000;

  apply(kind: KindInfo, obj: KubeObject): void {
    if (kind.group !== '') return;
    if (kind.plural === 'namespaces') {
      const status = isRecord(obj.status) ? obj.status : {};
      if (status.phase === undefined) status.phase = 'Active';
      obj.status = status;
    }
    if (kind.plural === 'services') this.service(obj);
  }

  /** Defaults applied to every write, create or update. */
  onWrite(kind: KindInfo, obj: KubeObject): void {
    if (kind.group !== '' || kind.plural !== 'services') return;
    if (!isRecord(obj.spec) || obj.spec.type !== 'LoadBalancer') return;
    const status = isRecord(obj.status) ? obj.status : {};
    const lb = isRecord(status.loadBalancer) ? status.loadBalancer : {};
    for (const ing of Array.isArray(lb.ingress) ? lb.ingress.filter(isRecord) : []) {
      if (typeof ing.ip === 'string' && ing.ip !== '' && ing.ipMode === undefined) ing.ipMode = 'VIP';
    }
  }

  /**
   * A Service update that leaves it with a type other than LoadBalancer clears
   * status.loadBalancer (the real Service storage does this on main-resource updates only).
   */
  onSpecUpdate(kind: KindInfo, obj: KubeObject): void {
    if (kind.group !== '' || kind.plural !== 'services') return;
    const type = isRecord(obj.spec) ? obj.spec.type : undefined;
    if (type === 'LoadBalancer' || !isRecord(obj.status) || obj.status.loadBalancer === undefined) return;
    obj.status.loadBalancer = {};
  }

  private allocate(family: 'IPv4' | 'IPv6'): string {
    if (family === 'IPv4') {
      const n = this.nextV4++;
      return `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
    }
    return `fd00:10:96::${(this.nextV6++).toString(16)}`;
  }

  private service(obj: KubeObject): void {
    const spec: Record<string, unknown> = isRecord(obj.spec) ? obj.spec : {};
    obj.spec = spec;
    if (typeof spec.type !== 'string') spec.type = 'ClusterIP';
    if (spec.sessionAffinity === undefined) spec.sessionAffinity = 'None';
    const type = spec.type;
    const ports = Array.isArray(spec.ports) ? spec.ports.filter(isRecord) : [];
    for (const p of ports) {
      if (p.protocol === undefined) p.protocol = 'TCP';
      if (p.targetPort === undefined && p.port !== undefined) p.targetPort = p.port;
    }
    if (type === 'ExternalName') return;
    if (spec.internalTrafficPolicy === undefined) spec.internalTrafficPolicy = 'Cluster';
    const policy = typeof spec.ipFamilyPolicy === 'string' ? spec.ipFamilyPolicy : 'SingleStack';
    spec.ipFamilyPolicy = policy;
    const requested = Array.isArray(spec.ipFamilies) ? spec.ipFamilies.filter((f): f is 'IPv4' | 'IPv6' => f === 'IPv4' || f === 'IPv6') : [];
    let families: ('IPv4' | 'IPv6')[] = requested.length > 0 ? requested : ['IPv4'];
    if (policy === 'SingleStack') families = families.slice(0, 1);
    else if (families.length === 1) families = families[0] === 'IPv4' ? ['IPv4', 'IPv6'] : ['IPv6', 'IPv4'];
    spec.ipFamilies = families;
    if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
    } else if (typeof spec.clusterIP !== 'string' || spec.clusterIP === '') {
      const ips = families.map((f) => this.allocate(f));
      spec.clusterIP = ips[0];
      spec.clusterIPs = ips;
    } else if (!Array.isArray(spec.clusterIPs)) {
      spec.clusterIPs = [spec.clusterIP];
    }
    if (type === 'NodePort' || type === 'LoadBalancer') {
      if (spec.externalTrafficPolicy === undefined) spec.externalTrafficPolicy = 'Cluster';
      if (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) spec.allocateLoadBalancerNodePorts = true;
      if (type === 'NodePort' || spec.allocateLoadBalancerNodePorts !== false) {
        for (const p of ports) if (p.nodePort === undefined) p.nodePort = this.nextNodePort++;
      }
    }
  }
}
