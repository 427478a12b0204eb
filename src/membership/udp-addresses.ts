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
 * Where `send(address)` goes from a socket bound to `bind`: parsed once per address (null:
 * unusable, warned once), an IPv4 peer of an IPv6 socket IPv4-mapped. `make` turns the host
 * and port into what the socket takes.
 */
export class PeerTargets<T> {
  private readonly parsed = new Map<string, T | null>();

  constructor(
    private readonly bind: HostPort,
    private readonly make: (hp: HostPort) => T,
    private readonly log: Logger | undefined,
  ) {}

  get(address: string): T | null {
    let t = this.parsed.get(address);
    if (t === undefined) {
      try {
        const hp = parseHostPort(address);
        if (hp.family === 4 && this.bind.family === 6) t = this.make({ ...hp, host: `::ffff:${hp.host}` });
        else if (hp.family === 6 && this.bind.family === 4) t = null;
        else t = this.make(hp);
      } catch {
        t = null;
      }
      if (t === null) this.log?.warn({ node: address }, 'membership peer address unusable from this bind address');
      this.parsed.set(address, t);
    }
    return t;
  }
}
