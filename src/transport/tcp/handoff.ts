// Moving a connected I/O queue to another thread.
//
// The main thread accepts every connection and runs Connect; an I/O queue that belongs on a worker
// stops reading at a PDU boundary, lets the Connect response reach the kernel, and hands a duplicate
// of its descriptor and its transport state to the worker, which resumes from there. Closing the main
// thread's descriptor afterwards does not end the TCP connection (the duplicate keeps it open).
import type { Socket } from 'node:net';

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

/** Stops the kernel-level reads of the socket (data stays in the kernel for the next owner). */
export function stopReading(socket: Socket): void {
  socket.pause();
  handleOf(socket)?.readStop?.();
}

/** Undoes stopReading() (the move failed: the queue stays here). */
export function restartReading(socket: Socket): void {
  socket.resume();
  handleOf(socket)?.readStart?.();
}

/** Runs `then(fd)` once everything written so far reached the kernel; fd is -1 when unknown. */
export function afterWritten(socket: Socket, then: (fd: number) => void): void {
  socket.write(EMPTY, () => then(handleOf(socket)?.fd ?? -1));
}

const EMPTY = Buffer.alloc(0);
