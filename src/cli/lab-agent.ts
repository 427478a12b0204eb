import type { Command } from 'commander';
import { runEcho, runProbe } from '../lab/lab-agent.js';
import { parseIntOption } from './options.js';

/** Internal helpers the lab runs inside its namespaces; hidden from --help. */
export function registerLabAgent(program: Command): void {
  const agent = program.command('lab-agent', { hidden: true }).description('internal: the lab\'s echo service and client prober');
  agent
    .command('echo <name> <vips...>')
    .action((name: string, vips: string[]) => {
      runEcho(name, vips);
    });
  agent
    .command('probe <targets...>')
    .option('--interval <ms>', 'probe spacing', parseIntOption, 2)
    .action((targets: string[], o: { interval: number }) => {
      runProbe(targets, o.interval);
    });
}
