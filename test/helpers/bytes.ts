import ipaddr from 'ipaddr.js';
import { decodeEthernet } from '../../src/packet/ethernet.js';
import type { DecodeResult } from '../../src/packet/drop-reason.js';
import { decodeIpv6 } from '../../src/packet/ipv6.js';
import { decodeNdp, type NdpMessage } from '../../src/packet/ndp.js';

/** Bytes from hex text; whitespace is ignored so dumps can be laid out by field. */
export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/** The 16 bytes of an IPv6 address. */
export function ip6(s: string): Uint8Array {
  return new Uint8Array(ipaddr.IPv6.parse(s).toByteArray());
}

/** Ethernet -> IPv6 -> NDP, as the responder chains them. */
export function decodeNdpFrame(frame: Uint8Array): DecodeResult<NdpMessage> {
  const eth = decodeEthernet(frame);
  if (!eth.ok) return eth;
  const ip = decodeIpv6(eth.value.payload);
  if (!ip.ok) return ip;
  return decodeNdp(ip.value, ip.value.payload);
}
