// The host side of NVMe/TCP over TLS 1.3 with a configured PSK (TP 8011, identities of TP 8018): the
// TLS PSK and identity a queue's handshake offers, derived with the same functions the target uses
// (src/keys/tls-key.ts), and the client handshake itself (Node's TLS, no certificate).
import tls from 'node:tls';
import { deriveTlsPsk, parseTlsKey, pskHash } from '../keys/tls-key.js';
import { HashId } from '../keys/hash.js';

/** What a queue's handshake offers. */
export interface HostTlsPsk {
  readonly identity: string;
  /** The TLS 1.3 external PSK. */
  readonly psk: Buffer;
}

/** The suite for a SHA-256 PSK (the one TP 8011 requires). */
export const HOST_TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256';

/** From the interchange key to the version 1 identity and TLS PSK for this host and subsystem. */
export function hostTlsPsk(interchange: string, hostnqn: string, subnqn: string): HostTlsPsk {
  const k = parseTlsKey(interchange);
  try {
    if (pskHash(k) !== HashId.SHA256) throw new Error('TLS: only SHA-256 PSKs (NVMeTLSkey-1:01 or a 32-byte NVMeTLSkey-1:00 key) are supported');
    const d = deriveTlsPsk(k, hostnqn, subnqn, 1);
    return { identity: d.identity, psk: d.psk };
  } finally {
    k.key.fill(0);
  }
}

/** Opens a TLS 1.3 connection offering `p` (resolve on 'secureConnect' as with any TLSSocket). */
export function connectTls(host: string, port: number, p: HostTlsPsk): tls.TLSSocket {
  return tls.connect({
    host,
    port,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: HOST_TLS_CIPHERS,
    // PSK only: no certificate to check.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ identity: p.identity, psk: p.psk }),
  });
}
