import type { FrameSocket } from '../../src/announcer/frame-socket.js';
import { SocketError } from '../../src/errors.js';

/**
 * An in-memory Ethernet segment: every frame sent by one socket reaches every other socket
 * (a hub, no MAC learning or filtering), synchronously. Frames are also recorded.
 */
export class MemoryLan {
  readonly sockets = new Set<MemoryFrameSocket>();
  readonly sent: { from: MemoryFrameSocket; frame: Uint8Array }[] = [];

  socket(ifindex = 1): MemoryFrameSocket {
    const s = new MemoryFrameSocket(this, ifindex);
    this.sockets.add(s);
    return s;
  }

  deliver(from: MemoryFrameSocket, frame: Uint8Array): void {
    this.sent.push({ from, frame });
    for (const s of this.sockets) if (s !== from) s.receive(frame);
  }
}

export class MemoryFrameSocket implements FrameSocket {
  readonly memberships = new Set<string>();
  closed = false;
  private handler: ((frame: Uint8Array) => void) | undefined;

  constructor(
    private readonly lan: MemoryLan,
    readonly ifindex: number,
  ) {}

  send(frame: Uint8Array): void {
    this.assertOpen('sending a frame');
    this.lan.deliver(this, Uint8Array.from(frame));
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.handler = handler;
  }

  addMembership(mac: Uint8Array): void {
    this.assertOpen('joining a multicast group');
    this.memberships.add(Buffer.from(mac).toString('hex'));
  }

  dropMembership(mac: Uint8Array): void {
    this.assertOpen('leaving a multicast group');
    this.memberships.delete(Buffer.from(mac).toString('hex'));
  }

  close(): void {
    this.closed = true;
    this.lan.sockets.delete(this);
  }

  /** As AfPacketSocket: a closed socket fails like a system call on a closed fd. */
  private assertOpen(what: string): void {
    if (this.closed) throw new SocketError(`${what} on ifindex ${this.ifindex}: socket is closed`, 'EBADF');
  }

  /** Injects a frame as if it arrived from the wire. */
  receive(frame: Uint8Array): void {
    if (!this.closed) this.handler?.(frame);
  }
}
