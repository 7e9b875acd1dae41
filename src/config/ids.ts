// Stable identifiers derived from the subsystem NQN (and nsid) when the config gives none, so that a
// host sees the same serial number, UUID, NGUID and EUI-64 after every restart.
import { createHash } from 'node:crypto';

function digest(domain: string, nqn: string, nsid?: number): Buffer {
  const h = createHash('sha256');
  h.update(`nvmetd:${domain}\0${nqn}`);
  if (nsid !== undefined) h.update(`\0${nsid}`);
  return h.digest();
}

/** 20 hex characters (the Identify Controller SN field is 20 ASCII bytes). */
export function deriveSerial(nqn: string): string {
  return digest('serial', nqn).toString('hex').slice(0, 20);
}

/** An RFC 9562 version 8 (custom) UUID in text form. */
export function deriveUuid(nqn: string, nsid: number): string {
  const b = digest('uuid', nqn, nsid).subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80; // version 8
  b[8] = (b[8]! & 0x3f) | 0x80; // variant 10xx (RFC 4122/9562)
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** 32 hex digits, never all zeroes. */
export function deriveNguid(nqn: string, nsid: number): string {
  const b = digest('nguid', nqn, nsid).subarray(0, 16);
  b[0] = b[0]! | 0x01;
  return b.toString('hex');
}

/** Fixed prefix used for derived EUI-64s: 02 (locally administered) 6e 76 ("nv"). */
export const EUI64_PREFIX = '026e76';

/** 16 hex digits: the fixed prefix, then 5 bytes of hash. */
export function deriveEui64(nqn: string, nsid: number): string {
  return EUI64_PREFIX + digest('eui64', nqn, nsid).subarray(0, 5).toString('hex');
}
