// The addon's TLS 1.3 PSK engine (native/tls.cc): OpenSSL over memory buffers. TLS 1.3 only, suites
// TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384 (the one of the PSK's hash is used), psk_dhe_ke,
// no certificates, no session tickets. tls-socket.ts moves the bytes between it and a TCP socket.
import { native } from './addon.js';

/** HashId of the PSK (src/keys/hash.ts): 1 SHA-256 (TLS_AES_128_GCM_SHA256), 2 SHA-384 (TLS_AES_256_GCM_SHA384). */
export type TlsPskHash = 1 | 2;

/** What the server's lookup gives for an offered identity; null refuses it. */
export interface TlsEngineKey {
  /** The TLS 1.3 external PSK; copied by the engine, the caller wipes its buffer. */
  readonly psk: Uint8Array;
  readonly hash: TlsPskHash;
}

export const TlsState = { HANDSHAKE: 0, ESTABLISHED: 1, CLOSED: 2, FAILED: 3 } as const;
export type TlsState = (typeof TlsState)[keyof typeof TlsState];

export interface NativeTlsEngine {
  /** Takes bytes from the peer (none: just drives the handshake, e.g. the client's first flight). */
  feed(bytes?: Uint8Array): TlsState;
  /** At least as many bytes as are readable now (a buffer this large takes them all). */
  readable(): number;
  /** Decrypted application data into `buf`: how many bytes (0: none now). */
  readInto(buf: Uint8Array): number;
  /** Encrypts the first `count` pieces (all by default) in order; false: the session failed. */
  write(pieces: readonly Uint8Array[], count?: number): boolean;
  /** Bytes to send to the peer copied into `buf` (reusable once sent): how many; 0 when none (call again while it fills `buf`). */
  takeInto(buf: Uint8Array): number;
  /** Queues close_notify (takeInto() it). */
  shutdown(): void;
  state(): TlsState;
  /** The negotiated suite once established (TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384). */
  cipher(): string | null;
  /** Why it failed: code as Node's TLS errors carry it (ERR_SSL_BINDER_DOES_NOT_VERIFY...). */
  error(): { code: string; message: string } | null;
  /** Frees the session and wipes the key (idempotent). */
  free(): void;
  /**
   * Takes an established session out of this engine for another thread (adoptTlsEngine): a handle
   * to adopt exactly once, or null (not established, or inside the handshake). The engine is closed.
   */
  detach(): bigint | null;
}

interface TlsEngineCtor {
  new (server: true, lookup: (identity: string) => TlsEngineKey | null): NativeTlsEngine;
  new (server: false, identity: string, psk: Uint8Array, hash: TlsPskHash): NativeTlsEngine;
  new (handle: bigint): NativeTlsEngine;
}

interface TlsHandoffNative {
  TlsEngine: TlsEngineCtor;
  tlsFreeDetached(handle: bigint): boolean;
  tlsCounts(): { sessions: number; detached: number };
}

const addon = native as unknown as TlsHandoffNative;
const Ctor = addon.TlsEngine;

/**
 * A server engine: `lookup(identity)` runs synchronously inside feed() for each identity the
 * ClientHello offers; the first it answers decides the key and the suite.
 */
export function tlsServerEngine(lookup: (identity: string) => TlsEngineKey | null): NativeTlsEngine {
  return new Ctor(true, lookup);
}

/** A client engine offering `identity` with `psk` (and only the suite of `hash`). */
export function tlsClientEngine(identity: string, psk: Uint8Array, hash: TlsPskHash): NativeTlsEngine {
  return new Ctor(false, identity, psk, hash);
}

/** The suite a PSK of this hash is used with. */
export function tlsSuiteOf(hash: TlsPskHash): string {
  return hash === 2 ? 'TLS_AES_256_GCM_SHA384' : 'TLS_AES_128_GCM_SHA256';
}

/**
 * The engine of a session another thread of this process detached (engine.detach()), established;
 * null when the handle was adopted or freed already, or never issued.
 */
export function adoptTlsEngine(handle: bigint): NativeTlsEngine | null {
  try {
    return new Ctor(handle);
  } catch {
    return null;
  }
}

/** Frees a detached session nobody adopted (a failed handoff); false when there was none (adopted, freed). */
export function freeDetachedTlsEngine(handle: bigint): boolean {
  return addon.tlsFreeDetached(handle);
}

/** Live TLS sessions (OpenSSL SSL objects) of the process, and detached ones waiting to be adopted. */
export function tlsSessionCounts(): { sessions: number; detached: number } {
  return addon.tlsCounts();
}
