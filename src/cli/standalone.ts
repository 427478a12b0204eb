import type { Command } from 'commander';
import { L2vipError } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import { loadStandaloneConfig, StandaloneSpeaker } from '../standalone/standalone.js';
import { Signals } from './lifecycle.js';
import { LOG_LEVEL_HELP, parseLogLevelOption } from './options.js';
import { requireNetworkPrivileges } from './privileges.js';
import { jitOption } from './jit.js';

export function registerStandalone(program: Command): void {
  program
    .command('standalone')
    .summary('run the speaker on plain Linux hosts, without Kubernetes')
    .description(
      'Run the speaker from a YAML config file: membership with the peers over UDP (HMAC-authenticated), ' +
        'election of one node per service, ARP/NDP answers and gratuitous announcements, and local ' +
        'delivery of the VIPs. SIGHUP reloads the file and the secrets (an invalid file keeps the running config); ' +
        'SIGTERM hands the VIPs over to another node, then exits. See docs/standalone.md.',
    )
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevelOption, 'info')
    .addOption(jitOption())
    // --jit is applied by main() before this module loads (jitTierFromArgv).
    .action((opts: { config: string; logLevel: string }) => runStandalone(opts.config, opts.logLevel));
}

async function runStandalone(file: string, level: string): Promise<void> {
  const { config, secret, previousSecrets, warnings } = await loadStandaloneConfig(file);
  requireNetworkPrivileges('l2vip standalone', config.localDelivery);
  const log = createLogger(level);
  for (const w of warnings) log.warn(w);
  const signals = new Signals(log);
  try {
    const speaker = new StandaloneSpeaker(config, secret, log, previousSecrets);
    await speaker.start();
    signals.onReload = () => {
      const failed = (err: unknown): void => {
        speaker.reloads.failure++;
        log.error({ reason: err instanceof L2vipError ? err.message : String(err) }, 'config reload failed; keeping the running config');
      };
      loadStandaloneConfig(file)
        .then(async ({ config: next, secret: nextSecret, previousSecrets: nextPrevious, warnings: nextWarnings }) => {
          for (const w of nextWarnings) log.warn(w);
          await speaker.checkAddresses(next);
          speaker.reload(next, { secret: nextSecret, previousSecrets: nextPrevious });
          speaker.reloads.success++;
        })
        .catch(failed);
    };
    await signals.requested;
    signals.onReload = undefined;
    await speaker.stop();
    log.info('stopped');
  } finally {
    signals.dispose();
  }
}
