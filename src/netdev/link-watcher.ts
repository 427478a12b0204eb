/**
 * Follows the host's interfaces and addresses through rtnetlink: one dump at start, then the
 * kernel's notifications (RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR) as they happen,
 * typically well under a millisecond after `ip link set ... down`.
 */
import { constants } from 'node:os';
import type { Clock, Timer } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import { type L2vipError, SocketError } from '../errors.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import {
  type AddressEvent,
  InterfaceTable,
  type LinkEvent,
  type NetInterface,
  type TableEvent,
} from './interface-table.js';
import { isNativeErrnoError, loadNative, type NativeErrnoError, type NativeNetlinkSocket, type RecvCallback } from './native.js';
import {
  decodeMessages,
  encodeDumpRequest,
  NLM_F_DUMP_INTR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_LINK,
  type RtnlMessage,
} from './rtnetlink-codec.js';
import { socketError } from './socket-errors.js';

export type { AddressEvent, LinkEvent, NetInterface } from './interface-table.js';

/** Port: the speaker core reads interfaces through this; tests use a fake. */
export interface LinkWatcherPort {
  /** Loads every interface and address; resolves when the snapshot is complete. */
  start(): Promise<void>;
  /** Stops watching; the last snapshot stays readable. */
  stop(): void;
  /** The current interfaces, by ascending ifindex. */
  interfaces(): readonly NetInterface[];
  get(ifindexOrName: number | string): NetInterface | undefined;
  /** Interface added, changed (flags, carrier, master, name, MAC, ...) or removed. Returns an unsubscribe function. */
  onLink(listener: (event: LinkEvent) => void): () => void;
  /** Address added, removed or changed (DAD finished). Returns an unsubscribe function. */
  onAddress(listener: (event: AddressEvent) => void): () => void;
}

export interface LinkWatcherOptions {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** false: load the snapshot only, without subscribing to changes (listInterfaces). Default true. */
  readonly notifications?: boolean;
  /** Receive queue limit in bytes (default 8 MiB); when it overflows the kernel drops notifications and the watcher reloads. */
  readonly receiveBufferBytes?: number;
  /** Opens the rtnetlink socket; tests pass a fake kernel. Default: the native addon. */
  readonly openSocket?: OpenNetlinkSocket;
}

export type NetlinkSocketLike = Pick<NativeNetlinkSocket, 'portId' | 'send' | 'close'>;
export type OpenNetlinkSocket = (groups: number, rcvbuf: number, onrecv: RecvCallback) => NetlinkSocketLike;

const openNativeSocket: OpenNetlinkSocket = (groups, rcvbuf, onrecv) => new (loadNative().NetlinkSocket)(groups, rcvbuf, onrecv);

/** Generous, so link storms (hundreds of veths created at once) do not overflow it; it is a limit, not an allocation. */
const DEFAULT_RCVBUF_BYTES = 8 << 20;
/** After a failed dump, try again this much later. */
const RETRY_MS = 1000;

function errnoName(errno: number): string {
  return Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
}

/** A dump in progress: links first, then addresses, into a fresh table. */
interface Sync {
  readonly fresh: InterfaceTable;
  step: 'links' | 'addresses';
  seq: number;
  /** The dump's first reply arrived: notifications from now on are newer than the dump. */
  replying: boolean;
  interrupted: boolean;
}

export class LinkWatcher implements LinkWatcherPort {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly groups: number;
  private readonly openSocket: OpenNetlinkSocket;
  private readonly rcvbuf: number;
  private readonly linkListeners = new Set<(event: LinkEvent) => void>();
  private readonly addressListeners = new Set<(event: AddressEvent) => void>();
  private readonly table = new InterfaceTable();
  /** A snapshot was loaded before: a restart reports what changed while stopped. */
  private loaded = false;
  private socket: NetlinkSocketLike | undefined;
  private sync: Sync | undefined;
  private seq = 0;
  private retry: Timer | undefined;
  /** Settles start(); set until the first snapshot is complete. */
  private starting: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(options: LinkWatcherOptions = {}) {
    this.log = (options.logger ?? silentLogger()).child({ component: 'link-watcher' });
    this.clock = options.clock ?? systemClock;
    this.openSocket = options.openSocket ?? openNativeSocket;
    this.rcvbuf = options.receiveBufferBytes ?? DEFAULT_RCVBUF_BYTES;
    this.groups = options.notifications === false ? 0 : RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  }

  start(): Promise<void> {
    if (this.socket !== undefined) return Promise.reject(new Error('LinkWatcher already started'));
    try {
      this.socket = this.openSocket(this.groups, this.rcvbuf, (...args) => {
        if (args[0] !== null) this.onError(args[0]);
        else for (const d of args[1]) for (const m of decodeMessages(d)) this.onMessage(m);
      });
    } catch (err) {
      return Promise.reject(isNativeErrnoError(err) ? socketError(err, 'opening an rtnetlink socket') : (err as Error));
    }
    return new Promise((resolve, reject) => {
      this.starting = { resolve, reject };
      this.beginSync();
    });
  }

