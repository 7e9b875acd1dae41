// One NVMe/TCP queue pair seen from the host: a TCP connection, ICReq/ICResp, command slots,
// the send path (CapsuleCmd with in-capsule data or a transport SGL, H2CData answering R2Ts) and the
// receive path (CapsuleResp, C2HData with or without SUCCESS, R2T, C2HTermReq).
//
// Two submission paths: submit() returns a promise per command (tests, admin commands), and
// acquire()/send() with a callback reuses preallocated slots and allocates nothing per command
// (the load generator).
import net from 'node:net';
import { CH, DATA, DIGEST_LEN, FES, PduFlags, PduType } from '../spec/pdu.js';
import { Psdt, SGL, SglId, SQE } from '../spec/sqe.js';
import { crc32c } from '../native/crc32c.js';
import { PduReader, type PduSink } from '../transport/tcp/pdu-reader.js';
import {
  buildH2CDataHeader,
  buildH2CTermReq,
  buildICReq,
  finishCapsuleCmd,
  parseCqe,
  parseICResp,
  parseTermReq,
  type ICResp,
  type LinkParams,
  type TermReq,
} from './pdu-build.js';
import { hostPduDestination } from './c2h-check.js';
import { connectTls, type HostTlsPsk } from './tls.js';
import { CommandResult, TransportError } from './result.js';
import { CommandSlot, SlotPool, SlotState, type SlotCallback } from './slot.js';

export interface QueueOptions {
  host: string;
  port: number;
  /** Queue id this connection will carry (0 = admin); informational until Connect. */
  qid?: number;
  /** Request header / data digests in ICReq (the ICResp decides). */
  hdgst?: boolean;
  ddgst?: boolean;
  /** Queue size in entries: at most queueSize - 1 commands are outstanding. Default 32. */
  queueSize?: number;
  /** MAXR2T sent in ICReq (0's based). Default 0: one R2T outstanding per command. */
  maxr2t?: number;
  /** HPDA sent in ICReq. Default 0. */
  hpda?: number;
  /** Largest write sent in-capsule; larger ones wait for R2Ts. Default 0 until the controller knows IOCCSZ. */
  inCapsuleDataSize?: number;
  /** Default per-command timeout in ms (0 = none). Default 30000. */
  commandTimeoutMs?: number;
  /** Time allowed for the TCP connect and ICResp. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Largest C2H PDU accepted. Default 64 MiB. */
  maxPlen?: number;
  /**
   * Fast path for load generators (nvmetd perf): receive into one reused buffer of this many bytes
   * (net.connect's `onread`) instead of a new buffer per socket read. Safe because the PDU reader
   * copies everything it keeps. Default 0: ordinary 'data' events.
   */
  readBufferSize?: number;
  /** TLS 1.3 with this PSK and identity (tls.ts); the reused read buffer does not apply then. */
  tls?: HostTlsPsk;
}

export interface SubmitOptions {
  dataOut?: Uint8Array;
  dataIn?: Uint8Array;
  /** Override the queue's default timeout (0 = wait forever, e.g. Asynchronous Event Request). */
  timeoutMs?: number;
  /** Force in-capsule (true) or R2T (false) for dataOut. */
  inCapsule?: boolean;
}

const HOST_ACCEPT = [PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T] as const;
const TIMER_MS = 100;

export class HostQueue implements PduSink {
  readonly socket: net.Socket;
  readonly options: Required<Omit<QueueOptions, 'tls'>> & Pick<QueueOptions, 'tls'>;
  /** Settled by ICResp. */
  icresp: ICResp | null = null;
  readonly link: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  qid: number;
  /** Largest write sent in-capsule. */
  inCapsuleDataSize: number;
  /** Set when the controller agreed to disable SQ flow control (Connect CATTR); C2HData SUCCESS is legal only then. */
  sqFlowControlDisabled = false;
  /** C2HData PDUs with SUCCESS seen while SQ flow control was on (a controller error). */
  successWithSqFlow = 0;
  /** Last SQHD reported. */
  sqhd = 0;
  /** What the controller sent before closing, if anything. */
  termReq: TermReq | null = null;
  /** Why the queue failed (first cause). */
  failure: TransportError | null = null;
  /** Resolves when the socket has closed, with the TermReq received if any. */
  readonly closed: Promise<TermReq | null>;

