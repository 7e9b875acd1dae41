// Moving a connected I/O queue to another thread.
//
// The main thread accepts every connection and runs Connect; an I/O queue that belongs on a worker
// stops reading at a PDU boundary, lets the Connect response reach the kernel, and hands a duplicate
// of its descriptor and its transport state to the worker, which resumes from there. Closing the main
// thread's descriptor afterwards does not end the TCP connection (the duplicate keeps it open).
//
// A TLS queue moves the same way, with its session: the TCP socket under the TLS socket stops being
// read (what it had buffered goes into the engine, still encrypted), the last records reach the
// kernel, then the engine's session is detached (a handle the worker adopts once; if it never does,
// the main thread frees it) and the decrypted bytes nobody consumed yet travel with the leftover.
import fs from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from '../../util/log.js';
import { native } from '../../native/addon.js';
import { TlsSocket } from '../../native/tls-socket.js';
import { freeDetachedTlsEngine } from '../../native/tls-engine.js';

/** The TLS session of a moving queue. */
export interface TlsHandoff {
  /** The detached engine (adoptTlsEngine on the worker, exactly once). */
  engine: bigint;
  /** The host and subsystem of the TLS PSK identity. */
  peer: { hostnqn: string; subnqn: string } | null;
}

/** The transport state of an I/O queue at the moment it changes threads. */
export interface QueueHandoff {
  /** Main-thread id of the queue (also the id used in later messages). */
  queueId: number;
  fd: number;
  peer: string;
  localAddress: string;
  portId: number;
  subnqn: string;
  cntlid: number;
  hostnqn: string;
  /** Keep alive timeout of the controller in ms (a re-authentication on the worker waits that long). */
  kato: number;
  qid: number;
  sqEntries: number;
  sqhd: number;
  sqflowDisabled: boolean;
  hdgst: boolean;
  ddgst: boolean;
  hpdaAlign: number;
  /** Bytes received after the Connect capsule, not yet parsed (decrypted ones on a TLS queue). */
  leftover: Uint8Array | null;
  /** The TLS session of a TLS queue (null: plain NVMe/TCP). */
  tls: TlsHandoff | null;
}

/** Where a connection goes once its I/O queue has connected (the worker pool on the main thread). */
export interface QueueMover {
  /** True when the queue of controller `cntlid` with `qid` should move. */
  shouldMove(qid: number, cntlid: number): boolean;
  /** Takes over the duplicated descriptor in `state`; `from` is the main thread's queue object. */
  move(from: object, fd: number, state: QueueHandoff): void;
}

interface StreamHandle {
  fd?: number;
  readStop?: () => number;
  readStart?: () => number;
}

function handleOf(socket: Socket): StreamHandle | undefined {
  return (socket as unknown as { _handle?: StreamHandle })._handle;
}

/** What a connection offers to be moved. */
export interface HandoffSource {
  readonly socket: Socket;
  readonly log: Logger;
  /** The host and subsystem of the TLS PSK identity (TLS queues). */
  readonly tlsPeer?: { readonly hostnqn: string; readonly subnqn: string } | null;
  /** Stop parsing at the next PDU boundary and keep what follows. */
  detachReader(): void;
  /** Write every queued response now. */
  flushNow(): void;
  /** The state to hand over with `fd` as the worker's descriptor; null when the move was called off. */
  snapshot(fd: number): QueueHandoff | null;
  /** The worker owns the connection now: forget it here. */
  movedAway(): void;
  /** The move failed: go on serving here. */
  stayed(): void;
}

/**
 * Moves a connection whose I/O queue just connected: stop reading at the PDU boundary (the data stays
 * in the kernel for the worker), let the Connect response reach the kernel, then give the worker a
 * duplicate of the descriptor and close ours. A TLS socket stops reading its TCP socket, and its
 * records are written out through both sockets before the session is taken.
 */
export function moveToWorker(src: HandoffSource, mover: QueueMover): void {
  src.detachReader();
  const socket = src.socket;
  const tls = socket instanceof TlsSocket ? socket : null;
  if (tls !== null) {
    tls.freeze();
  } else {
    socket.pause();
    handleOf(socket)?.readStop?.();
  }
  // After the current batch is flushed (the Connect response is queued before this).
  setImmediate(() => {
    src.flushNow();
    if (tls === null) socket.write(EMPTY, () => finish(src, mover, null));
    else socket.write(EMPTY, () => tls.raw.write(EMPTY, () => finish(src, mover, tls)));
  });
}

function stay(src: HandoffSource, tls: TlsSocket | null): void {
  if (tls !== null) {
    tls.thaw();
  } else {
    src.socket.resume();
    handleOf(src.socket)?.readStart?.();
  }
  src.stayed();
}

function finish(src: HandoffSource, mover: QueueMover, tls: TlsSocket | null): void {
  // Closed meanwhile (by the peer or a teardown): nothing to move.
  if (src.socket.destroyed) return;
  const fd = handleOf(tls?.raw ?? src.socket)?.fd ?? -1;
  const dup = fd >= 0 ? native.dupFd(fd) : -1;
  if (dup < 0) {
    src.log.error({ fd, errno: -dup }, 'cannot duplicate the connection descriptor: the queue stays on the main thread');
    stay(src, tls);
    return;
  }
  const session = tls?.handOff() ?? null;
  if (tls !== null && session === null) {
    fs.closeSync(dup);
    src.log.warn('the TLS session cannot be handed over (no longer established): the queue stays on the main thread');
    stay(src, tls);
    return;
  }
  const state = src.snapshot(dup);
  if (state === null) {
    if (session !== null) freeDetachedTlsEngine(session.engine);
    fs.closeSync(dup);
    return;
  }
  if (session !== null) {
    const p = session.plaintext;
    if (p !== null) state.leftover = state.leftover === null ? p : Buffer.concat([state.leftover, p]);
    const peer = src.tlsPeer ?? null;
    state.tls = { engine: session.engine, peer: peer === null ? null : { hostnqn: peer.hostnqn, subnqn: peer.subnqn } };
  }
  src.movedAway();
  mover.move(src, dup, state);
  src.socket.destroy();
}

const EMPTY = Buffer.alloc(0);
