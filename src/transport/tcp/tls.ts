// NVMe/TCP over TLS 1.3 with an external PSK (TP 8011, identities of TP 8018): the channel under a
// TcpConnection on a port with `tls: optional` or `tls: required`.
//
// The first byte a host sends decides: 0x16 opens a TLS handshake record (ClientHello), 0x00 is the
// PDU type of a plain ICReq. A port that requires TLS closes a plain connection with one log line; an
// optional port hands it on as plain NVMe/TCP, with the bytes already read.
//
// The TLS is the addon's engine (src/native/tls-engine.ts: OpenSSL over memory buffers), server side,
// no certificate: the PSK found for the host's identity is the only authentication, and its hash picks
// the suite (SHA-256: TLS_AES_128_GCM_SHA256, the one TP 8011 makes mandatory; SHA-384:
// TLS_AES_256_GCM_SHA384). TLS 1.3 only, (EC)DHE with the PSK (psk_dhe_ke) for forward secrecy, and
// no session tickets: the Linux host hands its socket to kernel TLS when its handshake agent is done
// and reads the ICResp as the first record; a ticket there fails the connection.
//
// The handshake runs on the thread that accepted the connection. A connected I/O queue then moves to
// a worker like a plain one, its session with it (handoff.ts: the engine's established session is
// detached here and adopted there, with the decrypted bytes not yet parsed).
import type net from 'node:net';
import type { Logger } from '../../util/log.js';
import { tlsServerEngine, tlsSuiteOf } from '../../native/tls-engine.js';
import { TlsSocket } from '../../native/tls-socket.js';
import type { PskLookup, PskMatch, PskVerdict } from './tls-psk.js';
import { icreqTimedOut } from './icreq-timeouts.js';

/** The suites served; each PSK is used with the one of its hash. */
export const TLS_CIPHER_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384';
/** First byte of a TLS record carrying a handshake message (the ClientHello). */
export const TLS_HANDSHAKE_RECORD = 0x16;

/** Whom the TLS session authenticated (the PSK itself is wiped once the handshake is done). */
export type TlsPeer = Omit<PskMatch, 'psk'>;

export type Accepted =
  | { readonly kind: 'plain'; readonly socket: net.Socket; readonly initial: Buffer }
  | { readonly kind: 'tls'; readonly socket: TlsSocket; readonly peer: TlsPeer };

export interface TlsAcceptOptions {
  readonly mode: 'optional' | 'required';
  readonly lookup: PskLookup;
  readonly log: Logger;
  /** From accept to the end of the handshake (or the first byte of a plain connection). */
  readonly timeoutMs: number;
}

/** What went wrong in a handshake, for the one line logged about it. */
function handshakeFailure(err: NodeJS.ErrnoException, offered: string | null, refused: string | null, suite: string | null): string {
  if (refused !== null) return `TLS PSK identity refused: ${refused}`;
  switch (err.code) {
    case 'ERR_SSL_BAD_EXTENSION':
      if (suite === tlsSuiteOf(2)) {
        // The binder is an HMAC with the PSK's hash: 48 bytes here. A TLS agent that binds every PSK
        // with SHA-256 (GnuTLS before gnutls_psk_allocate_client_credentials2) sends 32.
        return 'TLS handshake failed: the host binds its SHA-384 PSK with a binder of another hash (a 32-byte SHA-256 binder, as tlshd built on GnuTLS without gnutls_psk_allocate_client_credentials2 sends: Debian 13); TLS 1.3 cannot use the key that way';
      }
      break;
    case 'ERR_SSL_BINDER_DOES_NOT_VERIFY':
      return 'TLS handshake failed: the host holds a different PSK for this identity (binder does not verify; a host with libnvme before 1.16 derives it the compat way: hosts[].tlsKeyDerivation "compat")';
    case 'ERR_SSL_UNSUPPORTED_PROTOCOL':
      return 'TLS handshake failed: the host does not offer TLS 1.3';
    case 'ERR_SSL_NO_SHARED_CIPHER':
      return suite === null
        ? `TLS handshake failed: the host offers none of ${TLS_CIPHER_SUITES}`
        : `TLS handshake failed: the host does not offer ${suite}, the suite of its PSK's hash`;
  }
  if (offered === null) return 'TLS handshake failed: the host offered no usable PSK (a PSK with (EC)DHE, psk_dhe_ke, is required; certificates are not supported)';
  return `TLS handshake failed: ${err.code ?? err.message}`;
}

