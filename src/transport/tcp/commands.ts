// The command path of a host queue: a capsule takes a slot, its data descriptor is checked
// (capsule.ts), its data buffer is granted within the memory budget (grants.ts), host data is
// fetched with R2T, the command runs in the core, and its answer is queued (responder.ts) and the
// slot freed. TcpConnection (connection.ts) adds the socket, the PDU stream and the session states.
import { performance } from 'node:perf_hooks';
import type { PortConfig } from '../../config/types.js';
import type { IoController } from '../../core/command.js';
import type { Controller } from '../../core/controller.js';
import type { AuthTransaction } from '../../core/auth/transaction.js';
import type { TargetContext } from '../../core/context.js';
import type { Backend } from '../../backend/backend.js';
import { execute } from '../../core/dispatch.js';
import { AdminOpc, IoOpc } from '../../spec/opcodes.js';
import { CAPSULE_SQE_OFFSET, CH, DATA, FES, PduFlags } from '../../spec/pdu.js';
import { SQE, sqeCid, sqeNsid, sqeSlba } from '../../spec/sqe.js';
import { Generic, S_INTERNAL_ERROR, S_SGL_LENGTH_INVALID, SCT, status } from '../../spec/status.js';
import type { Logger } from '../../util/log.js';
import { StatField, threadStats } from '../../runtime/stats.js';
import { nsCompleted } from '../../core/ns-completion.js';
import type { DataPool } from './quota.js';
import { CapsulePlan, planCapsule } from './capsule.js';
import type { BufferGrants } from './grants.js';
import { writeR2T } from './pdu-writer.js';
import { LEND_CHUNK } from './pdu-reader.js';
import { FusedPairing } from './fused.js';
import { releaseRange } from '../../core/range-hold.js';
import type { Responder } from './responder.js';
import { ReqState, Request, RequestTable, SHORT_READ, XferDir, type RequestOwner } from './request.js';

/** Admin queue in-capsule data (Connect carries 1024 bytes; hosts send up to 8 KiB in-capsule). */
export const ADMIN_INLINE = 8192;
/** Slots before Connect tells the queue size. */
const INITIAL_SLOTS = 32;
const S_TRANSIENT = status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR);
export const NO_DATA = new Uint8Array(0);

let nextQueueId = 1;

export abstract class CommandPath implements RequestOwner {
  /** Lend in-capsule write data from the socket's chunk (off: always copy; tests and measurements turn it off). */
  static lendWrites = true;
  readonly id = nextQueueId++;
  readonly port: PortConfig;
  readonly ctx: TargetContext;
  readonly pool: DataPool;
  abstract peer: string;
  abstract localAddress: string;
  log: Logger;
  qid = 0;
  ctrl: Controller | null = null;
  ioCtrl: IoController | null = null;
  sqflowDisabled = false;
  /** In-band authentication of this queue (Connect sets it when the host must authenticate). */
  auth: AuthTransaction | null = null;
  /** Commands completed on this queue. */
  commands = 0;

  protected readonly table = new RequestTable(INITIAL_SLOTS);
  protected tx!: Responder;
  protected grants!: BufferGrants;
  /** Backends touched during this batch, kicked once at its end. */
  protected readonly touched = new Set<Backend>();
  /** The backend run() added to `touched` last (null once kickBackends() emptied the set). */
  private lastTouched: Backend | null = null;
  /** kickBackends()'s list of the backends to kick now (reused; empty between calls). */
  private readonly kickList: Backend[] = [];
  /** True while a received chunk is being processed: responses are flushed at its end. */
  protected inBatch = false;
  /** SQ head pointer reported in each CQE. */
  protected sqhdValue = 0;
  protected sqEntriesValue = 0;
  protected readonly stats = threadStats();
  protected sample = 0;
  /** The command whose capsule is being received (between onHeader and onPdu); null: discard it. */
  protected capsuleReq: Request | null = null;
  /** The command an H2CData PDU was validated for (between onHeader and onPdu). */
  protected h2cReq: Request | null = null;
  /** Capsules received while draining, not taken (the host re-issues them after reconnecting). */
  protected notTaken = 0;
  /** Fused commands (Compare and Write): pairs the two commands and runs them together. */
  protected readonly fused = new FusedPairing(this);
  /** The header object copySqe() saw last, and the word view of its SQE (null: not word-aligned). */
  protected hdrOf: Buffer | null = null;
  protected hdrWords: Int32Array | null = null;
  /**
   * In-capsule write data may be a view of the received chunk (TcpConnection: not under TLS). The
   * view is valid only until the push() that delivered it returns; see run().
   */
  protected lendsChunks = false;

