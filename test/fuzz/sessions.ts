// Valid host sessions the corpus starts from: admin queue bring-up, I/O queues, reads and writes
// in-capsule and by R2T + H2CData, digests, discovery, SQ flow control disabled, error statuses,
// TermReqs. Built with the project's own initiator PDU and SQE builders; the transfer tags R2Ts
// will carry are predicted from the target's slot allocation (a free list, last freed first).
import { buildCapsuleCmd, buildH2CData, buildH2CTermReq, buildICReq, type LinkParams } from '../../src/initiator/pdu-build.js';
import { prepareSqe } from '../../src/initiator/raw.js';
import * as S from '../../src/initiator/sqe-build.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { FES } from '../../src/spec/pdu.js';
import { SQE_SIZE } from '../../src/spec/sqe.js';
import { Cns } from '../../src/spec/identify.js';
import { FeatureId, LogId } from '../../src/spec/log.js';
import { DISCOVERY_NQN, HOSTNQN, LIMITS, SUBNQN } from './harness.js';
import { FLAG_TURN, type FuzzInput } from './input.js';

const HOSTID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
/** The first controller of the fuzz subsystem gets this id (the subsystem is reset per input). */
const CNTLID = 1;

function fill(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed * 101 + (i >> 9)) & 0xff;
  return b;
}

class Conn {
  readonly link: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  nextCid = 0x10;
  readonly free: number[] = [];
  slots = 0;
  constructor(readonly id: number) {}
  /** The slot (= R2T TTAG) the target gives the next command. */
  alloc(): number {
    return this.free.pop() ?? this.slots++;
  }
}

export class SessionBuilder {
  readonly pdus: FuzzInput = [];
  readonly #conns: Conn[] = [];

  #c(id: number): Conn {
    return (this.#conns[id] ??= new Conn(id));
  }

  #push(conn: number, bytes: Buffer): void {
    this.pdus.push({ conn, flags: 0, bytes });
  }

  icreq(conn: number, o: { hdgst?: boolean; ddgst?: boolean; hpda?: number } = {}): this {
    const c = this.#c(conn);
    c.link.hdgst = o.hdgst ?? false;
    c.link.ddgst = o.ddgst ?? false;
    this.#push(conn, buildICReq({ hdgst: c.link.hdgst, ddgst: c.link.ddgst, hpda: o.hpda ?? 0, maxr2t: 0 }));
    return this;
  }

  /**
   * One command. `data`: in-capsule data; `transport`: bytes moved by C2HData or R2T. Returns the
   * CID and slot; unless `pending`, the slot is free again once the command completes (all of ours
   * complete within their batch on RAM namespaces).
   */
  cmd(conn: number, sqe: Buffer, o: { data?: Buffer; transport?: number; pending?: boolean } = {}): { cid: number; ttag: number } {
    const c = this.#c(conn);
    const cid = c.nextCid++;
    const sgl = o.data ? { inCapsule: o.data.length } : o.transport ? { transport: o.transport } : null;
    prepareSqe(sqe, cid, sgl);
    this.#push(conn, buildCapsuleCmd(sqe, o.data ?? null, c.link));
    const ttag = c.alloc();
    if (!o.pending) c.free.push(ttag);
    return { cid, ttag };
  }

  /** A write by R2T: the command, then its data in H2CData PDUs of `pieces` sizes. */
  r2tWrite(conn: number, nsid: number, slba: number, nlb: number, blockSize: number, pieces: number[], seed: number): this {
    const len = nlb * blockSize;
    const { cid, ttag } = this.cmd(conn, S.readWrite(Buffer.alloc(SQE_SIZE), IoOpc.Write, nsid, slba, nlb), { transport: len, pending: true });
    const data = fill(len, seed);
    let at = 0;
    for (const n of pieces) {
      this.h2c(conn, cid, ttag, at, data.subarray(at, at + n), at + n === len);
      at += n;
    }
    this.done(conn, ttag);
    return this;
  }

  h2c(conn: number, cccid: number, ttag: number, datao: number, data: Buffer, last: boolean): this {
    this.#push(conn, buildH2CData(cccid, ttag, datao, data, last, this.#c(conn).link));
    return this;
  }

  /** The command holding `ttag` completed. */
  done(conn: number, ttag: number): void {
    this.#c(conn).free.push(ttag);
  }

  /** An H2CTermReq; `turn`: after an event-loop turn (so the responses before it go out first). */
  termReq(conn: number, o: { turn?: boolean } = {}): this {
    this.#push(conn, buildH2CTermReq(FES.PDU_SEQUENCE_ERROR, 0));
    if (o.turn) this.pdus[this.pdus.length - 1]!.flags |= FLAG_TURN;
    return this;
  }

  connect(conn: number, o: { qid: number; subnqn?: string; cntlid?: number; kato?: number; sqflowOff?: boolean; queueSize?: number }): this {
    const sqe = S.fabricsConnect(Buffer.alloc(SQE_SIZE), { qid: o.qid, queueSize: o.queueSize ?? 32, kato: o.kato ?? 0, disableSqFlowControl: o.sqflowOff });
    const data = S.connectData({ hostid: HOSTID, cntlid: o.cntlid ?? (o.qid === 0 ? 0xffff : CNTLID), subnqn: o.subnqn ?? SUBNQN, hostnqn: HOSTNQN });
    this.cmd(conn, sqe, { data });
    return this;
  }

  /** ICReq, Connect, CC.EN = 1 (IOSQES 6, IOCQES 4). */
  adminUp(conn: number, o: { hdgst?: boolean; ddgst?: boolean; subnqn?: string; sqflowOff?: boolean; kato?: number } = {}): this {
    this.icreq(conn, o);
    this.connect(conn, { qid: 0, subnqn: o.subnqn, sqflowOff: o.sqflowOff, kato: o.kato });
    this.cmd(conn, S.propertySet(Buffer.alloc(SQE_SIZE), 0x14, 1 | (6 << 16) | (4 << 20)));
    return this;
  }

  sqe(): Buffer {
    return Buffer.alloc(SQE_SIZE);
  }
}

