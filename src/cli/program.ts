import { Command, CommanderError } from 'commander';
import { L2vipError } from '../errors.js';
import { applyJit, jitTierFromArgv } from './jit.js';

type Register = (program: Command) => void;

/**
 * Each command's module by command name, in the order --help lists them. Only the module of the
 * command being run is loaded (all of them for --help or an unknown command): a speaker does not
 * carry the lab, the controller or the Kubernetes client in its heap (about 1 MB of RSS), and a
 * short command such as `status` starts faster.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ['announce', async () => (await import('./announce.js')).registerAnnounce],
  ['standalone', async () => (await import('./standalone.js')).registerStandalone],
  ['lab', async () => (await import('./lab.js')).registerLab],
  ['lab-agent', async () => (await import('./lab-agent.js')).registerLabAgent],
  ['config', async () => (await import('./config-check.js')).registerConfigCheck],
  ['cleanup', async () => (await import('./cleanup.js')).registerCleanup],
  ['controller', async () => (await import('./controller.js')).registerController],
  ['speaker', async () => (await import('./speaker.js')).registerSpeaker],
  ['status', async () => (await import('./status.js')).registerStatus],
];

/**
 * The l2vip command line. Every command reports bad input as one line on stderr and exits 2;
 * a stack trace means a bug. `argv` (process.argv's shape): when its first argument names a
 * command, only that command is registered; otherwise every command.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('l2vip')
    .description('Layer 2 (ARP/NDP) service IPs with fast failover, configured like MetalLB')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const named = COMMANDS.filter(([name]) => name === argv[2]);
  for (const [, load] of named.length === 1 ? named : COMMANDS) (await load())(program);
  return program;
}

/** Runs the CLI: maps our errors and commander's usage errors to one line and exit code 2. */
export async function main(argv: readonly string[]): Promise<void> {
  // Without a listener, SIGUSR1 makes Node open its inspector on 127.0.0.1:9229: a debugger on
  // a root process for any local user. Commands that use SIGUSR1 add their own listener.
  process.on('SIGUSR1', ignoreSignal);
  const jit = jitTierFromArgv(argv);
  if (jit !== undefined) applyJit(jit);
  try {
    await (await buildProgram(argv)).parseAsync(argv);
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
