// Text encodings shared by the key interchange formats: strict base64 (RFC 4648, padded, canonical)
// and CRC-32 (the IEEE 802.3 polynomial, reflected, as zlib computes it), which both formats append
// little-endian to the key before encoding, and the one parser of both formats' outer shape.
import { hashLen, hashName, type HashId } from './hash.js';

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

/**
 * Splits a decoded interchange key (key + CRC-32 little endian) into a copy of the key, checking its
 * length against `lengths` and its CRC; `raw` is wiped either way. Returns the key or why it is none.
 */
export function splitKeyAndCrc(raw: Buffer, lengths: readonly number[]): Buffer | string {
  const keyLen = raw.length - 4;
  if (!lengths.includes(keyLen)) {
    const n = raw.length;
    raw.fill(0);
    const sizes = `${lengths.slice(0, -1).join(', ')} or ${lengths[lengths.length - 1]}-byte`;
    return `the key part decodes to ${n} bytes; it must be a ${sizes} key followed by its 4-byte CRC-32`;
  }
  const key = Buffer.from(raw.subarray(0, keyLen));
  const crc = raw.readUInt32LE(keyLen);
  raw.fill(0);
  if (crc32(key) !== crc) {
    key.fill(0);
    return 'CRC-32 mismatch: the key is mistyped or truncated';
  }
  return key;
}

/** One interchange key format: `<prefix><hh>:<base64(key || CRC-32)>:`. */
export interface InterchangeFormat {
  readonly prefix: string;
  /** The highest <hh> accepted (00 = untransformed, then hash ids). */
  readonly maxTransform: HashId;
  /** What the <hh> field may be, for the error message. */
  readonly transforms: string;
  readonly lengths: readonly number[];
  /** Throws the format's error; messages never contain key material. */
  readonly fail: (what: string) => never;
}

/**
 * Parses `<prefix><hh>:<base64>:` (surrounding white space ignored): the transformation and a copy of
 * the key, its CRC-32 checked and, when transformed, its length equal to the hash's.
 */
export function parseInterchange(text: string, f: InterchangeFormat): { transform: 0 | HashId; key: Buffer } {
  const s = text.trim();
  if (!s.startsWith(f.prefix)) f.fail(`must start with "${f.prefix}"`);
  const hh = s.slice(f.prefix.length, f.prefix.length + 3);
  if (!/^0[0-9]:$/.test(hh) || Number(hh[1]) > f.maxTransform) {
    f.fail(`the hash field after "${f.prefix}" must be ${f.transforms}, followed by ":"`);
  }
  const transform = Number(hh[1]) as 0 | HashId;
  const body = s.slice(f.prefix.length + 3);
  if (!body.endsWith(':')) f.fail('must end with ":" after the base64 part');
  const b64 = body.slice(0, -1);
  if (b64.length === 0) f.fail('the base64 part is empty');
  const raw = decodeBase64Strict(b64);
  if (!raw) f.fail('the key part is not valid (padded) base64');
  const key = splitKeyAndCrc(raw, f.lengths);
  if (typeof key === 'string') f.fail(key);
  if (transform !== 0 && hashLen(transform) !== key.length) {
    const n = key.length;
    key.fill(0);
    f.fail(`hash ${hh.slice(0, 2)} (${hashName(transform)}) needs a ${hashLen(transform)}-byte key, this one has ${n} bytes`);
  }
  return { transform, key };
}
