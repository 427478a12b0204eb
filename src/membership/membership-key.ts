import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.js';

/** Shortest shared secret accepted: RFC 2104 §3 discourages HMAC keys shorter than the hash output (32 bytes for SHA-256). */
export const MIN_SECRET_BYTES = 32;

/** A shared secret ready for HMAC, with the 32-bit key id carried in every datagram header. */
export interface MembershipKey {
  /** HMAC-SHA256(secret, "l2vip membership key id v1"), first 4 bytes: tells keys apart during rotation. */
  readonly id: number;
  readonly secret: Buffer;
  /** The same secret as a KeyObject, imported once: what every HMAC of a datagram uses. */
  readonly hmacKey: KeyObject;
}

/**
 * Validates a shared secret (UTF-8 text or raw bytes, at least 32 bytes) and derives its key
 * id. Throws ConfigError naming `path` when it is too short.
 */
export function membershipKey(secret: string | Uint8Array, path = 'membership.secret'): MembershipKey {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    const message = `${path}: the membership secret is ${bytes.length} bytes; use at least ${MIN_SECRET_BYTES} random bytes (e.g. \`openssl rand -base64 48\`)`;
    throw new ConfigError(message, [{ path, message }]);
  }
  const id = createHmac('sha256', bytes).update('l2vip membership key id v1').digest().readUInt32BE(0);
  return { id, secret: bytes, hmacKey: createSecretKey(bytes) };
}
