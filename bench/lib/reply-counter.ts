/**
 * Counts ARP replies where they enter an interface, in the kernel (an nftables netdev ingress
 * chain with one named counter per answering IP), so a reply counts as delivered even if the
 * measuring process was descheduled and its socket queue overflowed. Comparing with the count
 * the client itself saw tells the responder's losses from the client's.
 */
import { execFileSync } from 'node:child_process';

const TABLE = 'l2b_replies';

function nft(ns: string, args: readonly string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export class ReplyCounter {
  private constructor(
    private readonly ns: string,
    private readonly names: ReadonlyMap<string, string>,
  ) {}

  /**
   * Installs the counters on `iface` in `ns`: ARP replies (RFC 826 operation 2) from each of
   * `senders`, unicast to `mac` (so gratuitous replies, which are broadcast, are not counted).
   * The table goes away with the namespace.
   */
  static install(ns: string, iface: string, mac: string, senders: readonly string[]): ReplyCounter {
    const names = new Map(senders.map((ip, i) => [ip, `from_${i}`]));
    const rules = senders.map((ip) => `    ether daddr ${mac} arp operation reply arp saddr ip ${ip} counter name "${names.get(ip)!}"`);
    nft(ns, ['-f', '-'], [
      `table netdev ${TABLE} {`,
      ...[...names.values()].map((n) => `  counter ${n} { }`),
      '  chain ingress {',
      `    type filter hook ingress device "${iface}" priority 0; policy accept;`,
      ...rules,
      '  }',
      '}',
      '',
    ].join('\n'));
    return new ReplyCounter(ns, names);
  }

  /** Packets counted so far from `sender`. */
  read(sender: string): number {
    const name = this.names.get(sender);
    if (name === undefined) throw new Error(`no counter for ${sender}`);
    const out = JSON.parse(nft(this.ns, ['-j', 'list', 'counter', 'netdev', TABLE, name])) as {
      nftables: { counter?: { name: string; packets: number } }[];
    };
    const c = out.nftables.find((e) => e.counter?.name === name)?.counter;
    if (c === undefined) throw new Error(`nft did not list counter ${name}`);
    return c.packets;
  }
}
