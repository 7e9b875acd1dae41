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
import type { TargetContext } from '../../core/context.js';
import { resumeAuthentication } from '../../core/authentication.js';
import { CH, DIGEST_LEN, FES, IC, PduType, TERM } from '../../spec/pdu.js';
import { StatField } from '../../runtime/stats.js';
import { noteActivity } from '../../runtime/poller.js';
import { initThreadBufferPool, threadBufferPool } from '../../runtime/thread.js';
import { ConnectionQuota, quotaFor, type DataPool } from './quota.js';
import { checkH2CData, isFatal } from './capsule.js';
import { ADMIN_INLINE, CommandPath, NO_DATA } from './commands.js';
import { BufferGrants } from './grants.js';
import { moveToWorker, type HandoffSource, type QueueHandoff, type QueueMover } from './handoff.js';
import { icreqTimedOut } from './icreq-timeouts.js';
import { TlsSocket } from '../../native/tls-socket.js';
import { receiveIntoThreadBuffer, useThreadBuffer } from './user-buffer.js';
import { PduReader, type PduSink } from './pdu-reader.js';
import { writeC2HTermReq, writeICResp } from './pdu-writer.js';
import { Responder } from './responder.js';
import { ReqState } from './request.js';

const enum ConnState {
  CONNECTING,
  LIVE,
  /** Shutting down: commands in flight finish, new ones are not taken, then the socket ends. */
  DRAINING,
  /** Connected I/O queue moving to a worker thread: nothing more is read here. */
  MOVING,
  CLOSED,
}

/** After end(), how long the peer has to close its side before the socket is destroyed. */
const LINGER_MS = 2000;

/** A connection's share of its thread's pool (a pool without budget when no target set one up). */
function connectionQuota(mdts: number): ConnectionQuota {
  const pool = threadBufferPool() ?? initThreadBufferPool({ maxSize: mdts });
  return new ConnectionQuota(pool, quotaFor(pool, mdts));
}

export interface ConnectionOptions {
  /** Called once when the connection is closed (by either side). */
  onClose: (c: TcpConnection) => void;
  /** Moves connected I/O queues to worker threads (main thread with workers only). */
  mover?: QueueMover | null;
  /** Resume a queue handed over by the main thread (on a worker). */
  adopted?: { handoff: QueueHandoff; ioCtrl: IoController };
  /** Where data buffers come from (default: a quota of the thread's pool). */
  pool?: DataPool;
  /** Bytes already read from the socket (a `tls: optional` port looked at them): parsed first. */
  initial?: Buffer;
  /** The host and subsystem of the TLS PSK identity (TLS connections only): Connect must match. */
  tlsPeer?: { readonly hostnqn: string; readonly subnqn: string };
}

/** First byte of a TLS handshake record: a ClientHello sent to a port without TLS. */
const TLS_HANDSHAKE_RECORD = 0x16;

export class TcpConnection extends CommandPath implements PduSink, HandoffSource {
  readonly socket: Socket;
  peer: string;
  localAddress: string;
  #state = ConnState.CONNECTING;
  readonly #reader: PduReader;
  readonly #mover: QueueMover | null;
  readonly #onClose: (c: TcpConnection) => void;
  #icTimer: NodeJS.Timeout | null = null;
  #onIdle: (() => void) | null = null;
  /** Set by drain(): resolves once the connection is closed. */
  #onDrained: (() => void) | null = null;
  /** The connection now belongs to a worker thread. */
  #movedAway = false;
  /** Why the queue closed (null while open). */
  closeReason: string | null = null;
  readonly tlsPeer: { readonly hostnqn: string; readonly subnqn: string } | null;

