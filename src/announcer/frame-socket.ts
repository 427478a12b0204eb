/**
 * Port: raw Ethernet frames on one interface. The real adapter is an AF_PACKET socket
 * (src/netdev/afpacket-socket.ts); tests use an in-memory fake (test/fakes).
 */
export interface FrameSocket {
  /** Kernel interface index the socket is bound to. */
  readonly ifindex: number;
  /** Sends one complete Ethernet frame (destination MAC first). Throws SocketError on failure. */
  send(frame: Uint8Array): void;
  /** Registers the receive handler; frames sent by this host itself are never delivered. */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Joins a link-layer multicast group (e.g. 33:33:ff:xx:xx:xx for a solicited-node address). */
  addMembership(mac: Uint8Array): void;
  dropMembership(mac: Uint8Array): void;
  close(): void;
}
