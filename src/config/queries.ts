import { parseIp, type Ip } from '../ip/address.js';
import { cidrContains } from '../ip/cidr.js';
import type { Config, L2Advertisement, Pool } from './types.js';

function toIp(ip: string | Ip): Ip | undefined {
  return typeof ip === 'string' ? parseIp(ip) : ip;
}

/** The pool named `name`, if any. */
export function findPool(config: Config, name: string): Pool | undefined {
  return config.pools.find((p) => p.name === name);
}

/**
 * The pool whose addresses contain `ip` (text or parsed), as the speaker's poolFor does
 * (speaker/main.go): `avoidBuggyIPs` is not considered here. Pools never overlap, so there is
 * at most one.
 */
export function poolForIp(config: Config, ip: string | Ip): Pool | undefined {
  const addr = toIp(ip);
  if (!addr) return undefined;
  return config.pools.find((p) => p.cidrs.some((c) => cidrContains(c, addr)));
}

/** The pool that contains every one of `ips` (a Service's ingress IPs), if one does. */
export function poolForIps(config: Config, ips: readonly (string | Ip)[]): Pool | undefined {
  if (ips.length === 0) return undefined;
  const first = poolForIp(config, ips[0] as string | Ip);
  if (!first) return undefined;
  return ips.every((ip) => poolForIp(config, ip) === first) ? first : undefined;
}

/** The L2Advertisements that announce pool `poolName`, sorted by name. */
export function l2AdvertisementsForPool(config: Config, poolName: string): L2Advertisement[] {
  return config.l2Advertisements.filter((a) => a.pools.includes(poolName));
}
