/**
 * kube-proxy in IPVS mode binds every LoadBalancer IP to the dummy interface `kube-ipvs0` on
 * every node. With Linux's default `arp_ignore=0` a host answers ARP for any local address on
 * any interface (Documentation/networking/ip-sysctl.rst, arp_ignore), so every node's kernel
 * answers for every VIP, also where another node announces it, and clients reach whichever
 * answered last. MetalLB requires kube-proxy's `strictARP: true` for this reason (installation
 * docs); it sets net.ipv4.conf.all.arp_ignore=1 (reply only for addresses on the receiving
 * interface) and arp_announce=2 (never use an address of another interface, such as a VIP on
 * kube-ipvs0, as the sender of an ARP request, which would teach the neighbours this node's
 * MAC for that VIP). The speaker reads the sysctls and warns; this is the pure check.
 */

/** One interface's (or `all`'s) ARP sysctls; undefined: not readable, taken as the kernel default 0. */
export interface ArpSysctl {
  readonly arpIgnore?: number | undefined;
  readonly arpAnnounce?: number | undefined;
}

export interface StrictArpInput {
  /** Whether an interface named kube-ipvs0 exists (kube-proxy in IPVS mode). */
  readonly kubeIpvs: boolean;
  /** net.ipv4.conf.all.*. */
  readonly all: ArpSysctl;
  /** net.ipv4.conf.<iface>.* of each interface this node announces on. */
  readonly interfaces: ReadonlyMap<string, ArpSysctl>;
}

/**
 * The warning to log, or undefined when all is well. The kernel uses the maximum of the
 * conf/all and conf/<iface> values of both sysctls; strictARP needs arp_ignore >= 1 and
 * arp_announce >= 2 on every announcing interface.
 */
export function strictArpWarning(input: StrictArpInput): string | undefined {
  if (!input.kubeIpvs) return undefined;
  const loose: string[] = [];
  for (const [name, s] of [...input.interfaces].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const ignore = Math.max(input.all.arpIgnore ?? 0, s.arpIgnore ?? 0);
    const announce = Math.max(input.all.arpAnnounce ?? 0, s.arpAnnounce ?? 0);
    if (ignore < 1 || announce < 2) loose.push(`${name} (arp_ignore ${ignore}, arp_announce ${announce})`);
  }
  if (loose.length === 0) return undefined;
  return (
    `kube-proxy runs in IPVS mode (kube-ipvs0 holds every LoadBalancer IP) and ARP is not strict on ${loose.join(', ')}: ` +
    "this node's kernel may answer ARP for Service IPs, also for IPs another node announces, so clients may be sent to the wrong node. " +
    'Fix: set strictARP: true in the kube-proxy configuration (kubectl -n kube-system edit configmap kube-proxy, under ipvs:, then restart the kube-proxy pods), ' +
    'which sets net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2; or set those two sysctls on every node.'
  );
}
