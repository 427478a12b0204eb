/**
 * Two network namespaces joined by one veth pair (each end named eth0), for benches that need a
 * real kernel on both sides of a link. The namespaces are deleted by `destroy()`, and also when
 * the process exits or gets SIGINT/SIGTERM/SIGHUP, so an interrupted bench leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { onCleanup } from './cleanup.js';

export interface NetnsEnd {
  /** Namespace name, for `ip netns exec NAME ...`. */
  readonly ns: string;
  /** Address with prefix, e.g. 198.51.100.1/24. */
  readonly cidr: string;
  readonly ip: string;
  readonly mac: string;
}

export interface NetnsPair {
  readonly client: NetnsEnd;
  readonly node: NetnsEnd;
  /** Deletes both namespaces (and with them the veth). Idempotent. */
  destroy(): void;
}

export interface NetnsPairOptions {
  /** Name prefix; namespaces are `<prefix>-c` and `<prefix>-n`. Default `l2b-<pid>`. */
  readonly prefix?: string;
  readonly clientCidr: string;
  readonly nodeCidr: string;
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function deleteNs(ns: string): void {
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // Already gone (deleted by hand, or never created): nothing left to clean.
  }
}

function sysctl(ns: string, key: string, value: string): void {
  ip(['netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`]);
}

function macOf(ns: string): string {
  const links = JSON.parse(ip(['-n', ns, '-j', 'link', 'show', 'eth0'])) as { address: string }[];
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`no eth0 in namespace ${ns}`);
  return mac;
}

/**
 * Creates the pair: client and node namespaces, eth0 up in each with its IPv4 address, IPv6
 * disabled on eth0 so that router solicitations and MLD reports do not show up in the frame
 * counts. Throws (after cleaning up) if `ip` fails, e.g. without CAP_SYS_ADMIN.
 */
export function createNetnsPair(options: NetnsPairOptions): NetnsPair {
  const prefix = options.prefix ?? `l2b-${process.pid}`;
  const names = { client: `${prefix}-c`, node: `${prefix}-n` };
  const destroy = (): void => {
    deleteNs(names.client);
    deleteNs(names.node);
    unregister();
  };
  const unregister = onCleanup(destroy);
  try {
    for (const ns of [names.client, names.node]) {
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ip(['-n', names.client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', names.node]);
    const ends: NetnsEnd[] = [];
    for (const [ns, cidr] of [
      [names.client, options.clientCidr],
      [names.node, options.nodeCidr],
    ] as const) {
      sysctl(ns, 'net.ipv6.conf.eth0.disable_ipv6', '1');
      ip(['-n', ns, 'addr', 'add', cidr, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ends.push({ ns, cidr, ip: cidr.split('/')[0]!, mac: macOf(ns) });
    }
    return { client: ends[0]!, node: ends[1]!, destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}

/** Kernel interface counters of eth0 in `ns` (/sys/class/net/eth0/statistics, via `ip -s`). */
export interface LinkCounters {
  readonly rxPackets: number;
  readonly txPackets: number;
  readonly rxDropped: number;
  readonly txDropped: number;
}

export function linkCounters(ns: string): LinkCounters {
  const out = JSON.parse(ip(['-n', ns, '-s', '-j', 'link', 'show', 'eth0'])) as {
    stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } };
  }[];
  const s = out[0]?.stats64;
  if (s === undefined) throw new Error(`no statistics for eth0 in ${ns}`);
  return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxDropped: s.rx.dropped, txDropped: s.tx.dropped };
}
