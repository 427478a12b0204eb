import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { loadNative } from '../netdev/native.js';

/** Shortest shared secret accepted: RFC 2104 §3 discourages HMAC keys shorter than the hash output (32 bytes for SHA-256). */
export const MIN_SECRET_BYTES = 32;

/** A shared secret ready for HMAC, with the 32-bit key id carried in every datagram header. */
export interface MembershipKey {
  /** HMAC-SHA256(secret, "l2vip membership key id v1"), first 4 bytes: tells keys apart during rotation. */
  readonly id: number;
  readonly secret: Buffer;
  /** The same secret as a KeyObject, imported once (node:crypto's HMAC, when the addon is missing). */
  readonly hmacKey: KeyObject;
  /** HMAC-SHA256(secret, data): 32 bytes, a new Buffer. */
  mac(data: Uint8Array): Buffer;
}

type MacFn = (data: Uint8Array) => Buffer;

/**
 * The MAC of every datagram: the addon's HmacSha256 (one OpenSSL context per key, re-initialised
 * per datagram: no allocation, no algorithm lookup, no JS object) or, without the addon,
 * node:crypto's createHmac. Both compute the same HMAC-SHA256 (tested).
 */
function macFunction(secret: Buffer, hmacKey: KeyObject): MacFn {
  let native: ReturnType<typeof loadNative> | undefined;
  try {
    native = loadNative();
  } catch {
    native = undefined;
  }
  const viaNodeCrypto: MacFn = (data) => createHmac('sha256', hmacKey).update(data).digest();
  if (native?.HmacSha256 === undefined) return viaNodeCrypto;
  let h: InstanceType<NonNullable<typeof native.HmacSha256>>;
  try {
    h = new native.HmacSha256(secret);
  } catch {
    // OpenSSL refused the context (a provider configuration without HMAC, say): node:crypto
    // computes the same MAC, so peers notice nothing.
    return viaNodeCrypto;
  }
  return (data) => {
    const out = Buffer.allocUnsafe(32);
    h.digest(data, out);
    return out;
  };
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
  const hmacKey = createSecretKey(bytes);
  let fn: MacFn | undefined;
  return {
    id,
    secret: bytes,
    hmacKey,
    // Made at the first datagram: keys that only validate a config never load the addon.
    mac: (data) => (fn ??= macFunction(bytes, hmacKey))(data),
  };
}
