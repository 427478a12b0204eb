import { createServer, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ResponderStats } from '../announcer/responder-stats.js';
import { parseHostPort } from '../ip/host-port.js';
import type { MembershipStats, MembershipView } from '../membership/membership.js';
import { ConfigError } from '../errors.js';
import { runChecks, type HealthChecks } from './health.js';
import type { Logger } from './logger.js';

/** What the speaker's metrics read, at scrape time only: nothing is counted twice or kept twice. */
export interface SpeakerMetricsSources {
  readonly node: string;
  readonly stats: ResponderStats;
  /** IPs this node answers for now (canonical text); a live lookup, not a copy. */
  readonly owned: () => { has(ip: string): boolean };
  /** Services and their IPs, with the owner this node sees. */
  readonly services: () => readonly { readonly name: string; readonly addresses: readonly string[]; readonly owner: string | undefined }[];
  readonly membership?: { stats(): MembershipStats; view(): MembershipView };
  /** Conflict handling and agreement with peers (the speaker core). */
  readonly speaker?: () => { defences: number; splitBrains: number; yields: number; digestMismatches: number; refutations: number };
  /** Interface sockets that failed to open, by reason. */
  readonly socketFailures?: ReadonlyMap<string, number>;
  /** Local delivery failures by reason, and repairs of what others changed. */
  readonly delivery?: () => { failures: ReadonlyMap<string, number>; repairs: number; failing: boolean };
  /** Bytes of log lines dropped because stdout's reader was too slow. */
  readonly droppedLogBytes?: () => number;
  /** Longest event-loop stall seen since start, ms (StallWatch). */
  readonly eventLoopMaxLagMs?: () => number;
  /** Takeovers by this node by cause, and measured failover durations as they happen. */
  readonly failovers?: {
    readonly takeovers: ReadonlyMap<string, number>;
    onFailover(listener: (seconds: number, cause: string) => void): () => void;
  };
  /** Conflict episodes started (another MAC claiming an owned VIP; see ConflictEpisodes). */
  readonly conflictEpisodes?: () => number;
  /** Config reloads by result (standalone: SIGHUP). */
  readonly configReloads?: () => { readonly success: number; readonly failure: number };
}

/** What a speaker's /metrics serves: prom-client's registry, then the per-VIP families (PerVipSeries). */
export interface SpeakerMetrics {
  readonly registry: Registry;
  readonly perVip: PerVipSeries;
}

/** Lines of one slice of the per-VIP families: about 60 KB of text, well under a millisecond to build. */
export const SCRAPE_SLICE_LINES = 1_000;

/** Per-IP counters of the responders, one series per VIP (MetalLB's names). */
const PER_IP_COUNTERS = [
  ['metallb_layer2_requests_received', 'ARP requests and NDP solicitations received for an announced IP', 'requestsReceived'],
  ['metallb_layer2_responses_sent', 'ARP replies and NDP advertisements sent in answer', 'responsesSent'],
  ['metallb_layer2_gratuitous_sent', 'Gratuitous ARP frames and unsolicited NDP advertisements sent', 'gratuitousSent'],
  ['l2vip_layer2_conflicts_total', 'Frames from another MAC claiming an IP this node announces', 'conflicts'],
] as const;

const ANNOUNCED = 'metallb_speaker_announced';
const ANNOUNCED_HELP = 'Services announced from this node (1 per IP)';

/**
 * The metrics with one series per VIP (thousands), rendered as Prometheus text by this code, not
 * by prom-client, and in slices of SCRAPE_SLICE_LINES lines that the metrics server writes one per
 * event-loop turn: a scrape of 10 000 VIPs (five families, 50 000 lines, 3 MB) never holds the
 * loop, which the failure detector shares, for more than a slice. prom-client building and
 * formatting 50 000 label objects in one turn held it for 80 to 200 ms and grew the heap by tens
 * of MB. The text is exactly what prom-client's registry would print for them.
 */
export class PerVipSeries {
  constructor(private readonly src: Pick<SpeakerMetricsSources, 'node' | 'stats' | 'owned' | 'services'>) {}