  readonly #pool: SlotPool;
  readonly #reader: PduReader;
  readonly #waiters: Array<() => void> = [];
  #corked = false;
  #timer: NodeJS.Timeout | null = null;
  #icWait: { resolve: (r: ICResp) => void; reject: (e: Error) => void } | null = null;
  #resolveClosed!: (t: TermReq | null) => void;
  #isClosed = false;

  private constructor(socket: net.Socket, o: QueueOptions) {
    this.socket = socket;
    this.options = {
      qid: 0,
      hdgst: false,
      ddgst: false,
      queueSize: 32,
      maxr2t: 0,
      hpda: 0,
      inCapsuleDataSize: 0,
      commandTimeoutMs: 30000,
      connectTimeoutMs: 5000,
      maxPlen: 64 * 1024 * 1024,
      readBufferSize: 0,
      ...o,
    };
    this.qid = this.options.qid;
    this.inCapsuleDataSize = this.options.inCapsuleDataSize;
    this.#pool = new SlotPool(Math.max(1, this.options.queueSize - 1));
    this.#reader = new PduReader(this, { accept: HOST_ACCEPT, maxPlen: this.options.maxPlen });
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    socket.setNoDelay(true);
    if (this.options.readBufferSize === 0 || o.tls) socket.on('data', (chunk: Buffer) => this.#reader.push(chunk));
    socket.on('error', (e) => this.#fail(new TransportError(`socket error: ${e.message}`, this.termReq)));
    socket.on('close', () => {
      this.#isClosed = true;
      this.#fail(new TransportError(this.termReq ? `connection closed after C2HTermReq FES 0x${this.termReq.fes.toString(16)}` : 'connection closed', this.termReq));
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = null;
      this.#resolveClosed(this.termReq);
    });
  }

  /** Opens the TCP connection and exchanges ICReq/ICResp. */
  static async open(o: QueueOptions): Promise<HostQueue> {
    let q: HostQueue | null = null;
    const size = o.readBufferSize ?? 0;
    const rb = size > 0 && !o.tls ? Buffer.allocUnsafe(size) : null;
    const socket = o.tls
      ? connectTls(o.host, o.port, o.tls)
      : rb !== null
        ? net.connect({ host: o.host, port: o.port, onread: { buffer: rb, callback: (n: number) => (q!.#reader.push(rb.subarray(0, n)), true) } })
        : net.connect({ host: o.host, port: o.port });
    q = new HostQueue(socket, o);
    const timeout = q.options.connectTimeoutMs;
    const timer = setTimeout(() => {
      const err = new TransportError(`no connection and ICResp within ${timeout} ms`);
      q.#fail(err);
      socket.destroy(err);
    }, timeout);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once(o.tls ? 'secureConnect' : 'connect', resolve);
        socket.once('error', reject);
      });
      const ic = new Promise<ICResp>((resolve, reject) => (q.#icWait = { resolve, reject }));
      socket.write(buildICReq({ hpda: q.options.hpda, hdgst: q.options.hdgst, ddgst: q.options.ddgst, maxr2t: q.options.maxr2t }));
      await ic;
      return q;
    } catch (e) {
      socket.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Commands outstanding. */
  get inFlight(): number {
    return this.#pool.inUse;
  }

  /** Maximum commands outstanding at once. */
  get depth(): number {
    return this.#pool.slots.length;
  }

  // ---- Submission ----

  /** A free slot for the callback path, or null when the queue is full. Fill slot.sqe, then send(). */
  acquire(): CommandSlot | null {
    if (this.failure) return null;
    return this.#pool.acquire();
  }

  /**
   * Sends the command in `slot` (from acquire()). `done(slot)` runs once with slot.status/dw0/dw1
   * or slot.error set; the slot is released when it returns.
   */
  send(slot: CommandSlot, done: SlotCallback, timeoutMs = this.options.commandTimeoutMs): void {
    slot.callback = done;
    if (this.failure) {
      slot.error = this.failure;
      this.#finish(slot);
      return;
    }
    if (timeoutMs > 0) {
      slot.deadline = Date.now() + timeoutMs;
      this.#armTimer();
    }
    this.#sendCapsule(slot);
  }

  /** Sends one command built by `build` into the SQE; resolves with its completion. */
  async submit(build: (sqe: Buffer) => void, o: SubmitOptions = {}): Promise<CommandResult> {
    let slot = this.acquire();
    while (slot === null) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => this.#waiters.push(r));
      slot = this.acquire();
    }
    build(slot.sqe);
    slot.dataOut = o.dataOut ?? null;
    slot.dataIn = o.dataIn ?? null;
    slot.inCapsule = o.inCapsule ?? null;
    const dataIn = slot.dataIn;
    return new Promise<CommandResult>((resolve, reject) => {
      this.send(
        slot!,
        (s) => {
          if (s.error) return reject(s.error);
          const data = dataIn ? Buffer.from(dataIn.buffer, dataIn.byteOffset, s.received) : null;
          resolve(new CommandResult(s.status, s.dw0, s.dw1, s.sqhd, s.cid, data, s.viaDataSuccess));
        },
        o.timeoutMs ?? this.options.commandTimeoutMs,
      );
    });
  }

  #sendCapsule(slot: CommandSlot): void {
    const sqe = slot.sqe;
    sqe.writeUInt16LE(slot.cid, SQE.cid);
    sqe[SQE.flags] = (sqe[SQE.flags]! & ~Psdt.mask) | Psdt.SGL_MPTR_CONTIG;
    const out = slot.dataOut;
    const inn = slot.dataIn;
    let inCapsule = 0;
    let sglLen = 0;
    let sglId: number = SglId.TRANSPORT;
    if (out !== null && out.length > 0) {
      sglLen = out.length;
      const useCapsule = slot.inCapsule ?? out.length <= this.inCapsuleDataSize;
      if (useCapsule) {
        inCapsule = out.length;
        sglId = SglId.IN_CAPSULE;
      }
    } else if (inn !== null && inn.length > 0) {
      sglLen = inn.length;
    }
    const d = SQE.dptr;
    sqe.writeUInt32LE(0, d + SGL.address);
    sqe.writeUInt32LE(0, d + SGL.address + 4);
    sqe.writeUInt32LE(sglLen, d + SGL.length);
    sqe.fill(0, d + 12, d + 15);
    sqe[d + SGL.identifier] = sglId;
    const n = finishCapsuleCmd(slot.hdr, inCapsule, this.link);
    this.#write(slot.hdr.subarray(0, n));
    if (inCapsule > 0) {
      this.#write(out!);
      if (this.link.ddgst) {
        slot.ddgstBuf.writeUInt32LE(crc32c(out!), 0);
        this.#write(slot.ddgstBuf);
      }
    }
  }

  /** Writes bytes as they are, batched with everything else sent in this tick (raw tests use it too). */
  writeRaw(b: Uint8Array): void {
    this.#write(b);
  }

  #write(b: Uint8Array): void {
    if (this.socket.destroyed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(b);
  }

  // ---- Completion ----

  #finish(slot: CommandSlot): void {
    const cb = slot.callback;
    const abandoned = slot.state === SlotState.ABANDONED;
    try {
      if (cb && !abandoned) cb(slot);
    } finally {
      this.#pool.release(slot);
      const w = this.#waiters.shift();
      if (w) w();
    }
  }

  #complete(slot: CommandSlot, status: number, dw0: number, dw1: number, sqhd: number, viaSuccess: boolean): void {
    slot.status = status;
    slot.dw0 = dw0;
    slot.dw1 = dw1;
    slot.sqhd = sqhd;
    slot.viaDataSuccess = viaSuccess;
    if (slot.ddgstError) {
      slot.error = new TransportError(`cid ${slot.cid}: C2HData data digest error`);
    } else if ((status & 0x7ff) === 0 && slot.dataIn !== null && slot.received !== slot.dataIn.length) {
      slot.error = new TransportError(`cid ${slot.cid}: success with ${slot.received} of ${slot.dataIn.length} bytes received`);
    }
    this.#finish(slot);
  }

  #armTimer(): void {
    if (this.#timer !== null || this.#isClosed) return;
    this.#timer = setInterval(() => this.#checkTimeouts(), TIMER_MS);
    this.#timer.unref();
  }

  #checkTimeouts(): void {
    const now = Date.now();
    let pending = false;
    for (const s of this.#pool.slots) {
      if (s.state !== SlotState.ACTIVE || s.deadline === 0) continue;
      if (s.deadline <= now) {
        const cb = s.callback;
        s.error = new TransportError(`cid ${s.cid} (opcode 0x${s.sqe[SQE.opcode]!.toString(16)}) timed out on qid ${this.qid}`);
        // Keep the CID reserved: the controller may still answer it, and its buffers may still be queued.
        s.state = SlotState.ABANDONED;
        if (cb) cb(s);
      } else {
        pending = true;
      }
    }
    if (!pending && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  // ---- PduSink ----

  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    const r = hostPduDestination(hdr, dataLen, this.#pool);
    if (r instanceof Uint8Array) return r;
    this.#protocolError(r.fes, r.fei, hdr, r.reason);
    return null;
  }

  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    switch (hdr[CH.pduType]) {
      case PduType.ICResp:
        return this.#onICResp(hdr);
      case PduType.CapsuleResp:
        return this.#onCapsuleResp(hdr);
      case PduType.C2HData:
        return this.#onC2HData(hdr, ddgstOk);
      case PduType.R2T:
        return this.#onR2T(hdr);
      case PduType.C2HTermReq:
        this.termReq = parseTermReq(hdr, data);
        this.#reader.stop();
        this.#fail(new TransportError(`C2HTermReq FES 0x${this.termReq.fes.toString(16)} FEI ${this.termReq.fei}`, this.termReq));
        // The controller closes the connection after a TermReq; so do we.
        this.socket.end();
        return;
    }
  }

  onFatal(fes: number, fei: number, hdr: Buffer, reason: string): void {
    this.#protocolError(fes, fei, hdr, reason);
  }

  #onICResp(hdr: Buffer): void {
    const wait = this.#icWait;
    if (wait === null) return this.#protocolError(FES.PDU_SEQUENCE_ERROR, 0, hdr, 'ICResp after the connection was initialized');
    this.#icWait = null;
    const ic = parseICResp(hdr);
    let bad: [number, string] | null = null;
    if (ic.pfv !== 0) bad = [8, `ICResp PFV ${ic.pfv}`];
    else if (ic.cpda > 31) bad = [10, `ICResp CPDA ${ic.cpda}`];
    else if (ic.maxH2CData < 4096 || ic.maxH2CData % 4 !== 0) bad = [12, `ICResp MAXH2CDATA ${ic.maxH2CData}`];
    else if ((ic.hdgst && !this.options.hdgst) || (ic.ddgst && !this.options.ddgst)) bad = [11, 'ICResp enables a digest the host did not ask for'];
    if (bad) {
      this.#protocolError(FES.INVALID_PDU_HEADER_FIELD, bad[0], hdr, bad[1]);
      wait.reject(this.failure!);
      return;
    }
    this.icresp = ic;
    this.link.hdgst = ic.hdgst;
    this.link.ddgst = ic.ddgst;
    this.link.cpda = ic.cpda;
    this.#reader.hdgst = ic.hdgst;
    this.#reader.ddgst = ic.ddgst;
    wait.resolve(ic);
  }

  #onCapsuleResp(hdr: Buffer): void {
    const cqe = parseCqe(hdr);
    this.sqhd = cqe.sqhd;
    const slot = this.#pool.lookup(cqe.cid);
    if (slot === null) return this.#protocolError(FES.INVALID_PDU_HEADER_FIELD, 8 + 12, hdr, `CapsuleResp for cid ${cqe.cid}, which is not outstanding`);
    this.#complete(slot, cqe.status, cqe.dw0, cqe.dw1, cqe.sqhd, false);
  }

  #onC2HData(hdr: Buffer, ddgstOk: boolean): void {
    const flags = hdr[CH.flags]!;
    const cid = hdr.readUInt16LE(DATA.cccid);
    const slot = this.#pool.lookup(cid);
    // A C2HData with data was checked in onHeader; one without data was not.
    if (slot === null) return this.#protocolError(FES.INVALID_PDU_HEADER_FIELD, DATA.cccid, hdr, `C2HData for cid ${cid}, which is not outstanding`);
    if (!ddgstOk) slot.ddgstError = true;
    slot.received += hdr.readUInt32LE(DATA.length);
    if (flags & PduFlags.DATA_SUCCESS) {
      if (!(flags & PduFlags.DATA_LAST)) return this.#protocolError(FES.INVALID_PDU_HEADER_FIELD, CH.flags, hdr, 'C2HData SUCCESS without LAST_PDU');
      if (!this.sqFlowControlDisabled) this.successWithSqFlow++;
      this.#complete(slot, 0, 0, 0, this.sqhd, true);
    }
  }

