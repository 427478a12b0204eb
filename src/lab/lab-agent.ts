import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { LATE_MS, type ProbeAnswer, type ProbeReport, type SentProbe, summarizeProbes } from './outage.js';

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

class Prober {
  private seq = 0;
  private sent: SentProbe[] = [];
  private answers: ProbeAnswer[] = [];
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
      this.answers.push({ seq, node: msg.subarray(8).toString(), at: performance.now() });
    });
    this.socket.on('error', () => undefined);
    this.socket.connect(port, target, () => (this.connected = true));
  }

  tick(): void {
    const b = Buffer.alloc(8);
    const seq = ++this.seq;
    b.writeBigUInt64BE(BigInt(seq));
    this.sent.push({ seq, at: performance.now() });
    // A send to an unresolved neighbour fails with EHOSTUNREACH: that is a lost probe.
    if (this.connected) this.socket.send(b, () => undefined);
  }

  mark(): void {
    this.markSeq = this.seq;
    this.answers = [];
    this.sent = [];
  }

  /** Probes sent in the last `graceMs` may still be in flight (or late): they are not counted. */
  report(graceMs: number): ProbeReport {
    return summarizeProbes({
      target: this.target,
      intervalMs: this.intervalMs,
      sent: this.sent,
      answers: this.answers,
      afterSeq: this.markSeq,
      now: performance.now(),
      graceMs,
      epochOffset: performance.timeOrigin,
    });
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
