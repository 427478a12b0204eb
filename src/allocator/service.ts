import type { Labels } from '../config/label-selector.js';
import { formatLabels } from '../config/label-selector.js';
import { formatIp, parseIp, type Ip } from '../ip/address.js';

/** The Service annotations MetalLB reads and writes (controller/service.go). */
export const ANNOTATIONS = {
  addressPool: 'metallb.io/address-pool',
  loadBalancerIPs: 'metallb.io/loadBalancerIPs',
  allowSharedIP: 'metallb.io/allow-shared-ip',
  ipAllocatedFromPool: 'metallb.io/ip-allocated-from-pool',
} as const;

/** The deprecated spellings, still honoured when the metallb.io/ one is absent. */
export const DEPRECATED_ANNOTATIONS = {
  addressPool: 'metallb.universe.tf/address-pool',
  loadBalancerIPs: 'metallb.universe.tf/loadBalancerIPs',
  allowSharedIP: 'metallb.universe.tf/allow-shared-ip',
  ipAllocatedFromPool: 'metallb.universe.tf/ip-allocated-from-pool',
} as const;

export interface ServicePort {
  /** TCP (the Kubernetes default), UDP or SCTP. */
  readonly protocol?: string;
  readonly port: number;
}

/**
 * The part of a Kubernetes Service the allocator reads. The controller adapts V1Service to it;
 * standalone mode builds it from its file.
 */
export interface ServiceInput {
  readonly namespace: string;
  readonly name: string;
  readonly labels?: Labels;
  readonly annotations?: Labels;
  readonly spec?: {
    /** Omitted: LoadBalancer. */
    readonly type?: string;
    readonly loadBalancerIP?: string;
    readonly loadBalancerClass?: string;
    /** SingleStack (default), PreferDualStack or RequireDualStack. */
    readonly ipFamilyPolicy?: string;
    /**
     * IPv4 / IPv6, as Kubernetes sets it from the cluster IPs (one entry per cluster IP). Omitted:
     * the family of the requested IPs, else dual-stack for the *DualStack policies, else IPv4.
     */
    readonly ipFamilies?: readonly string[];
    /** Cluster (default) or Local. */
    readonly externalTrafficPolicy?: string;
    readonly selector?: Labels;
    readonly ports?: readonly ServicePort[];
  };
}

/** MetalLB's ipfamily.Family. */
export type ServiceFamily = 'ipv4' | 'ipv6' | 'dual';

export type IpFamilyPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

/** A Service reduced to what allocation decides on. */
export interface ServiceRequest {
  readonly key: string;
  readonly service: ServiceInput;
  readonly isLoadBalancer: boolean;
  readonly loadBalancerClass?: string;
  readonly sharingKey: string;
  readonly backendKey: string;
  /** "TCP/80", as MetalLB's Port.String(). */
  readonly ports: readonly string[];
  readonly policy: IpFamilyPolicy;
  /** Undefined when `familyError` says why it cannot be known. */
  readonly family?: ServiceFamily;
  readonly familyError?: string;
  /** Requested IPs (annotation or spec.loadBalancerIP); undefined when none requested. */
  readonly desiredIps?: readonly Ip[];
  readonly desiredFamily?: ServiceFamily;
  readonly desiredError?: string;
  /** metallb.io/address-pool; undefined when absent or empty. */
  readonly desiredPool?: string;
}

/** `ns/name`, the key MetalLB uses for a Service. */
export function serviceKey(service: Pick<ServiceInput, 'namespace' | 'name'>): string {
  return `${service.namespace}/${service.name}`;
}

/** Value of `stable`, else of `deprecated`; present-but-empty counts as present (valueForAnnotation). */
function annotation(annotations: Labels | undefined, stable: string, deprecated: string): string | undefined {
  if (!annotations) return undefined;
  if (Object.prototype.hasOwnProperty.call(annotations, stable)) return annotations[stable];
  if (Object.prototype.hasOwnProperty.call(annotations, deprecated)) return annotations[deprecated];
  return undefined;
}

/** ipfamily.ForAddresses: one IP is its family; two must differ; anything else is an error. */
export function familyOfIps(ips: readonly Ip[]): { family: ServiceFamily } | { error: string } {
  const text = quoteIps(ips);
  if (ips.length === 1) return { family: (ips[0] as Ip).family === 4 ? 'ipv4' : 'ipv6' };
  if (ips.length === 2) {
    if ((ips[0] as Ip).family === (ips[1] as Ip).family) return { error: `IPFamilyForAddresses: same address family ${text}` };
    return { family: 'dual' };
  }
  return { error: `IPFamilyForAddresses: invalid ips length ${ips.length} ${text}` };
}

/** Go's %q of a []net.IP: ["10.0.0.1" "fc00::1"]. */
export function quoteIps(ips: readonly Ip[]): string {
  return `[${ips.map((ip) => JSON.stringify(formatIp(ip))).join(' ')}]`;
}

