// From the PSK identity a host offers in its TLS ClientHello to the TLS PSK (TP 8018), or to the one
// reason it is refused.
//
// Identities: "NVMe<v>R<hh> <hostnqn> <subnqn>" (v = 0) and "NVMe1R<hh> <hostnqn> <subnqn> <digest>".
// The identity is attacker-controlled: it is never split blindly on spaces; the host NQN is matched
// against the configured hosts, and the identity the configured key derives for that host and
// subsystem must equal the offered one byte for byte (that also checks the PSK digest of version 1).
//
// <hh> 01 is a SHA-256 PSK (TLS_AES_128_GCM_SHA256), 02 a SHA-384 PSK (TLS_AES_256_GCM_SHA384); the
// match carries the hash, and the TLS engine (src/native/tls-engine.ts) runs the session with its suite.
import { HashId, hashName } from '../../keys/hash.js';
import { deriveTlsPsk, pskHash, type TlsKeyDerivation, type TlsPsk } from '../../keys/tls-key.js';

/** A host whose configured PSK (NVMeTLSkey-1:...) admits it over TLS. */
export interface TlsHostKey {
  readonly hostnqn: string;
  readonly key: TlsPsk;
  /** Set: the key admits the host on this subsystem only. */
  readonly subnqn?: string;
  /** How this host's tools derive the TLS PSK (default rfc8446; see keys/tls-key.ts). */
  readonly derivation?: TlsKeyDerivation;
}

/** The identity was recognised: the TLS PSK to use and whom it stands for. */
export interface PskMatch {
  readonly identity: string;
  readonly version: 0 | 1;
  readonly hostnqn: string;
  readonly subnqn: string;
  /** The TLS 1.3 external PSK (32 bytes for SHA-256, 48 for SHA-384). */
  readonly psk: Buffer;
  /** The PSK's hash: it decides the cipher suite. */
  readonly hash: typeof HashId.SHA256 | typeof HashId.SHA384;
}

export type PskVerdict = PskMatch | { readonly refused: string };

export type PskLookup = (identity: string) => PskVerdict;

const IDENTITY = /^NVMe([01])([RG])(\d\d) /;

/**
 * A lookup over the hosts that have a TLS key; `servesSubsystem(nqn)` says whether the port offers
 * that subsystem (identities naming another one are refused before any key is derived).
 */
export function hostPskLookup(hosts: readonly TlsHostKey[], servesSubsystem: (subnqn: string) => boolean): PskLookup {
  return (identity) => {
    const m = IDENTITY.exec(identity);
    if (!m) return { refused: 'not an NVMe/TCP PSK identity (NVMe0R0<h> <hostnqn> <subnqn> or NVMe1R0<h> <hostnqn> <subnqn> <digest>, h 1 or 2)' };
    const version = m[1] === '1' ? 1 : 0;
    if (m[2] === 'G') return { refused: 'generated PSKs (secure channel concatenation after DH-HMAC-CHAP) are not supported' };
    if (m[3] !== '01' && m[3] !== '02') return { refused: `unknown PSK hash ${m[3]} (01 SHA-256, 02 SHA-384)` };
    const hash = m[3] === '02' ? HashId.SHA384 : HashId.SHA256;
    const rest = identity.slice(m[0].length);
    // Several host NQNs may prefix the rest (NQNs with spaces): exactly one must derive this identity
    // (two that do would read it as different host/subsystem pairs: refused as ambiguous); otherwise
    // the first reason found is the one reported.
    let why: string | null = null;
    let found: PskMatch | null = null;
    for (const h of hosts) {
      if (!rest.startsWith(`${h.hostnqn} `)) continue;
      const tail = rest.slice(h.hostnqn.length + 1);
      const subnqn = version === 0 ? tail : tail.slice(0, Math.max(0, tail.lastIndexOf(' ')));
      if (subnqn.length === 0) continue;
      if (h.subnqn !== undefined && h.subnqn !== subnqn) {
        why ??= `host ${h.hostnqn} has no PSK for subsystem ${subnqn}`;
        continue;
      }
      if (!servesSubsystem(subnqn)) {
        why ??= `subsystem ${subnqn} is not offered on this port`;
        continue;
      }
      if (pskHash(h.key) !== hash) {
        why ??= `the host offers a ${hashName(hash)} PSK but the key configured for host ${h.hostnqn} is ${hashName(pskHash(h.key))}`;
        continue;
      }
      const d = deriveTlsPsk(h.key, h.hostnqn, subnqn, version, h.derivation);
      if (d.identity !== identity) {
        d.psk.fill(0);
        why ??= `identity does not match the key configured for host ${h.hostnqn} (PSK digest differs)`;
        continue;
      }
      if (found !== null) {
        found.psk.fill(0);
        d.psk.fill(0);
        return { refused: `ambiguous identity: hosts ${found.hostnqn} and ${h.hostnqn} both read it (host NQNs with spaces)` };
      }
      found = { identity, version, hostnqn: h.hostnqn, subnqn, psk: d.psk, hash };
    }
    return found ?? { refused: why ?? 'no TLS key is configured for the host NQN in this identity' };
  };
}