type Build = (b: SessionBuilder) => void;

const rw = (b: SessionBuilder, op: number, nsid: number, slba: number, nlb: number): Buffer => S.readWrite(b.sqe(), op, nsid, slba, nlb);

/** The corpus sessions, by name. `clean`: every command succeeds and no TermReq comes back. */
export const SESSIONS: { name: string; clean: boolean; build: Build }[] = [
  {
    name: 'admin-basic',
    clean: true,
    build: (b) => {
      b.icreq(0);
      b.connect(0, { qid: 0 });
      b.cmd(0, S.propertyGet(b.sqe(), 0x00, true));
      b.cmd(0, S.propertySet(b.sqe(), 0x14, 1 | (6 << 16) | (4 << 20)));
      b.cmd(0, S.propertyGet(b.sqe(), 0x1c, false));
      b.cmd(0, S.identify(b.sqe(), Cns.Controller), { transport: 4096 });
      b.cmd(0, S.identify(b.sqe(), Cns.Namespace, 1), { transport: 4096 });
      b.cmd(0, S.identify(b.sqe(), Cns.ActiveNsList), { transport: 4096 });
      b.cmd(0, S.identify(b.sqe(), Cns.NsDescriptorList, 1), { transport: 4096 });
      b.cmd(0, S.getLogPage(b.sqe(), LogId.SmartHealth, 512), { transport: 512 });
      b.cmd(0, S.getLogPage(b.sqe(), LogId.ErrorInformation, 64, 0, { nsid: 0 }), { transport: 64 });
      b.cmd(0, S.getFeatures(b.sqe(), FeatureId.NumberOfQueues));
      b.cmd(0, S.setFeatures(b.sqe(), FeatureId.NumberOfQueues, 3 | (3 << 16)));
      b.cmd(0, S.setFeatures(b.sqe(), FeatureId.AsyncEventConfig, 0x100));
      b.cmd(0, S.keepAlive(b.sqe()));
      b.cmd(0, S.asyncEventRequest(b.sqe()), { pending: true });
      b.cmd(0, S.getLogPage(b.sqe(), LogId.ChangedNsList, 4096), { transport: 4096 });
    },
  },
  {
    name: 'io-basic',
    clean: true,
    build: (b) => {
      b.adminUp(0);
      b.cmd(0, S.identify(b.sqe(), Cns.Controller), { transport: 4096 });
      b.icreq(1);
      b.connect(1, { qid: 1 });
      b.cmd(1, rw(b, IoOpc.Write, 1, 0, 2), { data: fill(1024, 1) });
      b.cmd(1, rw(b, IoOpc.Read, 1, 0, 2), { transport: 1024 });
      b.r2tWrite(1, 1, 8, 4, 512, [1024, 1024], 2);
      b.cmd(1, rw(b, IoOpc.Read, 1, 8, 4), { transport: 2048 });
      b.cmd(1, S.flush(b.sqe(), 1));
      b.cmd(1, S.writeZeroes(b.sqe(), 1, 16, 8));
      b.cmd(1, S.datasetManagement(b.sqe(), 1, 1), { data: S.encodeDsmRanges([{ slba: 32, nlb: 8 }]) });
      b.cmd(1, rw(b, IoOpc.Compare, 1, 0, 2), { data: fill(1024, 1) });
      b.cmd(1, rw(b, IoOpc.Read, 2, 1, 1), { transport: 4096 });
    },
  },
  {
    name: 'io-digests-r2t',
    clean: true,
    build: (b) => {
      b.adminUp(0, { hdgst: true, ddgst: true });
      b.icreq(1, { hdgst: true, ddgst: true, hpda: 1 });
      b.connect(1, { qid: 1 });
      b.cmd(1, rw(b, IoOpc.Write, 1, 64, 1), { data: fill(512, 3) });
      b.cmd(1, rw(b, IoOpc.Read, 1, 64, 1), { transport: 512 });
      // Two writes by R2T outstanding at once, their data interleaved.
      const len = 1024;
      const a = b.cmd(1, rw(b, IoOpc.Write, 1, 80, 2), { transport: len, pending: true });
      const c = b.cmd(1, rw(b, IoOpc.Write, 1, 96, 2), { transport: len, pending: true });
      const da = fill(len, 4);
      const dc = fill(len, 5);
      b.h2c(1, a.cid, a.ttag, 0, da.subarray(0, 512), false);
      b.h2c(1, c.cid, c.ttag, 0, dc.subarray(0, 512), false);
      b.h2c(1, a.cid, a.ttag, 512, da.subarray(512), true);
      b.done(1, a.ttag);
      b.h2c(1, c.cid, c.ttag, 512, dc.subarray(512), true);
      b.done(1, c.ttag);
      b.cmd(1, rw(b, IoOpc.Read, 1, 80, 4), { transport: 2048 });
    },
  },
  {
    name: 'discovery',
    clean: true,
    build: (b) => {
      b.adminUp(0, { subnqn: DISCOVERY_NQN });
      b.cmd(0, S.identify(b.sqe(), Cns.Controller), { transport: 4096 });
      b.cmd(0, S.getLogPage(b.sqe(), LogId.Discovery, 1024), { transport: 1024 });
      b.cmd(0, S.getLogPage(b.sqe(), LogId.Discovery, 16, 0), { transport: 16 });
      b.cmd(0, S.keepAlive(b.sqe()));
    },
  },
  {
    name: 'sqflow-disabled',
    clean: true,
    build: (b) => {
      b.adminUp(0, { sqflowOff: true });
      b.icreq(1, { ddgst: true });
      b.connect(1, { qid: 1, sqflowOff: true });
      b.cmd(1, rw(b, IoOpc.Write, 1, 128, 1), { data: fill(512, 6) });
      b.cmd(1, rw(b, IoOpc.Read, 1, 128, 1), { transport: 512 });
      b.r2tWrite(1, 1, 136, 16, 512, [LIMITS.maxH2CData], 7);
      b.cmd(1, rw(b, IoOpc.Read, 1, 136, 16), { transport: 8192 });
    },
  },
  {
    name: 'error-statuses',
    clean: false,
    build: (b) => {
      b.adminUp(0);
      b.cmd(0, S.bare(b.sqe(), 0x3e));
      b.cmd(0, S.getLogPage(b.sqe(), 0x55, 512), { transport: 512 });
      b.icreq(1);
      b.connect(1, { qid: 1 });
      b.cmd(1, rw(b, IoOpc.Write, 1, 0, 9), { data: fill(LIMITS.inlineDataSize + 512, 8) });
      b.cmd(1, rw(b, IoOpc.Read, 1, LIMITS.ns1Size / 512 - 1, 2), { transport: 1024 });
      b.cmd(1, rw(b, IoOpc.Write, 2, 0, 1), { data: fill(4096, 9) });
      b.cmd(1, rw(b, IoOpc.Read, 9, 0, 1), { transport: 512 });
      b.cmd(1, S.bare(b.sqe(), 0x7e, 1));
      b.cmd(1, rw(b, IoOpc.Read, 1, 0, 256), { transport: 256 * 512 });
      b.icreq(2);
      b.connect(2, { qid: 2, cntlid: 7 });
      b.icreq(3);
      b.connect(3, { qid: 1 });
      b.termReq(1, { turn: true });
    },
  },
  {
    name: 'fatal-h2c-offset',
    clean: false,
    build: (b) => {
      b.adminUp(0);
      b.icreq(1, { hdgst: true });
      b.connect(1, { qid: 1 });
      const w = b.cmd(1, rw(b, IoOpc.Write, 1, 0, 2), { transport: 1024, pending: true });
      b.h2c(1, w.cid, w.ttag, 512, fill(512, 10), true);
    },
  },
  {
    name: 'shutdown-disconnect',
    clean: true,
    build: (b) => {
      b.adminUp(0, { kato: 5000 });
      b.icreq(1);
      b.connect(1, { qid: 1 });
      b.cmd(1, rw(b, IoOpc.Write, 1, 200, 1), { data: fill(512, 11) });
      b.cmd(1, S.fabricsDisconnect(b.sqe()));
      b.cmd(0, S.abort(b.sqe(), 1, 0x99));
      b.cmd(0, S.propertySet(b.sqe(), 0x14, 1 | (6 << 16) | (4 << 20) | (1 << 14)));
      b.cmd(0, S.propertyGet(b.sqe(), 0x1c, false));
    },
  },
];

export function buildSession(build: Build): FuzzInput {
  const b = new SessionBuilder();
  build(b);
  return b.pdus;
}
