// CRC32C for NVMe/TCP digests. Data digests are computed natively (SSE4.2 where the CPU has it);
// for the short runs of a PDU header (24 to 72 bytes) a table lookup in JavaScript is cheaper than
// the call into the addon, so those stay here.
import { native } from './addon.js';

/** Below this many bytes the JavaScript table wins over the native call's fixed cost. */
const NATIVE_FROM = 128;

const TABLE = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLE[i] = c;
}

function updateJs(seed: number, buf: Uint8Array, offset: number, length: number): number {
  let crc = ~seed;
  for (let i = offset, end = offset + length; i < end; i++) crc = TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
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
