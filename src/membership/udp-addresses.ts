import { isIP } from 'node:net';
import { formatHostPort, type HostPort, parseHostPort } from '../ip/host-port.js';
import type { Logger } from '../observability/logger.js';

/**
 * Source 'address:port' texts of received datagrams, as `PeerTransport.send` takes them (an
 * IPv4-mapped address in IPv4 syntax): one string per peer, built once, bounded against a
 * flood of sources. Shared by both UDP transports.
 */
export class SourceTexts {
  private readonly byAddress = new Map<string, Map<number, string>>();

  text(address: string, port: number): string {
    let ports = this.byAddress.get(address);
    let text = ports?.get(port);
    if (text !== undefined) return text;
    const host = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    text = formatHostPort(host, port);
    if (ports === undefined) {
      if (this.byAddress.size >= 1024) this.byAddress.clear();
      ports = new Map();
      this.byAddress.set(address, ports);
    }
    if (ports.size >= 64) ports.clear();
    ports.set(port, text);
    return text;
  }
}

/**
 * Where `send(address)` goes from a socket bound to `bind`: parsed once per address, an IPv4 peer
 * of an IPv6 socket IPv4-mapped. `make` turns the host and port into what the socket takes. An
 * address that cannot parse, or of the other family, is unusable for good (null, warned once);
 * one `make` refuses now (a link-local zone whose interface does not exist yet) is tried again
 * at the next send, and warned about once.
 */
export class PeerTargets<T> {
  private readonly parsed = new Map<string, T | null>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly bind: HostPort,
    private readonly make: (hp: HostPort) => T,
    private readonly log: Logger | undefined,
  ) {}

  get(address: string): T | null {
    const known = this.parsed.get(address);
    if (known !== undefined) return known;
    let hp: HostPort | null;
    try {
      hp = parseHostPort(address);
      if (hp.family === 4 && this.bind.family === 6) hp = { ...hp, host: `::ffff:${hp.host}` };
      else if (hp.family === 6 && this.bind.family === 4) hp = null;
    } catch {
      hp = null;
    }
    if (hp === null) {
      this.warn(address);
      this.parsed.set(address, null);
      return null;
    }
    try {
      const t = this.make(hp);
      this.parsed.set(address, t);
      this.warned.delete(address);
      return t;
    } catch {
      this.warn(address);
      return null;
    }
  }

  private warn(address: string): void {
    if (this.warned.has(address)) return;
    if (this.warned.size < 1024) this.warned.add(address);
    this.log?.warn({ node: address }, 'membership peer address unusable from this bind address');
  }
}
