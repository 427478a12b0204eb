/**
 * Port: datagrams between membership peers. Addresses are opaque strings to the core
 * ('host:port' or '[v6]:port' for UDP). Delivery is best effort: datagrams may be lost,
 * duplicated or reordered, and the core copes (replay window, timeouts).
 *
 * Real adapter: UdpTransport (udp-transport.ts). In-memory fake: MemoryNetwork (test/fakes/memory-transport.ts).
 */
export interface PeerTransport {
  /** Opens the socket; resolves once datagrams can be sent and received. */
  start(): Promise<void>;
  /** Closes the socket; no handler call happens after it resolves. */
  stop(): Promise<void>;
  /**
   * Sends one datagram; never throws (a failed send is a lost datagram). Takes ownership of
   * `data`: the caller must not modify it afterwards (UDP sends are asynchronous).
   */
  send(address: string, data: Uint8Array): void;
  /** Sets the receive handler; `from` is the source address in the same syntax as `send`. */
  onMessage(handler: (data: Uint8Array, from: string) => void): void;
}
