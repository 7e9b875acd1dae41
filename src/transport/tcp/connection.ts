// One NVMe/TCP connection = one host queue (admin or I/O).
//
// Receive: socket chunks -> PduReader -> every PDU header is checked here before its data is taken
// (capsule.ts holds the checks), commands get a slot (request.ts), and a complete command goes to the
// core's execute(). Each received batch is executed, the namespace backends are kicked once, and every
// response produced meanwhile is written with one corked writev; completions that arrive later
// (asynchronous backends) are flushed once per event-loop turn.
//
// Connection states:
//   CONNECTING (waiting for ICReq) -> LIVE -> [DRAINING] -> CLOSED
//                                      └──> MOVING (to a worker thread) -> CLOSED here
// Backpressure: reading pauses while the peer is slow to take responses, and while the memory budget
// of the thread's buffer pool has no room for a command's data.
import type { Socket } from 'node:net';
import type { PortConfig } from '../../config/types.js';
import type { IoController } from '../../core/command.js';
import type { Controller } from '../../core/controller.js';
import type { TargetContext } from '../../core/context.js';
import type { Backend } from '../../backend/backend.js';
import { execute } from '../../core/dispatch.js';
import { AdminOpc } from '../../spec/opcodes.js';
import { CAPSULE_SQE_OFFSET, CH, DATA, DIGEST_LEN, FES, IC, PduFlags, PduType, TERM } from '../../spec/pdu.js';
import { SQE } from '../../spec/sqe.js';
import { Generic, S_INTERNAL_ERROR, S_SGL_LENGTH_INVALID, SCT, status } from '../../spec/status.js';
import type { Logger } from '../../util/log.js';
import { native } from '../../native/addon.js';
import { StatField, threadStats } from '../../runtime/stats.js';
import { noteActivity } from '../../runtime/poller.js';
import { threadPool, type BufferPool } from '../../runtime/buffer-pool.js';
import { CapsulePlan, checkH2CData, isFatal, planCapsule } from './capsule.js';
import { afterWritten, restartReading, stopReading, type QueueHandoff, type QueueMover } from './handoff.js';
import { icreqTimedOut } from './icreq-timeouts.js';
import { OutQueue } from './out-queue.js';
import { receiveIntoThreadBuffer } from './user-buffer.js';
import { PduReader, type PduSink } from './pdu-reader.js';
import { writeC2HData, writeC2HTermReq, writeCapsuleResp, writeICResp, writeR2T } from './pdu-writer.js';
import { ReqState, Request, RequestTable, XferDir, type RequestOwner } from './request.js';

const enum ConnState {
  CONNECTING,
  LIVE,
  /** Shutting down: commands in flight finish, new ones are not taken, then the socket ends. */
  DRAINING,
  /** Connected I/O queue moving to a worker thread: nothing more is read here. */
  MOVING,
  CLOSED,
}

/** Admin queue in-capsule data (Connect carries 1024 bytes; hosts send up to 8 KiB in-capsule). */
const ADMIN_INLINE = 8192;
/** Slots before Connect tells the queue size. */
const INITIAL_SLOTS = 32;
/** Pause reading while this much response data waits in the socket. */
const SEND_HIGH_WATER = 4 * 1024 * 1024;
/** After end(), how long the peer has to close its side before the socket is destroyed. */
const LINGER_MS = 2000;
const S_TRANSIENT = status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR);
const NO_DATA = new Uint8Array(0);

let nextQueueId = 1;

export interface ConnectionOptions {
  /** Called once when the connection is closed (by either side). */
  onClose: (c: TcpConnection) => void;
  /** Moves connected I/O queues to worker threads (main thread with workers only). */
  mover?: QueueMover | null;
  /** Resume a queue handed over by the main thread (on a worker). */
  adopted?: { handoff: QueueHandoff; ioCtrl: IoController };
}

