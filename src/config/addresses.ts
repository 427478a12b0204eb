import { formatIp, type IpFamily } from '../ip/address.js';
import { cidrRange, formatCidr, parseCidr, parseIpRange, summarizeRange, type Cidr, type IpRange } from '../ip/cidr.js';
import { CONFIG_ERROR_CODES, type ConfigErrorCode } from './issue-codes.js';

/** One entry of IPAddressPool.spec.addresses, parsed. */
export type PoolAddress =
  | {
      readonly ok: true;
      readonly family: IpFamily;
      readonly range: IpRange;
      /** The CIDRs MetalLB allocates from for this entry, ascending. */
      readonly cidrs: readonly Cidr[];
      /** A CIDR written with host bits ("10.0.0.7/24"): the text of the network it means. */
      readonly normalizedFrom?: string;
    }
  | { readonly ok: false; readonly code: ConfigErrorCode; readonly message: string };

/**
 * Parses an address entry as MetalLB's config.ParseCIDR does: with a "-" it is a range of two
 * addresses (spaces around them allowed, summarised into CIDRs), otherwise a CIDR (no spaces,
 * prefix length required, host bits cleared).
 */
export function parsePoolAddress(text: string): PoolAddress {
  const quoted = JSON.stringify(text);
  if (!text.includes('-')) {
    const r = parseCidr(text);
    if (!r.ok) {
      if (r.problem === 'no-prefix') {
        const single = text.includes(':') ? `${text}/128` : `${text}/32`;
        return {
          ok: false,
          code: CONFIG_ERROR_CODES.addressNoPrefix,
          message: `${quoted} has no prefix length: write "${single}" for this one address, or a range such as "${text}-${text}"`,
        };
      }
      return { ok: false, code: CONFIG_ERROR_CODES.addressInvalid, message: `${quoted} is not a valid CIDR: ${r.reason}` };
    }
    return {
      ok: true,
      family: r.cidr.family,
      range: cidrRange(r.cidr),
      cidrs: [r.cidr],
      ...(r.hadHostBits ? { normalizedFrom: formatCidr(r.cidr) } : {}),
    };
  }
  const r = parseIpRange(text);
  if (!r.ok) {
    if (r.problem === 'reversed') {
      const [a = '', b = ''] = text.split('-', 2).map((s) => s.trim());
      return {
        ok: false,
        code: CONFIG_ERROR_CODES.rangeReversed,
        message: `${quoted} is reversed: the ${r.reason}; write "${b}-${a}"`,
      };
    }
    if (r.problem === 'mixed-family') {
      return {
        ok: false,
        code: CONFIG_ERROR_CODES.rangeMixedFamily,
        message: `${quoted} mixes address families: the ${r.reason}; write one range per family`,
      };
    }
    return { ok: false, code: CONFIG_ERROR_CODES.addressInvalid, message: `${quoted} is not a valid IP range: ${r.reason}` };
  }
  return { ok: true, family: r.range.family, range: r.range, cidrs: summarizeRange(r.range) };
}

/** "10.0.0.1-10.0.0.9" or "10.0.0.0/24": how an entry is named in overlap messages. */
export function describeRange(range: IpRange): string {
  const start = formatIp({ family: range.family, value: range.start });
  const end = formatIp({ family: range.family, value: range.end });
  return start === end ? start : `${start}-${end}`;
}
