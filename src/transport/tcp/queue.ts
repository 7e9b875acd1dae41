// One NVMe/TCP connection = one host queue (admin or I/O).
//
// Receive: socket chunks -> PduReader -> capsules, H2C data, TermReqs. Each received batch is
// executed, the namespace backends are kicked once, and every response produced meanwhile is
// written with one corked writev. Completions that arrive later (asynchronous backends) are
// flushed once per event-loop turn.
//
// Connection states: CONNECTING (waiting for ICReq) -> LIVE -> CLOSED.
import type { Socket } from 'node:net';
import type { PortConfig } from '../../config/types.js';
import type { HostQueue, IoController } from '../../core/command.js';
import type { Controller } from '../../core/controller.js';
import type { TargetContext } from '../../core/context.js';
import type { Backend } from '../../backend/backend.js';
import { executeAdmin } from '../../core/admin/dispatch.js';
import { executeFabrics } from '../../core/fabrics.js';
import { executeIo } from '../../core/io.js';
import { AdminOpc } from '../../spec/opcodes.js';
import { CAPSULE_SQE_OFFSET, CH, DATA, DIGEST_LEN, FES, IC, PduFlags, PduType, TERM } from '../../spec/pdu.js';
import { SGL, SglId, SQE } from '../../spec/sqe.js';
import {
  Generic,
  S_INTERNAL_ERROR,
  S_SGL_LENGTH_INVALID,
  S_SGL_OFFSET_INVALID,
  S_SGL_TYPE_INVALID,
  SCT,
  status,
} from '../../spec/status.js';
import type { Logger } from '../../util/log.js';
import type { QueueHandoff } from '../../shard/messages.js';
import { native } from '../../native/addon.js';
import { StatField, threadStats } from '../../runtime/stats.js';
import { noteActivity } from '../../runtime/poller.js';
import { BufferPool } from '../../runtime/buffer-pool.js';
import { OutQueue } from './out-queue.js';
import { receiveIntoThreadBuffer } from './user-buffer.js';
import { PduReader, type PduSink } from './pdu-reader.js';
import { writeC2HData, writeC2HTermReq, writeCapsuleResp, writeICResp, writeR2T } from './pdu-writer.js';
import { ReqState, Request, XferDir } from './request.js';

const enum QueueState {
  CONNECTING,
  LIVE,
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
const S_TRANSIENT = status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR);

let nextQueueId = 1;
const pools = new Map<number, BufferPool>();
function poolFor(maxSize: number): BufferPool {
  let p = pools.get(maxSize);
  if (!p) {
    p = new BufferPool(maxSize);
    pools.set(maxSize, p);
  }
  return p;
}

export class TcpQueue implements HostQueue, PduSink {
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

  #state = QueueState.CONNECTING;
  readonly #reader: PduReader;
  readonly #out = new OutQueue();
  #hdgst = false;
  #ddgst = false;
  /** The host's PDU data alignment, (HPDA + 1) * 4 bytes. */
  #hpdaAlign = 4;
  /** SQ head pointer reported in each CQE. */
  #sqhd = 0;
  readonly #slots: Request[] = [];
  readonly #free: Request[] = [];
  #maxSlots = INITIAL_SLOTS;
  #inflight = 0;
  /** True while a received chunk is being processed: responses are flushed at its end. */
  #inBatch = false;
  #flushScheduled = false;
  readonly #flushBound = (): void => this.#flush();
  readonly #releaseBound = (): void => this.#releaseBatch();
  /** Buffers to release once the socket has taken the bytes that reference them, per flush. */
  readonly #releaseBatches: Buffer[][] = [];
  readonly #releaseNow: Buffer[] = [];
  #readPaused = false;
  #icTimer: NodeJS.Timeout | null;
  /** Backends touched during this batch, kicked once at its end. */
  readonly #touched = new Set<Backend>();
  #onIdle: (() => void) | null = null;
  /** The connection now belongs to a worker thread. */
  #movedAway = false;
  /** The command whose in-capsule data is being received (between onHeader and onPdu). */
  #capsuleReq: Request | null = null;
  readonly #scratch = Buffer.alloc(256);
  readonly #stats = threadStats();
  /** Commands completed on this queue. */
  commands = 0;
  #sample = 0;
  /** Why the queue closed (null while open). */
  closeReason: string | null = null;

