import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Announcer } from '../announcer/announcer.js';
import { systemClock } from '../clock/system-clock.js';
import { LocalDelivery } from '../delivery/local-delivery.js';
import { ConfigError, FileError, InterfaceError } from '../errors.js';
import { spawnRunner } from '../host/command-runner.js';
import { Membership } from '../membership/membership.js';
import { UdpTransport } from '../membership/udp-transport.js';
import { AfPacketSocket } from '../netdev/afpacket-socket.js';
import { arpAndNdpFilter } from '../netdev/bpf.js';
import { Ipv6GroupJoiner } from '../netdev/ipv6-group-joiner.js';
import { LinkWatcher } from '../netdev/link-watcher.js';
import type { Logger } from '../observability/logger.js';
import { speakerRegistry, startMetricsServer } from '../observability/metrics.js';
import type { Server } from 'node:http';
import { Speaker } from '../speaker/speaker.js';
import { checkSecret, parseStandaloneConfig, type StandaloneConfig } from './standalone-config.js';

/** The membership secrets read from secretFile and previousSecretFiles. */
export interface StandaloneSecrets {
  readonly secret: Uint8Array;
  readonly previousSecrets: readonly Uint8Array[];
}

/**
 * Reads and validates the config file and its secrets; every problem in one ConfigError. A
 * relative secretFile or previousSecretFiles entry is relative to the config file. `warnings`
 * are worth logging, not fatal.
 */
export async function loadStandaloneConfig(file: string): Promise<{ config: StandaloneConfig; warnings: string[] } & StandaloneSecrets> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new FileError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  const parsed = parseStandaloneConfig(text);
  if (parsed.config === undefined) throw configError(file, parsed.problems);
  const config = {
    ...parsed.config,
    secretFile: resolve(dirname(file), parsed.config.secretFile),
    previousSecretFiles: parsed.config.previousSecretFiles.map((f) => resolve(dirname(file), f)),
  };
  const warnings: string[] = [];
  const problems: { path: string; message: string }[] = [];
  const read = async (secretFile: string, path: string): Promise<Uint8Array | undefined> => {
    const mode = await stat(secretFile).then((s) => s.mode, () => 0);
    if ((mode & 0o004) !== 0) warnings.push(`the secret ${secretFile} is readable by every user: chmod 600 it`);
    const bytes = await readFile(secretFile).catch((err: NodeJS.ErrnoException) => {
      problems.push({ path, message: `cannot read ${secretFile}: ${err.code ?? err.message}` });
      return undefined;
    });
    if (bytes === undefined) return undefined;
    const { secret, problem } = checkSecret(bytes, secretFile, path);
    if (problem !== undefined) problems.push(problem);
    return secret;
  };
  const secret = await read(config.secretFile, 'cluster.secretFile');
  const previousSecrets: Uint8Array[] = [];
  for (const [i, f] of config.previousSecretFiles.entries()) {
    const s = await read(f, `cluster.previousSecretFiles[${i}]`);
    if (s !== undefined) previousSecrets.push(s);
  }
  if (secret === undefined || problems.length > 0) throw configError(file, problems);
  return { config, secret, previousSecrets, warnings };
}

function configError(file: string, problems: readonly { path: string; message: string }[]): ConfigError {
  const lines = problems.map((p) => `${file}: ${p.path}: ${p.message}`);
  return new ConfigError(lines.length === 1 ? lines[0]! : `${problems.length} problems in ${file}:\n  ${lines.join('\n  ')}`, problems);
}

/** What can change on SIGHUP without a restart. */
function speakerDesired(c: StandaloneConfig) {
  return { services: c.services, interfaces: c.interfaces, excludePatterns: c.excludeInterfaces };
}

/**
 * The standalone speaker: membership over UDP, desired state from the file, ARP/NDP on the
 * host's interfaces, local delivery of the VIPs on every candidate node.
 */
export class StandaloneSpeaker {
  private readonly links: LinkWatcher;
  private readonly transport: UdpTransport;
  private readonly membership: Membership;
  private readonly announcer: Announcer;
  private readonly groups: Ipv6GroupJoiner;
  private readonly delivery: LocalDelivery | undefined;
  private readonly speaker: Speaker;
  private metrics: Server | undefined;

