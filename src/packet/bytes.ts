/**
 * Byte access shared by the codecs: network byte order (big-endian, RFC 1700 "Data Notations")
 * by direct indexing, cheaper than a DataView per frame and inlined by V8, and sub-views.
 * Callers check bounds first.
 */

export function readU16(b: Uint8Array, offset: number): number {
  return (b[offset]! << 8) | b[offset + 1]!;
}

export function writeU16(b: Uint8Array, offset: number, value: number): void {
  b[offset] = value >>> 8;
  b[offset + 1] = value;
}

/**
 * A plain Uint8Array view of `b[start, end)`, sharing its memory. Unlike `subarray` it never
 * returns a Buffer for a Buffer input, so decoded fields have one type whatever the input was
 * (and compare equal to Uint8Arrays in tests); it is also a little cheaper.
 */
export function view(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, end - start);
}