  /**
   * The families' text in slices; each starts with the separator that follows the registry's
   * text (its families without the final newline), the last ends with the final newline. The
   * set of IPs is read when the scrape starts, each value when its slice is built.
   */
  *slices(): Generator<string, void, undefined> {
    // Two flat arrays in the same order, not 10 000 [ip, counters] pairs.
    const ips = [...this.src.stats.perIp.keys()];
    const counters = [...this.src.stats.perIp.values()];
    let out = '';
    let lines = 0;
    for (const [name, help, field] of PER_IP_COUNTERS) {
      out += `\n\n# HELP ${name} ${help}\n# TYPE ${name} counter`;
      for (let k = 0; k < ips.length; k++) {
        out += `\n${name}{ip="${labelValue(ips[k]!)}"} ${counters[k]![field]}`;
        if (++lines % SCRAPE_SLICE_LINES === 0) {
          yield out;
          out = '';
        }
      }
    }
    out += `\n\n# HELP ${ANNOUNCED} ${ANNOUNCED_HELP}\n# TYPE ${ANNOUNCED} gauge`;
    const node = labelValue(this.src.node);
    const owned = this.src.owned();
    for (const s of this.src.services()) {
      if (s.owner !== this.src.node) continue;
      const head = `\n${ANNOUNCED}{node="${node}",service="${labelValue(s.name)}",protocol="layer2",ip="`;
      for (const ip of s.addresses) {
        if (!owned.has(ip)) continue;
        out += `${head}${labelValue(ip)}"} 1`;
        if (++lines % SCRAPE_SLICE_LINES === 0) {
          yield out;
          out = '';
        }
      }
    }
    yield `${out}\n`;
  }
}

/** A label value as Prometheus text wants it (and prom-client writes it): \\, \" and \n escaped. */
function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;
}

/** The whole text of a scrape in one string (tests, and callers without a server). */
export async function scrapeText(m: SpeakerMetrics): Promise<string> {
  let text = (await m.registry.metrics()).replace(/\n$/, '');
  for (const s of m.perVip.slices()) text += s;
  return text;
}

/** Membership drop reasons that mean a datagram failed authentication. */
export const AUTH_FAILURE_REASONS = ['bad-mac', 'unknown-key'] as const;

/** Buckets of l2vip_failover_duration_seconds: a takeover is usually well under 10 ms once the peer is declared dead. */
export const FAILOVER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A counter whose value is read from a source at scrape time. */
function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A counter with one bounded label, read from a source at scrape time. */
function readLabelledCounter(registry: Registry, name: string, help: string, label: string, read: () => Iterable<[string, number]>): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, n] of read()) this.inc({ [label]: value }, n);
    },
  });
}

/**
 * The speaker's Prometheus metrics: a prom-client registry, and the per-VIP families
 * (PerVipSeries) served after it. MetalLB's names are kept where MetalLB has the metric
 * (internal/layer2/stats.go, speaker/main.go), so existing dashboards work; the rest are l2vip_*.
 * Labels are bounded: IPs are configured VIPs, reasons are enumerated; never a MAC or client IP.
 */