export class TcpConnection implements RequestOwner, PduSink {
  readonly id = nextQueueId++;
  readonly socket: Socket;
  readonly port: PortConfig;
  readonly ctx: TargetContext;
  peer: string;
  localAddress: string;
  readonly pool: BufferPool;
  log: Logger;
  qid = 0;
  ctrl: Controller | null = null;
  ioCtrl: IoController | null = null;
  sqflowDisabled = false;
  #sqEntries = 0;

  #state = ConnState.CONNECTING;
  readonly #reader: PduReader;
  readonly #out = new OutQueue();
  readonly #table = new RequestTable(INITIAL_SLOTS);
  readonly #mover: QueueMover | null;
  readonly #onClose: (c: TcpConnection) => void;
  #hdgst = false;
  #ddgst = false;
  /** The host's PDU data alignment, (HPDA + 1) * 4 bytes. */
  #hpdaAlign = 4;
  /** SQ head pointer reported in each CQE. */
  #sqhd = 0;
  /** True while a received chunk is being processed: responses are flushed at its end. */
  #inBatch = false;
  #flushScheduled = false;
  readonly #flushBound = (): void => this.#flush();
  readonly #releaseBound = (): void => this.#releaseBatch();
  /** Buffers to release once the socket has taken the bytes that reference them, per flush. */
  readonly #releaseBatches: Buffer[][] = [];
  readonly #releaseNow: Buffer[] = [];
  /** Reading paused because the peer does not take our responses. */
  #sendPaused = false;
  /** Reading paused because the memory budget has no room for a waiting command's data. */
  #memPaused = false;
  /** Commands in WAIT_BUFFER, oldest first. */
  readonly #waiting: Request[] = [];
  readonly #onMemoryBound = (): void => this.#onMemory();
  #icTimer: NodeJS.Timeout | null = null;
  /** Backends touched during this batch, kicked once at its end. */
  readonly #touched = new Set<Backend>();
  #onIdle: (() => void) | null = null;
  #onDrained: (() => void) | null = null;
  /** Capsules received while draining, not taken (the host re-issues them after reconnecting). */
  #notTaken = 0;
  /** The connection now belongs to a worker thread. */
  #movedAway = false;
  /** The command whose capsule is being received (between onHeader and onPdu); null: discard it. */
  #capsuleReq: Request | null = null;
  /** The command an H2CData PDU was validated for (between onHeader and onPdu). */
  #h2cReq: Request | null = null;
  readonly #stats = threadStats();
  /** Commands completed on this queue. */
  commands = 0;
  #sample = 0;
  /** Why the queue closed (null while open). */
  closeReason: string | null = null;

