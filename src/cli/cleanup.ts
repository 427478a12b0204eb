import type { Command } from 'commander';
import { DEFAULT_STATE_DIR, deliveryPaths, NFT_TABLE, removeLeftovers, procSysctl, ROUTE_PROTO, takeLock } from '../delivery/host-state.js';
import { spawnRunner } from '../host/command-runner.js';
import { NftVirtualMacs, VMAC_NFT_TABLE } from '../netdev/virtual-mac-device.js';
import { createLogger } from '../observability/logger.js';
import { rm } from 'node:fs/promises';
import { requireNetworkPrivileges } from './privileges.js';

export function registerCleanup(program: Command): void {
  program
    .command('cleanup')
    .summary('remove what a killed l2vip left on this host (routes, addresses, nftables table, sysctls)')
    .description(
      'Remove the local delivery a killed l2vip (kill -9, a crash, a power cut of the process) left in this ' +
        `network namespace: its local routes (table local, proto ${ROUTE_PROTO}), its IPv6 addresses on lo, the ` +
        `nftables table arp ${NFT_TABLE}, the arp_announce/arp_ignore values it raised (restored), and its virtual MAC ` +
        `filter entries and nftables table netdev ${VMAC_NFT_TABLE}. Prints what it removed. ` +
        'Refuses (exit 2) while an l2vip runs in this network namespace: stopping it removes all of that. ' +
        'A start after a crash does the same by itself; this is for hosts where l2vip will not start again.',
    )
    .option('--state-dir <dir>', 'where l2vip keeps its state files', DEFAULT_STATE_DIR)
    .action((opts: { stateDir: string }) => runCleanup(opts.stateDir, (t) => process.stdout.write(t)));
}

/** Removes the leftovers and writes one line per removed item. */
export async function runCleanup(stateDir: string, print: (text: string) => void): Promise<void> {
  requireNetworkPrivileges('l2vip cleanup', true);
  const paths = await deliveryPaths(stateDir);
  // Also keeps an l2vip from starting while we remove: it would find the lock held.
  await takeLock(paths.lock);
  try {
    const log = createLogger('warn', 2);
    const r = await removeLeftovers({ runner: spawnRunner, logger: log, sysctl: procSysctl, statePath: paths.state });
    const devices = await new NftVirtualMacs({ runner: spawnRunner }).removeAll();
    const lines = [
      ...r.routes.map((ip) => `removed route local ${ip} (table local, proto ${ROUTE_PROTO})`),
      ...r.addresses.map((ip) => `removed address ${ip}/128 from lo`),
      ...(r.nftTable ? [`deleted nftables table arp ${NFT_TABLE}`] : []),
      ...r.sysctls.map((s) => `restored net.ipv4.conf.${s}`),
      ...devices.map((d) => `removed virtual MAC ${d}`),
    ];
    print(lines.length > 0 ? `${lines.join('\n')}\n` : 'nothing to clean up\n');
  } finally {
    await rm(paths.lock, { force: true });
  }
}
