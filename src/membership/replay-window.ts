/** Outcome of an anti-replay check. */
export type ReplayVerdict = 'ok' | 'replay' | 'too-old';

/**
 * Anti-replay window over (incarnation, sequence number), after RFC 4303 §3.4.3 (IPsec ESP):
 * a bitmap of the last `size` sequence numbers below the highest one accepted. Duplicates are
 * rejected as `replay`, numbers left of the window as `too-old`. A higher incarnation (the
 * sender restarted or refuted a suspicion) starts a fresh window; a lower one is `too-old`.
 *
 * As RFC 4303 requires, `check` does not change the window: call `accept` only once the
 * datagram's integrity has been verified, so forged datagrams cannot move the window.
 */
export class ReplayWindow {
  private incarnation = -1;
  private top = -1;
  private readonly bits: Uint32Array;

  /** `size`: window width in sequence numbers, a multiple of 32 (default 1024). */
  constructor(readonly size = 1024) {
    if (size <= 0 || size % 32 !== 0) throw new RangeError(`replay window size must be a positive multiple of 32, got ${size}`);
    this.bits = new Uint32Array(size / 32);
  }

  check(incarnation: number, seq: number): ReplayVerdict {
    if (incarnation > this.incarnation) return 'ok';
    if (incarnation < this.incarnation) return 'too-old';
    if (seq > this.top) return 'ok';
    if (this.top - seq >= this.size) return 'too-old';
    return this.isSet(seq) ? 'replay' : 'ok';
  }

  /** Records (incarnation, seq) as seen. Call only after `check` returned 'ok' and the MAC verified. */
  accept(incarnation: number, seq: number): void {
    if (incarnation > this.incarnation) {
      this.incarnation = incarnation;
      this.top = seq;
      this.bits.fill(0);
      this.set(seq);
      return;
    }
    if (incarnation < this.incarnation) return;
    if (seq > this.top) {
      if (seq - this.top >= this.size) this.bits.fill(0);
      else for (let s = this.top + 1; s < seq; s++) this.clear(s);
      this.top = seq;
      this.set(seq);
      return;
    }
    if (this.top - seq < this.size) this.set(seq);
  }

  private index(seq: number): [number, number] {
    const bit = seq % this.size;
    return [bit >>> 5, 1 << (bit & 31)];
  }

  private isSet(seq: number): boolean {
    const [w, m] = this.index(seq);
    return (this.bits[w]! & m) !== 0;
  }

  private set(seq: number): void {
    const [w, m] = this.index(seq);
    this.bits[w]! |= m;
  }

  private clear(seq: number): void {
    const [w, m] = this.index(seq);
    this.bits[w]! &= ~m;
  }
}
