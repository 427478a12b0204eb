/**
 * Installing keepalived for the benches' baseline. The runner itself is src/lab/keepalived-runner.ts
 * (also used by `l2vip lab --compare keepalived`, which never installs anything).
 */
import { execFileSync } from 'node:child_process';
import { keepalivedVersion } from '../../src/lab/keepalived-runner.js';

/**
 * keepalived's version, installing Debian's package first if it is missing (`apt-get install
 * -y keepalived`, after `apt-get update` if the first attempt fails). Undefined, with the
 * reason printed, when it cannot be had.
 */
export function ensureKeepalived(print: (line: string) => void): string | undefined {
  const have = keepalivedVersion();
  if (have !== undefined) return have;
  print('keepalived is not installed: installing Debian\'s package (apt-get install -y keepalived) for the baseline');
  const apt = (args: string[]): boolean => {
    try {
      execFileSync('apt-get', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      return true;
    } catch (err) {
      print(`  apt-get ${args.join(' ')} failed: ${String((err as { stderr?: unknown }).stderr ?? err).trim().split('\n').slice(-2).join(' / ')}`);
      return false;
    }
  };
  if (!apt(['install', '-y', '-q', 'keepalived'])) {
    if (apt(['update', '-q'])) apt(['install', '-y', '-q', 'keepalived']);
  }
  return keepalivedVersion();
}
