import * as dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import type * as dns from 'node:dns';
import { isIP } from 'node:net';
import { formatHostPort, type HostPort, parseHostPort } from '../ip/host-port.js';
import { PeerTargets, SourceTexts } from './udp-addresses.js';
import type { Logger } from '../observability/logger.js';
import type { PeerTransport } from './peer-transport.js';

export interface UdpTransportOptions {
  /** Local 'address:port' to bind, e.g. '0.0.0.0:7946' or '[::]:7946' (port 0: any free port). */
  readonly bind: string;
  readonly logger?: Logger;
}

/**
 * PeerTransport over UDP (node:dgram), event-driven: every datagram wakes the event loop. The
 * membership worker uses PolledUdpTransport (read once per tick) and this one only when the
 * native addon is missing. An IPv6 bind address opens a dual-stack socket (IPv4
 * peers are reached as ::ffff:a.b.c.d and reported back in IPv4 syntax); an IPv4 bind address
 * reaches IPv4 peers only. Send errors are logged at debug and count as lost datagrams.
 */
export class UdpTransport implements PeerTransport {
  private socket: dgram.Socket | undefined;
  private handler: ((data: Uint8Array, from: string) => void) | undefined;
  private readonly bind: HostPort;
  private readonly log: Logger | undefined;
  private readonly targets: PeerTargets<HostPort>;
  private readonly sources = new SourceTexts();

  constructor(options: UdpTransportOptions) {
    this.bind = parseHostPort(options.bind, 'membership.bind');
    this.log = options.logger?.child({ component: 'udp-transport' });
    this.targets = new PeerTargets(this.bind, (hp) => hp, this.log);
  }

  /** The bound 'address:port' (the real port when bound to port 0). Only after start(). */
  address(): string {
    if (this.socket === undefined) throw new Error('UdpTransport.address() called before start()');
    const a = this.socket.address();
    return formatHostPort(a.address, a.port);
  }

  /** Binds the socket; calling it again while bound does nothing (so a caller may bind early to learn the port). */
  async start(): Promise<void> {
    if (this.socket !== undefined) return;
    const socket = dgram.createSocket({ type: this.bind.family === 6 ? 'udp6' : 'udp4', ipv6Only: false, lookup: literalLookup });
    socket.on('message', (msg, rinfo) => this.handler?.(msg, this.sources.text(rinfo.address, rinfo.port)));
    socket.on('error', (err) => this.log?.warn({ err }, 'membership socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.bind.port, this.bind.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined) return;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  send(address: string, data: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) return;
    const to = this.targets.get(address);
    if (to === null) return;
    const debug = this.log?.isLevelEnabled('debug') === true;
    const failed = (err: unknown): void => {
      if (debug) this.log?.debug({ err, node: address }, 'membership send failed');
    };
    try {
      // Without a callback a datagram the kernel took at once costs no completion tick; failures
      // are only logged at debug, so the callback is only needed then.
      if (debug) {
        socket.send(data, to.port, to.host, (err) => {
          if (err !== null && err !== undefined) failed(err);
        });
      } else socket.send(data, to.port, to.host);
    } catch (err) {
      failed(err); // e.g. port 0: dgram throws synchronously for some arguments
    }
  }

  onMessage(handler: (data: Uint8Array, from: string) => void): void {
    this.handler = handler;
  }
}

/**
 * dgram's address lookup for the IP literals `send` is given (target() parsed them): answers at
 * once, where dns.lookup() answers an IP literal on the next tick (one tick per datagram).
 * Anything else goes to dns.lookup().
 */
function literalLookup(hostname: string, options: dns.LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}
