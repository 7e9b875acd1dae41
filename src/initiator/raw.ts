// Raw mode for protocol tests: a TCP connection on which a test sends arbitrary bytes or hand-built
// PDUs and observes, in order, what the controller sends back (parsed PDUs, a TermReq, the close).
import net from 'node:net';
import { CH, PduType } from '../spec/pdu.js';
import { Psdt, SGL, SglId, SQE, SQE_SIZE } from '../spec/sqe.js';
import { PduReader, type PduSink } from '../transport/tcp/pdu-reader.js';
import { buildCapsuleCmd, buildICReq, parseCqe, parseICResp, parseTermReq, type Cqe, type ICResp, type LinkParams, type TermReq } from './pdu-build.js';
import * as S from './sqe-build.js';
import { connectTls, type HostTlsPsk } from './tls.js';

export type RawEvent =
  | { kind: 'pdu'; type: number; hdr: Buffer; data: Buffer | null; ddgstOk: boolean }
  /** The controller's bytes did not parse as PDUs (our reader's complaint). */
  | { kind: 'garbage'; fes: number; fei: number; reason: string }
  | { kind: 'closed' };

const ACCEPT = [PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T];

export type SglSpec = { inCapsule: number } | { transport: number } | null;

/** Sets CID, PSDT and the data SGL of a hand-built SQE. */
export function prepareSqe(sqe: Buffer, cid: number, sgl: SglSpec): Buffer {
  sqe.writeUInt16LE(cid, SQE.cid);
  sqe[SQE.flags] = (sqe[SQE.flags]! & ~Psdt.mask) | Psdt.SGL_MPTR_CONTIG;
  const d = SQE.dptr;
  sqe.fill(0, d, d + 16);
  if (sgl === null) {
    sqe[d + SGL.identifier] = SglId.TRANSPORT;
  } else if ('inCapsule' in sgl) {
    sqe.writeUInt32LE(sgl.inCapsule, d + SGL.length);
    sqe[d + SGL.identifier] = SglId.IN_CAPSULE;
  } else {
    sqe.writeUInt32LE(sgl.transport, d + SGL.length);
    sqe[d + SGL.identifier] = SglId.TRANSPORT;
  }
  return sqe;
}

