// CRC32C (the NVMe/TCP digest): the addon's native implementation against a table-driven one in
// plain JavaScript (slicing by 8, written here), on a PDU header, a 4 KiB and a 128 KiB payload.
import { crc32c } from '../../src/native/crc32c.js';
import { native } from '../../src/native/addon.js';
import { runSuite, type CaseResult } from './suite.js';

const T = Array.from({ length: 8 }, () => new Int32Array(256));
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[0]![i] = c;
}
for (let i = 0; i < 256; i++) for (let t = 1; t < 8; t++) T[t]![i] = (T[t - 1]![i]! >>> 8) ^ T[0]![T[t - 1]![i]! & 0xff]!;
const [T0, T1, T2, T3, T4, T5, T6, T7] = T as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];

/** CRC32C in JavaScript, eight bytes per step. */
export function crc32cJs(b: Uint8Array): number {
  let c = -1;
  let i = 0;
  const n = b.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) ^ c;
    c =
      T7[lo & 0xff]! ^ T6[(lo >>> 8) & 0xff]! ^ T5[(lo >>> 16) & 0xff]! ^ T4[lo >>> 24]! ^
      T3[b[i + 4]!]! ^ T2[b[i + 5]!]! ^ T1[b[i + 6]!]! ^ T0[b[i + 7]!]!;
  }
  for (; i < n; i++) c = (c >>> 8) ^ T0[(c ^ b[i]!) & 0xff]!;
  return (c ^ -1) >>> 0;
}

export function run(): CaseResult[] {
  const sizes = [24, 4096, 131072];
  const bufs = sizes.map((n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
    return b;
  });
  for (const b of bufs) {
    if (crc32c(b) !== crc32cJs(b)) throw new Error(`native and JS CRC32C disagree on ${b.length} bytes`);
  }
  // RFC 3720 check value: "123456789" -> 0xE3069283.
  if (crc32cJs(Buffer.from('123456789')) !== 0xe3069283) throw new Error('JS CRC32C check value');
  let sink = 0;
  const cases = bufs.flatMap((b) => [
    { name: `native ${b.length} B (${native.crc32cKind()})`, fn: () => void (sink ^= crc32c(b)), bytes: b.length },
    { name: `js table ${b.length} B`, fn: () => void (sink ^= crc32cJs(b)), bytes: b.length },
  ]);
  const r = runSuite('CRC32C', cases);
  if (sink === 0.5) console.log(sink);
  return r;
}
