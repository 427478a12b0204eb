import { spawn } from 'node:child_process';
import { HostSetupError, MissingToolError } from '../errors.js';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Port: runs a host tool (ip, nft, ...). The real one spawns it; tests record the calls. */
export interface CommandRunner {
  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult>;
}

/** A host tool that has not finished after this long is killed: `ip` and `nft` take milliseconds. */
const TIMEOUT_MS = 30_000;

/** Spawns the command without a shell; a missing binary becomes MissingToolError, a hung one HostSetupError. */
export const spawnRunner: CommandRunner = {
  run(cmd, args, input) {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new HostSetupError(`"${cmd} ${args.join(' ')}" did not finish within ${TIMEOUT_MS / 1000} s`));
      }, TIMEOUT_MS);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err.code === 'ENOENT') reject(new MissingToolError(`"${cmd}" is not installed (it is in Debian's ${cmd === 'nft' ? 'nftables' : 'iproute2'} package)`));
        else reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
  },
};