export class RawConnection implements PduSink {
  readonly socket: net.Socket;
  readonly link: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  icresp: ICResp | null = null;
  readonly #reader: PduReader;
  readonly #events: RawEvent[] = [];
  #wake: (() => void) | null = null;
  #closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.#reader = new PduReader(this, { accept: ACCEPT, maxPlen: 64 * 1024 * 1024 });
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.#reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      this.#push({ kind: 'closed' });
    });
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  /** The same over TLS 1.3 offering `p` (resolves once the handshake is done). */
  static openTls(host: string, port: number, p: HostTlsPsk): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = connectTls(host, port, p);
      s.once('secureConnect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(b: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  // ---- Observation ----

  #push(e: RawEvent): void {
    this.#events.push(e);
    const w = this.#wake;
    this.#wake = null;
    if (w) w();
  }

  /** The next thing the controller did; throws after timeoutMs of silence. */
  async next(timeoutMs = 5000): Promise<RawEvent> {
    const until = Date.now() + timeoutMs;
    while (this.#events.length === 0) {
      const left = until - Date.now();
      if (left <= 0) throw new Error(`nothing from the controller within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return this.#events.shift()!;
  }

  /** The next PDU, which must be of `type` (throws with what came instead). */
  async expectPdu(type: number, timeoutMs = 5000): Promise<{ hdr: Buffer; data: Buffer | null; ddgstOk: boolean }> {
    const e = await this.next(timeoutMs);
    if (e.kind !== 'pdu') throw new Error(`expected PDU type 0x${type.toString(16)}, got ${describe(e)}`);
    if (e.type !== type) throw new Error(`expected PDU type 0x${type.toString(16)}, got ${describe(e)}`);
    return e;
  }

  /**
   * Waits until the connection closes, collecting a C2HTermReq if one came first. PDUs before the
   * TermReq (completions of earlier commands) are skipped.
   */
  async termination(timeoutMs = 5000): Promise<{ termReq: TermReq | null; closed: boolean; other: RawEvent[] }> {
    let termReq: TermReq | null = null;
    const other: RawEvent[] = [];
    const until = Date.now() + timeoutMs;
    for (;;) {
      let e: RawEvent;
      try {
        e = await this.next(Math.max(1, until - Date.now()));
      } catch {
        return { termReq, closed: false, other };
      }
      if (e.kind === 'closed') return { termReq, closed: true, other };
      if (e.kind === 'pdu' && e.type === PduType.C2HTermReq && termReq === null) termReq = parseTermReq(e.hdr, e.data);
      else other.push(e);
    }
  }

  // ---- PduSink ----

  onHeader(_hdr: Buffer, dataLen: number): Uint8Array | null {
    return Buffer.alloc(dataLen);
  }

  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    const type = hdr[CH.pduType]!;
    const copy = Buffer.from(hdr.subarray(0, hdr[CH.hlen]!));
    if (type === PduType.ICResp) {
      this.icresp = parseICResp(copy);
      this.link.hdgst = this.icresp.hdgst;
      this.link.ddgst = this.icresp.ddgst;
      this.link.cpda = this.icresp.cpda;
      this.#reader.hdgst = this.icresp.hdgst;
      this.#reader.ddgst = this.icresp.ddgst;
    }
    this.#push({ kind: 'pdu', type, hdr: copy, data: data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : null, ddgstOk });
  }

  onFatal(fes: number, fei: number, _hdr: Buffer, reason: string): void {
    this.#push({ kind: 'garbage', fes, fei, reason });
  }

  // ---- Conveniences ----

  /** ICReq, then the ICResp (which sets this connection's digests and CPDA). */
  async icreq(o: { hdgst?: boolean; ddgst?: boolean; maxr2t?: number; hpda?: number } = {}): Promise<ICResp> {
    this.send(buildICReq({ hdgst: o.hdgst ?? false, ddgst: o.ddgst ?? false, maxr2t: o.maxr2t ?? 0, hpda: o.hpda ?? 0 }));
    await this.expectPdu(PduType.ICResp);
    return this.icresp!;
  }

  /** A CapsuleCmd for `sqe` (CID and SGL set here) with optional in-capsule data, with this link's digests. */
  buildCapsule(sqe: Buffer, cid: number, o: { inCapsule?: Uint8Array; transport?: number } = {}): Buffer {
    const sgl: SglSpec = o.inCapsule ? { inCapsule: o.inCapsule.length } : o.transport !== undefined ? { transport: o.transport } : null;
    prepareSqe(sqe, cid, sgl);
    return buildCapsuleCmd(sqe, o.inCapsule ?? null, this.link);
  }

  /** Sends buildCapsule(...). */
  capsule(sqe: Buffer, cid: number, o: { inCapsule?: Uint8Array; transport?: number } = {}): void {
    this.send(this.buildCapsule(sqe, cid, o));
  }

  /** Waits for the CapsuleResp of a command (skipping nothing: the next PDU must be it). */
  async response(timeoutMs = 5000): Promise<Cqe> {
    const { hdr } = await this.expectPdu(PduType.CapsuleResp, timeoutMs);
    return parseCqe(hdr);
  }

  /** Fabrics Connect on this connection; returns the CQE. */
  async connect(p: S.ConnectParams & S.ConnectDataParams, cid = 0): Promise<Cqe> {
    const sqe = S.fabricsConnect(Buffer.alloc(SQE_SIZE), p);
    this.capsule(sqe, cid, { inCapsule: S.connectData(p) });
    return this.response();
  }

  close(): void {
    this.socket.destroy();
  }
}

export function describe(e: RawEvent): string {
  if (e.kind === 'pdu') {
    if (e.type === PduType.C2HTermReq) {
      const t = parseTermReq(e.hdr, e.data);
      return `C2HTermReq FES 0x${t.fes.toString(16)} FEI ${t.fei}`;
    }
    if (e.type === PduType.CapsuleResp) {
      const c = parseCqe(e.hdr);
      return `CapsuleResp cid ${c.cid} status 0x${c.status.toString(16)}`;
    }
    return `PDU type 0x${e.type.toString(16)}`;
  }
  if (e.kind === 'garbage') return `unparsable bytes (${e.reason})`;
  return 'connection closed';
}
