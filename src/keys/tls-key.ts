// NVMe/TCP pre-shared keys (TP 8018): the PSK interchange format NVMeTLSkey-1:<hh>:<base64(key || CRC-32)>:
// and the derivations from a configured PSK to the TLS PSK and its identity.
//   <hh> 00: the configured PSK is used as the retained PSK (32 bytes: SHA-256, 48 bytes: SHA-384);
//        01: SHA-256, 32-byte key; 02: SHA-384, 48-byte key; the retained PSK is derived with that hash.
// Retained PSK = HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN", NQNh, L)
// PSK digest   = base64(HMAC(retained, NQNh || " " || NQNc || " " || "NVMe-over-Fabrics"))
// TLS PSK      = HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk", context, L), where the
//                context is the identity itself (version 0) or "<hh> <PSK digest>" (version 1).
// Identities: "NVMe0R<hh> <NQNh> <NQNc>" and "NVMe1R<hh> <NQNh> <NQNc> <PSK digest>".
//
// Two encodings of HKDF-Expand-Label's info are in use on Linux hosts, and the PSK only matches when
// both sides use the same one:
//   rfc8446: uint16 length (big-endian) || uint8 len || "tls13 " Label || uint8 len || Context, as TP 8018
//            asks (libnvme 1.16 and later, nvme-cli 2.16 and later);
//   compat:  uint16 length (little-endian) || "tls13 " Label || Context, without the two length bytes:
//            what libnvme before 1.16 computes (nvme-cli up to 2.15: Debian 13, Ubuntu 24.04, ...) and
//            what newer nvme-cli still computes with --compat.
import crypto from 'node:crypto';
import { encodeWithCrc, parseInterchange, type InterchangeFormat } from './encoding.js';
import { AuthKeyError } from './errors.js';
import { HashId, hashInfo, hashLen, hashName, hmac } from './hash.js';
import { NVMF_SEED } from './dhchap-key.js';

export const TLS_PREFIX = 'NVMeTLSkey-1:';
const TLS_KEY_LENGTHS: readonly number[] = [32, 48];

/** Which HKDF-Expand-Label info encoding derives the retained and TLS PSKs (see above). */
export type TlsKeyDerivation = 'rfc8446' | 'compat';
export const TLS_KEY_DERIVATIONS: readonly TlsKeyDerivation[] = ['rfc8446', 'compat'];

/** 0: no transformation; 1: SHA-256; 2: SHA-384. */
export type TlsTransform = 0 | typeof HashId.SHA256 | typeof HashId.SHA384;

export interface TlsPsk {
  readonly transform: TlsTransform;
  /** The configured PSK (32 or 48 bytes). */
  readonly key: Buffer;
}

function fail(what: string): never {
  throw new AuthKeyError(`TLS PSK: ${what}`);
}

const TLS_FORMAT: InterchangeFormat = {
  prefix: TLS_PREFIX,
  maxTransform: HashId.SHA384,
  transforms: '00 (none), 01 (SHA-256) or 02 (SHA-384)',
  lengths: TLS_KEY_LENGTHS,
  fail,
};

/** Parses NVMeTLSkey-1:<hh>:<base64>: (surrounding white space ignored); errors never echo the key. */
export function parseTlsKey(text: string): TlsPsk {
  return parseInterchange(text, TLS_FORMAT) as TlsPsk;
}

export function formatTlsKey(k: TlsPsk): string {
  const len = k.key.length;
  if (k.transform === 0 ? len !== 32 && len !== 48 : hashLen(k.transform) !== len) {
    fail(`a ${k.transform === 0 ? 'untransformed' : hashName(k.transform)} PSK cannot be ${len} bytes`);
  }
  return `${TLS_PREFIX}0${k.transform}:${encodeWithCrc(k.key)}:`;
}

/** A new configured PSK: random (or the given secret), 32 bytes for SHA-256, 48 for SHA-384. */
export function generateTlsKey(transform: typeof HashId.SHA256 | typeof HashId.SHA384, secret?: Uint8Array): TlsPsk {
  const len = hashLen(transform);
  if (secret && secret.length !== len) fail(`the secret must be ${len} bytes for ${hashName(transform)}, not ${secret.length}`);
  return { transform, key: secret ? Buffer.from(secret) : crypto.randomBytes(len) };
}

/** The hash of the cipher suite the PSK goes with (the <hh> of its identity). */
export function pskHash(k: TlsPsk): typeof HashId.SHA256 | typeof HashId.SHA384 {
  if (k.transform !== 0) return k.transform;
  return k.key.length === 48 ? HashId.SHA384 : HashId.SHA256;
}

/**
 * HKDF-Expand-Label (RFC 8446 §7.1) over PRK = HKDF-Extract(zero salt, ikm) (RFC 5869); `compat`
 * builds the info the way libnvme before 1.16 does (see above).
 */