  constructor(socket: Socket, port: PortConfig, ctx: TargetContext, o: ConnectionOptions) {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    super(port, ctx, o.pool ?? connectionQuota(ctx.config.mdts), ctx.log.child({ peer }));
    this.socket = socket;
    this.#onClose = o.onClose;
    this.tlsPeer = o.tlsPeer ?? null;
    // A TLS queue moves with its session (handoff.ts).
    this.#mover = o.mover ?? null;
    this.peer = peer;
    this.localAddress = socket.localAddress ?? '';
    this.log = ctx.log.child({ peer, queue: this.id });
    this.#reader = new PduReader(this, {
      accept: [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData],
      maxPlen: this.#maxPlen(),
    });
    this.tx = new Responder(socket, this.pool, () => this.log, {
      inBatch: () => this.inBatch,
      closed: () => this.#state === ConnState.CLOSED,
      flushed: () => this.checkIdle(),
      sendBlocked: () => this.#updateReading(),
    });
    this.grants = new BufferGrants(this.pool, {
      memoryBlocked: (blocked) => {
        if (blocked) this.log.debug({ waiting: this.grants.waiting }, 'memory budget reached: pausing receive');
        this.#updateReading();
        if (!blocked && !this.inBatch) this.kickBackends();
      },
      granted: (req, view) => this.granted(req, view),
    });
    this.stats.f[StatField.QUEUES]++;
    socket.setNoDelay(true);
    // Under TLS the chunk is the TLS engine's plaintext buffer: in-capsule data is always copied there.
    this.lendsChunks = o.tlsPeer === undefined && !(socket instanceof TlsSocket);
    // H2CData (and in-capsule data) still missing after a read is read straight into its command's
    // buffer: the reader names it only once the PDU's header passed onHeader().
    const reader = this.#reader;
    const target = { direct: () => reader.directTarget(), limit: () => this.readLimit() };
    if (!receiveIntoThreadBuffer(socket, (buf, length) => this.#onData(buf, length), target)) {
      socket.on('data', (chunk: Buffer) => this.#onData(chunk, chunk.length));
    }
    socket.on('drain', () => this.tx.onDrain());
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
    const initial = o.initial;
    if (initial && initial.length > 0) process.nextTick(() => this.#onData(initial, initial.length));
  }

  /** A connected I/O queue handed over by the main thread: resume where it stopped. */
  #resume(h: QueueHandoff, ioCtrl: IoController): void {
    this.peer = h.peer;
    this.localAddress = h.localAddress;
    this.log = this.ctx.log.child({ peer: this.peer, queue: h.queueId, cntlid: h.cntlid, qid: h.qid });
    this.qid = h.qid;
    this.ioCtrl = ioCtrl;
    this.sqEntries = h.sqEntries;
    this.sqhdValue = h.sqhd;
    this.sqflowDisabled = h.sqflowDisabled;
    this.tx.hdgst = this.#reader.hdgst = h.hdgst;
    this.tx.ddgst = this.#reader.ddgst = h.ddgst;
    this.tx.hpdaAlign = h.hpdaAlign;
    // The queue authenticated before it moved: the host may re-authenticate it here.
    resumeAuthentication(this, this.ctx, {
      cntlid: ioCtrl.cntlid,
      kato: h.kato,
      traffic: () => ioCtrl.traffic(),
      holds: () => !this.closed,
    }, h.hostnqn, h.subnqn, this.log);
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
    this.inBatch = true;
    noteActivity();
    try {
      this.#reader.push(chunk, length);
      this.kickBackends();
    } catch (err) {
      // A bug must not take the process down: fail this connection only.
      this.log.error({ err }, 'internal error while processing received data: closing the connection');
      this.close('internal error');
    } finally {
      this.inBatch = false;
    }
    // Responses go out once per event-loop turn: every read that arrived in this turn shares one write.
    if (this.tx.out.pendingBytes > 0) this.tx.schedule();
  }

  /** Reading pauses while the peer does not take our responses or the memory budget is spent. */
  #updateReading(): void {
    if (this.#state === ConnState.CLOSED || this.#state === ConnState.MOVING) return;
    if (this.tx.blocked || this.grants.blocked) this.socket.pause();
    else this.socket.resume();
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
        return this.capsuleHeader(hdr, dataLen);
      case PduType.H2CData: {
        const r = checkH2CData(hdr, dataLen, this.table, this.port);
        if (isFatal(r)) {
          this.onFatal(r.fes, r.fei, hdr, r.reason);
          return null;
        }
        this.h2cReq = r;
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
        const req = this.capsuleReq;
        this.capsuleReq = null;
        if (req === null) return; // not taken (draining)
        return this.onCapsule(req, data, ddgstOk);
      }
      case PduType.H2CData: {
        const req = this.h2cReq!;
        this.h2cReq = null;
        return this.onH2CData(req, hdr, ddgstOk);
      }
      case PduType.H2CTermReq:
        this.log.warn({ fes: hdr.readUInt16LE(TERM.fes), fei: hdr.readUInt32LE(TERM.fei) }, 'host terminated the connection (H2CTermReq)');
        return this.close('H2CTermReq');
    }
  }

  onFatal(fes: number, fei: number, hdr: Buffer, reason: string): void {
    if (this.#state === ConnState.CLOSED) return;
    if (this.#state === ConnState.CONNECTING && hdr[CH.pduType] === TLS_HANDSHAKE_RECORD) {
      // A host that speaks TLS first: a C2HTermReq would mean nothing to it.
      this.log.warn('TLS ClientHello on a port without TLS (tls: none): closing');
      return this.close('TLS on a plain port');
    }
    this.log.warn({ fes, fei }, `fatal transport error: ${reason}; sending C2HTermReq and closing`);
    this.#reader.stop();
    writeC2HTermReq(this.tx.out, fes, fei, hdr);
    this.tx.out.flush(this.socket);
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
    writeICResp(this.tx.out, 0, digest, this.port.maxH2CData);
    this.tx.hpdaAlign = (hpda + 1) * 4;
    this.tx.hdgst = this.#reader.hdgst = (digest & 1) !== 0;
    this.tx.ddgst = this.#reader.ddgst = (digest & 2) !== 0;
    this.#state = ConnState.LIVE;
    this.log.debug({ hdgst: this.tx.hdgst, ddgst: this.tx.ddgst, maxr2t: hdr.readUInt32LE(IC.maxr2tOrMaxdata) }, 'ICReq accepted');
  }

  protected takesCommands(): boolean {
    return this.#state !== ConnState.DRAINING;
  }

  protected afterIoConnect(): void {
    if (this.#mover === null || this.ctrl === null || this.#state !== ConnState.LIVE) return;
    // A queue that must authenticate stays here until it has: the transaction lives on this thread.
    if (this.auth !== null && !this.auth.authenticated) return;
    if (this.#mover.shouldMove(this.qid, this.ctrl.cntlid)) {
      this.#state = ConnState.MOVING;
      moveToWorker(this, this.#mover);
    }
  }

  // --- moving to a worker thread (handoff.ts) -------------------------------------------------

  detachReader(): void {
    this.#reader.detach();
  }

  flushNow(): void {
    this.tx.flush();
  }

  snapshot(fd: number): QueueHandoff | null {
    const ctrl = this.ctrl;
    if (this.#state !== ConnState.MOVING || !ctrl) return null;
    return {
      queueId: this.id,
      fd,
      peer: this.peer,
      localAddress: this.localAddress,
      portId: this.port.id,
      subnqn: ctrl.subsysNqn,
      cntlid: ctrl.cntlid,
      hostnqn: ctrl.hostnqn,
      kato: ctrl.kato,
      qid: this.qid,
      sqEntries: this.sqEntriesValue,
      sqhd: this.sqhdValue,
      sqflowDisabled: this.sqflowDisabled,
      hdgst: this.tx.hdgst,
      ddgst: this.tx.ddgst,
      hpdaAlign: this.tx.hpdaAlign,
      leftover: this.#reader.takeLeftover(),
      tls: null,
    };
  }

  movedAway(): void {
    // From here the worker owns the connection; this object only closes its own descriptor.
    this.#state = ConnState.CLOSED;
    this.#movedAway = true;
    this.stats.f[StatField.QUEUES]--;
  }

  stayed(): void {
    if (this.#state !== ConnState.MOVING) return;
    this.#state = ConnState.LIVE;
    const leftover = this.#reader.takeLeftover();
    this.#reader.resumeAfterDetach();
    if (leftover) this.#onData(leftover, leftover.length);
  }

  get isMovedAway(): boolean {
    return this.#movedAway;
  }

  // --- teardown -----------------------------------------------------------------------------

  #closeState(reason: string): void {
    if (this.#state === ConnState.CLOSED) return;
    this.closeReason = reason;
    this.stats.f[StatField.QUEUES]--;
    this.#state = ConnState.CLOSED;
    if (this.#icTimer) clearTimeout(this.#icTimer);
    this.#icTimer = null;
    this.#reader.stop();
    // The socket may still be read (a C2HTermReq lingers): never into a buffer freed below.
    useThreadBuffer(this.socket);
    // Slots not waiting on a backend are freed now; the others when their backend completes.
    let dropped = 0;
    for (const r of [...this.table.busy()]) {
      dropped++;
      if (r.state !== ReqState.EXECUTING) this.dropRequest(r);
    }
    this.grants.clear();
    this.tx.releaseHeld();
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
      this.checkIdle();
    });
  }

  /** Resolves when no command of this queue is outstanding. */
  whenIdle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  protected checkIdle(): void {
    if (this.inflight !== 0) return;
    if (this.#onIdle) {
      const cb = this.#onIdle;
      this.#onIdle = null;
      cb();
    }
    if (this.#state === ConnState.DRAINING && !this.tx.pending) this.#endDrained();
  }

  #endDrained(): void {
    const reason = this.closeReason ?? 'draining';
    if (this.notTaken > 0) this.log.info({ notTaken: this.notTaken }, 'commands received while shutting down were not taken');
    this.#closeState(reason);
    // FIN after the last response; the peer closes its side, or the socket goes after LINGER_MS.
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), LINGER_MS);
    t.unref();
    this.socket.once('close', () => clearTimeout(t));
  }


}
