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
  /**
   * Sets the receive handler; `from` is the source address in the same syntax as `send`, `at`
   * when the datagram arrived on the owner's clock (absent: now).
   */
  onMessage(handler: (data: Uint8Array, from: string, at?: number) => void): void;
  /**
   * Present on a transport that delivers nothing on its own (PolledUdpTransport): the owner calls
   * it, once per tick, and the handler runs synchronously for every datagram queued since, with
   * its arrival time. Datagrams then cost no wakeup of their own (docs/membership.md#cost).
   */
  poll?(): void;
}