  constructor(port: PortConfig, ctx: TargetContext, pool: DataPool, log: Logger) {
    this.port = port;
    this.ctx = ctx;
    this.pool = pool;
    this.log = log;
  }

  abstract get closed(): boolean;
  abstract close(reason: string): void;
  abstract drain(reason: string): Promise<void>;
  /** A fatal transport error: C2HTermReq and close. */
  abstract onFatal(fes: number, fei: number, hdr: Buffer, reason: string): void;
  /** False while draining: new capsules are consumed and not taken. */
  protected abstract takesCommands(): boolean;
  /**
   * A fabrics command (Connect, Authentication Send/Receive) ran on an I/O queue: the queue may move
   * to a worker now (once it has authenticated, when it must).
   */
  protected abstract afterIoConnect(): void;
  /** No command outstanding: idle waiters and drain may proceed. */
  protected abstract checkIdle(): void;

  /** Commands outstanding on this queue (received and not yet answered or dropped). */
  get inflight(): number {
    return this.table.inflight;
  }

  /** Slots per request state (index: ReqState), for statistics and tests. */
  get stateCounts(): Int32Array {
    return this.table.counts;
  }

  get sqhd(): number {
    return this.sqhdValue;
  }

  get sqEntries(): number {
    return this.sqEntriesValue;
  }

  /** Set by Connect; the slot limit grows to 2 x entries (AERs and in-flight R2T transfers need room). */
  set sqEntries(n: number) {
    this.sqEntriesValue = n;
    this.table.limit = Math.max(INITIAL_SLOTS, 2 * n);
  }

  /**
   * The most bytes the next socket read into the shared buffer should take: short while a large R2T
   * transfer is outstanding (its H2CData then mostly lands in place, see PduReader.directTarget()),
   * unbounded otherwise (many small PDUs per read).
   */
  protected readLimit(): number {
    return this.table.largeAwaiting > 0 ? SHORT_READ : Infinity;
  }

  protected kickBackends(): void {
    // Kicking may complete commands that submit more work; loop until quiet.
    // The usual batch touched one backend: kick it without copying the set into a new array.
    while (this.touched.size > 0) {
      const list = this.kickList;
      for (const b of this.touched) list.push(b);
      this.touched.clear();
      this.lastTouched = null;
      for (let b = list.pop(); b !== undefined; b = list.pop()) b.kick();
    }
  }

