import { Command, CommanderError } from 'commander';
import { L2vipError } from '../errors.js';
import { registerAnnounce } from './announce.js';
import { registerStandalone } from './standalone.js';
import { registerLab } from './lab.js';
import { registerLabAgent } from './lab-agent.js';
import { registerConfigCheck } from './config-check.js';
import { registerCleanup } from './cleanup.js';
import { registerController } from './controller.js';
import { registerSpeaker } from './speaker.js';
import { registerStatus } from './status.js';

/**
 * The l2vip command line. Every command reports bad input as one line on stderr and exits 2;
 * a stack trace means a bug.
 */
export function buildProgram(): Command {
  const program = new Command('l2vip')
    .description('Layer 2 (ARP/NDP) service IPs with fast failover, configured like MetalLB')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerAnnounce(program);
  registerStandalone(program);
  registerLab(program);
  registerLabAgent(program);
  registerConfigCheck(program);
  registerCleanup(program);
  registerController(program);
  registerSpeaker(program);
  registerStatus(program);
  return program;
}

/** Runs the CLI: maps our errors and commander's usage errors to one line and exit code 2. */
export async function main(argv: readonly string[]): Promise<void> {
  // Without a listener, SIGUSR1 makes Node open its inspector on 127.0.0.1:9229: a debugger on
  // a root process for any local user. Commands that use SIGUSR1 add their own listener.
  process.on('SIGUSR1', ignoreSignal);
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof L2vipError) {
      process.stderr.write(`l2vip: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

function ignoreSignal(): void {}
