// The defaulting and allocation a real API server performs on create, for the fields our code
// reads: Services get a type, a ClusterIP from 10.96.0.0/12 (or fd00:10:96::/108 when
// ipFamilies asks for IPv6 first), clusterIPs/ipFamilies/ipFamilyPolicy, port protocol and
// targetPort, and NodePorts (30000-32767, 2 768 ports: the real default range) for
// NodePort/LoadBalancer Services unless spec.allocateLoadBalancerNodePorts is false. A full range
// is a 500 "failed to allocate a nodePort: range is full", a taken port a 422, as on a real
// server; NodePorts are freed when the Service is deleted or no longer needs them, and an update
// that omits an allocated NodePort keeps it. Namespaces start with status.phase Active.
// Dual-stack RequireDualStack/PreferDualStack get one ClusterIP per family.
// A main-resource update to a type other than LoadBalancer clears status.loadBalancer.
// On every write (defaulting happens on decode): a LoadBalancer Service's status ingress entries
// with an `ip` and no `ipMode` get `ipMode: VIP` (LoadBalancerIPMode, default on since 1.30, GA in
// 1.32). A controller that compares the status it wants with the status it reads must expect it.

import type { KindInfo } from './kinds.js';
import { ApiStatusError, invalid } from './status-error.js';
import { isRecord, type KubeObject } from './types.js';

const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

function isService(kind: KindInfo): boolean {
  return kind.group === '' && kind.plural === 'services';
}

function portsOf(obj: KubeObject | undefined): Record<string, unknown>[] {
  const spec = obj !== undefined && isRecord(obj.spec) ? obj.spec : {};
  return Array.isArray(spec.ports) ? spec.ports.filter(isRecord) : [];
}

function needsNodePorts(spec: Record<string, unknown>): boolean {
  return spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
}

export class Defaulter {
  private nextV4 = 10;
  private nextV6 = 10;
  /** NodePort → "namespace/name" of the stored Service holding it (kept in step with commits). */
  private readonly nodePorts = new Map<number, string>();
  private readonly nodePortsOf = new Map<string, number[]>();

  apply(kind: KindInfo, obj: KubeObject): void {
    if (kind.group !== '') return;
    if (kind.plural === 'namespaces') {
      const status = isRecord(obj.status) ? obj.status : {};
      if (status.phase === undefined) status.phase = 'Active';
      obj.status = status;
    }
    if (kind.plural === 'services') this.service(obj, undefined);
  }

  /** Main-resource update of a Service: keep or free NodePorts, allocate new ones. */
  onUpdate(kind: KindInfo, old: KubeObject, next: KubeObject): void {
    if (!isService(kind)) return;
    this.assignNodePorts(next, old);
  }

  /** Records the NodePorts of what was stored (obj) or removed (undefined) under `key`. */
  committed(kind: KindInfo, key: string, obj: KubeObject | undefined): void {
    if (!isService(kind)) return;
    for (const port of this.nodePortsOf.get(key) ?? []) this.nodePorts.delete(port);
    const now: number[] = [];
    for (const p of portsOf(obj)) {
      if (typeof p.nodePort !== 'number') continue;
      this.nodePorts.set(p.nodePort, key);
      now.push(p.nodePort);
    }
    if (now.length > 0) this.nodePortsOf.set(key, now);
    else this.nodePortsOf.delete(key);
  }

  private assignNodePorts(obj: KubeObject, old: KubeObject | undefined): void {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const ports = portsOf(obj);
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    if (!needsNodePorts(spec)) {
      // Real storage drops NodePorts a ClusterIP/ExternalName Service cannot use.
      if (spec.type === 'ClusterIP' || spec.type === 'ExternalName') for (const p of ports) delete p.nodePort;
      return;
    }
    const oldPorts = portsOf(old);
    const taken = new Set<number>();
    ports.forEach((p, i) => {
      if (p.nodePort === undefined) {
        const before = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
        if (before !== undefined && typeof before.nodePort === 'number') p.nodePort = before.nodePort;
      }
      if (typeof p.nodePort === 'number') {
        const owner = this.nodePorts.get(p.nodePort);
        if ((owner !== undefined && owner !== key) || taken.has(p.nodePort)) {
          throw invalid('', 'Service', obj.metadata?.name ?? '', [
            { reason: 'FieldValueInvalid', message: `Invalid value: ${p.nodePort}: provided port is already allocated`, field: `spec.ports[${i}].nodePort` },
          ]);
        }
        taken.add(p.nodePort);
      }
    });
    for (const p of ports) {
      if (p.nodePort !== undefined) continue;
      let port = NODE_PORT_MIN;
      while (port <= NODE_PORT_MAX && (this.nodePorts.has(port) || taken.has(port))) port++;
      if (port > NODE_PORT_MAX) {
        throw new ApiStatusError(500, 'InternalError', 'Internal error occurred: failed to allocate a nodePort: range is full');
      }
      taken.add(port);
      p.nodePort = port;
    }
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

  private service(obj: KubeObject, old: KubeObject | undefined): void {
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
    }
    this.assignNodePorts(obj, old);
  }
}
