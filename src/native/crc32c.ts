// CRC32C for NVMe/TCP digests, computed natively (SSE4.2 where the CPU has it).
import { native } from './addon.js';

/** Digest of buf[offset, offset+length). */
export function crc32c(buf: Uint8Array, offset = 0, length = buf.length - offset): number {
  return native.crc32c(buf, offset, length, 0);
}

/** Continues a digest over another piece: crc32cUpdate(crc32c(a), b) === crc32c(a ++ b). */
export function crc32cUpdate(seed: number, buf: Uint8Array, offset = 0, length = buf.length - offset): number {
  return native.crc32c(buf, offset, length, seed);
}
