// CRC32C for NVMe/TCP digests. Data digests are computed natively (SSE4.2 where the CPU has it);
// for the short runs of a PDU header (24 to 72 bytes) a table lookup in JavaScript, sixteen bytes a
// step, is cheaper than the call into the addon, so those stay here.
import { native } from './addon.js';

/** Below this many bytes the JavaScript table wins over the native call's fixed cost. */
const NATIVE_FROM = 128;

/** Slicing tables: T[k * 256 + b] is the register after byte b followed by k zero bytes. */
const T = new Int32Array(16 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[i] = c;
}
for (let k = 1; k < 16; k++) {
  for (let i = 0; i < 256; i++) {
    const p = T[(k - 1) * 256 + i]!;
    T[k * 256 + i] = (p >>> 8) ^ T[p & 0xff]!;
  }
}

function updateJs(seed: number, b: Uint8Array, offset: number, length: number): number {
  let c = ~seed;
  let i = offset;
  const end = offset + length;
  for (; i + 16 <= end; i += 16) {
    const w = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) ^ c;
    c =
      T[3840 + (w & 0xff)]! ^ T[3584 + ((w >>> 8) & 0xff)]! ^ T[3328 + ((w >>> 16) & 0xff)]! ^ T[3072 + (w >>> 24)]! ^
      T[2816 + b[i + 4]!]! ^ T[2560 + b[i + 5]!]! ^ T[2304 + b[i + 6]!]! ^ T[2048 + b[i + 7]!]! ^
      T[1792 + b[i + 8]!]! ^ T[1536 + b[i + 9]!]! ^ T[1280 + b[i + 10]!]! ^ T[1024 + b[i + 11]!]! ^
      T[768 + b[i + 12]!]! ^ T[512 + b[i + 13]!]! ^ T[256 + b[i + 14]!]! ^ T[b[i + 15]!]!;
  }
  if (i + 8 <= end) {
    const w = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) ^ c;
    c =
      T[1792 + (w & 0xff)]! ^ T[1536 + ((w >>> 8) & 0xff)]! ^ T[1280 + ((w >>> 16) & 0xff)]! ^ T[1024 + (w >>> 24)]! ^
      T[768 + b[i + 4]!]! ^ T[512 + b[i + 5]!]! ^ T[256 + b[i + 6]!]! ^ T[b[i + 7]!]!;
    i += 8;
  }
  for (; i < end; i++) c = (c >>> 8) ^ T[(c ^ b[i]!) & 0xff]!;
  return ~c >>> 0;
}

/** Digest of buf[offset, offset+length). */
export function crc32c(buf: Uint8Array, offset = 0, length = buf.length - offset): number {
  if (length < NATIVE_FROM && offset >= 0 && offset + length <= buf.length) return updateJs(0, buf, offset, length);
  return native.crc32c(buf, offset, length, 0);
}

/** Continues a digest over another piece: crc32cUpdate(crc32c(a), b) === crc32c(a ++ b). */
export function crc32cUpdate(seed: number, buf: Uint8Array, offset = 0, length = buf.length - offset): number {
  if (length < NATIVE_FROM && offset >= 0 && offset + length <= buf.length) return updateJs(seed, buf, offset, length);
  return native.crc32c(buf, offset, length, seed);
}