export function speakerMetrics(src: SpeakerMetricsSources): SpeakerMetrics {
  const registry = new Registry();
  new Counter({
    name: 'l2vip_layer2_dropped_frames_total',
    help: 'Frames that reached a responder and got no answer, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of src.stats.drops) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'l2vip_service_owned',
    help: 'Whether some node announces the service, as this node sees it (0: no live candidate)',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of src.services()) this.set({ service: s.name }, s.owner === undefined ? 0 : 1);
    },
  });
  const m = src.membership;
  if (m !== undefined) {
    new Gauge({
      name: 'l2vip_membership_members',
      help: 'Cluster members by state, as this node sees them (itself included)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
        for (const v of m.view().members.values()) counts[v.state] = (counts[v.state] ?? 0) + 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Counter({
      name: 'l2vip_membership_datagrams_dropped_total',
      help: 'Membership datagrams dropped without being acted on, by reason (bad MAC, replay, ...)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(m.stats().drops)) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'l2vip_membership_datagrams_verified_total',
      help: 'Membership datagrams accepted, by the key that verified them (current or previous secret): previous at 0 everywhere means a rotation can drop the old secret',
      labelNames: ['key'],
      registers: [registry],
      collect() {
        this.reset();
        const v = m.stats().verified;
        this.inc({ key: 'current' }, v.current);
        this.inc({ key: 'previous' }, v.previous);
      },
    });
    new Counter({
      name: 'l2vip_membership_auth_failures_total',
      help: 'Membership datagrams that failed authentication: bad-mac (wrong secret or tampered), unknown-key (key id of no configured secret)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        const drops: Readonly<Record<string, number>> = m.stats().drops;
        for (const reason of AUTH_FAILURE_REASONS) this.inc({ reason }, drops[reason] ?? 0);
      },
    });
    new Counter({
      name: 'l2vip_membership_transitions_total',
      help: 'Member state transitions observed by this node',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        this.reset();
        const s = m.stats();
        for (const [event, n] of Object.entries({ suspicion: s.suspicions, death: s.deaths, revival: s.revivals, leave: s.leaves, refutation: s.refutations, stall: s.stalls })) {
          this.inc({ event }, n);
        }
        // Only the speakers' membership (WorkerMembership) watches the main loop (docs/membership.md#which-thread).
        if (s.mainLoopHangs !== undefined) this.inc({ event: 'main-loop-hang' }, s.mainLoopHangs);
      },
    });
  }
  const sp = src.speaker;
  if (sp !== undefined) {
    readLabelledCounter(registry, 'l2vip_conflict_actions_total', 'What this node did about another MAC claiming its VIP: defend (RFC 5227), yield (split brain or deaf node)', 'action', () => [
      ['defend', sp().defences],
      ['yield', sp().yields],
    ]);
    readCounter(registry, 'l2vip_split_brain_total', 'Another l2vip speaker announced a VIP this node announces', () => sp().splitBrains);
    readCounter(registry, 'l2vip_config_digest_mismatches_total', 'Episodes in which a peer ran a different set of services', () => sp().digestMismatches);
  }
  const sockets = src.socketFailures;
  if (sockets !== undefined) readLabelledCounter(registry, 'l2vip_socket_open_failures_total', 'Interface sockets that failed to open (retried with back-off), by errno', 'reason', () => sockets);
  const d = src.delivery;
  if (d !== undefined) {
    readLabelledCounter(registry, 'l2vip_local_delivery_failures_total', 'Local delivery updates that failed (retried with back-off), by tool', 'reason', () => d().failures);
    readCounter(registry, 'l2vip_local_delivery_repairs_total', 'Local delivery state that something else removed or changed and l2vip put back', () => d().repairs);
  }
  const f = src.failovers;
  if (f !== undefined) {
    readLabelledCounter(registry, 'l2vip_takeovers_total', 'Services this node started announcing, by cause: death, handoff, link, conflict, election', 'cause', () => f.takeovers);
    const h = new Histogram({
      name: 'l2vip_failover_duration_seconds',
      help: 'On the node that takes over: from the previous owner declared dead (or its handoff, the link event, the end of a yield) to the first gratuitous announcement sent',
      labelNames: ['cause'],
      buckets: FAILOVER_BUCKETS,
      registers: [registry],
    });
    f.onFailover((seconds, cause) => h.observe({ cause }, seconds));
  }
  const episodes = src.conflictEpisodes;
  if (episodes !== undefined) readCounter(registry, 'l2vip_conflicts_total', 'Conflict episodes: another MAC claimed a VIP this node announces (one per IP, interface and MAC until 30 s quiet)', episodes);
  const reloads = src.configReloads;
  if (reloads !== undefined) {
    readLabelledCounter(registry, 'l2vip_config_reloads_total', 'Config reloads by result: success (applied) or failure (kept the running config)', 'result', () => [
      ['success', reloads().success],
      ['failure', reloads().failure],
    ]);
  }
  const logs = src.droppedLogBytes;
  if (logs !== undefined) readCounter(registry, 'l2vip_log_dropped_bytes_total', 'Log output dropped because the reader of stdout was too slow', logs);
  readLabelledCounter(registry, 'l2vip_frame_send_failures_total', 'Frames the kernel refused to send, by errno (ENOBUFS: transmit queue or socket buffer full)', 'reason', () => src.stats.sendFailures);
  const lag = src.eventLoopMaxLagMs;
  if (lag !== undefined) {
    new Gauge({
      name: 'l2vip_event_loop_max_lag_seconds',
      help: 'Longest event-loop stall since start, sampled every 250 ms (a shorter stall may read low); peers take over from a main loop silent past mainLoopTimeoutMs',
      registers: [registry],
      collect() {
        this.set(lag() / 1000);
      },
    });
  }
  return { registry, perVip: new PerVipSeries(src) };
}