/**
 * Takes a freshly accepted socket on a TLS port: `done` gets either the secured TLSSocket (with the
 * host and subsystem its PSK identity named) or, on an optional port, the plain socket with the bytes
 * read so far. Anything else (refused identity, wrong key, plain on a required port, timeout) is
 * logged once and the socket is destroyed; `done` is not called then.
 */
export function acceptTls(socket: net.Socket, o: TlsAcceptOptions, done: (a: Accepted) => void): void {
  const log = o.log.child({ peer: `${socket.remoteAddress}:${socket.remotePort}` });
  let settled = false;
  let secure: TlsSocket | null = null;
  const timer = setTimeout(() => {
    // A silent connection counts with the other silent ones (a scan is not one line each).
    if (secure === null && !settled) icreqTimedOut(log, o.timeoutMs / 1000);
    fail(secure === null ? 'debug' : 'warn', 'TLS handshake timeout: closing');
  }, o.timeoutMs);
  timer.unref();

  // Kept under a TLS session: the TLSSocket reports the errors that matter, this one must not throw.
  const onError = (err: Error): void => log.debug({ err: err.message }, 'socket error under TLS or before NVMe/TCP started');
  const onClose = (): void => fail('debug', 'connection closed before the TLS handshake ended');
  function finish(): boolean {
    if (settled) return false;
    settled = true;
    clearTimeout(timer);
    socket.off('close', onClose);
    return true;
  }
  function fail(level: 'warn' | 'debug', msg: string, fields: Record<string, unknown> = {}): void {
    if (!finish()) return;
    log[level](fields, msg);
    secure?.destroy();
    socket.destroy();
  }

  socket.on('error', onError);
  socket.once('close', onClose);
  socket.once('data', (chunk: Buffer) => {
    socket.pause();
    if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
      if (o.mode === 'required') {
        fail('warn', 'plain NVMe/TCP on a port that requires TLS (no ClientHello): closing', { firstByte: chunk[0] });
        return;
      }
      if (!finish()) return;
      socket.off('error', onError);
      const more = socket.read() as Buffer | null;
      done({ kind: 'plain', socket, initial: more ? Buffer.concat([chunk, more]) : chunk });
      socket.resume();
      return;
    }
    secure = startHandshake(socket, chunk, o, log, {
      secured: (s, peer) => {
        if (finish()) done({ kind: 'tls', socket: s, peer });
      },
      failed: (msg, fields) => fail('warn', msg, fields),
    });
  });
}

interface HandshakeHooks {
  secured(s: TlsSocket, peer: TlsPeer): void;
  failed(msg: string, fields: Record<string, unknown>): void;
}

function startHandshake(socket: net.Socket, first: Buffer, o: TlsAcceptOptions, log: Logger, hooks: HandshakeHooks): TlsSocket {
  let match: PskMatch | null = null;
  let offered: string | null = null;
  let refused: string | null = null;
  const wipe = (): void => {
    match?.psk.fill(0);
  };
  // Runs inside the engine's feed for each identity the host offers (and again after a
  // HelloRetryRequest); the engine copies the key before the handshake goes on.
  const engine = tlsServerEngine((identity) => {
    offered = identity;
    wipe();
    match = null;
    let v: PskVerdict;
    try {
      v = o.lookup(identity);
    } catch (err) {
      // A key that cannot be derived for this identity (e.g. NQNs too long for the HKDF context).
      v = { refused: `no TLS PSK can be derived for it: ${(err as Error).message}` };
    }
    if ('refused' in v) {
      refused = v.refused;
      return null;
    }
    refused = null;
    match = v;
    return { psk: v.psk, hash: v.hash };
  });
  const s = new TlsSocket(socket, engine, true, first);
  s.once('secure', () => {
    const m = match as PskMatch | null;
    wipe();
    if (m === null) return hooks.failed('TLS session without a PSK: closing', {});
    log.debug({ identity: m.identity, cipher: s.cipher }, 'TLS session established');
    hooks.secured(s, { identity: m.identity, version: m.version, hostnqn: m.hostnqn, subnqn: m.subnqn, hash: m.hash });
  });
  s.on('error', (err: NodeJS.ErrnoException) => {
    const m = match as PskMatch | null;
    wipe();
    hooks.failed(handshakeFailure(err, offered, refused, m === null ? null : tlsSuiteOf(m.hash)), offered === null ? {} : { identity: offered });
  });
  s.once('close', wipe);
  return s;
}
