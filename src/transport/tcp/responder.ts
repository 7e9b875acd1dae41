// The sending half of a connection: responses (C2HData, CapsuleResp, R2T, ICResp, TermReq) are
// gathered in an OutQueue and written once per batch or event-loop turn; the pooled buffers they
// reference are released only after the socket has taken the bytes; a peer that stops reading
// pauses our receive side (we stop taking commands whose answers it would not read anyway).
import type { Socket } from 'node:net';
import type { DataPool } from './quota.js';
import type { Logger } from '../../util/log.js';
import { PduFlags } from '../../spec/pdu.js';
import { OutQueue } from './out-queue.js';
import { writeC2HData, writeCapsuleResp } from './pdu-writer.js';
import type { Request } from './request.js';

/** Pause reading while this much response data waits in the socket. */
const SEND_HIGH_WATER = 4 * 1024 * 1024;

export interface ResponderHooks {
  /** True while a received batch is processed (the batch flushes at its end). */
  inBatch(): boolean;
  /** The connection is closed: nothing is written any more. */
  closed(): boolean;
  /** Runs after each flush (idle and drain checks). */
  flushed(): void;
  /** The peer is slow (true) or caught up (false): pause or resume receiving. */
  sendBlocked(blocked: boolean): void;
}

export class Responder {
  readonly out = new OutQueue();
  hdgst = false;
  ddgst = false;
  /** The host's PDU data alignment, (HPDA + 1) * 4 bytes. */
  hpdaAlign = 4;
  readonly #socket: Socket;
  readonly #pool: DataPool;
  readonly #log: () => Logger;
  readonly #hooks: ResponderHooks;
  #scheduled = false;
  #blocked = false;
  readonly #flushBound = (): void => this.flush();
  readonly #releaseBound = (): void => this.#releaseBatch();
  /** Buffers to release once the socket has taken the bytes that reference them, per flush. */
  readonly #batches: Buffer[][] = [];
  readonly #held: Buffer[] = [];

  constructor(socket: Socket, pool: DataPool, log: () => Logger, hooks: ResponderHooks) {
    this.#socket = socket;
    this.#pool = pool;
    this.#log = log;
    this.#hooks = hooks;
  }

  get pending(): boolean {
    return this.out.pendingBytes > 0 || this.#scheduled;
  }

  /**
   * Queues the answer of a finished command: its data (C2HData) when it succeeded with data, and
   * its completion. Returns the data bytes sent.
   */
  respond(req: Request, qid: number, sqhd: number, sqflowDisabled: boolean): number {
    const data = req.outData;
    const sent = data !== null && req.status === 0 ? Math.min(data.length, req.dataLen) : 0;
    if (sent > 0) {
      let view = sent === data!.length ? data! : data!.subarray(0, sent);
      let copyOf: Uint8Array | null = null;
      let volatile = false;
      if (this.ddgst && req.outShared) {
        if (!(view.buffer instanceof SharedArrayBuffer)) {
          // Memory only this thread writes (a RAM namespace of its own): sent as is, digested in the
          // same native call as the write, copied by the out queue only if it cannot be written at
          // once (out-queue.ts says why that is enough).
          volatile = true;
        } else {
          // Memory I/O workers share: another thread may write it at any time, even between the
          // digest and the kernel's copy. Send a copy that cannot change, digested over exactly its
          // bytes (copied and digested in one pass at the flush). The copy goes into the buffer
          // granted for the read within the memory budget (commands.ts grants one to a Read of such
          // a namespace when data digests are on); acquire() is left for a read that has none.
          let copy = req.granted;
          if (copy !== null && copy.length >= sent) req.granted = null;
          else copy = this.#pool.acquire(sent);
          this.hold(copy);
          copyOf = view;
          view = copy.length === sent ? copy : copy.subarray(0, sent);
        }
      }
      writeC2HData(this.out, this.hdgst, this.ddgst, this.hpdaAlign, req.cid, 0, view, PduFlags.DATA_LAST | (sqflowDisabled ? PduFlags.DATA_SUCCESS : 0), copyOf, volatile);
      // With SQ flow control disabled, C2HData SUCCESS is the completion.
      if (!sqflowDisabled) writeCapsuleResp(this.out, this.hdgst, req.dw0, req.dw1, sqhd, qid, req.cid, 0);
    } else {
      writeCapsuleResp(this.out, this.hdgst, req.dw0, req.dw1, sqhd, qid, req.cid, req.status);
    }
    return sent;
  }

  /** Keeps a pooled buffer until the bytes queued so far are written. */
  hold(buf: Buffer): void {
    this.#held.push(buf);
  }

  /** The connection closed: buffers waiting for a write that will not happen go back now. */
  releaseHeld(): void {
    for (const b of this.#held.splice(0)) this.#pool.release(b);
  }

  /** Flushes at the end of the current batch, or on the next turn of the event loop. */
  schedule(): void {
    if (this.#hooks.inBatch() || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushBound);
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#hooks.closed()) return;
    if (this.out.pendingBytes > 0) {
      let ok: boolean;
      if (this.#held.length > 0) {
        this.#batches.push(this.#held.splice(0));
        ok = this.out.flush(this.#socket, this.#releaseBound);
      } else {
        ok = this.out.flush(this.#socket);
      }
      if (!ok && !this.#blocked && this.#socket.writableLength > SEND_HIGH_WATER) {
        this.#blocked = true;
        this.#log().debug({ buffered: this.#socket.writableLength }, 'peer is slow to read: pausing receive');
        this.#hooks.sendBlocked(true);
      }
    }
    this.#hooks.flushed();
  }

  /** The socket's 'drain' event: the peer caught up. */
  onDrain(): void {
    if (!this.#blocked) return;
    this.#blocked = false;
    this.#hooks.sendBlocked(false);
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  #releaseBatch(): void {
    const batch = this.#batches.shift();
    if (batch) for (const b of batch) this.#pool.release(b);
  }
}
