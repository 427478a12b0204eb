import { createServer, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { OwnedSet } from '../announcer/announcer.js';
import type { ResponderStats } from '../announcer/responder-stats.js';
import type { MembershipStats, MembershipView } from '../membership/membership.js';
import { ConfigError } from '../errors.js';
import { parseHostPort } from '../membership/udp-transport.js';
import type { Logger } from './logger.js';

/** What the speaker's metrics read, at scrape time only: nothing is counted twice or kept twice. */
export interface SpeakerMetricsSources {
  readonly node: string;
  readonly stats: ResponderStats;
  readonly owned: () => OwnedSet;
  /** Services and their IPs, with the owner this node sees. */
  readonly services: () => readonly { readonly name: string; readonly addresses: readonly string[]; readonly owner: string | undefined }[];
  readonly membership?: { stats(): MembershipStats; view(): MembershipView };
}

/**
 * The speaker's Prometheus metrics. MetalLB's names are kept where MetalLB has the metric
 * (internal/layer2/stats.go, speaker/main.go), so existing dashboards work; the rest are l2vip_*.
 * Labels are bounded: IPs are configured VIPs, reasons are enumerated; never a MAC or client IP.
 */
export function speakerRegistry(src: SpeakerMetricsSources): Registry {
  const registry = new Registry();
  const perIp = (name: string, help: string, pick: (c: { requestsReceived: number; responsesSent: number; gratuitousSent: number; conflicts: number }) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['ip'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [ip, c] of src.stats.perIp) this.inc({ ip }, pick(c));
      },
    });
  perIp('metallb_layer2_requests_received', 'ARP requests and NDP solicitations received for an announced IP', (c) => c.requestsReceived);
  perIp('metallb_layer2_responses_sent', 'ARP replies and NDP advertisements sent in answer', (c) => c.responsesSent);
  perIp('metallb_layer2_gratuitous_sent', 'Gratuitous ARP frames and unsolicited NDP advertisements sent', (c) => c.gratuitousSent);
  perIp('l2vip_layer2_conflicts_total', 'Frames from another MAC claiming an IP this node announces', (c) => c.conflicts);
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
    name: 'metallb_speaker_announced',
    help: 'Services announced from this node (1 per IP)',
    labelNames: ['node', 'service', 'protocol', 'ip'],
    registers: [registry],
    collect() {
      this.reset();
      const owned = src.owned();
      for (const s of src.services()) {
        if (s.owner !== src.node) continue;
        for (const ip of s.addresses) if (owned.has(ip)) this.set({ node: src.node, service: s.name, protocol: 'layer2', ip }, 1);
      }
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
      },
    });
  }
  return registry;
}

/** Health answers of the process serving metrics. */
export interface HealthChecks {
  /** /healthz: the process works. Default: always. */
  readonly healthy?: () => boolean;
  /** /readyz: ready for traffic (e.g. caches synced). Default: same as healthy. */
  readonly ready?: () => boolean;
}

/**
 * Serves /metrics (Prometheus text), /healthz and /readyz on `listen`: IP:port, or :port for
 * every address (MetalLB's style, e.g. ":7472").
 */
export async function startMetricsServer(listen: string, registry: Registry, log: Logger, health: HealthChecks = {}): Promise<Server> {
  const bare = /^:(\d{1,5})$/.exec(listen);
  const { host, port } = bare ? { host: undefined, port: Number(bare[1]) } : parseHostPort(listen, 'metrics.listen');
  if (port > 65535) throw new ConfigError(`metrics.listen: port ${port} is out of range`, [{ path: 'metrics.listen', message: 'port out of range' }]);
  const healthy = health.healthy ?? (() => true);
  const ready = health.ready ?? healthy;
  const answer = (res: ServerResponse, ok: boolean): void => {
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok\n' : 'not ready\n');
  };
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      answer(res, healthy());
    } else if (req.url === '/readyz') {
      answer(res, ready());
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
