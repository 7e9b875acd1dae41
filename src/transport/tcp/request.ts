// The life of one command on a TCP queue, and the table of command slots.
//
// Slots are preallocated per connection and reused; a slot's index is its R2T transfer tag (TTAG),
// so an H2CData PDU finds its command in O(1) — and is refused unless that slot is waiting for data.
// Every state change goes through Request.setState(), which refuses transitions the lifecycle does
// not have and keeps a count of slots per state for the connection (statistics and invariants).
//
//   FREE ──► NEW ──────────────────────────────────────► EXECUTING ──► FREE
//             │  └─► WAIT_BUFFER ─┬─► AWAITING_H2C ──► EXECUTING        ▲
//             │                   └────────────────────► EXECUTING      │
//             └──► AWAITING_H2C                                         │
//   any state but FREE ─────────────────────────────────────────────────┘ (completed or dropped)
import type { Command, HostQueue } from '../../core/command.js';
import type { Namespace } from '../../core/namespace.js';
import type { DataPool } from './quota.js';

export const enum ReqState {
  /** On the free list: no command, no buffers. */
  FREE = 0,
  /** The capsule arrived (its in-capsule data, if any, is being received); not yet validated. */
  NEW = 1,
  /** Validated; waiting for the memory budget to grant its data buffer. */
  WAIT_BUFFER = 2,
  /** R2T sent: H2CData PDUs for this TTAG are accepted until all the data arrived. */
  AWAITING_H2C = 3,
  /** Handed to the controller logic and the backend; only a completion or a drop follows. */
  EXECUTING = 4,
}
export const REQ_STATES = 5;

/**
 * An R2T transfer at least this long is large: while one is outstanding, the connection keeps its
 * reads between PDUs short (SHORT_READ), so that most of its H2CData is read straight into place.
 */
export const LARGE_H2C = 64 * 1024;
/** The read size while a large R2T transfer is outstanding and no read straight into place is due. */
export const SHORT_READ = 8 * 1024;

/** Allowed next states, one bit per state. */
const NEXT: readonly number[] = [
  /* FREE */ 1 << ReqState.NEW,
  /* NEW */ (1 << ReqState.WAIT_BUFFER) | (1 << ReqState.AWAITING_H2C) | (1 << ReqState.EXECUTING) | (1 << ReqState.FREE),
  /* WAIT_BUFFER */ (1 << ReqState.AWAITING_H2C) | (1 << ReqState.EXECUTING) | (1 << ReqState.FREE),
  /* AWAITING_H2C */ (1 << ReqState.EXECUTING) | (1 << ReqState.FREE),
  /* EXECUTING */ 1 << ReqState.FREE,
];

/** Data transfer direction from opcode bits 1:0 (FCTYPE bits for fabrics commands). */
export const enum XferDir {
  NONE = 0,
  H2C = 1,
  C2H = 2,
  BIDI = 3,
}

/** What a request needs of the connection that owns it. */
export interface RequestOwner extends HostQueue {
  readonly pool: DataPool;
  readonly closed: boolean;
  completeRequest(req: Request): void;
  dropRequest(req: Request): void;
}

export class Request implements Command {
  readonly index: number;
  readonly queue: RequestOwner;
  readonly sqe = Buffer.alloc(64);
  /** The same 64 bytes as 16 words (the capsule's SQE is copied in through it). */
  readonly sqeWords = new Int32Array(this.sqe.buffer, this.sqe.byteOffset, 16);
  readonly #counts: Int32Array;
  /** [0]: slots in AWAITING_H2C for a large transfer (LARGE_H2C), shared with the table. */
  readonly #large: Int32Array;
  #state = ReqState.FREE;
  cid = 0;
  dir = XferDir.NONE;
  dataLen = 0;
  inData: Uint8Array | null = null;
  /** inData is a view of the received chunk, valid only during execute() (Command.inLent). */
  inLent = false;
  outData: Uint8Array | null = null;
  outShared = false;
  auxData: Uint8Array | null = null;
  /**
   * The pooled buffer granted before execution (reads), not yet used: dataBuffer() takes it, or the
   * responder copies a view into it (data digests); otherwise it goes back when the command completes.
   * A Read answered from the namespace's memory (a RAM view) without data digests is granted none.
   */
  granted: Buffer | null = null;
  status = 0;
  dw0 = 0;
  dw1 = 0;
  ns: Namespace | null = null;
  stage = 0;
  held = 0;
  heldSlba = 0;
  heldNlb = 0;
  onBackend: ((cmd: Command, result: number) => void) | null = null;
  /** Fused operations (fused.ts): this command's role (Fuse), its partner, and where the pair stands. */
  fuse = 0;
  fusedWith: Request | null = null;
  /** Ready (data in), waiting for its partner. */
  fuseWait = false;
  /** The pair was handed to the core, which completes both. */
  fuseRunning = false;
  /** A status to complete with instead of executing, once its data is in (0: none). */
  fuseAbort = 0;
  /** performance.now() when the capsule arrived, for the latency histogram (0: not sampled). */
  t0 = 0;
  /** H2C bytes received so far (R2T path). */
  h2cReceived = 0;
  /** The data digest of an H2C PDU failed: the command completes with a transport error. */
  ddgstFailed = false;
  /** Pooled buffers owned until the command's response has been written. */
  readonly owned: Buffer[] = [];

