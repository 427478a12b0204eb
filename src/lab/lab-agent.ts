import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/**
 * The two small programs the lab runs inside its namespaces:
 * - `echo`: on a node, answers every UDP probe with the node's name (dies with the node, so a
 *   probe answered means the service behind the VIP really answered);
 * - `probe`: on the client, sends a probe through each VIP every `intervalMs` and reports, on
 *   request, what it saw since the last mark.
 */
export const ECHO_PORT = 7777;

/**
 * Runs an echo responder on each VIP:port until killed. It binds to the VIPs themselves (local
 * delivery makes that possible), so answers leave from the VIP as the client expects; the bind is
 * retried until the speaker has set local delivery up. Prints `ready` once every VIP is bound.
 */
export function runEcho(name: string, vips: readonly string[], port = ECHO_PORT): void {
  const reply = Buffer.from(name);
  let waiting = vips.length;
  for (const vip of vips) {
    const bind = (): void => {
      const s = createSocket(vip.includes(':') ? 'udp6' : 'udp4');
      s.on('message', (msg, rinfo) => {
        // Echo the 8-byte sequence number, then our name.
        s.send(Buffer.concat([msg.subarray(0, 8), reply]), rinfo.port, rinfo.address);
      });
      s.once('error', () => {
        s.close();
        setTimeout(bind, 50);
      });
      s.bind(port, vip, () => {
        if (--waiting === 0) process.stdout.write('ready\n');
      });
    };
    bind();
  }
}

interface Reply {
  readonly seq: number;
  readonly node: string;
  /** performance.now() when read. */
  readonly at: number;
}

/**
 * An answer later than this counts as lost for the outage: a probe the new owner's kernel held
 * in its neighbour queue for a second (while it resolved the client) is answered, but a client
 * waited that long. Far above the round trip on the bridge (well under 1 ms) and the prober's
 * own scheduling delays on a loaded machine (tens of ms).
 */
export const LATE_MS = 200;

/** What one VIP's probes showed over a window. */
export interface ProbeReport {
  readonly target: string;
  readonly sent: number;
  readonly received: number;
  /** Probes sent in the window that got no answer. */
  readonly lost: number;
  /** Probes answered later than LATE_MS (not in `lost`; counted as unanswered for the outage). */
  readonly late: number;
  /** Longest round trip of an answered probe, ms. */
  readonly maxRttMs: number;
  /** Longest run of consecutive unanswered probes, in probes. */
  readonly longestLossRun: number;
  /**
   * The outage: the longest time between the sending of two consecutive probes answered within
   * LATE_MS, less one interval, ms (0 when nothing was lost). Measured on send times, so a client
   * that is slow to read its answers does not inflate it.
   */
  readonly outageMs: number;
  /**
   * Wall-clock times (ms since the epoch, this machine's clock) of the sending of the two
   * answered probes around the outage; undefined when nothing was lost. They place the outage
   * against other events, such as the fault or a speaker's log line.
   */
  readonly outageFrom: number | undefined;
  readonly outageTo: number | undefined;
  /** Times the answering node differed from the one that answered the previous probe (by sequence). */
  readonly changes: number;
  /** Nodes that answered, in order of first answer. */
  readonly nodes: readonly string[];
  /** Node that answered last. */
  readonly lastNode: string | undefined;
}

class Prober {
  private seq = 0;
  private readonly sentAt = new Map<number, number>();
  private replies: Reply[] = [];
  private markSeq = 0;
  private readonly socket: Socket;
  private connected = false;

  constructor(
    readonly target: string,
    port: number,
    private readonly intervalMs: number,
  ) {
    this.socket = createSocket(target.includes(':') ? 'udp6' : 'udp4');
    this.socket.on('message', (msg) => {
      if (msg.length < 8) return;
      const seq = Number(msg.readBigUInt64BE(0));
      this.replies.push({ seq, node: msg.subarray(8).toString(), at: performance.now() });
    });
    this.socket.on('error', () => undefined);
    this.socket.connect(port, target, () => (this.connected = true));
  }

