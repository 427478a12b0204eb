import { canonicalIp } from '../ip/address.js';

/**
 * The host part of a transport address ('192.0.2.1:7946', '[2001:db8::1]:7946'), in one
 * canonical text, for comparing a datagram's source with the configured peer addresses:
 * IPv6 per RFC 5952 (so '[2001:DB8:0::1]' in a config matches the '[2001:db8::1]' the UDP
 * transport reports), an IPv4-mapped IPv6 address as its IPv4 address (what a dual-stack
 * socket reports for an IPv4 peer), and without a zone ('fe80::1%eth0'). A host that is not an
 * IP literal (fake transports) is returned as written.
 */
export function sourceHost(address: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(address);
  let host: string;
  if (bracketed !== null) host = bracketed[1]!;
  else {
    const colon = address.lastIndexOf(':');
    // More than one colon without brackets: a bare IPv6 address, no port.
    host = colon < 0 || address.indexOf(':') !== colon ? address : address.slice(0, colon);
  }
  const zone = host.indexOf('%');
  if (zone >= 0) host = host.slice(0, zone);
  return canonicalIp(host) ?? host;
}