/**
 * Serves /metrics (Prometheus text), /healthz, /readyz and, given `status`, /status (JSON) on
 * `listen`: IP:port, or :port for every address (MetalLB's style, e.g. ":7472"). Health and
 * readiness answer 200 "ok", or 503 with one problem a line.
 */
export async function startMetricsServer(
  listen: string,
  metrics: Registry | SpeakerMetrics,
  log: Logger,
  checks: HealthChecks = {},
  status?: (() => unknown) | { readonly slices: () => Iterable<string> },
): Promise<Server> {
  const bare = /^:(\d{1,5})$/.exec(listen);
  const { host, port } = bare ? { host: undefined, port: Number(bare[1]) } : parseHostPort(listen, 'metrics.listen');
  if (port > 65535) throw new ConfigError(`metrics.listen: port ${port} is out of range`, [{ path: 'metrics.listen', message: 'port out of range' }]);
  const registry = metrics instanceof Registry ? metrics : metrics.registry;
  const perVip = metrics instanceof Registry ? undefined : metrics.perVip;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        async (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          if (perVip === undefined) {
            res.end(text);
            return;
          }
          res.write(text.replace(/\n$/, ''));
          await writeSlices(res, perVip.slices());
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/status' && status !== undefined) {
      // The first slice is built before the answer starts: a status that cannot be built is a 500.
      let slices: Iterator<string>;
      let first: IteratorResult<string>;
      try {
        slices = typeof status === 'function' ? [`${JSON.stringify(status(), null, 2)}\n`][Symbol.iterator]() : status.slices()[Symbol.iterator]();
        first = slices.next();
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`status failed: ${err instanceof Error ? err.message : String(err)}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      void writeSlices(res, slices, first);
    } else if (req.url === '/healthz' || req.url === '/readyz') {
      const problems = runChecks(req.url === '/healthz' ? checks.health : checks.ready);
      res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(problems.length === 0 ? 'ok\n' : `${problems.join('\n')}\n`);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  log.info({ listen }, 'metrics listening');
  return server;
}

/**
 * Writes `slices` (after `first`, taken already), one per event-loop turn, then ends the
 * response; a slice that throws (or a client gone) ends it without the rest. Never rejects.
 */
async function writeSlices(res: ServerResponse, slices: Iterator<string>, first?: IteratorResult<string>): Promise<void> {
  try {
    for (let r = first ?? slices.next(); r.done !== true; r = slices.next()) {
      if (res.destroyed) return;
      await writeAndYield(res, r.value);
    }
    res.end();
  } catch (err) {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * Writes one slice of a response and resolves on a later event-loop turn (setImmediate): if the
 * socket did not take it all, only once it drained or closed, so a slow scraper never makes the
 * speaker buffer the whole text. A drain can come in the same turn (on loopback the kernel takes
 * the bytes at once): the yield is after it, never instead of it.
 */
function writeAndYield(res: ServerResponse, chunk: string): Promise<void> {
  return new Promise((resolve) => {
    if (res.write(chunk)) {
      setImmediate(resolve);
      return;
    }
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      setImmediate(resolve);
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
