import { hostname } from 'node:os';
import type { Command } from 'commander';
import { DEFAULT_GARP_TIMING } from '../announcer/garp-schedule.js';
import { toOwnedIp, type OwnedIp } from '../announcer/owned-ips.js';
import { UsageError } from '../errors.js';
import { parseIp } from '../ip/address.js';
import { unusableVipReason } from '../ip/vip-address.js';
import { SpeakerRuntime } from '../speaker/runtime.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { Signals } from './lifecycle.js';
import { requireNetworkPrivileges } from './privileges.js';
import { jitOption } from './jit.js';
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
    .addOption(jitOption())
    .argument('<ip...>', 'IPv4 or IPv6 addresses')
    .action((ips: string[], opts: AnnounceOptions) => runAnnounce(ips, opts));
}

async function runAnnounce(ipTexts: string[], opts: AnnounceOptions): Promise<void> {
  const ips = ipTexts.map((t) => {
    const ip = toOwnedIp(t);
    if (ip === undefined) throw new UsageError(`"${t}" is not an IPv4 or IPv6 address`);
    const parsed = parseIp(ip.ip);
    const unusable = parsed && unusableVipReason(parsed);
    if (unusable !== undefined) throw new UsageError(`${ip.ip} ${unusable}; it cannot be announced`);
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
  const node = hostname();
  const runtime = new SpeakerRuntime({
    node,
    logger: log,
    garp: { ...DEFAULT_GARP_TIMING, refreshMs: opts.garpRefresh },
    localDelivery: opts.deliver,
  });
  // One service owned by this node alone, on the one interface: the same core as the speakers,
  // so link events (carrier back, re-created interface, new MAC) are handled the same way.
  await runtime.start({ services: [{ name: 'announce', addresses: ips.map((ip) => ip.ip), nodes: [node] }], interfaces: [opts.interface] });
  const logStats = (): void => log.info({ stats: runtime.announcer.stats.toJSON() }, 'counters');
  process.on('SIGUSR1', logStats);
  log.info({ ips: ips.map((i) => i.ip), iface: opts.interface, deliver: opts.deliver }, 'announce started');
  try {
    await signals.requested;
    await runtime.stop();
  } finally {
    process.off('SIGUSR1', logStats);
    logStats();
  }
}
