// DH-HMAC-CHAP secrets in their interchange format, DHHC-1:<hh>:<base64(key || CRC-32)>:
//   <hh> 00: the key is used as it is (32, 48 or 64 bytes);
//        01/02/03: the key (32/48/64 bytes) is first transformed with HMAC-SHA-256/384/512 keyed with it
//        over the NQN of its owner followed by the 17 characters "NVMe-over-Fabrics".
// The host key is transformed with the host NQN, the controller key with the subsystem NQN.
import crypto from 'node:crypto';
import { encodeWithCrc, parseInterchange, type InterchangeFormat } from './encoding.js';
import { AuthKeyError } from './errors.js';
import { HashId, hashLen, hashName, hmac, isHashId } from './hash.js';

export const DHCHAP_PREFIX = 'DHHC-1:';
export const NVMF_SEED = 'NVMe-over-Fabrics';
export const DHCHAP_KEY_LENGTHS = [32, 48, 64] as const;

/** 0: no transformation; otherwise the hash id of the transformation. */
export type DhchapTransform = 0 | HashId;

export interface DhchapKey {
  readonly transform: DhchapTransform;
  /** The key bytes as configured (before the transformation). */
  readonly key: Buffer;
}

function fail(what: string): never {
  throw new AuthKeyError(`DH-HMAC-CHAP key: ${what}`);
}

const DHCHAP_FORMAT: InterchangeFormat = {
  prefix: DHCHAP_PREFIX,
  maxTransform: HashId.SHA512,
  transforms: '00 (none), 01 (SHA-256), 02 (SHA-384) or 03 (SHA-512)',
  lengths: DHCHAP_KEY_LENGTHS,
  fail,
};

/** Parses DHHC-1:<hh>:<base64>: (surrounding white space is ignored). Errors never echo the secret. */
export function parseDhchapKey(text: string): DhchapKey {
  return parseInterchange(text, DHCHAP_FORMAT);
}

export function formatDhchapKey(k: DhchapKey): string {
  checkShape(k.transform, k.key.length);
  return `${DHCHAP_PREFIX}${k.transform.toString(16).padStart(2, '0')}:${encodeWithCrc(k.key)}:`;
}

function checkShape(transform: number, keyLen: number): void {
  if (transform !== 0 && !isHashId(transform)) fail(`unknown transformation hash ${transform}`);
  if (!(DHCHAP_KEY_LENGTHS as readonly number[]).includes(keyLen)) fail(`a key is 32, 48 or 64 bytes, not ${keyLen}`);
  if (transform !== 0 && hashLen(transform) !== keyLen) {
    fail(`hash ${hashName(transform as HashId)} needs a ${hashLen(transform)}-byte key, not ${keyLen}`);
  }
}

/**
 * The key that keys the HMAC of the responses: the key itself for transform 0, otherwise
 * HMAC-H(key, nqn || "NVMe-over-Fabrics") with H the transformation hash.
 */
export function transformDhchapKey(k: DhchapKey, nqn: string): Buffer {
  if (k.transform === 0) return Buffer.from(k.key);
  return hmac(k.transform, k.key, Buffer.from(nqn, 'utf8'), NVMF_SEED);
}

/**
 * A new secret in the interchange format, as host key generators do it: random bytes (or the given
 * secret) of the key length; with a transformation hash the printed key is that secret already
 * transformed with the host NQN (it is transformed once more when used).
 */
export function generateDhchapKey(opts: { transform: DhchapTransform; hostnqn: string; keyLen?: number; secret?: Uint8Array }): DhchapKey {
  const keyLen = opts.transform === 0 ? (opts.keyLen ?? opts.secret?.length ?? 32) : hashLen(opts.transform);
  if (opts.keyLen !== undefined && opts.keyLen !== keyLen) {
    fail(`hash ${hashName(opts.transform as HashId)} makes ${keyLen}-byte keys, not ${opts.keyLen}`);
  }
  checkShape(opts.transform, keyLen);
  if (opts.secret && opts.secret.length !== keyLen) fail(`the secret must be ${keyLen} bytes, not ${opts.secret.length}`);
  const secret = opts.secret ? Buffer.from(opts.secret) : crypto.randomBytes(keyLen);
  if (opts.transform === 0) return { transform: 0, key: secret };
  const key = transformDhchapKey({ transform: opts.transform, key: secret }, opts.hostnqn);
  secret.fill(0);
  return { transform: opts.transform, key };
}