  constructor(index: number, queue: RequestOwner, counts: Int32Array, large: Int32Array = new Int32Array(1)) {
    this.index = index;
    this.queue = queue;
    this.#counts = counts;
    this.#large = large;
    counts[ReqState.FREE]!++;
  }

  get state(): ReqState {
    return this.#state;
  }

  /** The one place a request changes state. */
  setState(next: ReqState): void {
    const from = this.#state;
    if ((NEXT[from]! & (1 << next)) === 0) {
      throw new Error(`request ${this.index} (cid ${this.cid}): no transition from state ${from} to ${next}`);
    }
    this.#counts[from]!--;
    this.#counts[next]!++;
    this.#state = next;
    // dataLen does not change between entering AWAITING_H2C and leaving it.
    if (this.dataLen >= LARGE_H2C) {
      if (next === ReqState.AWAITING_H2C) this.#large[0]!++;
      else if (from === ReqState.AWAITING_H2C) this.#large[0]!--;
    }
  }

  /** FREE -> NEW with every per-command field cleared. */
  begin(): void {
    this.setState(ReqState.NEW);
    this.dir = XferDir.NONE;
    this.dataLen = 0;
    this.inData = null;
    this.inLent = false;
    this.outData = null;
    this.outShared = false;
    this.auxData = null;
    this.granted = null;
    this.status = 0;
    this.dw0 = 0;
    this.dw1 = 0;
    this.ns = null;
    this.stage = 0;
    this.held = 0;
    this.onBackend = null;
    this.fuse = 0;
    this.fusedWith = null;
    this.fuseWait = false;
    this.fuseRunning = false;
    this.fuseAbort = 0;
    this.h2cReceived = 0;
    this.ddgstFailed = false;
  }

  /** Takes a pooled buffer of n bytes that this command owns until its response is written. */
  own(buf: Buffer, n: number): Uint8Array {
    this.owned.push(buf);
    return buf.length === n ? buf : buf.subarray(0, n);
  }

  /** Lent in-capsule data into a pooled buffer of this command's own (it may now outlive the chunk). */
  keepInData(): void {
    const src = this.inData!;
    this.inLent = false;
    const b = this.own(this.queue.pool.acquire(src.length), src.length);
    b.set(src);
    this.inData = b;
  }

  /** A zeroed buffer of n bytes (admin data, anything the handler may fill only in part). */
  buffer(n: number): Uint8Array {
    const b = this.own(this.queue.pool.acquire(n), n);
    b.fill(0);
    return b;
  }

  /**
   * A buffer of n bytes that the backend overwrites completely (read data). It is the buffer granted
   * before execution when there is one; otherwise a zeroed one, so that nothing another command left
   * in pooled memory can reach the host.
   */
  dataBuffer(n: number): Uint8Array {
    const g = this.granted;
    if (g !== null && g.length >= n) {
      this.granted = null;
      return this.own(g, n);
    }
    return this.buffer(n);
  }

  backendDone(result: number): void {
    if (this.queue.closed || this.#state !== ReqState.EXECUTING) {
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

/** The slots of one connection: allocation, TTAG lookup, per-state counts. */
export class RequestTable {
  readonly #slots: Request[] = [];
  readonly #free: Request[] = [];
  /** Slots per state (index: ReqState). */
  readonly counts = new Int32Array(REQ_STATES);
  readonly #large = new Int32Array(1);
  /** Slots allowed (2 x SQ entries once connected: AERs and R2T transfers need room). */
  limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** A free slot in state NEW, or null when `limit` commands are outstanding. */
  acquire(owner: RequestOwner): Request | null {
    let req = this.#free.pop();
    if (req === undefined) {
      if (this.#slots.length >= this.limit) return null;
      req = new Request(this.#slots.length, owner, this.counts, this.#large);
      this.#slots.push(req);
    }
    req.begin();
    return req;
  }

  /** Back to the free list (the caller released its buffers). */
  release(req: Request): void {
    req.setState(ReqState.FREE);
    this.#free.push(req);
  }

  /** The slot a TTAG names, whatever its state (undefined beyond the table). */
  byTtag(ttag: number): Request | undefined {
    return this.#slots[ttag];
  }

  /** Slots waiting for the H2CData of a large transfer (at least LARGE_H2C bytes). */
  get largeAwaiting(): number {
    return this.#large[0]!;
  }

  /** Commands outstanding (every slot not FREE). */
  get inflight(): number {
    return this.#slots.length - this.counts[ReqState.FREE]!;
  }

  /** Slots in a state other than FREE, for teardown. */
  *busy(): IterableIterator<Request> {
    for (const r of this.#slots) if (r.state !== ReqState.FREE) yield r;
  }
}
