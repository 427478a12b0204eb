/**
 * FrameSocket on a real interface: an AF_PACKET raw socket from the native addon. Frames this
 * host sends never come back (PACKET_IGNORE_OUTGOING); a kernel BPF filter keeps the rest of the
 * interface's traffic out of JavaScript.
 */
import type { FrameSocket } from '../announcer/frame-socket.js';
import type { L2vipError } from '../errors.js';
import { loadNative, type BpfInstruction, type NativePacketSocket } from './native.js';
import { rethrowSocketError, socketError } from './socket-errors.js';

/** linux/if_ether.h: ETH_P_ALL = 0x0003, every protocol. */
export const ETH_P_ALL = 0x0003;

/** sll_pkttype of a received frame (linux/if_packet.h): to us, broadcast, multicast, or another host. */
export type PacketType = 'host' | 'broadcast' | 'multicast' | 'otherhost';
// linux/if_packet.h: PACKET_HOST 0, PACKET_BROADCAST 1, PACKET_MULTICAST 2, PACKET_OTHERHOST 3.
const PACKET_TYPES: readonly PacketType[] = ['host', 'broadcast', 'multicast', 'otherhost'];
const DEFAULT_RCVBUF_BYTES = 1 << 20;

export interface AfPacketSocketOptions {
  /** Ethertype to receive (host order); default ETH_P_ALL. */
  readonly protocol?: number;
  /** Kernel filter, attached before the socket starts receiving (see bpf.ts); default none. */
  readonly filter?: readonly BpfInstruction[];
  /**
   * Receive queue limit in bytes; default 1 MiB, about 1000 small frames, so a burst (an ARP
   * scan of a subnet) waits for the event loop instead of being dropped. 0: the kernel default.
   */
  readonly receiveBufferBytes?: number;
  /** Receive errors, e.g. ENETDOWN when the interface goes down; the socket stays open. Default: ignored. */
  readonly onError?: (err: L2vipError) => void;
}

export class AfPacketSocket implements FrameSocket {
  private handler: (frame: Uint8Array, type: PacketType) => void = () => {};

  private constructor(
    private readonly native: NativePacketSocket,
    /** For messages: the name given to open(), or `ifindex N`. */
    readonly label: string,
    onError: ((err: L2vipError) => void) | undefined,
  ) {
    native.onrecv = (...args) => {
      if (args[0] !== null) {
        onError?.(socketError(args[0], `receiving on ${this.label}`));
        return;
      }
      const [, frames, types] = args;
      for (let i = 0; i < frames.length; i++) this.handler(frames[i]!, PACKET_TYPES[types[i]!] ?? 'otherhost');
    };
  }

  /**
   * Opens a raw socket on `iface` (ifindex or name). Throws PermissionError without CAP_NET_RAW,
   * InterfaceError if the interface does not exist, SocketError otherwise.
   */
  static open(iface: number | string, options: AfPacketSocketOptions = {}): AfPacketSocket {
    const addon = loadNative();
    const label = typeof iface === 'number' ? `ifindex ${iface}` : iface;
    const what = `opening a raw socket on ${label}`;
    try {
      const ifindex = typeof iface === 'number' ? iface : addon.ifNameToIndex(iface);
      const native = new addon.PacketSocket(
        ifindex,
        options.protocol ?? ETH_P_ALL,
        options.filter ?? null,
        options.receiveBufferBytes ?? DEFAULT_RCVBUF_BYTES,
        () => {},
      );
      return new AfPacketSocket(native, label, options.onError);
    } catch (err) {
      rethrowSocketError(err, what);
    }
  }

  get ifindex(): number {
    return this.native.ifindex;
  }

  /** The receive handler also gets the frame's packet type; a handler taking only the frame is fine. */
  onFrame(handler: (frame: Uint8Array, type: PacketType) => void): void {
    this.handler = handler;
  }

  send(frame: Uint8Array): void {
    try {
      // The frame's own ethertype becomes skb->protocol, as the kernel would parse it (Linux >= 5.1 does it for 0).
      this.native.send(frame, frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : 0);
    } catch (err) {
      rethrowSocketError(err, `sending a frame on ${this.label}`);
    }
  }

  addMembership(mac: Uint8Array): void {
    try {
      this.native.addMembership(mac);
    } catch (err) {
      rethrowSocketError(err, `joining a multicast group on ${this.label}`);
    }
  }

  dropMembership(mac: Uint8Array): void {
    try {
      this.native.dropMembership(mac);
    } catch (err) {
      rethrowSocketError(err, `leaving a multicast group on ${this.label}`);
    }
  }

  /** Replaces the kernel filter (null: receive everything). Frames already queued are not refiltered. */
  setFilter(filter: readonly BpfInstruction[] | null): void {
    try {
      this.native.setFilter(filter);
    } catch (err) {
      rethrowSocketError(err, `attaching a BPF filter on ${this.label}`);
    }
  }

  /** Frames that passed the filter and frames the kernel dropped on a full queue, since the last call. */
  statistics(): { packets: number; drops: number } {
    try {
      return this.native.statistics();
    } catch (err) {
      rethrowSocketError(err, `reading packet statistics on ${this.label}`);
    }
  }

  close(): void {
    this.native.close();
  }
}