  stop(): void {
    this.retry?.cancel();
    this.retry = undefined;
    this.sync = undefined;
    this.socket?.close();
    this.socket = undefined;
    this.starting?.reject(new SocketError('the link watcher was stopped before it had loaded the interfaces', 'ECANCELED'));
    this.starting = undefined;
  }

  interfaces(): readonly NetInterface[] {
    return this.table.list();
  }

  get(ifindexOrName: number | string): NetInterface | undefined {
    return typeof ifindexOrName === 'number' ? this.table.get(ifindexOrName) : this.table.byName(ifindexOrName);
  }

  onLink(listener: (event: LinkEvent) => void): () => void {
    this.linkListeners.add(listener);
    return () => this.linkListeners.delete(listener);
  }

  onAddress(listener: (event: AddressEvent) => void): () => void {
    this.addressListeners.add(listener);
    return () => this.addressListeners.delete(listener);
  }

  /** (Re)loads everything; a dump already running is abandoned (its late replies are ignored). */
  private beginSync(): void {
    this.sync = { fresh: new InterfaceTable(), step: 'links', seq: 0, replying: false, interrupted: false };
    this.request(RTM_GETLINK);
  }

  private request(type: typeof RTM_GETLINK | typeof RTM_GETADDR): void {
    const sync = this.sync!;
    sync.seq = this.seq = (this.seq + 1) >>> 0;
    sync.replying = false;
    try {
      this.socket!.send(encodeDumpRequest(type, sync.seq));
    } catch (err) {
      if (!isNativeErrnoError(err)) throw err;
      this.failSync(socketError(err, 'requesting an rtnetlink dump'));
    }
  }

  private onMessage(m: RtnlMessage): void {
    if (m.kind === 'malformed') {
      this.log.warn({ reason: m.reason }, 'skipped a malformed rtnetlink message');
      return;
    }
    const sync = this.sync;
    if (m.header.pid === this.socket?.portId) {
      // A reply to one of our dumps; replies to an abandoned one are stale.
      if (sync !== undefined && m.header.seq === sync.seq) this.onDumpReply(sync, m);
      return;
    }
    if (sync === undefined) {
      this.emit(this.table.apply(m));
      return;
    }
    // During a dump, a notification that arrives before the dump's first reply was queued before
    // the dump began, so the dump already reflects it (or something newer). Later ones are newer
    // than what they overlap and are applied in order. Link notifications during the address
    // dump follow a finished link dump.
    const isLink = m.kind === 'newlink' || m.kind === 'dellink';
    const isAddress = m.kind === 'newaddr' || m.kind === 'deladdr';
    if ((isLink && (sync.step === 'addresses' || sync.replying)) || (isAddress && sync.step === 'addresses' && sync.replying)) {
      sync.fresh.apply(m);
    }
  }

  private onDumpReply(sync: Sync, m: Exclude<RtnlMessage, { kind: 'malformed' }>): void {
    sync.replying = true;
    if ((m.header.flags & NLM_F_DUMP_INTR) !== 0) sync.interrupted = true;
    if (m.kind !== 'done' && m.kind !== 'error') {
      sync.fresh.apply(m);
      return;
    }
    if (m.errno !== 0) {
      const code = errnoName(m.errno);
      this.failSync(new SocketError(`the kernel failed an rtnetlink ${sync.step} dump: ${code}`, code));
    } else if (sync.interrupted) {
      // NLM_F_DUMP_INTR: the table changed during the dump, so the dump may be inconsistent.
      this.log.debug({ reason: 'dump-interrupted' }, 'reloading interfaces');
      this.beginSync();
    } else if (sync.step === 'links') {
      sync.step = 'addresses';
      this.request(RTM_GETADDR);
    } else {
      this.sync = undefined;
      const events = this.table.replaceWith(sync.fresh);
      if (this.loaded) this.emit(events);
      this.loaded = true;
      this.starting?.resolve();
      this.starting = undefined;
    }
  }

  private onError(err: NativeErrnoError): void {
    // ENOBUFS: the kernel dropped notifications because our queue was full. The only way back
    // to a true picture is a new dump, whose differences are reported as events.
    this.log.warn({ reason: err.code }, 'rtnetlink notifications were lost; reloading interfaces');
    this.beginSync();
  }

  private failSync(err: L2vipError): void {
    this.sync = undefined;
    if (this.starting !== undefined) {
      this.starting.reject(err);
      this.starting = undefined;
      this.stop();
      return;
    }
    this.log.error({ err, reason: err.code }, `reloading interfaces failed; retrying in ${RETRY_MS} ms`);
    this.retry = this.clock.setTimeout(() => {
      this.retry = undefined;
      if (this.socket !== undefined) this.beginSync();
    }, RETRY_MS);
  }

  private emit(events: readonly TableEvent[]): void {
    for (const e of events) {
      if (e.kind === 'link') for (const l of this.linkListeners) l(e.event);
      else for (const l of this.addressListeners) l(e.event);
    }
  }
}
