import { createHmac } from 'node:crypto';
import type { MembershipKey } from '../../src/membership/membership-key.js';
import { MAC_BYTES } from '../../src/membership/wire.js';

/**
 * MACs a membership datagram again in place after an edit (as a peer holding the key would), so
 * only the edit is judged. Through node:crypto, independently of the code under test.
 */
export function remac(bytes: Buffer, key: MembershipKey): Buffer {
  createHmac('sha256', key.secret).update(bytes.subarray(0, bytes.length - MAC_BYTES)).digest().copy(bytes, bytes.length - MAC_BYTES, 0, MAC_BYTES);
  return bytes;
}
