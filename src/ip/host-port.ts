import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** A parsed 'host:port' or '[v6]:port' address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/**
 * Parses '192.0.2.1:7946', '[2001:db8::1]:7946' (brackets required for IPv6). Hosts must be IP
 * literals: membership must not depend on DNS. All addresses are written 0.0.0.0:port or
 * [::]:port; a bare ':port' is refused, so the family is always explicit. Throws ConfigError
 * naming `path`.
 */
export function parseHostPort(address: string, path = 'address'): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const family = host === undefined ? 0 : isIP(host);
  const bracketsOk = m?.[1] === undefined ? family !== 6 : family === 6;
  if (m === null || host === undefined || family === 0 || !bracketsOk || port < 0 || port > 65535) {
    const message = `${path}: "${address}" is not an IP:port address (write 192.0.2.1:7946 or [2001:db8::1]:7946)`;
    throw new ConfigError(message, [{ path, message }]);
  }
  return { host, port, family: family === 6 ? 6 : 4 };
}

/** Formats a host and port back into the 'host:port' / '[v6]:port' syntax. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
