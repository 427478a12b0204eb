import { randomBytes } from 'node:crypto';
import type { CommandRunner } from '../host/command-runner.js';
import { HostSetupError } from '../errors.js';

/** Every namespace of the lab starts with this, so leftovers of a crashed run can be found. */
export const LAB_PREFIX = 'l2vlab';

export interface LabHost {
  /** Short name: c (client) or n1..nN. */
  readonly name: string;
  readonly netns: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** Name of its port on the switch (in the switch namespace). */
  readonly port: string;
}

export interface LabTopology {
  readonly id: string;
  readonly switchNs: string;
  readonly client: LabHost;
  readonly nodes: readonly LabHost[];
  readonly vip4: string;
  readonly vip6: string;
}

// Documentation ranges (RFC 5737 TEST-NET-2, RFC 3849): never routed anywhere.
const NET4 = '198.51.100';
const NET6 = '2001:db8:77';

/** The plan of a lab with `n` nodes: names and addresses, nothing created yet. */
export function planTopology(id: string, n: number): LabTopology {
  const host = (name: string, last: number): LabHost => ({
    name,
    netns: `${LAB_PREFIX}-${id}-${name}`,
    ipv4: `${NET4}.${last}`,
    ipv6: `${NET6}::${last}`,
    port: `${name}-${id}`.slice(0, 15),
  });
  return {
    id,
    switchNs: `${LAB_PREFIX}-${id}-sw`,
    client: host('c', 2),
    nodes: Array.from({ length: n }, (_, i) => host(`n${i + 1}`, 11 + i)),
    vip4: `${NET4}.200`,
    vip6: `${NET6}::200`,
  };
}

