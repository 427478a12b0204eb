import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { systemClock } from '../clock/system-clock.js';
import { FileError } from '../errors.js';
import { Membership } from '../membership/membership.js';
import { UdpTransport } from '../membership/udp-transport.js';
import type { Logger } from '../observability/logger.js';
import { checkNamedInterfaces, SpeakerRuntime } from '../speaker/runtime.js';
import { checkSecret, parseStandaloneConfig, standaloneConfigError, type StandaloneConfig } from './standalone-config.js';

/**
 * Reads and validates the config file and its secret; every problem in one ConfigError. A
 * relative secretFile is relative to the config file. `warnings` are worth logging, not fatal.
 */
export async function loadStandaloneConfig(file: string): Promise<{ config: StandaloneConfig; secret: Uint8Array; warnings: string[] }> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new FileError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  const parsed = parseStandaloneConfig(text);
  if (parsed.config === undefined) throw standaloneConfigError(file, parsed.problems);
  const config = { ...parsed.config, secretFile: resolve(dirname(file), parsed.config.secretFile) };
  const warnings: string[] = [];
  const mode = await stat(config.secretFile).then((s) => s.mode, () => 0);
  if ((mode & 0o004) !== 0) warnings.push(`the secret ${config.secretFile} is readable by every user: chmod 600 it`);
  const bytes = await readFile(config.secretFile).catch((err: NodeJS.ErrnoException) => {
    throw standaloneConfigError(file, [{ path: 'cluster.secretFile', message: `cannot read ${config.secretFile}: ${err.code ?? err.message}` }]);
  });
  const { secret, problem } = checkSecret(bytes, config.secretFile);
  if (secret === undefined) throw standaloneConfigError(file, [problem!]);
  return { config, secret, warnings };
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
  private readonly runtime: SpeakerRuntime;

  constructor(
    private config: StandaloneConfig,
    secret: Uint8Array,
    private readonly log: Logger,
  ) {
    const membership = new Membership({
      self: config.node,
      peers: config.peers.filter((p) => p.name !== config.node),
      secret,
      clock: systemClock,
      transport: new UdpTransport({ bind: config.bind, logger: log }),
      logger: log,
      options: config.membership,
    });
    this.runtime = new SpeakerRuntime({
      node: config.node,
      logger: log,
      membership,
      garp: config.garp,
      localDelivery: config.localDelivery,
      handoffMs: config.handoffMs,
      metricsListen: config.metricsListen,
    });
  }

  async start(): Promise<void> {
    await this.runtime.start(speakerDesired(this.config));
    this.log.info({ node: this.config.node, services: this.config.services.length, peers: this.config.peers.length }, 'standalone speaker started');
  }

  /** Refuses (VipHostAddressError) a config whose VIPs include an address of this host. */
  checkAddresses(config: StandaloneConfig): Promise<void> {
    return this.runtime.checkAddresses(speakerDesired(config));
  }

  /** Applies a new config; what needs a restart (cluster, delivery) is kept, with a warning. */
  reload(next: StandaloneConfig): void {
    const cur = this.config;
    const restartOnly = JSON.stringify([cur.node, cur.bind, cur.peers, cur.secretFile, cur.membership, cur.localDelivery, cur.garp, cur.handoffMs, cur.metricsListen]);
    const nextRestartOnly = JSON.stringify([next.node, next.bind, next.peers, next.secretFile, next.membership, next.localDelivery, next.garp, next.handoffMs, next.metricsListen]);
    if (restartOnly !== nextRestartOnly) {
      this.log.warn('node, cluster, localDelivery, garp, handoffMs and metrics changes take effect at the next restart; services and interfaces are applied now');
    }
    const applied = { ...cur, services: next.services, interfaces: next.interfaces, excludeInterfaces: next.excludeInterfaces };
    checkNamedInterfaces(this.runtime.links, speakerDesired(applied));
    this.runtime.setDesired(speakerDesired(applied));
    this.config = applied;
    this.log.info({ services: next.services.length }, 'config reloaded');
  }

  owners(): ReadonlyMap<string, string | undefined> {
    return this.runtime.owners();
  }

  /** Planned handoff, then reverts everything on the host. */
  stop(): Promise<void> {
    return this.runtime.stop();
  }
}
