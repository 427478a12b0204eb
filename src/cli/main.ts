import { Command } from 'commander';

const program = new Command('l2vip')
  .description('Layer 2 (ARP/NDP) service IPs with fast failover, configured like MetalLB')
  .version('0.1.0');

await program.parseAsync(process.argv);
