// One command slot of a TCP queue. Slots are preallocated per queue and reused; the slot index is
// the R2T transfer tag, so an H2CData PDU finds its command in O(1).
import type { Command } from '../../core/command.js';
import type { Namespace } from '../../core/namespace.js';
import type { TcpQueue } from './queue.js';

export const enum ReqState {
  /** On the free list. */
  FREE,
  /** SQE received; in-capsule data (if any) being received. */
  NEW,
  /** R2T sent; waiting for H2CData PDUs. */
  AWAITING_H2C,
  /** Handed to the controller logic / backend. */
  EXECUTING,
}

/** Data transfer direction from opcode bits 1:0 (FCTYPE bits for fabrics commands). */
export const enum XferDir {
  NONE = 0,
  H2C = 1,
  C2H = 2,
  BIDI = 3,
}

export class Request implements Command {
  readonly index: number;
  readonly queue: TcpQueue;
  readonly sqe = Buffer.alloc(64);
  state = ReqState.FREE;
  cid = 0;
  dir = XferDir.NONE;
  dataLen = 0;
  inData: Uint8Array | null = null;
  outData: Uint8Array | null = null;
  auxData: Uint8Array | null = null;
  status = 0;
  dw0 = 0;
  dw1 = 0;
  ns: Namespace | null = null;
  stage = 0;
  onBackend: ((cmd: Command, result: number) => void) | null = null;
  /** performance.now() when the capsule arrived, for the latency histogram. */
  t0 = 0;
  /** H2C bytes received so far (R2T path). */
  h2cReceived = 0;
  /** The data digest of an H2C PDU failed: the command completes with a transport error. */
  ddgstFailed = false;
  /** Pooled buffers owned until the command's response has been written. */
  readonly owned: Buffer[] = [];

  constructor(index: number, queue: TcpQueue) {
    this.index = index;
    this.queue = queue;
  }

  reset(): void {
    this.state = ReqState.NEW;
    this.dir = XferDir.NONE;
    this.dataLen = 0;
    this.inData = null;
    this.outData = null;
    this.auxData = null;
    this.status = 0;
    this.dw0 = 0;
    this.dw1 = 0;
    this.ns = null;
    this.stage = 0;
    this.onBackend = null;
    this.h2cReceived = 0;
    this.ddgstFailed = false;
  }

  buffer(n: number): Uint8Array {
    const buf = this.queue.pool.acquire(n);
    this.owned.push(buf);
    return buf.length === n ? buf : buf.subarray(0, n);
  }

  backendDone(result: number): void {
    if (this.queue.closed || this.state !== ReqState.EXECUTING) {
      // The queue died while the backend worked: drop the result, keep nothing.
      this.queue.dropRequest(this);
      return;
    }
    this.onBackend!(this, result);
  }

  complete(): void {
    this.queue.completeRequest(this);
  }
}
