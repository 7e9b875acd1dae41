// The hash functions of in-band authentication (DH-HMAC-CHAP) and of the NVMe/TCP PSK derivations:
// the one-byte identifiers the messages and key formats carry, their digest lengths, and the HMAC /
// hash / compare primitives every other file of this folder uses (node:crypto only).
import crypto from 'node:crypto';

/** Hash identifiers (HashID in the DH-HMAC-CHAP messages, <hh> in the key formats). */
export const HashId = {
  SHA256: 0x01,
  SHA384: 0x02,
  SHA512: 0x03,
} as const;
export type HashId = (typeof HashId)[keyof typeof HashId];

interface HashInfo {
  readonly id: HashId;
  /** node:crypto digest name */
  readonly digest: 'sha256' | 'sha384' | 'sha512';
  /** Our user-facing name (config, CLI). */
  readonly name: 'sha256' | 'sha384' | 'sha512';
  readonly len: 32 | 48 | 64;
}

const HASHES: readonly HashInfo[] = [
  { id: HashId.SHA256, digest: 'sha256', name: 'sha256', len: 32 },
  { id: HashId.SHA384, digest: 'sha384', name: 'sha384', len: 48 },
  { id: HashId.SHA512, digest: 'sha512', name: 'sha512', len: 64 },
];

export function isHashId(id: number): id is HashId {
  return HASHES.some((h) => h.id === id);
}

export function hashInfo(id: HashId): HashInfo {
  const h = HASHES.find((x) => x.id === id);
  if (!h) throw new RangeError(`unknown hash id ${id}`);
  return h;
}

/** Digest length in bytes of a hash id (0 for an unknown id). */
export function hashLen(id: number): number {
  return HASHES.find((h) => h.id === id)?.len ?? 0;
}

/** 'sha256' | 'sha384' | 'sha512' -> id; undefined for anything else. */
export function hashIdByName(name: string): HashId | undefined {
  return HASHES.find((h) => h.name === name)?.id;
}

export function hashName(id: HashId): string {
  return hashInfo(id).name;
}

export function hmac(id: HashId, key: Uint8Array, ...parts: (Uint8Array | string)[]): Buffer {
  const m = crypto.createHmac(hashInfo(id).digest, key);
  for (const p of parts) m.update(p);
  return m.digest();
}

export function hash(id: HashId, ...parts: Uint8Array[]): Buffer {
  const h = crypto.createHash(hashInfo(id).digest);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Constant-time equality (false, without comparing, when the lengths differ). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return crypto.timingSafeEqual(a, b);
}