export function hkdfExpandLabel(
  h: HashId, ikm: Uint8Array, label: string, context: Uint8Array | string, length: number, derivation: TlsKeyDerivation = 'rfc8446',
): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'utf8');
  const ctx = typeof context === 'string' ? Buffer.from(context, 'utf8') : Buffer.from(context);
  let info: Buffer;
  if (derivation === 'compat') {
    info = Buffer.alloc(2 + full.length + ctx.length);
    info.writeUInt16LE(length, 0);
    full.copy(info, 2);
    ctx.copy(info, 2 + full.length);
  } else {
    if (full.length > 255) fail(`HKDF label "${label}" is too long`);
    if (ctx.length > 255) fail(`HKDF context is ${ctx.length} bytes, at most 255 fit (NQNs too long for this identity)`);
    info = Buffer.alloc(2 + 1 + full.length + 1 + ctx.length);
    info.writeUInt16BE(length, 0);
    info[2] = full.length;
    full.copy(info, 3);
    info[3 + full.length] = ctx.length;
    ctx.copy(info, 4 + full.length);
  }
  return Buffer.from(crypto.hkdfSync(hashInfo(h).digest, ikm, Buffer.alloc(0), info, length));
}

/** The retained PSK the configured PSK is turned into for this host (the key itself for <hh> 00). */
export function retainedPsk(k: TlsPsk, hostnqn: string, derivation: TlsKeyDerivation = 'rfc8446'): Buffer {
  if (k.transform === 0) return Buffer.from(k.key);
  return hkdfExpandLabel(k.transform, k.key, 'HostNQN', hostnqn, k.key.length, derivation);
}

/** base64(HMAC(psk, NQNh || " " || NQNc || " " || "NVMe-over-Fabrics")), SHA-256 or SHA-384 only. */
export function pskDigest(h: typeof HashId.SHA256 | typeof HashId.SHA384, psk: Uint8Array, hostnqn: string, subnqn: string): string {
  if (hashLen(h) !== 32 && hashLen(h) !== 48) fail('the PSK digest is defined for SHA-256 and SHA-384 only');
  return hmac(h, psk, `${hostnqn} ${subnqn} ${NVMF_SEED}`).toString('base64');
}

function hh(h: HashId): string {
  return h.toString(10).padStart(2, '0');
}

export function tlsIdentity(version: 0 | 1, h: HashId, hostnqn: string, subnqn: string, digest?: string): string {
  if (version === 0) return `NVMe0R${hh(h)} ${hostnqn} ${subnqn}`;
  if (!digest) fail('a version 1 identity needs the PSK digest');
  return `NVMe1R${hh(h)} ${hostnqn} ${subnqn} ${digest}`;
}

/** The TLS PSK from an input (retained or generated) PSK and the context of its identity. */
export function tlsPskFromInput(
  h: typeof HashId.SHA256 | typeof HashId.SHA384, input: Uint8Array, context: string, derivation: TlsKeyDerivation = 'rfc8446',
): Buffer {
  if (input.length !== hashLen(h)) fail(`a ${hashName(h)} input PSK is ${hashLen(h)} bytes, not ${input.length}`);
  return hkdfExpandLabel(h, input, 'nvme-tls-psk', context, hashLen(h), derivation);
}

export interface DerivedTlsPsk {
  readonly identity: string;
  /** The TLS 1.3 external PSK (32 or 48 bytes). */
  readonly psk: Buffer;
  readonly hash: typeof HashId.SHA256 | typeof HashId.SHA384;
}

/** From a configured PSK to the identity and TLS PSK for one host and subsystem. */
export function deriveTlsPsk(k: TlsPsk, hostnqn: string, subnqn: string, version: 0 | 1, derivation: TlsKeyDerivation = 'rfc8446'): DerivedTlsPsk {
  const h = pskHash(k);
  const retained = retainedPsk(k, hostnqn, derivation);
  try {
    if (version === 0) {
      const identity = tlsIdentity(0, h, hostnqn, subnqn);
      return { identity, psk: tlsPskFromInput(h, retained, identity, derivation), hash: h };
    }
    const digest = pskDigest(h, retained, hostnqn, subnqn);
    return { identity: tlsIdentity(1, h, hostnqn, subnqn, digest), psk: tlsPskFromInput(h, retained, `${hh(h)} ${digest}`, derivation), hash: h };
  } finally {
    retained.fill(0);
  }
}

/** Generated PSK of a DH-HMAC-CHAP transaction (secure channel concatenation): HMAC(KS, C1 || C2). */
export function generatedPsk(h: HashId, sessionKey: Uint8Array, c1: Uint8Array, c2: Uint8Array): Buffer {
  return hmac(h, sessionKey, c1, c2);
}