  protected capsuleHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    if (!this.takesCommands()) {
      // Not taken: consumed and forgotten, never answered (the host re-issues it elsewhere).
      this.notTaken++;
      this.capsuleReq = null;
      return dataLen === 0 ? NO_DATA : Buffer.allocUnsafe(dataLen);
    }
    const req = this.table.acquire(this);
    if (req === null) {
      this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, `more commands outstanding than the queue allows (${this.table.limit})`);
      return null;
    }
    this.copySqe(hdr, req);
    req.cid = sqeCid(req.sqe);
    // Latency is sampled on one command in 8: the clock read is a measurable share of a 4 KiB I/O.
    req.t0 = (this.sample++ & 7) === 0 ? performance.now() : 0;
    this.stats.f[StatField.INFLIGHT]++;
    this.capsuleReq = req;
    if (dataLen === 0) return NO_DATA;
    const limit = this.qid === 0 ? ADMIN_INLINE : this.port.inlineDataSize;
    if (dataLen > limit) {
      // Received and discarded: the command fails with an SGL error, the stream stays in sync.
      req.status = S_SGL_LENGTH_INVALID;
      this.log.warn({ cid: req.cid, dataLen, limit }, 'in-capsule data larger than offered');
      return Buffer.allocUnsafe(dataLen);
    }
    // A plain Write (not half of a fused pair) on an I/O queue: its data may stay in the chunk when it
    // is all there (the reader decides; lendRefused() otherwise). run() executes it before the chunk
    // can change, and the I/O path copies it out before anything that would outlive that call.
    if (this.lendsChunks && this.qid > 0 && req.sqe[SQE.opcode] === IoOpc.Write && (req.sqe[SQE.flags]! & 3) === 0 && CommandPath.lendWrites) {
      req.inLent = true;
      return LEND_CHUNK;
    }
    // The PDU reader fills all dataLen bytes before the command can run.
    return req.own(this.pool.acquire(dataLen), dataLen);
  }

  /** The capsule's data is not all in the chunk after all: a pooled buffer, as for any capsule. */
  lendRefused(dataLen: number): Uint8Array {
    const req = this.capsuleReq!;
    req.inLent = false;
    return req.own(this.pool.acquire(dataLen), dataLen);
  }

  /**
   * The capsule's 64-byte SQE into the slot, as 16 words through word views (a fraction of what a
   * Buffer.copy call costs for 64 bytes, and nothing allocated); byte by byte if the header is not
   * word-aligned. The reader hands out the same header object PDU after PDU: its word view is made
   * once, when another header object comes.
   */
  protected copySqe(hdr: Buffer, req: Request): void {
    if (hdr !== this.hdrOf) {
      const from = hdr.byteOffset + CAPSULE_SQE_OFFSET;
      this.hdrOf = hdr;
      this.hdrWords = (from & 3) === 0 && hdr.length >= CAPSULE_SQE_OFFSET + 64 ? new Int32Array(hdr.buffer, from, 16) : null;
    }
    const words = this.hdrWords;
    if (words !== null) {
      const to = req.sqeWords;
      for (let i = 0; i < 16; i++) to[i] = words[i]!;
      return;
    }
    const sqe = req.sqe;
    for (let i = 0; i < 64; i++) sqe[i] = hdr[CAPSULE_SQE_OFFSET + i]!;
  }

  protected onCapsule(req: Request, data: Uint8Array | null, ddgstOk: boolean): void {
    // The SQ head advances as each command is fetched.
    if (this.sqEntriesValue > 0) this.sqhdValue = (this.sqhdValue + 1) % this.sqEntriesValue;
    this.fused.arrived(req);
    if (!ddgstOk) {
      this.log.warn({ cid: req.cid }, 'data digest error on in-capsule data: failing the command');
      req.status = S_TRANSIENT;
      return this.completeRequest(req);
    }
    switch (planCapsule(req, data, this.ctx.config)) {
      case CapsulePlan.FAIL:
        this.log.warn({ cid: req.cid, opcode: req.sqe[SQE.opcode], sglLen: req.dataLen, inCapsule: data?.length ?? 0, status: req.status }, 'command refused: its data descriptor is invalid');
        return this.completeRequest(req);
      case CapsulePlan.EXECUTE:
        return this.run(req);
      case CapsulePlan.FETCH_H2C:
      case CapsulePlan.SEND_C2H:
        // Admin responses are small and built in zeroed buffers by their handlers: nothing to grant.
        if (req.dir !== XferDir.H2C && this.qid === 0) return this.run(req);
        // A Read its namespace answers from memory needs no buffer: it runs now, ungranted.
        if (req.dir === XferDir.C2H && this.answeredInPlace(req)) return this.run(req);
        return this.grants.request(req);
    }
  }

  /**
   * A plain Read (not fused: a fused command waits for its partner) whose range the backend will
   * send as a view of its own memory (RAM). read() in the core runs within this same call (run()
   * executes it at once) and either fails before it needs data (no controller, ANA, reservation,
   * range, length: a status, no data) or asks backend.view() for exactly this range: SLBA x block
   * size, req.dataLen bytes (its length check makes NLB agree). viewable() answers as view() would,
   * and nothing can change in between, so a read let through here always gets its view.
   * With data digests, not when the namespace's memory is shared with other threads (I/O workers):
   * the responder then copies the view into the granted buffer (responder.ts). Memory of this
   * thread's own is sent as is, digested in the same native call as the write (out-queue.ts).
   */
  protected answeredInPlace(req: Request): boolean {
    const sqe = req.sqe;
    if (sqe[SQE.opcode] !== IoOpc.Read || (sqe[SQE.flags]! & 3) !== 0) return false;
    const ns = this.ioCtrl?.namespaces.get(sqeNsid(sqe));
    if (ns === undefined || ns.backend.viewable?.(sqeSlba(sqe) * ns.blockSize, req.dataLen) !== true) return false;
    return !this.tx.ddgst || (ns.backend as { shares?: unknown }).shares == null;
  }

  /** A command's data buffer was granted: fetch the host's data (R2T) or execute the read. */
  protected granted(req: Request, buf: Buffer): void {
    if (req.dir === XferDir.H2C) {
      req.inData = req.own(buf, req.dataLen);
      req.setState(ReqState.AWAITING_H2C);
      writeR2T(this.tx.out, this.tx.hdgst, req.cid, req.index, 0, req.dataLen);
      this.tx.schedule();
      return;
    }
    req.granted = buf;
    this.run(req);
  }

  protected onH2CData(req: Request, hdr: Buffer, ddgstOk: boolean): void {
    // checkH2CData() vetted TTAG, CCCID, DATAO and DATAL (> 0) against the R2T before the data came in.
    req.h2cReceived += hdr.readUInt32LE(DATA.length);
    if (!ddgstOk) {
      this.log.warn({ cid: req.cid }, 'data digest error on H2CData: the command will fail');
      req.ddgstFailed = true;
    }
    const last = (hdr[CH.flags]! & PduFlags.DATA_LAST) !== 0;
    if (req.h2cReceived < req.dataLen) {
      if (last) return this.onFatal(FES.DATA_TRANSFER_OUT_OF_RANGE, CH.flags, hdr, 'H2CData LAST flag before all data arrived');
      return;
    }
    if (req.ddgstFailed) {
      req.status = S_TRANSIENT;
      return this.completeRequest(req);
    }
    this.run(req);
  }

  protected run(req: Request): void {
    // Lent data (a view of the chunk being parsed) is used by execute() below or copied out by it
    // (Command.inLent); anything else that would keep the command past this call takes a copy here.
    if (req.inLent && (req.fuse !== 0 || !this.inBatch)) req.keepInData();
    if (req.fuse !== 0) {
      // Half of a fused pair: it runs with its partner, once both have their data.
      this.fused.ready(req);
      if (!this.inBatch) this.kickBackends();
      return;
    }
    req.setState(ReqState.EXECUTING);
    try {
      execute(req, this.ctx);
      const ns = req.ns;
      if (ns !== null) {
        // The usual batch touches one backend: Set.add only when it is not the one added last.
        const b = ns.backend;
        if (b !== this.lastTouched) {
          this.touched.add(b);
          this.lastTouched = b;
        }
      } else if (req.sqe[SQE.opcode] === AdminOpc.Fabrics && this.qid > 0) this.afterIoConnect();
    } catch (err) {
      this.log.error({ err, cid: req.cid }, 'internal error executing a command');
      if (req.state === ReqState.EXECUTING) {
        req.status = S_INTERNAL_ERROR;
        this.completeRequest(req);
      }
    }
    // The chunk is not ours past this point: the backend consumed the view at submit (only its
    // length is read later, for statistics), or the I/O path copied it out before waiting.
    req.inLent = false;
    if (!this.inBatch) this.kickBackends();
  }

  // --- completion ---------------------------------------------------------------------------

  completeRequest(req: Request): void {
    if (req.state === ReqState.FREE) return;
    if (this.closed) return this.dropRequest(req);
    this.commands++;
    const sent = this.tx.respond(req, this.qid, this.sqhdField(), this.sqflowDisabled);
    const latencyUs = req.t0 > 0 ? (performance.now() - req.t0) * 1000 : -1;
    this.stats.complete(latencyUs, sent, req.inData ? req.inData.length : 0, req.status !== 0);
    if (req.ns !== null) nsCompleted(req.ns.stats, req.sqe[SQE.opcode]!, latencyUs, req.status !== 0);
    else if (this.qid === 0 && this.ctrl?.subsys) this.ctrl.subsys.adminCommands++;
    // Buffers of a response without data (writes: the in-capsule data) are referenced by nothing
    // queued: back to the pool at once (the next command reuses them while still in cache).
    this.freeRequest(req, true, sent > 0);
    this.tx.schedule();
  }

  /** SQHD for a CQE: 0xFFFF once the host disabled SQ flow control (that is how Connect confirms it). */
  protected sqhdField(): number {
    return this.sqflowDisabled ? 0xffff : this.sqhdValue;
  }

  /** Frees a slot whose response will never be sent (queue closed). */
  dropRequest(req: Request): void {
    if (req.state === ReqState.FREE) return;
    this.freeRequest(req, false);
    this.checkIdle();
  }

  /**
   * `afterFlush`: the command was answered (false: dropped). `holdBuffers`: its response references
   * its buffers, which go back only once the socket has taken the bytes.
   */
  protected freeRequest(req: Request, afterFlush: boolean, holdBuffers = afterFlush): void {
    if (req.held !== 0) releaseRange(req);
    if (req.fuse !== 0) this.fused.freed(req, !afterFlush);
    const owned = req.owned;
    // pop(), not `length = 0`: setting an array's length is a slow runtime call.
    for (let b = owned.pop(); b !== undefined; b = owned.pop()) {
      if (holdBuffers) this.tx.hold(b);
      else this.pool.release(b);
    }
    if (req.granted !== null) this.pool.release(req.granted); // granted, never used
    if (req.state === ReqState.WAIT_BUFFER) this.grants.forget(req);
    req.inData = null;
    req.outData = null;
    req.auxData = null;
    req.granted = null;
    req.ns = null;
    this.table.release(req);
    this.stats.f[StatField.INFLIGHT]--;
  }
}
