import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FileError } from '../errors.js';
import { WorkerMembership } from '../membership/worker-membership.js';
import type { Logger } from '../observability/logger.js';
import { checkNamedInterfaces, SpeakerRuntime } from '../speaker/runtime.js';
import { checkSecret, parseStandaloneConfig, standaloneConfigError, type StandaloneConfig } from './standalone-config.js';

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
  if (parsed.config === undefined) throw standaloneConfigError(file, parsed.problems);
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
  if (secret === undefined || problems.length > 0) throw standaloneConfigError(file, problems);
  return { config, secret, previousSecrets, warnings };
}

/** What can change on SIGHUP without a restart. */
function speakerDesired(c: StandaloneConfig) {
  return { services: c.services, interfaces: c.interfaces, excludePatterns: c.excludeInterfaces };
}

/**
 * The standalone speaker: membership over UDP (docs/membership.md#which-thread), desired state from the file, ARP/NDP on the
 * host's interfaces, local delivery of the VIPs on every candidate node.
 */
export class StandaloneSpeaker {
  private readonly runtime: SpeakerRuntime;
  private readonly membership: WorkerMembership;
  /** SIGHUP reloads by result (l2vip_config_reloads_total), counted by whoever reloads (the CLI). */
  readonly reloads = { success: 0, failure: 0 };

  constructor(
    private config: StandaloneConfig,
    secret: Uint8Array,
    private readonly log: Logger,
    previousSecrets: readonly Uint8Array[] = [],
  ) {
    // Heartbeats from the beat engine's thread (or a worker's): a main loop busy announcing thousands of VIPs delays none.
    const membership = (this.membership = new WorkerMembership({
      self: config.node,
      peers: config.peers.filter((p) => p.name !== config.node),
      secret,
      previousSecrets,
      bind: config.bind,
      logger: log,
      options: config.membership,
    }));
    this.runtime = new SpeakerRuntime({
      node: config.node,
      logger: log,
      membership,
      garp: config.garp,
      localDelivery: config.localDelivery,
      handoffMs: config.handoffMs,
      holdDownMs: config.holdDownMs,
      metricsListen: config.metricsListen,
      mode: 'standalone',
      configReloads: () => this.reloads,
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

  /**
   * Applies a new config; what needs a restart (cluster but its secrets, delivery) is kept, with
   * a warning. `secrets` (read anew from secretFile and previousSecretFiles) apply at once.
   */
  reload(next: StandaloneConfig, secrets?: StandaloneSecrets): void {
    const cur = this.config;
    const restartOnly = JSON.stringify([cur.node, cur.bind, cur.peers, cur.membership, cur.localDelivery, cur.garp, cur.handoffMs, cur.holdDownMs, cur.metricsListen]);
    const nextRestartOnly = JSON.stringify([next.node, next.bind, next.peers, next.membership, next.localDelivery, next.garp, next.handoffMs, next.holdDownMs, next.metricsListen]);
    if (restartOnly !== nextRestartOnly) {
      this.log.warn('node, cluster (but its secrets), localDelivery, garp, handoffMs, holdDownMs and metrics changes take effect at the next restart; services, interfaces and secrets are applied now');
    }
    const applied = {
      ...cur,
      secretFile: next.secretFile,
      previousSecretFiles: next.previousSecretFiles,
      services: next.services,
      interfaces: next.interfaces,
      excludeInterfaces: next.excludeInterfaces,
    };
    checkNamedInterfaces(this.runtime.links, speakerDesired(applied));
    this.runtime.setDesired(speakerDesired(applied));
    if (secrets !== undefined) this.membership.setSecrets(secrets.secret, secrets.previousSecrets);
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