  #onR2T(hdr: Buffer): void {
    const cid = hdr.readUInt16LE(DATA.cccid);
    const ttag = hdr.readUInt16LE(DATA.ttag);
    const r2to = hdr.readUInt32LE(DATA.offset);
    const r2tl = hdr.readUInt32LE(DATA.length);
    const slot = this.#pool.lookup(cid);
    const out = slot?.dataOut ?? null;
    if (slot === null || out === null) return this.#protocolError(FES.INVALID_PDU_HEADER_FIELD, DATA.cccid, hdr, `R2T for cid ${cid}, which has no data to send`);
    if (r2tl === 0 || r2to + r2tl > out.length || slot.r2tRequested + r2tl > out.length) {
      return this.#protocolError(FES.DATA_TRANSFER_OUT_OF_RANGE, DATA.offset, hdr, `R2T cid ${cid} R2TO ${r2to} R2TL ${r2tl} outside the ${out.length}-byte transfer`);
    }
    slot.r2tRequested += r2tl;
    const max = this.icresp!.maxH2CData;
    const end = r2to + r2tl;
    for (let off = r2to; off < end; off += max) {
      const len = Math.min(max, end - off);
      const last = off + len === end;
      const view = out.subarray(off, off + len);
      this.#write(buildH2CDataHeader(cid, ttag, off, len, last, this.link));
      this.#write(view);
      if (this.link.ddgst) {
        const dg = Buffer.allocUnsafe(DIGEST_LEN);
        dg.writeUInt32LE(crc32c(view), 0);
        this.#write(dg);
      }
    }
  }

  // ---- Failure ----

  /** The controller broke the protocol: H2CTermReq, then close. */
  #protocolError(fes: number, fei: number, hdr: Buffer, reason: string): void {
    this.#reader.stop();
    const err = new TransportError(`protocol error from controller: ${reason}`);
    if (!this.socket.destroyed) {
      this.socket.end(buildH2CTermReq(fes, fei, hdr.subarray(0, Math.min(hdr[CH.hlen] ?? CH.size, hdr.length))));
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    this.#fail(err);
  }

  #fail(err: TransportError): void {
    if (this.failure === null) this.failure = err;
    if (this.#icWait) {
      const w = this.#icWait;
      this.#icWait = null;
      w.reject(err);
    }
    for (const s of this.#pool.slots) {
      if (s.state === SlotState.FREE) continue;
      s.error = err;
      this.#finish(s);
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Closes the connection (FIN) and waits for the close. */
  async close(): Promise<void> {
    if (!this.#isClosed) {
      this.socket.end();
      const t = setTimeout(() => this.socket.destroy(), 2000);
      t.unref();
      await this.closed;
      clearTimeout(t);
    }
  }

  /** Tears the connection down at once. */
  destroy(): void {
    this.socket.destroy();
  }
}