async function ip(runner: CommandRunner, args: string[]): Promise<void> {
  const r = await runner.run('ip', args);
  if (r.code !== 0) throw new HostSetupError(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** Creates namespaces, a bridge in the switch namespace, and one veth per host. */
export async function buildTopology(runner: CommandRunner, t: LabTopology): Promise<void> {
  await ip(runner, ['netns', 'add', t.switchNs]);
  await ip(runner, ['-n', t.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
  // No MLD querier in the lab: without snooping the bridge floods multicast (solicited-node NS).
  await ip(runner, ['-n', t.switchNs, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
  await ip(runner, ['-n', t.switchNs, 'link', 'set', 'br0', 'up']);
  // A switch, not a host firewall: where br_netfilter is loaded (Docker and Kubernetes hosts) it
  // would pass every bridged frame through the IP hooks, on the sending node's CPU (veth delivers
  // in the sender's context), which no real switch charges a node. Per network namespace; absent
  // without br_netfilter (then nothing to turn off).
  await runner
    .run('ip', ['netns', 'exec', t.switchNs, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0'])
    .catch(() => undefined);
  for (const h of [t.client, ...t.nodes]) {
    await ip(runner, ['netns', 'add', h.netns]);
    await ip(runner, ['link', 'add', h.port, 'netns', t.switchNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
    await ip(runner, ['-n', t.switchNs, 'link', 'set', h.port, 'master', 'br0', 'up']);
    await ip(runner, ['-n', h.netns, 'link', 'set', 'lo', 'up']);
    await ip(runner, ['-n', h.netns, 'link', 'set', 'eth0', 'up']);
    await ip(runner, ['-n', h.netns, 'addr', 'add', `${h.ipv4}/24`, 'dev', 'eth0']);
    await ip(runner, ['-n', h.netns, 'addr', 'add', `${h.ipv6}/64`, 'dev', 'eth0', 'nodad']);
  }
}

/** Deletes every namespace of the lab; the veths and the bridge go with them. Never throws. */
export async function destroyTopology(runner: CommandRunner, t: LabTopology): Promise<void> {
  for (const ns of [t.client.netns, ...t.nodes.map((n) => n.netns), t.switchNs]) {
    await runner.run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

/**
 * A lab id that names the process that owns the lab (`<pid>z<random>`), so a later run can tell
 * a crashed lab from one that is running right now (another bench, a test) and leave the latter
 * alone. At most 10 characters, so `n9-<id>` fits in an interface name (15).
 */
export function labId(pid = process.pid): string {
  return `${pid}z${randomBytes(1).toString('hex')}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Namespaces left by an earlier lab run that crashed: labs whose owning process (in the id,
 * see `labId`) is gone, and labs of the older 4-hex-digit ids in which no process runs. Labs of
 * live processes, and namespaces of other prefixes' users (test helpers use `t...` ids), are
 * never listed.
 */
export async function leftoverNamespaces(runner: CommandRunner): Promise<string[]> {
  const r = await runner.run('ip', ['netns', 'list']);
  if (r.code !== 0) return [];
  const byId = new Map<string, string[]>();
  for (const ns of r.stdout.split('\n').map((l) => l.split(/\s/)[0] ?? '')) {
    const m = new RegExp(`^${LAB_PREFIX}-([^-]+)-`).exec(ns);
    if (m) byId.set(m[1]!, [...(byId.get(m[1]!) ?? []), ns]);
  }
  const out: string[] = [];
  for (const [id, names] of byId) {
    const owner = /^(\d+)z[0-9a-f]+$/.exec(id);
    if (owner) {
      if (!alive(Number(owner[1]))) out.push(...names);
    } else if (/^[0-9a-f]{4}$/.test(id)) {
      let busy = false;
      for (const ns of names) {
        const p = await runner.run('ip', ['netns', 'pids', ns]).catch(() => undefined);
        if (p !== undefined && p.stdout.trim() !== '') busy = true;
      }
      if (!busy) out.push(...names);
    }
  }
  return out;
}

/** nftables expression (bridge family) matching l2vip's membership datagrams. */
export const MEMBERSHIP_TRAFFIC: readonly string[] = ['udp dport 7946'];

/**
 * Random loss of `percent` % (0: none, only counted) of the frames crossing the switch that
 * match any of `matches` (nftables expressions of the bridge family, one rule each:
 * `udp dport 7946`, `ip protocol 112`).
 * A flooded frame (multicast) passes the forward hook once per output port, so each receiver
 * loses its copy independently.
 */
export async function setPeerLoss(runner: CommandRunner, t: LabTopology, percent: number, matches: readonly string[] = MEMBERSHIP_TRAFFIC): Promise<void> {
  await runner.run('ip', ['netns', 'exec', t.switchNs, 'nft', 'delete', 'table', 'bridge', 'l2vlab']).catch(() => undefined);
  const script = [
    'table bridge l2vlab {',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    // A counter per match, then the drop (none at 0 %): the counters show that the match hits the traffic.
    ...matches.flatMap((m) => [`    ${m} counter`, ...(percent > 0 ? [`    ${m} numgen random mod 100 < ${percent} counter drop`] : [])]),
    '  }',
    '}',
    '',
  ].join('\n');
  const r = await runner.run('ip', ['netns', 'exec', t.switchNs, 'nft', '-f', '-'], script);
  if (r.code !== 0) throw new HostSetupError(`nft (loss injection): ${r.stderr.trim()}`);
}

/** Frames that matched `setPeerLoss`'s expressions so far, and how many of them it dropped. */
export async function lossCounters(runner: CommandRunner, t: LabTopology): Promise<{ matched: number; dropped: number }> {
  const r = await runner.run('ip', ['netns', 'exec', t.switchNs, 'nft', 'list', 'table', 'bridge', 'l2vlab']);
  const out = { matched: 0, dropped: 0 };
  if (r.code !== 0) return out;
  for (const m of r.stdout.matchAll(/counter packets (\d+) bytes \d+( drop)?/g)) {
    if (m[2] === undefined) out.matched += Number(m[1]);
    else out.dropped += Number(m[1]);
  }
  return out;
}

/** Cuts (or restores) a host's link at the switch: its eth0 loses carrier, like a pulled cable. */
export async function setLink(runner: CommandRunner, t: LabTopology, h: LabHost, up: boolean): Promise<void> {
  await ip(runner, ['-n', t.switchNs, 'link', 'set', h.port, up ? 'up' : 'down']);
}

/**
 * Makes the client ignore gratuitous announcements of the VIPs, as many routers and firewalls do
 * on purpose: an nftables table in the client namespace drops ARP frames whose sender and target
 * address are both a VIP (gratuitous requests and replies) and Neighbor Advertisements sent to
 * all nodes (unsolicited). Answers to the client's own ARP requests and NS still pass, so it
 * finds a new owner only when its neighbour entry for the VIP is re-checked: its neighbour
 * timers bound the outage. They are lowered (reachable 2 s, first probe after 1 s, probes 1 s
 * apart) so that bound fits a trial; a router's defaults are longer (reachable 15-45 s, plus
 * 5 s before probing, on Linux).
 */
export async function ignoreGratuitous(runner: CommandRunner, t: LabTopology): Promise<void> {
  const script = [
    'table arp l2vlab_garp {',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    arp saddr ip ${t.vip4} arp daddr ip ${t.vip4} counter drop`,
    '  }',
    '}',
    'table ip6 l2vlab_garp {',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ip6 daddr ff02::1 icmpv6 type nd-neighbor-advert counter drop',
    '  }',
    '}',
    '',
  ].join('\n');
  const r = await runner.run('ip', ['netns', 'exec', t.client.netns, 'nft', '-f', '-'], script);
  if (r.code !== 0) throw new HostSetupError(`nft (client ignoring gratuitous ARP/NA): ${r.stderr.trim()}`);
  for (const fam of ['ipv4', 'ipv6']) {
    for (const [k, v] of [
      ['base_reachable_time_ms', '2000'],
      ['delay_first_probe_time', '1'],
      ['retrans_time_ms', '1000'],
      ['gc_stale_time', '5'],
    ]) {
      const s = await runner.run('ip', ['netns', 'exec', t.client.netns, 'sysctl', '-q', '-w', `net.${fam}.neigh.eth0.${k}=${v}`]);
      if (s.code !== 0) throw new HostSetupError(`sysctl net.${fam}.neigh.eth0.${k} in the client: ${s.stderr.trim()}`);
    }
  }
}

/** Gratuitous frames the client dropped so far (ignoreGratuitous's counters). */
export async function ignoredGratuitous(runner: CommandRunner, t: LabTopology): Promise<number> {
  let n = 0;
  for (const fam of ['arp', 'ip6']) {
    const r = await runner.run('ip', ['netns', 'exec', t.client.netns, 'nft', 'list', 'table', fam, 'l2vlab_garp']);
    for (const m of r.stdout.matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
  }
  return n;
}