  constructor(socket: Socket, port: PortConfig, ctx: TargetContext, onClose: (q: TcpQueue) => void, adopted?: QueueHandoff, ioCtrl?: IoController) {
    this.socket = socket;
    this.port = port;
    this.ctx = ctx;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.localAddress = socket.localAddress ?? '';
    this.log = ctx.log.child({ peer: this.peer, queue: this.id });
    this.pool = poolFor(ctx.config.mdts);
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
      if (this.#state !== QueueState.CLOSED) this.log.debug({ err: err.message }, 'socket error');
    });
    socket.on('close', () => {
      this.#closeState('connection closed by peer');
      onClose(this);
    });
    if (adopted && ioCtrl) {
      // A connected I/O queue handed over by the main thread: resume where it stopped.
      this.#icTimer = null;
      this.peer = adopted.peer;
      this.localAddress = adopted.localAddress;
      this.log = ctx.log.child({ peer: this.peer, queue: adopted.queueId, cntlid: adopted.cntlid, qid: adopted.qid });
      this.qid = adopted.qid;
      this.ioCtrl = ioCtrl;
      this.sqEntries = adopted.sqEntries;
      this.#sqhd = adopted.sqhd;
      this.sqflowDisabled = adopted.sqflowDisabled;
      this.#hdgst = this.#reader.hdgst = adopted.hdgst;
      this.#ddgst = this.#reader.ddgst = adopted.ddgst;
      this.#hpdaAlign = adopted.hpdaAlign;
      this.#state = QueueState.LIVE;
      const leftover = adopted.leftover;
      if (leftover && leftover.length > 0) {
        const copy = Buffer.from(leftover);
        setImmediate(() => this.#onData(copy, copy.length));
      }
      return;
    }
    this.#icTimer = setTimeout(() => {
      this.log.warn({ timeout: ctx.config.icreqTimeout }, 'no ICReq received in time: closing the connection');
      this.close('ICReq timeout');
    }, ctx.config.icreqTimeout * 1000);
    this.#icTimer.unref();
  }

  get closed(): boolean {
    return this.#state === QueueState.CLOSED;
  }

  get inflight(): number {
    return this.#inflight;
  }

  #maxPlen(): number {
    const inline = Math.max(ADMIN_INLINE, this.port.inlineDataSize);
    const payload = Math.max(inline, this.port.maxH2CData);
    return 128 + payload + 2 * DIGEST_LEN + 256;
  }

  // --- receive ------------------------------------------------------------------------------

  #onData(chunk: Buffer, length: number): void {
    if (this.#state === QueueState.CLOSED) return;
    if (this.#state === QueueState.MOVING) {
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
    // Responses go out once per event-loop turn: every read that arrived in this turn (on this
    // connection, H2CData trickling in, several PDUs) shares one write.
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

  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    const type = hdr[CH.pduType]!;
    if (this.#state === QueueState.CONNECTING && type !== PduType.ICReq) {
      this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, 'PDU before ICReq');
      return null;
    }
    switch (type) {
      case PduType.CapsuleCmd: {
        const req = this.#newRequest(hdr);
        if (!req) return null;
        const limit = this.qid === 0 ? ADMIN_INLINE : this.port.inlineDataSize;
        if (dataLen > limit) {
          // Receive and discard: the command fails with an SGL error, the stream stays in sync.
          req.status = S_SGL_LENGTH_INVALID;
          this.log.warn({ dataLen, limit }, 'in-capsule data larger than offered');
        }
        this.#capsuleReq = req;
        return req.buffer(dataLen);
      }
      case PduType.H2CData:
        return this.#h2cDestination(hdr, dataLen);
      case PduType.H2CTermReq:
        return dataLen <= this.#scratch.length ? this.#scratch.subarray(0, dataLen) : Buffer.alloc(dataLen);
      default:
        this.onFatal(FES.INVALID_PDU_HEADER_FIELD, CH.pduType, hdr, `unexpected data on PDU type ${type}`);
        return null;
    }
  }

  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    const type = hdr[CH.pduType]!;
    if (this.#state === QueueState.CONNECTING && type !== PduType.ICReq) {
      return this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, 'PDU before ICReq');
    }
    switch (type) {
      case PduType.ICReq:
        return this.#onICReq(hdr);
      case PduType.CapsuleCmd:
        return this.#onCapsule(hdr, data, ddgstOk);
      case PduType.H2CData:
        return this.#onH2CData(hdr, ddgstOk);
      case PduType.H2CTermReq: {
        const fes = hdr.readUInt16LE(TERM.fes);
        this.log.warn({ fes, fei: hdr.readUInt32LE(TERM.fei) }, 'host terminated the connection (H2CTermReq)');
        return this.close('H2CTermReq');
      }
    }
  }

  onFatal(fes: number, fei: number, hdr: Buffer, reason: string): void {
    if (this.#state === QueueState.CLOSED) return;
    this.log.warn({ fes, fei }, `fatal transport error: ${reason}; sending C2HTermReq and closing`);
    this.#reader.stop();
    writeC2HTermReq(this.#out, fes, fei, hdr);
    this.#out.flush(this.socket);
    this.#closeState(reason);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  #onICReq(hdr: Buffer): void {
    if (this.#state !== QueueState.CONNECTING) {
      return this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, 'second ICReq');
    }
    const pfv = hdr.readUInt16LE(IC.pfv);
    if (pfv !== 0) return this.onFatal(FES.INVALID_PDU_HEADER_FIELD, IC.pfv, hdr, `unsupported PFV ${pfv}`);
    const hpda = hdr[IC.pda]!;
    if (hpda > 31) return this.onFatal(FES.INVALID_PDU_HEADER_FIELD, IC.pda, hdr, `HPDA ${hpda} out of range`);
    const digest = hdr[IC.digest]! & 0x3;
    if (this.#icTimer) clearTimeout(this.#icTimer);
    this.#icTimer = null;
    writeICResp(this.#out, 0, digest, this.port.maxH2CData);
    this.#hpdaAlign = (hpda + 1) * 4;
    this.#hdgst = (digest & 1) !== 0;
    this.#ddgst = (digest & 2) !== 0;
    this.#reader.hdgst = this.#hdgst;
    this.#reader.ddgst = this.#ddgst;
    this.#state = QueueState.LIVE;
    this.log.debug({ hdgst: this.#hdgst, ddgst: this.#ddgst, maxr2t: hdr.readUInt32LE(IC.maxr2tOrMaxdata) }, 'ICReq accepted');
  }

  // --- commands -----------------------------------------------------------------------------

  #newRequest(hdr: Buffer): Request | null {
    let req = this.#free.pop();
    if (!req) {
      if (this.#slots.length >= this.#maxSlots) {
        this.onFatal(FES.PDU_SEQUENCE_ERROR, 0, hdr, `more commands outstanding than the queue allows (${this.#maxSlots})`);
        return null;
      }
      req = new Request(this.#slots.length, this);
      this.#slots.push(req);
    }
    req.reset();
    hdr.copy(req.sqe, 0, CAPSULE_SQE_OFFSET, CAPSULE_SQE_OFFSET + 64);
    req.cid = req.sqe.readUInt16LE(SQE.cid);
    // Latency is sampled on one command in 8: the clock read is a measurable share of a 4 KiB I/O.
    req.t0 = (this.#sample++ & 7) === 0 ? performance.now() : 0;
    this.#inflight++;
    this.#stats.f[StatField.INFLIGHT]++;
    return req;
  }

  #onCapsule(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    let req: Request | null;
    if (data) {
      // The slot was taken in onHeader; it is the one whose buffer received the data.
      req = this.#capsuleReq;
      this.#capsuleReq = null;
      if (!req) return this.onFatal(FES.INVALID_PDU_HEADER_FIELD, 0, hdr, 'in-capsule data without a command');
    } else {
      req = this.#newRequest(hdr);
      if (!req) return;
    }
    if (this.#draining) return this.dropRequest(req);
    // The SQ head advances as each command is fetched.
    if (this.#sqEntries > 0) this.#sqhd = (this.#sqhd + 1) % this.#sqEntries;
    const sqe = req.sqe;
    const opcode = sqe[SQE.opcode]!;
    const dirBits = opcode === AdminOpc.Fabrics ? sqe[SQE.fctype]! : opcode;
    req.dir = (dirBits & 3) as XferDir;
    const sglId = sqe[SQE.dptr + SGL.identifier]!;
    const sglLen = sqe.readUInt32LE(SQE.dptr + SGL.length);
    req.dataLen = sglLen;
    if (req.status !== 0) return this.completeRequest(req);
    if (!ddgstOk) {
      this.log.warn({ cid: req.cid }, 'data digest error on in-capsule data: failing the command');
      req.status = S_TRANSIENT;
      return this.completeRequest(req);
    }
    if (sglLen === 0) {
      if (data) {
        req.status = S_SGL_LENGTH_INVALID;
        return this.completeRequest(req);
      }
      return this.#execute(req);
    }
    if (sglId === SglId.IN_CAPSULE) {
      const offset = Number(sqe.readBigUInt64LE(SQE.dptr + SGL.address));
      if (offset !== 0) {
        req.status = S_SGL_OFFSET_INVALID;
        return this.completeRequest(req);
      }
      if (!data || data.length !== sglLen || req.dir !== XferDir.H2C) {
        this.log.warn({ cid: req.cid, sglLen, got: data?.length ?? 0 }, 'in-capsule data length does not match the SGL');
        req.status = S_SGL_LENGTH_INVALID;
        return this.completeRequest(req);
      }
      req.inData = data;
      return this.#execute(req);
    }
    if ((sglId & 0xf0) !== (SglId.TRANSPORT & 0xf0)) {
      this.log.warn({ cid: req.cid, sglId }, 'unsupported SGL descriptor type');
      req.status = S_SGL_TYPE_INVALID;
      return this.completeRequest(req);
    }
    if (data) {
      req.status = S_SGL_LENGTH_INVALID;
      return this.completeRequest(req);
    }
    // MDTS bounds every transfer, admin queue included: nothing a host sends makes the target
    // allocate more than that for one command.
    if (sglLen > this.ctx.config.mdts) {
      req.status = status(SCT.GENERIC, Generic.INVALID_FIELD, true);
      this.log.warn({ cid: req.cid, sglLen, mdts: this.ctx.config.mdts }, 'transfer larger than MDTS');
      return this.completeRequest(req);
    }
    if (req.dir === XferDir.H2C) {
      req.inData = req.buffer(sglLen);
      req.state = ReqState.AWAITING_H2C;
      writeR2T(this.#out, this.#hdgst, req.cid, req.index, 0, sglLen);
      this.#scheduleFlush();
      return;
    }
    this.#execute(req);
  }

  #h2cDestination(hdr: Buffer, dataLen: number): Uint8Array | null {
    const cccid = hdr.readUInt16LE(DATA.cccid);
    const ttag = hdr.readUInt16LE(DATA.ttag);
    const datao = hdr.readUInt32LE(DATA.offset);
    const datal = hdr.readUInt32LE(DATA.length);
    const req = this.#slots[ttag];
    if (!req || req.state !== ReqState.AWAITING_H2C || req.cid !== cccid) {
      this.onFatal(FES.INVALID_PDU_HEADER_FIELD, DATA.ttag, hdr, `H2CData for unknown TTAG ${ttag} (cccid ${cccid})`);
      return null;
    }
    if (datal !== dataLen) {
      this.onFatal(FES.INVALID_PDU_HEADER_FIELD, DATA.length, hdr, `H2CData DATAL ${datal} differs from the PDU's data (${dataLen})`);
      return null;
    }
    if (datal > this.port.maxH2CData) {
      this.onFatal(FES.DATA_TRANSFER_LIMIT_EXCEEDED, DATA.length, hdr, `H2CData DATAL ${datal} beyond MAXH2CDATA ${this.port.maxH2CData}`);
      return null;
    }
    if (datao !== req.h2cReceived || datao + datal > req.dataLen) {
      this.onFatal(
        FES.DATA_TRANSFER_OUT_OF_RANGE,
        DATA.offset,
        hdr,
        `H2CData offset ${datao}+${datal} outside the R2T (expected offset ${req.h2cReceived}, length ${req.dataLen})`,
      );
      return null;
    }
    return req.inData!.subarray(datao, datao + datal);
  }

  #onH2CData(hdr: Buffer, ddgstOk: boolean): void {
    const req = this.#slots[hdr.readUInt16LE(DATA.ttag)]!;
    const datal = hdr.readUInt32LE(DATA.length);
    req.h2cReceived += datal;
    if (!ddgstOk) {
      this.log.warn({ cid: req.cid }, 'data digest error on H2CData: the command will fail');
      req.ddgstFailed = true;
    }
    const last = (hdr[CH.flags]! & PduFlags.DATA_LAST) !== 0;
    if (req.h2cReceived < req.dataLen) {
      if (last) {
        return this.onFatal(FES.DATA_TRANSFER_OUT_OF_RANGE, CH.flags, hdr, 'H2CData LAST flag before all data arrived');
      }
      return;
    }
    if (req.ddgstFailed) {
      req.state = ReqState.NEW;
      req.status = S_TRANSIENT;
      return this.completeRequest(req);
    }
    this.#execute(req);
  }

  #execute(req: Request): void {
    req.state = ReqState.EXECUTING;
    try {
      const opcode = req.sqe[SQE.opcode]!;
      if (this.qid === 0 || !this.ioCtrl) executeAdmin(req, this.ctx);
      else if (opcode === AdminOpc.Fabrics) executeFabrics(req, this.ctx);
      else executeIo(req, this.ctx);
      if (req.ns) this.#touched.add(req.ns.backend);
      else if (opcode === AdminOpc.Fabrics && this.qid > 0 && this.ctrl && this.ctx.sharder && this.#state === QueueState.LIVE) {
        if (this.ctx.sharder.shouldMove(this.qid, this.ctrl.cntlid)) this.#startMove();
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
    if (this.#state === QueueState.CLOSED) return this.dropRequest(req);
    const out = this.#out;
    const data = req.outData;
    this.commands++;
    this.#stats.complete(req.t0 > 0 ? (performance.now() - req.t0) * 1000 : -1, data && req.status === 0 ? Math.min(data.length, req.dataLen) : 0, req.inData ? req.inData.length : 0, req.status !== 0);
    if (data && req.status === 0) {
      const len = Math.min(data.length, req.dataLen);
      const view = len === data.length ? data : data.subarray(0, len);
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
    req.state = ReqState.FREE;
    req.inData = null;
    req.outData = null;
    req.ns = null;
    this.#free.push(req);
    this.#inflight--;
    this.#stats.f[StatField.INFLIGHT]--;
  }

  #scheduleFlush(): void {
    if (this.#inBatch || this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushBound);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#state === QueueState.CLOSED) return;
    const pending = this.#out.pendingBytes;
    if (pending === 0) return;
    let ok: boolean;
    if (this.#releaseNow.length > 0) {
      // Release the buffers once the socket has handed these bytes to the kernel.
      this.#releaseBatches.push(this.#releaseNow.splice(0));
      ok = this.#out.flush(this.socket, this.#releaseBound);
    } else {
      ok = this.#out.flush(this.socket);
    }
    if (!ok && !this.#readPaused && this.socket.writableLength > SEND_HIGH_WATER) {
      this.#readPaused = true;
      this.socket.pause();
      this.log.debug({ buffered: this.socket.writableLength }, 'peer is slow to read: pausing receive');
    }
    this.#checkIdle();
  }

  #releaseBatch(): void {
    const batch = this.#releaseBatches.shift();
    if (batch) for (const b of batch) this.pool.release(b);
  }

  #onDrain(): void {
    if (this.#readPaused) {
      this.#readPaused = false;
      this.socket.resume();
    }
  }

  // --- moving to a worker thread -----------------------------------------------------------

  /**
   * The I/O queue just connected and belongs on a worker. Stop reading at the PDU boundary, let the
   * Connect response reach the kernel, then give a duplicate of the descriptor to the worker and
   * close ours (closing a duplicate does not end the TCP connection).
   */
  #startMove(): void {
    this.#state = QueueState.MOVING;
    this.#reader.detach();
    this.socket.pause();
    const handle = (this.socket as unknown as { _handle?: { fd?: number; readStop?: () => number } })._handle;
    handle?.readStop?.();
    // Runs after the current batch is flushed (the Connect response is queued before this).
    setImmediate(() => {
      this.#flush();
      this.socket.write(EMPTY, () => this.#finishMove(handle?.fd ?? -1));
    });
  }

  #finishMove(fd: number): void {
    const ctrl = this.ctrl;
    const sharder = this.ctx.sharder;
    if (this.#state !== QueueState.MOVING || !ctrl || !sharder) return;
    const dup = fd >= 0 ? native.dupFd(fd) : -1;
    if (dup < 0) {
      this.log.error({ fd, errno: -dup }, 'cannot duplicate the connection descriptor: the queue stays on the main thread');
      this.#state = QueueState.LIVE;
      const leftover = this.#reader.takeLeftover();
      this.#reader.resumeAfterDetach();
      this.socket.resume();
      (this.socket as unknown as { _handle?: { readStart?: () => number } })._handle?.readStart?.();
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
    this.#state = QueueState.CLOSED;
    this.#movedAway = true;
    this.#stats.f[StatField.QUEUES]--;
    sharder.move(this, dup, state);
    this.socket.destroy();
  }

  // --- teardown -----------------------------------------------------------------------------

  #closeState(reason: string): void {
    if (this.#state === QueueState.CLOSED) return;
    this.closeReason = reason;
    this.#stats.f[StatField.QUEUES]--;
    this.#state = QueueState.CLOSED;
    if (this.#icTimer) clearTimeout(this.#icTimer);
    this.#icTimer = null;
    this.#reader.stop();
    // Slots not waiting on a backend are freed now; the others when their backend completes.
    for (const r of this.#slots) {
      if (r.state === ReqState.NEW || r.state === ReqState.AWAITING_H2C) this.dropRequest(r);
    }
    for (const b of this.#releaseNow.splice(0)) this.pool.release(b);
    const ctrl = this.ctrl;
    if (ctrl) {
      ctrl.detachQueue(this);
      this.log.info({ cntlid: ctrl.cntlid, qid: this.qid, reason }, 'queue closed');
    } else {
      this.log.debug({ reason }, 'connection closed before Connect');
    }
  }

  close(reason: string): void {
    if (this.#movedAway) return;
    if (this.#state !== QueueState.CLOSED) this.#closeState(reason);
    this.socket.destroy();
  }

  get movedAway(): boolean {
    return this.#movedAway;
  }

  get sqhd(): number {
    return this.#sqhd;
  }

  /** Resolves when no command of this queue is waiting on a backend. */
  whenIdle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  #checkIdle(): void {
    if (this.#inflight === 0 && this.#onIdle) {
      const cb = this.#onIdle;
      this.#onIdle = null;
      cb();
    }
  }

  get sqEntries(): number {
    return this.#sqEntries;
  }

  /** Set by Connect; the slot limit grows to 2 x entries (AERs and in-flight R2T transfers need room). */
  set sqEntries(n: number) {
    this.#sqEntries = n;
    this.#maxSlots = Math.max(INITIAL_SLOTS, 2 * n);
  }

  // TEMPORARY minimal drain for target shutdown (h3); the connection split replaces it.
  #draining = false;
  /** New commands are dropped unanswered; in-flight ones complete and are flushed; then FIN, and resolve once closed (<= 1 s). */
  async drain(reason: string): Promise<void> {
    if (this.#movedAway || this.#state === QueueState.CLOSED) return;
    this.#draining = true;
    await this.whenIdle();
    if (this.socket.destroyed) return;
    const closed = new Promise<void>((r) => {
      this.socket.once('close', () => r());
      setTimeout(r, 1000).unref();
    });
    this.#flush();
    this.#closeState(reason);
    this.socket.end();
    await closed;
    this.socket.destroy();
  }
}

const EMPTY = Buffer.alloc(0);
