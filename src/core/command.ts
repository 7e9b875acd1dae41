// What the controller logic sees of one command and of the queue it arrived on. The transport
// implements both (src/transport/tcp/), so the core never touches sockets or PDUs.
import type { BackendRequest } from '../backend/backend.js';
import type { PortConfig } from '../config/types.js';
import type { Controller } from './controller.js';
import type { AuthTransaction } from './auth/transaction.js';
import type { Namespace } from './namespace.js';
import type { Logger } from '../util/log.js';

export interface Command extends BackendRequest {
  /** The 64-byte SQE (a copy owned by the command slot). */
  readonly sqe: Buffer;
  readonly queue: HostQueue;
  /** Data length from the SGL descriptor. */
  readonly dataLen: number;
  /** Host-to-controller data, complete when the command executes (write-direction commands). */
  inData: Uint8Array | null;
  /**
   * inData is lent: a view of the transport's receive buffer, valid only until the execute() call
   * that started the command returns. A write hands it to a backend that consumes it during
   * submitWrite(); before anything that keeps it longer (a wait, a backend that holds the buffer
   * until its completion) it calls keepInData().
   */
  inLent: boolean;
  /** Copies lent inData into a buffer of the command's own (inLent becomes false). */
  keepInData(): void;
  /** Controller-to-host data: sent before the completion. */
  outData: Uint8Array | null;
  /**
   * outData is a view of memory other commands may change before it is sent (a RAM namespace's):
   * the transport copies it where the bytes must match what was computed at completion (data digests).
   */
  outShared: boolean;
  /** A second buffer a multi-step command holds between steps (compare: the stored data read back). */
  auxData: Uint8Array | null;
  status: number;
  dw0: number;
  dw1: number;
  /** Namespace an I/O command addresses (set by the I/O path). */
  ns: Namespace | null;
  /** Scratch for multi-step I/O (compare). */
  stage: number;
  /** What the command holds of its namespace's write range lock (range-lock.ts Held; 0: nothing). */
  held: number;
  heldSlba: number;
  heldNlb: number;
  /**
   * The other command of a fused operation, set by the transport once both arrived adjacent in the
   * SQ (null otherwise). The core completes both.
   */
  readonly fusedWith: Command | null;
  /** A zeroed pooled buffer of n bytes, owned by this command until it completes (released then). */
  buffer(n: number): Uint8Array;
  /**
   * A pooled buffer of n bytes for read data that the backend overwrites completely (not zeroed when
   * the transport granted it before execution; zeroed otherwise).
   */
  dataBuffer(n: number): Uint8Array;
  /** Sends outData (if any) and the completion; the command slot is then free. */
  complete(): void;
  /** What the backend completion should do (set by the I/O path before submitting). */
  onBackend: ((cmd: Command, result: number) => void) | null;
}

/**
 * What the I/O command path needs of a controller. On the thread that owns the controller this is
 * the Controller itself; on an I/O worker thread it is a stand-in that forwards to the owner.
 */
export interface IoController {
  readonly cntlid: number;
  readonly log: Logger;
  /** CSTS.RDY */
  readonly ready: boolean;
  /**
   * Torn down (keep-alive timeout, host removed, listener removed...): a command still arriving on
   * one of its queues is not answered; the queue is closed (a DNR status would keep the host from
   * retrying it on another path).
   */
  readonly gone: boolean;
  /** Set Features 06h WCE: false means every write on this controller is done as FUA. */
  readonly volatileWriteCache: boolean;
  /** The namespaces of the controller's subsystem. */
  readonly namespaces: ReadonlyMap<number, Namespace>;
  /** The host's index in reservation snapshots (reservations/hosts.ts; 0: none). */
  readonly hostIndex: number;
  /** Keep-alive traffic seen on an I/O queue. */
  traffic(): void;
  recordError(sqid: number, cid: number, status: number, nsid: number, location?: number, lba?: bigint): void;
}

/** One host queue (a TCP connection), as the controller logic sees it. */
export interface HostQueue {
  /** 0 for the admin queue. Valid after Connect. */
  qid: number;
  /** The controller, on the thread that owns it (admin queues and unsharded I/O queues). */
  ctrl: Controller | null;
  /** The controller as the I/O path sees it (set with ctrl, or by the worker that adopted the queue). */
  ioCtrl: IoController | null;
  /** Entries in the SQ (Connect SQSIZE + 1). */
  sqEntries: number;
  sqflowDisabled: boolean;
  readonly port: PortConfig;
  /** "address:port" of the host, for logs. */
  readonly peer: string;
  /** Local address the host connected to (for wildcard listeners in the discovery log). */
  readonly localAddress: string;
  /** Commands received on this queue, for the statistics. */
  readonly id: number;
  /**
   * Commands taken from the queue and not yet completed; null where this thread cannot know (a
   * worker owns the queue: it reports what it drops when the queue closes).
   */
  readonly inflight: number | null;
  /**
   * The queue's in-band authentication (set by Connect when the host must authenticate; null: none).
   * Until it has authenticated, only Connect, Authentication Send/Receive and Disconnect run.
   */
  auth: AuthTransaction | null;
  /**
   * The NQNs named by the TLS PSK identity this connection was authenticated with (absent or null:
   * no TLS). Connect must name the same host and subsystem.
   */
  readonly tlsPeer?: { readonly hostnqn: string; readonly subnqn: string } | null;
  /** Tears the connection down (controller teardown, fatal error). */
  close(reason: string): void;
  /** Ends the connection once the responses already queued are sent (authentication failure). */
  drain(reason: string): Promise<void>;
}