  constructor(
    private config: StandaloneConfig,
    secret: Uint8Array,
    private readonly log: Logger,
    previousSecrets: readonly Uint8Array[] = [],
  ) {
    this.links = new LinkWatcher({ logger: log });
    this.transport = new UdpTransport({ bind: config.bind, logger: log });
    this.membership = new Membership({
      self: config.node,
      peers: config.peers.filter((p) => p.name !== config.node),
      secret,
      previousSecrets,
      clock: systemClock,
      transport: this.transport,
      logger: log,
      options: config.membership,
    });
    this.groups = new Ipv6GroupJoiner(log);
    this.announcer = new Announcer({
      clock: systemClock,
      logger: log,
      groups: this.groups,
      timing: config.garp,
      resolveInterface: (name) => {
        const i = this.links.get(name);
        // Ethernet only: ARP and NDP frames are built for 6-byte MACs (not IPoIB's 20).
        return i?.mac?.length === 6 ? { name: i.name, ifindex: i.index, mac: i.mac } : undefined;
      },
      openSocket: (i) =>
        AfPacketSocket.open(i.ifindex, {
          // NS to answer, and NA too: another host advertising one of our VIPs is a conflict.
          filter: arpAndNdpFilter({ icmpv6Types: [135, 136] }),
          onError: (err) => log.debug({ iface: i.name, err: err.message }, 'receive error'),
        }),
    });
    this.delivery = config.localDelivery ? new LocalDelivery({ runner: spawnRunner, logger: log }) : undefined;
    this.speaker = new Speaker({
      self: config.node,
      clock: systemClock,
      logger: log,
      membership: this.membership,
      links: this.links,
      announcer: this.announcer,
      delivery: this.delivery,
      handoffMs: config.handoffMs,
    });
  }

  async start(): Promise<void> {
    await this.links.start();
    const missing = [...(this.config.interfaces ?? []), ...this.config.services.flatMap((s) => s.interfaces ?? [])].filter(
      (n) => this.links.get(n) === undefined,
    );
    if (missing.length > 0) {
      this.links.stop();
      const names = this.links.interfaces().map((i) => i.name).join(', ');
      throw new InterfaceError(`unknown interface ${[...new Set(missing)].join(', ')} in the config (this host has: ${names})`);
    }
    try {
      await this.delivery?.start([]);
      this.speaker.setDesired(speakerDesired(this.config));
      await this.speaker.start();
      if (this.config.metricsListen !== undefined) {
        const registry = speakerRegistry({
          node: this.config.node,
          stats: this.announcer.stats,
          owned: () => this.announcer.current(),
          services: () => this.config.services.map((s) => ({ name: s.name, addresses: s.addresses, owner: this.speaker.currentOwners().get(s.name) })),
          membership: this.membership,
        });
        this.metrics = await startMetricsServer(this.config.metricsListen, registry, this.log);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.log.info({ node: this.config.node, services: this.config.services.length, peers: this.config.peers.length }, 'standalone speaker started');
  }

  /**
   * Applies a new config; what needs a restart (cluster but its secrets, delivery) is kept, with
   * a warning. `secrets` (read anew from secretFile and previousSecretFiles) apply at once.
   */
  reload(next: StandaloneConfig, secrets?: StandaloneSecrets): void {
    const cur = this.config;
    const restartOnly = JSON.stringify([cur.node, cur.bind, cur.peers, cur.membership, cur.localDelivery, cur.garp, cur.handoffMs, cur.metricsListen]);
    const nextRestartOnly = JSON.stringify([next.node, next.bind, next.peers, next.membership, next.localDelivery, next.garp, next.handoffMs, next.metricsListen]);
    if (restartOnly !== nextRestartOnly) {
      this.log.warn('node, cluster (but its secrets), localDelivery, garp, handoffMs and metrics changes take effect at the next restart; services, interfaces and secrets are applied now');
    }
    if (secrets !== undefined) this.membership.setSecrets(secrets.secret, secrets.previousSecrets);
    this.config = {
      ...cur,
      secretFile: next.secretFile,
      previousSecretFiles: next.previousSecretFiles,
      services: next.services,
      interfaces: next.interfaces,
      excludeInterfaces: next.excludeInterfaces,
    };
    this.speaker.setDesired(speakerDesired(this.config));
    this.log.info({ services: next.services.length }, 'config reloaded');
  }

  owners(): ReadonlyMap<string, string | undefined> {
    return this.speaker.currentOwners();
  }

  /** Planned handoff, then reverts everything on the host. */
  async stop(): Promise<void> {
    this.metrics?.close();
    this.metrics = undefined;
    try {
      await this.speaker.stop().catch((err: unknown) => this.log.error({ err }, 'stopping the speaker failed'));
      this.announcer.stop();
      this.groups.close();
      await this.transport.stop().catch(() => undefined);
      await this.delivery?.stop();
    } finally {
      this.links.stop();
    }
  }
}
