// The host side of NVMe/TCP over TLS 1.3 with a configured PSK (TP 8011, identities of TP 8018): the
// TLS PSK and identity a queue's handshake offers, derived with the same functions the target uses
// (src/keys/tls-key.ts), and the client handshake itself (the addon's TLS engine, no certificate): a
// SHA-256 PSK offers TLS_AES_128_GCM_SHA256, a SHA-384 PSK TLS_AES_256_GCM_SHA384.
import net from 'node:net';
import { deriveTlsPsk, parseTlsKey } from '../keys/tls-key.js';
import { tlsClientEngine, type TlsPskHash } from '../native/tls-engine.js';
import { TlsSocket } from '../native/tls-socket.js';

/** What a queue's handshake offers. */
export interface HostTlsPsk {
  readonly identity: string;
  /** The TLS 1.3 external PSK. */
  readonly psk: Buffer;
  /** Its hash: 1 SHA-256, 2 SHA-384 (the suite offered follows it). */
  readonly hash: TlsPskHash;
}

/** From the interchange key to the version 1 identity and TLS PSK for this host and subsystem. */
export function hostTlsPsk(interchange: string, hostnqn: string, subnqn: string): HostTlsPsk {
  const k = parseTlsKey(interchange);
  try {
    const d = deriveTlsPsk(k, hostnqn, subnqn, 1);
    return { identity: d.identity, psk: d.psk, hash: d.hash };
  } finally {
    k.key.fill(0);
  }
}

/** Opens a TLS 1.3 connection offering `p` (resolves on 'secureConnect'; errors carry the reason). */
export function connectTls(host: string, port: number, p: HostTlsPsk): TlsSocket {
  // The records are read into one reused buffer: the engine copies them in before the next read.
  recordBuffer ??= Buffer.allocUnsafeSlow(256 * 1024);
  let s: TlsSocket | null = null;
  const raw = net.connect({ host, port, noDelay: true, onread: { buffer: recordBuffer, callback: (n: number, b: Uint8Array) => (s?.feedRaw(Buffer.from(b.buffer, b.byteOffset, n)), true) } });
  s = new TlsSocket(raw, tlsClientEngine(p.identity, p.psk, p.hash), false);
  return s;
}

let recordBuffer: Buffer | null = null;