  tick(): void {
    const b = Buffer.alloc(8);
    const seq = ++this.seq;
    b.writeBigUInt64BE(BigInt(seq));
    this.sentAt.set(seq, performance.now());
    // A send to an unresolved neighbour fails with EHOSTUNREACH: that is a lost probe.
    if (this.connected) this.socket.send(b, () => undefined);
  }

  mark(): void {
    this.markSeq = this.seq;
    this.replies = [];
    this.sentAt.clear();
  }

  /** Probes sent in the last `graceMs` may still be in flight (or late): they are not counted. */
  report(graceMs: number): ProbeReport {
    const now = performance.now();
    const by = new Map<number, string>();
    const arrived = new Map<number, number>();
    const nodes: string[] = [];
    let lastNode: string | undefined;
    for (const r of this.replies) {
      if (r.seq <= this.markSeq) continue;
      by.set(r.seq, r.node);
      if (!arrived.has(r.seq)) arrived.set(r.seq, r.at);
      if (!nodes.includes(r.node)) nodes.push(r.node);
      lastNode = r.node;
    }
    let changes = 0;
    let previous: string | undefined;
    for (const seq of [...by.keys()].sort((a, b) => a - b)) {
      const node = by.get(seq)!;
      if (previous !== undefined && node !== previous) changes++;
      previous = node;
    }
    let sent = 0;
    let lost = 0;
    let late = 0;
    let maxRttMs = 0;
    let run = 0;
    let longestLossRun = 0;
    let outageMs = 0;
    let outageFrom: number | undefined;
    let outageTo: number | undefined;
    let lastAnswered: number | undefined;
    // Map iteration follows insertion order, which is sequence order.
    for (const [seq, at] of this.sentAt) {
      if (seq <= this.markSeq || now - at < graceMs) continue;
      sent++;
      const rtt = arrived.has(seq) ? arrived.get(seq)! - at : undefined;
      if (rtt !== undefined) maxRttMs = Math.max(maxRttMs, rtt);
      if (rtt !== undefined && rtt > LATE_MS) late++;
      if (rtt !== undefined && rtt <= LATE_MS) {
        run = 0;
        if (lastAnswered !== undefined && at - lastAnswered - this.intervalMs > outageMs) {
          outageMs = at - lastAnswered - this.intervalMs;
          outageFrom = performance.timeOrigin + lastAnswered;
          outageTo = performance.timeOrigin + at;
        }
        lastAnswered = at;
      } else {
        if (rtt === undefined) lost++;
        run++;
        longestLossRun = Math.max(longestLossRun, run);
      }
    }
    return {
      target: this.target,
      sent,
      received: sent - lost,
      lost,
      late,
      maxRttMs: Math.round(maxRttMs * 10) / 10,
      longestLossRun,
      outageMs: Math.max(0, Math.round(outageMs * 10) / 10),
      outageFrom,
      outageTo,
      changes,
      nodes,
      lastNode,
    };
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Probes every target every `intervalMs`. Commands on stdin, one per line: `mark` starts a
 * window, `report` prints one JSON line (ProbeReport[]) for the window so far. Ends on EOF.
 */
export function runProbe(targets: readonly string[], intervalMs: number, port = ECHO_PORT): void {
  const probers = targets.map((t) => new Prober(t, port, intervalMs));
  // setInterval has 1 ms granularity and drifts under load; schedule against the clock instead.
  let next = performance.now();
  let timer: NodeJS.Timeout;
  const loop = (): void => {
    const now = performance.now();
    while (next <= now) {
      for (const p of probers) p.tick();
      next += intervalMs;
    }
    timer = setTimeout(loop, Math.max(0, next - performance.now()));
  };
  loop();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'mark') for (const p of probers) p.mark();
    else if (cmd === 'report') process.stdout.write(JSON.stringify(probers.map((p) => p.report(LATE_MS + 50))) + '\n');
  });
  rl.on('close', () => {
    clearTimeout(timer);
    for (const p of probers) p.close();
  });
}
