// Text encodings shared by the key interchange formats: strict base64 (RFC 4648, padded, canonical)
// and CRC-32 (the IEEE 802.3 polynomial, reflected, as zlib computes it), which both formats append
// little-endian to the key before encoding.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** key || CRC-32(key) little-endian, base64 encoded. */
export function encodeWithCrc(key: Uint8Array): string {
  const raw = Buffer.alloc(key.length + 4);
  raw.set(key, 0);
  raw.writeUInt32LE(crc32(key), key.length);
  const text = raw.toString('base64');
  raw.fill(0);
  return text;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical padded base64; null when the text is anything else. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64.test(text)) return null;
  const buf = Buffer.from(text, 'base64');
  // Non-zero bits in the padding make a second spelling of the same bytes: refuse it.
  if (buf.toString('base64') !== text) {
    buf.fill(0);
    return null;
  }
  return buf;
}

/** Strict lower- or upper-case hex with an even number of digits; null otherwise. */
export function decodeHexStrict(text: string): Buffer | null {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) return null;
  return Buffer.from(text, 'hex');
}
