import { readFileSync } from 'node:fs';
import { PermissionError } from '../errors.js';

// linux/capability.h
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

/** Effective capabilities of this process, from /proc/self/status (CapEff, hex). */
function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * Fails early with one clear line when the process cannot open raw sockets or change routes,
 * instead of a socket error halfway through start-up.
 */
export function requireNetworkPrivileges(command: string, needAdmin: boolean): void {
  const caps = effectiveCaps();
  const missing: string[] = [];
  if ((caps & (1n << BigInt(CAP_NET_RAW))) === 0n) missing.push('CAP_NET_RAW');
  if (needAdmin && (caps & (1n << BigInt(CAP_NET_ADMIN))) === 0n) missing.push('CAP_NET_ADMIN');
  if (missing.length > 0) {
    throw new PermissionError(`${command} needs ${missing.join(' and ')}: run it as root (sudo)`);
  }
}
