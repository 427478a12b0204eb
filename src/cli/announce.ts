import type { Command } from 'commander';
import { Announcer } from '../announcer/announcer.js';
import { DEFAULT_GARP_TIMING } from '../announcer/garp-schedule.js';
import { toOwnedIp, type OwnedIp } from '../announcer/owned-ips.js';
import { systemClock } from '../clock/system-clock.js';
import { LocalDelivery } from '../delivery/local-delivery.js';
import { InterfaceError, UsageError } from '../errors.js';
import { spawnRunner } from '../host/command-runner.js';
import { AfPacketSocket } from '../netdev/afpacket-socket.js';
import { arpAndNdpFilter } from '../netdev/bpf.js';
import { Ipv6GroupJoiner } from '../netdev/ipv6-group-joiner.js';
import { ineligibilityMessage, structuralIneligibility } from '../netdev/eligibility.js';
import { LinkWatcher } from '../netdev/link-watcher.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Signals } from './lifecycle.js';
import { requireNetworkPrivileges } from './privileges.js';
import { LOG_LEVEL_HELP, parseIntOption, parseLogLevelOption } from './options.js';

interface AnnounceOptions {
  interface: string;
  deliver: boolean;
  garpRefresh: number;
  logLevel: string;
}

export function registerAnnounce(program: Command): void {
  program
    .command('announce')
    .summary('answer ARP/NDP for IPs from this host until stopped')
    .description(
      'Answer ARP (IPv4) and Neighbor Discovery (IPv6) for the given IPs on one interface, with gratuitous ' +
        'announcements at start, and deliver their traffic to local sockets, until SIGINT/SIGTERM. ' +
        'Needs root (CAP_NET_RAW, CAP_NET_ADMIN). SIGUSR1 logs the counters.',
    )
    .requiredOption('-i, --interface <name>', 'interface to announce on')
    .option('--no-deliver', 'do not make this host accept traffic for the IPs (no local routes)')
    .option('--garp-refresh <ms>', 'period of gratuitous refreshes after the initial burst; 0 = off', parseIntOption, DEFAULT_GARP_TIMING.refreshMs)
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevelOption, 'info')
    .argument('<ip...>', 'IPv4 or IPv6 addresses')
    .action((ips: string[], opts: AnnounceOptions) => runAnnounce(ips, opts));
}

async function runAnnounce(ipTexts: string[], opts: AnnounceOptions): Promise<void> {
  const ips = ipTexts.map((t) => {
    const ip = toOwnedIp(t);
    if (ip === undefined) throw new UsageError(`"${t}" is not an IPv4 or IPv6 address`);
    return ip;
  });
  if (opts.garpRefresh !== 0 && opts.garpRefresh < 1000) throw new UsageError('--garp-refresh must be 0 or at least 1000 ms');
  requireNetworkPrivileges('l2vip announce', opts.deliver);
  const log = createLogger(opts.logLevel);
  const signals = new Signals(log);
  try {
    await announceUntilSignal(ips, opts, log, signals);
  } finally {
    signals.dispose();
  }
}

async function announceUntilSignal(ips: OwnedIp[], opts: AnnounceOptions, log: Logger, signals: Signals): Promise<void> {
  const links = new LinkWatcher({ logger: log });
  await links.start();
  try {
    const iface = links.get(opts.interface);
    if (iface === undefined) {
      const names = links.interfaces().map((i) => i.name).join(', ');
      throw new InterfaceError(`no interface named "${opts.interface}" (this host has: ${names})`);
    }
    if (iface.mac === null || iface.mac.length !== 6) throw new InterfaceError(`interface ${iface.name} has no Ethernet MAC address`);
    for (const proto of ['arp', 'ndp'] as const) {
      if (!ips.some((ip) => ip.family === (proto === 'arp' ? 4 : 6))) continue;
      const why = structuralIneligibility(iface, proto, (i) => links.get(i));
      // Down is allowed (we start answering when it comes up); everything else cannot work.
      if (why !== undefined && why !== 'it is down' && !(proto === 'ndp' && /link-local/.test(why))) {
        throw new InterfaceError(ineligibilityMessage(iface, proto, why));
      }
    }
  } catch (err) {
    links.stop();
    throw err;
  }

  const delivery = opts.deliver ? new LocalDelivery({ runner: spawnRunner, logger: log }) : undefined;
  const groups = new Ipv6GroupJoiner(log);
  const announcer = new Announcer({
    clock: systemClock,
    logger: log,
    groups,
    timing: { ...DEFAULT_GARP_TIMING, refreshMs: opts.garpRefresh },
    resolveInterface: (name) => {
      const i = links.get(name);
      return i?.mac ? { name: i.name, ifindex: i.index, mac: i.mac } : undefined;
    },
    openSocket: (i) =>
      AfPacketSocket.open(i.ifindex, {
        // NS to answer, and NA too: another host advertising one of our VIPs is a conflict.
        filter: arpAndNdpFilter({ icmpv6Types: [135, 136] }),
        onError: (err) => log.debug({ iface: i.name, err: err.message }, 'receive error'),
      }),
  });
  const owned = new Map(ips.map((ip) => [ip.ip, new Set([opts.interface])]));
  const logStats = (): void => log.info({ stats: announcer.stats.toJSON() }, 'counters');
  const onUsr1 = (): void => logStats();

  try {
    if (delivery) {
      await delivery.start([opts.interface]);
      await delivery.set(ips.map((ip) => ip.ip));
    }
    announcer.setOwned(owned);
  } catch (err) {
    announcer.stop();
    groups.close();
    await delivery?.stop();
    links.stop();
    throw err;
  }
  // A carrier that comes back, or a new MAC, needs fresh announcements: clients and switches
  // may have forgotten us meanwhile.
  links.onLink((ev) => {
    if (ev.iface.name !== opts.interface) return;
    if (ev.type === 'removed') {
      log.warn({ iface: opts.interface }, 'interface removed: answering again when it comes back');
      announcer.forgetInterface(opts.interface);
      return;
    }
    if (ev.type === 'added') {
      // Re-created: a new ifindex, maybe a new MAC; open it again and announce.
      announcer.forgetInterface(opts.interface);
      announcer.setOwned(owned);
      if (delivery) void delivery.announceOn([opts.interface]).catch((err: unknown) => log.error({ err }, 'arp_announce on the re-created interface failed'));
      return;
    }
    const macChanged = ev.iface.mac && ev.previous.mac && Buffer.compare(ev.iface.mac, ev.previous.mac) !== 0;
    if (macChanged) {
      announcer.forgetInterface(opts.interface);
      announcer.setOwned(owned);
    } else if (ev.iface.flags.lowerUp && !ev.previous.flags.lowerUp) {
      log.info({ iface: opts.interface }, 'carrier is back: announcing again');
      announcer.reannounce(opts.interface);
    }
  });
  process.on('SIGUSR1', onUsr1);
  log.info({ ips: ips.map((i) => i.ip), iface: opts.interface, deliver: opts.deliver }, 'announce started');

  await signals.requested;
  try {
    announcer.stop();
    groups.close();
    await delivery?.stop();
  } finally {
    links.stop();
    process.off('SIGUSR1', onUsr1);
    logStats();
  }
}
