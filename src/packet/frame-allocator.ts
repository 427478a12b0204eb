/**
 * Zero-filled memory for outgoing frames, carved from shared 64 KiB slabs.
 *
 * Why: V8 keeps a typed array of at most 64 bytes on the JS heap and gives a larger one its own
 * off-heap backing store (malloc, external-memory accounting, a finalizer), and a small on-heap
 * array is moved off-heap the first time native code (the AF_PACKET addon) takes its buffer.
 * Both cost about 1 µs per frame; a view into a slab costs tens of nanoseconds. Node's
 * Buffer.allocUnsafe pools for the same reason. Slabs are never reused, only replaced, so every
 * frame starts zeroed without a fill.
 *
 * Consequences for callers: a frame is a view with a non-zero byteOffset (use the view, never
 * `frame.buffer` alone; Node-API's napi_get_typedarray_info already adjusts for the offset), and
 * a frame kept for long keeps its whole slab alive (fine for frames sent at once or a few cached
 * announcements).
 */

const SLAB_SIZE = 64 * 1024;
/** Larger frames (jumbo, not produced by l2vip today) get their own memory. */
const MAX_POOLED = 2048;

let slab = new ArrayBuffer(SLAB_SIZE);
let used = 0;

export function allocFrame(size: number): Uint8Array {
  if (size > MAX_POOLED) return new Uint8Array(size);
  if (used + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    used = 0;
  }
  const frame = new Uint8Array(slab, used, size);
  used += (size + 7) & ~7; // keep every frame 8-byte aligned
  return frame;
}