/** Reads a Service the way MetalLB's controller does (SharingKey, BackendKey, Ports, getDesiredLbIPs). */
export function toServiceRequest(service: ServiceInput): ServiceRequest {
  const spec = service.spec ?? {};
  const annotations = service.annotations;
  // SharingKey(): the stable annotation wins whenever present, even empty.
  const sharingKey = annotation(annotations, ANNOTATIONS.allowSharedIP, DEPRECATED_ANNOTATIONS.allowSharedIP) ?? '';
  // k8salloc.BackendKey(): Local services share only with the same pod selector.
  const backendKey = spec.externalTrafficPolicy === 'Local' ? formatLabels(spec.selector) : '';
  const ports = (spec.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`);
  const policy: IpFamilyPolicy =
    spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack' ? spec.ipFamilyPolicy : 'SingleStack';
  const desiredPoolRaw = annotation(annotations, ANNOTATIONS.addressPool, DEPRECATED_ANNOTATIONS.addressPool);

  let desiredIps: Ip[] | undefined;
  let desiredFamily: ServiceFamily | undefined;
  let desiredError: string | undefined;
  const lbIpsText = annotation(annotations, ANNOTATIONS.loadBalancerIPs, DEPRECATED_ANNOTATIONS.loadBalancerIPs) ?? '';
  const specIp = spec.loadBalancerIP ?? '';
  if (lbIpsText !== '' && specIp !== '') {
    desiredError = `service can not have both ${ANNOTATIONS.loadBalancerIPs} and svc.Spec.LoadBalancerIP`;
  } else if (lbIpsText !== '') {
    const parsed = lbIpsText.split(',').map((s) => parseIp(s.trim()));
    if (parsed.some((ip) => ip === undefined)) {
      desiredError = `invalid ${ANNOTATIONS.loadBalancerIPs}: ${JSON.stringify(lbIpsText)}`;
    } else {
      desiredIps = parsed as Ip[];
      const fam = familyOfIps(desiredIps);
      if ('family' in fam) desiredFamily = fam.family;
      else desiredError = fam.error;
    }
  } else if (specIp !== '') {
    const ip = parseIp(specIp);
    if (!ip) desiredError = `invalid spec.loadBalancerIP ${JSON.stringify(specIp)}`;
    else {
      desiredIps = [ip];
      desiredFamily = ip.family === 4 ? 'ipv4' : 'ipv6';
    }
  }

  let family: ServiceFamily | undefined;
  let familyError: string | undefined;
  const families = spec.ipFamilies ?? [];
  if (families.length > 0) {
    const bad = families.find((f) => f !== 'IPv4' && f !== 'IPv6');
    if (bad !== undefined) familyError = `invalid spec.ipFamilies entry ${JSON.stringify(bad)}: use IPv4 or IPv6`;
    else if (families.length > 2) familyError = `spec.ipFamilies has ${families.length} entries: at most one IPv4 and one IPv6`;
    else if (families.length === 2) {
      if (families[0] === families[1]) familyError = `spec.ipFamilies lists ${families[0]} twice`;
      else family = 'dual';
    } else family = families[0] === 'IPv6' ? 'ipv6' : 'ipv4';
  } else if (desiredFamily !== undefined) {
    family = desiredFamily;
  } else {
    family = policy === 'SingleStack' ? 'ipv4' : 'dual';
  }
  if (family !== undefined && policy === 'RequireDualStack' && family !== 'dual') {
    familyError = `Service requires dual stack but not enough clusterips (spec.ipFamilies: ${JSON.stringify(families)})`;
    family = undefined;
  }

  return {
    key: serviceKey(service),
    service,
    isLoadBalancer: spec.type === undefined || spec.type === 'LoadBalancer',
    ...(spec.loadBalancerClass !== undefined ? { loadBalancerClass: spec.loadBalancerClass } : {}),
    sharingKey,
    backendKey,
    ports,
    policy,
    ...(family !== undefined ? { family } : {}),
    ...(familyError !== undefined ? { familyError } : {}),
    ...(desiredIps !== undefined ? { desiredIps } : {}),
    ...(desiredFamily !== undefined ? { desiredFamily } : {}),
    ...(desiredError !== undefined ? { desiredError } : {}),
    ...(desiredPoolRaw !== undefined && desiredPoolRaw !== '' ? { desiredPool: desiredPoolRaw } : {}),
  };
}

/** The family PreferDualStack falls back to first: IPv6 only when spec.ipFamilies[0] is IPv6 (findBestPoolForService). */
export function primaryFamily(service: ServiceInput): 4 | 6 {
  return service.spec?.ipFamilies?.[0] === 'IPv6' ? 6 : 4;
}