  constructor(socket: Socket, port: PortConfig, ctx: TargetContext, o: ConnectionOptions) {
    this.socket = socket;
    this.port = port;
    this.ctx = ctx;
    this.#onClose = o.onClose;
    this.#mover = o.mover ?? null;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.localAddress = socket.localAddress ?? '';
    this.log = ctx.log.child({ peer: this.peer, queue: this.id });
    this.pool = threadPool(ctx.config.mdts);
    this.#reader = new PduReader(this, {
      accept: [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData],
      maxPlen: this.#maxPlen(),
    });
    this.#stats.f[StatField.QUEUES]++;
    socket.setNoDelay(true);
    if (!receiveIntoThreadBuffer(socket, (buf, length) => this.#onData(buf, length))) {
      socket.on('data', (chunk: Buffer) => this.#onData(chunk, chunk.length));
    }
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err) => {
      if (this.#state !== ConnState.CLOSED) this.log.debug({ err: err.message }, 'socket error');
    });
    socket.on('close', () => {
      this.#closeState('connection closed by peer');
      this.#onDrained?.();
      this.#onClose(this);
    });
    if (o.adopted) {
      this.#resume(o.adopted.handoff, o.adopted.ioCtrl);
      return;
    }
    this.#icTimer = setTimeout(() => {
      icreqTimedOut(this.log, ctx.config.icreqTimeout);
      this.close('ICReq timeout');
    }, ctx.config.icreqTimeout * 1000);
    this.#icTimer.unref();
  }

  /** A connected I/O queue handed over by the main thread: resume where it stopped. */
  #resume(h: QueueHandoff, ioCtrl: IoController): void {
    this.peer = h.peer;
    this.localAddress = h.localAddress;
    this.log = this.ctx.log.child({ peer: this.peer, queue: h.queueId, cntlid: h.cntlid, qid: h.qid });
    this.qid = h.qid;
    this.ioCtrl = ioCtrl;
    this.sqEntries = h.sqEntries;
    this.#sqhd = h.sqhd;
    this.sqflowDisabled = h.sqflowDisabled;
    this.#hdgst = this.#reader.hdgst = h.hdgst;
    this.#ddgst = this.#reader.ddgst = h.ddgst;
    this.#hpdaAlign = h.hpdaAlign;
    this.#state = ConnState.LIVE;
    const leftover = h.leftover;
    if (leftover && leftover.length > 0) {
      const copy = Buffer.from(leftover);
      setImmediate(() => this.#onData(copy, copy.length));
    }
  }

  get closed(): boolean {
    return this.#state === ConnState.CLOSED;
  }

  /** Commands outstanding on this queue (received and not yet answered or dropped). */
  get inflight(): number {
    return this.#table.inflight;
  }

  /** Slots per request state (index: ReqState), for statistics and tests. */
  get stateCounts(): Int32Array {
    return this.#table.counts;
  }

  #maxPlen(): number {
    const inline = Math.max(ADMIN_INLINE, this.port.inlineDataSize);
    const payload = Math.max(inline, this.port.maxH2CData);
    return 128 + payload + 2 * DIGEST_LEN + 256;
  }

  // --- receive ------------------------------------------------------------------------------

  #onData(chunk: Buffer, length: number): void {
    if (this.#state === ConnState.CLOSED) return;
    if (this.#state === ConnState.MOVING) {
      // Read before the socket stopped: keep it for the worker.
      this.#reader.push(chunk, length);
      return;
    }
    this.#inBatch = true;
    noteActivity();
    try {
      this.#reader.push(chunk, length);
      this.#kickBackends();
    } catch (err) {
      // A bug must not take the process down: fail this connection only.
      this.log.error({ err }, 'internal error while processing received data: closing the connection');
      this.close('internal error');
    } finally {
      this.#inBatch = false;
    }
    // Responses go out once per event-loop turn: every read that arrived in this turn shares one write.
    if (this.#out.pendingBytes > 0) this.#scheduleFlush();
  }

  #kickBackends(): void {
    // Kicking may complete commands that submit more work; loop until quiet.
    while (this.#touched.size > 0) {
      const list = [...this.#touched];
      this.#touched.clear();
      for (const b of list) b.kick();
    }
  }

  /** Every PDU's header comes here first, with or without data: the one place it is validated. */
  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    const type = hdr[CH.pduType]!;
    if (this.#state === ConnState.CONNECTING && type !== PduType.ICReq) {
      this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, 'PDU before ICReq');
      return null;
    }
    switch (type) {
      case PduType.ICReq:
        if (dataLen !== 0) break;
        return NO_DATA;
      case PduType.CapsuleCmd:
        return this.#capsuleHeader(hdr, dataLen);
      case PduType.H2CData: {
        const r = checkH2CData(hdr, dataLen, this.#table, this.port);
        if (isFatal(r)) {
          this.onFatal(r.fes, r.fei, hdr, r.reason);
          return null;
        }
        this.#h2cReq = r;
        const at = r.h2cReceived;
        return r.inData!.subarray(at, at + dataLen);
      }
      case PduType.H2CTermReq:
        return dataLen === 0 ? NO_DATA : Buffer.allocUnsafe(dataLen);
    }
    this.onFatal(FES.INVALID_PDU_HEADER_FIELD, CH.pduType, hdr, `unexpected data on PDU type ${type}`);
    return null;
  }

  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    switch (hdr[CH.pduType]!) {
      case PduType.ICReq:
        return this.#onICReq(hdr);
      case PduType.CapsuleCmd: {
        const req = this.#capsuleReq;
        this.#capsuleReq = null;
        if (req === null) return; // not taken (draining)
        return this.#onCapsule(req, data, ddgstOk);
      }
      case PduType.H2CData: {
        const req = this.#h2cReq!;
        this.#h2cReq = null;
        return this.#onH2CData(req, hdr, ddgstOk);
      }
      case PduType.H2CTermReq:
        this.log.warn({ fes: hdr.readUInt16LE(TERM.fes), fei: hdr.readUInt32LE(TERM.fei) }, 'host terminated the connection (H2CTermReq)');
        return this.close('H2CTermReq');
    }
  }

  onFatal(fes: number, fei: number, hdr: Buffer, reason: string): void {
    if (this.#state === ConnState.CLOSED) return;
    this.log.warn({ fes, fei }, `fatal transport error: ${reason}; sending C2HTermReq and closing`);
    this.#reader.stop();
    writeC2HTermReq(this.#out, fes, fei, hdr);
    this.#out.flush(this.socket);
    this.#closeState(reason);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  #onICReq(hdr: Buffer): void {
    if (this.#state !== ConnState.CONNECTING) return this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, 'second ICReq');
    const pfv = hdr.readUInt16LE(IC.pfv);
    if (pfv !== 0) return this.onFatal(FES.INVALID_PDU_HEADER_FIELD, IC.pfv, hdr, `unsupported PFV ${pfv}`);
    const hpda = hdr[IC.pda]!;
    if (hpda > 31) return this.onFatal(FES.INVALID_PDU_HEADER_FIELD, IC.pda, hdr, `HPDA ${hpda} out of range`);
    const digest = hdr[IC.digest]! & 0x3;
    if (this.#icTimer) clearTimeout(this.#icTimer);
    this.#icTimer = null;
    writeICResp(this.#out, 0, digest, this.port.maxH2CData);
    this.#hpdaAlign = (hpda + 1) * 4;
    this.#hdgst = this.#reader.hdgst = (digest & 1) !== 0;
    this.#ddgst = this.#reader.ddgst = (digest & 2) !== 0;
    this.#state = ConnState.LIVE;
    this.log.debug({ hdgst: this.#hdgst, ddgst: this.#ddgst, maxr2t: hdr.readUInt32LE(IC.maxr2tOrMaxdata) }, 'ICReq accepted');
  }

  // --- commands -----------------------------------------------------------------------------

  #capsuleHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    if (this.#state === ConnState.DRAINING) {
      // Not taken: consumed and forgotten, never answered (the host re-issues it elsewhere).
      this.#notTaken++;
      this.#capsuleReq = null;
      return dataLen === 0 ? NO_DATA : Buffer.allocUnsafe(dataLen);
    }
    const req = this.#table.acquire(this);
    if (req === null) {
      this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, `more commands outstanding than the queue allows (${this.#table.limit})`);
      return null;
    }
    hdr.copy(req.sqe, 0, CAPSULE_SQE_OFFSET, CAPSULE_SQE_OFFSET + 64);
    req.cid = req.sqe.readUInt16LE(SQE.cid);
    // Latency is sampled on one command in 8: the clock read is a measurable share of a 4 KiB I/O.
    req.t0 = (this.#sample++ & 7) === 0 ? performance.now() : 0;
    this.#stats.f[StatField.INFLIGHT]++;
    this.#capsuleReq = req;
    if (dataLen === 0) return NO_DATA;
    const limit = this.qid === 0 ? ADMIN_INLINE : this.port.inlineDataSize;
    if (dataLen > limit) {
      // Received and discarded: the command fails with an SGL error, the stream stays in sync.
      req.status = S_SGL_LENGTH_INVALID;
      this.log.warn({ cid: req.cid, dataLen, limit }, 'in-capsule data larger than offered');
      return Buffer.allocUnsafe(dataLen);
    }
    // The PDU reader fills all dataLen bytes before the command can run.
    return req.own(this.pool.acquire(dataLen), dataLen);
  }

  #onCapsule(req: Request, data: Uint8Array | null, ddgstOk: boolean): void {
    // The SQ head advances as each command is fetched.
    if (this.#sqEntries > 0) this.#sqhd = (this.#sqhd + 1) % this.#sqEntries;
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
        return this.#execute(req);
      case CapsulePlan.FETCH_H2C:
      case CapsulePlan.SEND_C2H:
        return this.#grant(req);
    }
  }

  /** Gives a command its data buffer from the memory budget, or parks it until there is room. */
  #grant(req: Request): void {
    if (this.#waiting.length > 0 && this.#waiting[0] !== req) return this.#park(req);
    const isWrite = req.dir === XferDir.H2C;
    // Admin responses are small and built in zeroed buffers by their handlers: nothing to grant.
    if (!isWrite && this.qid === 0) return this.#execute(req);
    const buf = this.pool.tryAcquire(req.dataLen);
    if (buf === null) return this.#park(req);
    if (req.state === ReqState.WAIT_BUFFER) this.#waiting.shift();
    const view = req.own(buf, req.dataLen);
    if (isWrite) {
      req.inData = view;
      req.setState(ReqState.AWAITING_H2C);
      writeR2T(this.#out, this.#hdgst, req.cid, req.index, 0, req.dataLen);
      this.#scheduleFlush();
      return;
    }
    req.granted = view;
    this.#execute(req);
  }

  #park(req: Request): void {
    if (req.state !== ReqState.WAIT_BUFFER) {
      req.setState(ReqState.WAIT_BUFFER);
      this.#waiting.push(req);
    }
    if (!this.#memPaused) {
      this.#memPaused = true;
      this.socket.pause();
      this.log.debug({ waiting: this.#waiting.length }, 'memory budget reached: pausing receive');
      this.pool.whenAvailable(this.#onMemoryBound);
    }
  }

  #onMemory(): void {
    this.#memPaused = false;
    if (this.#state === ConnState.CLOSED) return;
    while (this.#waiting.length > 0 && !this.#memPaused) this.#grant(this.#waiting[0]!);
    if (!this.#inBatch) this.#kickBackends();
    if (!this.#memPaused && !this.#sendPaused) this.socket.resume();
  }

  #onH2CData(req: Request, hdr: Buffer, ddgstOk: boolean): void {
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
    this.#execute(req);
  }

  #execute(req: Request): void {
    req.setState(ReqState.EXECUTING);
    try {
      execute(req, this.ctx);
      if (req.ns) this.#touched.add(req.ns.backend);
      else if (req.sqe[SQE.opcode] === AdminOpc.Fabrics && this.qid > 0 && this.ctrl && this.#mover && this.#state === ConnState.LIVE) {
        if (this.#mover.shouldMove(this.qid, this.ctrl.cntlid)) this.#startMove();
      }
    } catch (err) {
      this.log.error({ err, cid: req.cid }, 'internal error executing a command');
      if (req.state === ReqState.EXECUTING) {
        req.status = S_INTERNAL_ERROR;
        this.completeRequest(req);
      }
    }
    if (!this.#inBatch) this.#kickBackends();
  }

  // --- completion ---------------------------------------------------------------------------

  completeRequest(req: Request): void {
    if (req.state === ReqState.FREE) return;
    if (this.#state === ConnState.CLOSED) return this.dropRequest(req);
    const out = this.#out;
    const data = req.outData;
    this.commands++;
    const sent = data && req.status === 0 ? Math.min(data.length, req.dataLen) : 0;
    this.#stats.complete(req.t0 > 0 ? (performance.now() - req.t0) * 1000 : -1, sent, req.inData ? req.inData.length : 0, req.status !== 0);
    if (sent > 0) {
      const view = sent === data!.length ? data! : data!.subarray(0, sent);
      const success = this.sqflowDisabled;
      writeC2HData(out, this.#hdgst, this.#ddgst, this.#hpdaAlign, req.cid, 0, view, PduFlags.DATA_LAST | (success ? PduFlags.DATA_SUCCESS : 0));
      if (!success) writeCapsuleResp(out, this.#hdgst, req.dw0, req.dw1, this.#sqhdField(), this.qid, req.cid, 0);
    } else {
      writeCapsuleResp(out, this.#hdgst, req.dw0, req.dw1, this.#sqhdField(), this.qid, req.cid, req.status);
    }
    this.#freeRequest(req, true);
    this.#scheduleFlush();
  }

  /** SQHD for a CQE: 0xFFFF once the host disabled SQ flow control (that is how Connect confirms it). */
  #sqhdField(): number {
    return this.sqflowDisabled ? 0xffff : this.#sqhd;
  }

  /** Frees a slot whose response will never be sent (queue closed). */
  dropRequest(req: Request): void {
    if (req.state === ReqState.FREE) return;
    this.#freeRequest(req, false);
    this.#checkIdle();
  }

  #freeRequest(req: Request, afterFlush: boolean): void {
    const owned = req.owned;
    for (let i = 0; i < owned.length; i++) {
      if (afterFlush) this.#releaseNow.push(owned[i]!);
      else this.pool.release(owned[i]!);
    }
    owned.length = 0;
    if (req.state === ReqState.WAIT_BUFFER) {
      const i = this.#waiting.indexOf(req);
      if (i >= 0) this.#waiting.splice(i, 1);
    }
    req.inData = null;
    req.outData = null;
    req.auxData = null;
    req.granted = null;
    req.ns = null;
    this.#table.release(req);
    this.#stats.f[StatField.INFLIGHT]--;
  }

  #scheduleFlush(): void {
    if (this.#inBatch || this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushBound);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#state === ConnState.CLOSED) return;
    if (this.#out.pendingBytes > 0) {
      let ok: boolean;
      if (this.#releaseNow.length > 0) {
        // Release the buffers once the socket has handed these bytes to the kernel.
        this.#releaseBatches.push(this.#releaseNow.splice(0));
        ok = this.#out.flush(this.socket, this.#releaseBound);
      } else {
        ok = this.#out.flush(this.socket);
      }
      if (!ok && !this.#sendPaused && this.socket.writableLength > SEND_HIGH_WATER) {
        this.#sendPaused = true;
        this.socket.pause();
        this.log.debug({ buffered: this.socket.writableLength }, 'peer is slow to read: pausing receive');
      }
    }
    this.#checkIdle();
  }

  #releaseBatch(): void {
    const batch = this.#releaseBatches.shift();
    if (batch) for (const b of batch) this.pool.release(b);
  }

  #onDrain(): void {
    if (this.#sendPaused) {
      this.#sendPaused = false;
      if (!this.#memPaused) this.socket.resume();
    }
  }

  // --- moving to a worker thread -----------------------------------------------------------

  /** The I/O queue just connected and belongs on a worker: stop reading at the PDU boundary. */
  #startMove(): void {
    this.#state = ConnState.MOVING;
    this.#reader.detach();
    stopReading(this.socket);
    // Runs after the current batch is flushed (the Connect response is queued before this).
    setImmediate(() => {
      this.#flush();
      afterWritten(this.socket, (fd) => this.#finishMove(fd));
    });
  }

  #finishMove(fd: number): void {
    const ctrl = this.ctrl;
    const mover = this.#mover;
    if (this.#state !== ConnState.MOVING || !ctrl || !mover) return;
    const dup = fd >= 0 ? native.dupFd(fd) : -1;
    if (dup < 0) {
      this.log.error({ fd, errno: -dup }, 'cannot duplicate the connection descriptor: the queue stays on the main thread');
      this.#state = ConnState.LIVE;
      const leftover = this.#reader.takeLeftover();
      this.#reader.resumeAfterDetach();
      restartReading(this.socket);
      if (leftover) this.#onData(leftover, leftover.length);
      return;
    }
    const state: QueueHandoff = {
      queueId: this.id,
      fd: dup,
      peer: this.peer,
      localAddress: this.localAddress,
      portId: this.port.id,
      subnqn: ctrl.subsysNqn,
      cntlid: ctrl.cntlid,
      hostnqn: ctrl.hostnqn,
      qid: this.qid,
      sqEntries: this.#sqEntries,
      sqhd: this.#sqhd,
      sqflowDisabled: this.sqflowDisabled,
      hdgst: this.#hdgst,
      ddgst: this.#ddgst,
      hpdaAlign: this.#hpdaAlign,
      leftover: this.#reader.takeLeftover(),
    };
    // From here the worker owns the connection; this object only closes its own descriptor.
    this.#state = ConnState.CLOSED;
    this.#movedAway = true;
    this.#stats.f[StatField.QUEUES]--;
    mover.move(this, dup, state);
    this.socket.destroy();
  }

  get movedAway(): boolean {
    return this.#movedAway;
  }

  // --- teardown -----------------------------------------------------------------------------

  #closeState(reason: string): void {
    if (this.#state === ConnState.CLOSED) return;
    this.closeReason = reason;
    this.#stats.f[StatField.QUEUES]--;
    this.#state = ConnState.CLOSED;
    if (this.#icTimer) clearTimeout(this.#icTimer);
    this.#icTimer = null;
    this.#reader.stop();
    // Slots not waiting on a backend are freed now; the others when their backend completes.
    let dropped = 0;
    for (const r of [...this.#table.busy()]) {
      dropped++;
      if (r.state !== ReqState.EXECUTING) this.dropRequest(r);
    }
    this.#waiting.length = 0;
    for (const b of this.#releaseNow.splice(0)) this.pool.release(b);
    const ctrl = this.ctrl;
    if (ctrl) ctrl.detachQueue(this);
    if (ctrl || this.ioCtrl) {
      const cntlid = (ctrl ?? this.ioCtrl)!.cntlid;
      this.log.info({ cntlid, qid: this.qid, reason, dropped, commands: this.commands }, 'queue closed');
    } else {
      this.log.debug({ reason }, 'connection closed before Connect');
    }
  }

  close(reason: string): void {
    if (this.#movedAway) return;
    if (this.#state !== ConnState.CLOSED) this.#closeState(reason);
    this.socket.destroy();
  }

  /**
   * Orderly shutdown of this connection: new commands are no longer taken (their capsules are
   * consumed and never answered, so the host re-issues them after reconnecting), commands in
   * flight complete and are answered, every response is written, then the socket is ended (FIN,
   * not RST). Resolves once the connection is closed; `close()` still cuts it short.
   */
  drain(reason: string): Promise<void> {
    if (this.#state === ConnState.CLOSED) return Promise.resolve();
    if (this.#state === ConnState.CONNECTING) {
      this.close(reason);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#onDrained = resolve;
      if (this.#state !== ConnState.MOVING) this.#state = ConnState.DRAINING;
      this.closeReason = reason;
      this.#checkIdle();
    });
  }

  /** Resolves when no command of this queue is outstanding. */
  whenIdle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  #checkIdle(): void {
    if (this.inflight !== 0) return;
    if (this.#onIdle) {
      const cb = this.#onIdle;
      this.#onIdle = null;
      cb();
    }
    if (this.#state === ConnState.DRAINING && this.#out.pendingBytes === 0 && !this.#flushScheduled) this.#endDrained();
  }

  #endDrained(): void {
    const reason = this.closeReason ?? 'draining';
    if (this.#notTaken > 0) this.log.info({ notTaken: this.#notTaken }, 'commands received while shutting down were not taken');
    this.#closeState(reason);
    // FIN after the last response; the peer closes its side, or the socket goes after LINGER_MS.
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), LINGER_MS);
    t.unref();
    this.socket.once('close', () => clearTimeout(t));
  }

  get sqhd(): number {
    return this.#sqhd;
  }

  get sqEntries(): number {
    return this.#sqEntries;
  }

  /** Set by Connect; the slot limit grows to 2 x entries (AERs and in-flight R2T transfers need room). */
  set sqEntries(n: number) {
    this.#sqEntries = n;
    this.#table.limit = Math.max(INITIAL_SLOTS, 2 * n);
  }
}
