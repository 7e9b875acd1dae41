// Moving a connected I/O queue to another thread.
//
// The main thread accepts every connection and runs Connect; an I/O queue that belongs on a worker
// stops reading at a PDU boundary, lets the Connect response reach the kernel, and hands a duplicate
// of its descriptor and its transport state to the worker, which resumes from there. Closing the main
// thread's descriptor afterwards does not end the TCP connection (the duplicate keeps it open).
import type { Socket } from 'node:net';
import type { Logger } from '../../util/log.js';
import { native } from '../../native/addon.js';

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
  /** Bytes received after the Connect capsule, not yet parsed. */
  leftover: Uint8Array | null;
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
 * duplicate of the descriptor and close ours.
 */
export function moveToWorker(src: HandoffSource, mover: QueueMover): void {
  src.detachReader();
  const socket = src.socket;
  socket.pause();
  handleOf(socket)?.readStop?.();
  // After the current batch is flushed (the Connect response is queued before this).
  setImmediate(() => {
    src.flushNow();
    socket.write(EMPTY, () => finish(src, mover, handleOf(socket)?.fd ?? -1));
  });
}

function finish(src: HandoffSource, mover: QueueMover, fd: number): void {
  const dup = fd >= 0 ? native.dupFd(fd) : -1;
  if (dup < 0) {
    src.log.error({ fd, errno: -dup }, 'cannot duplicate the connection descriptor: the queue stays on the main thread');
    src.socket.resume();
    handleOf(src.socket)?.readStart?.();
    src.stayed();
    return;
  }
  const state = src.snapshot(dup);
  if (state === null) return;
  src.movedAway();
  mover.move(src, dup, state);
  src.socket.destroy();
}

const EMPTY = Buffer.alloc(0);
