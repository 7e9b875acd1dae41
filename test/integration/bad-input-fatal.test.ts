// Fatal transport errors (issue 2, "Bad input"), one table row per bad input, against the real target
// over loopback. Each row gets a fresh target and a healthy controller first; the bad connection must
// get a C2HTermReq with the row's FES (and FEI, and the offending header as PDU Error Data when
// given), then a close, and the healthy controller must still do I/O afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import type { RawConnection, RawEvent } from '../../src/initiator/raw.js';
import { buildCapsuleCmd, buildH2CData, buildH2CDataHeader, buildICReq, type TermReq } from '../../src/initiator/pdu-build.js';
import * as S from '../../src/initiator/sqe-build.js';
import { CH, DATA, FES, IC, PduType } from '../../src/spec/pdu.js';
import { SQE_SIZE } from '../../src/spec/sqe.js';
import {
  HOSTNQN,
  MiB,
  SUBNQN,
  assertHealthy,
  expectTermination,
  pattern,
  rawIoQueue,
  startR2TWrite,
  testConfig,
  withTarget,
  type Running,
  type TestConfigOptions,
} from './helpers.js';

interface FatalCase {
  /** The bad input. */
  name: string;
  config?: TestConfigOptions;
  /** Opens the bad connection and sends the bad input; `h` is the healthy controller (with a spare I/O queue, qid 2). */
  provoke: (t: Running, h: Controller) => Promise<RawConnection>;
  fes: number;
  /** When given: the C2HTermReq's FEI. */
  fei?: number;
  /** When given: the PDU Error Data must be exactly the offending PDU's header. */
  offending?: { type: number; headerLength: number };
  /** Further checks once the bad connection has ended: what else it got, what the target holds. */
  verify?: (h: Controller, end: { termReq: TermReq; other: RawEvent[] }) => Promise<void>;
}

function sqe(): Buffer {
  return Buffer.alloc(SQE_SIZE);
}

/** A raw connection past ICReq/ICResp, not connected to any queue. */
async function afterICReq(t: Running, dg: { hdgst?: boolean } = {}): Promise<RawConnection> {
  const raw = await t.raw();
  await raw.icreq(dg);
  return raw;
}

/** An H2CData header with no data at all: PLEN == HLEN == 24, whatever DATAL claims. */
function emptyH2C(raw: RawConnection, cccid: number, ttag: number, datao: number, datal: number): Buffer {
  const b = buildH2CDataHeader(cccid, ttag, datao, datal, true, { ...raw.link, hdgst: false, ddgst: false });
  b[CH.pdo] = 0;
  b.writeUInt32LE(24, CH.plen);
  return b;
}

const H2C_HEADER = { type: PduType.H2CData, headerLength: 24 };
/** Bytes another command wrote through the buffer pool; no other block may ever hold them. */
const SECRET = pattern(4096, 0x5ec7e7);

const FATAL: FatalCase[] = [
  // ---- The PDU header itself ----
  {
    name: 'unknown PDU type',
    provoke: async (t) => {
      const raw = await afterICReq(t);
      const b = Buffer.alloc(24);
      b[CH.pduType] = 0x0b;
      b[CH.hlen] = 24;
      b.writeUInt32LE(24, CH.plen);
      raw.send(b);
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: CH.pduType,
  },
  {
    name: 'wrong HLEN',
    provoke: async (t) => {
      const raw = await afterICReq(t);
      const pdu = buildCapsuleCmd(S.keepAlive(sqe()), null, raw.link);
      pdu[CH.hlen] = 70;
      raw.send(pdu);
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: CH.hlen,
  },
  {
    // A CapsuleCmd announcing 16 MiB of in-capsule data: refused from the header alone.
    name: 'PLEN beyond the negotiated maximum (a CapsuleCmd announcing 16 MiB)',
    provoke: async (t) => {
      const raw = await afterICReq(t);
      const pdu = buildCapsuleCmd(S.keepAlive(sqe()), null, raw.link);
      pdu[CH.pdo] = 72;
      pdu.writeUInt32LE(72 + 16 * MiB, CH.plen);
      raw.send(pdu);
      return raw;
    },
    fes: FES.DATA_TRANSFER_LIMIT_EXCEEDED,
    fei: CH.plen,
  },
  {
    name: 'an H2CData carrying more than MAXH2CDATA (4096) bytes in answer to an 8 KiB R2T',
    config: { maxH2CData: 4096 },
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 3, 8192);
      assert.ok(r2t.r2tl <= 8192);
      raw.send(buildH2CData(3, r2t.ttag, r2t.r2to, pattern(r2t.r2tl > 4096 ? r2t.r2tl : 8192, 1), true, raw.link));
      return raw;
    },
    fes: FES.DATA_TRANSFER_LIMIT_EXCEEDED,
  },
  {
    name: 'bad header digest',
    provoke: async (t) => {
      const raw = await afterICReq(t, { hdgst: true });
      assert.equal(raw.link.hdgst, true, 'header digest granted');
      const pdu = buildCapsuleCmd(S.keepAlive(sqe()), null, raw.link);
      pdu[72] ^= 0x5a;
      raw.send(pdu);
      return raw;
    },
    fes: FES.HEADER_DIGEST_ERROR,
    offending: { type: PduType.CapsuleCmd, headerLength: 76 },
  },

  // ---- H2CData that answers no R2T, or not the one it names ----
  {
    name: 'H2CData for an unknown TTAG',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 7);
      raw.send(buildH2CData(7, r2t.ttag ^ 0x4321, r2t.r2to, pattern(r2t.r2tl, 2), true, raw.link));
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: DATA.ttag,
    offending: H2C_HEADER,
  },
  {
    name: 'H2CData outside its R2T (offset past the requested range)',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 9);
      raw.send(buildH2CData(9, r2t.ttag, r2t.r2to + r2t.r2tl, pattern(512, 3), true, raw.link));
      return raw;
    },
    fes: FES.DATA_TRANSFER_OUT_OF_RANGE,
    offending: H2C_HEADER,
  },
  {
    name: 'H2CData outside its R2T (right offset, longer than the R2T asked for)',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 10);
      raw.send(buildH2CData(10, r2t.ttag, r2t.r2to, pattern(r2t.r2tl + 512, 3), true, raw.link));
      return raw;
    },
    fes: FES.DATA_TRANSFER_OUT_OF_RANGE,
  },
  // H2CData PDUs are validated the same way whatever their length (finding: an H2CData with no
  // data, PLEN == HLEN == 24, skipped every slot check).
  {
    name: 'H2CData without data for a pending R2T (the write must never run with stale pooled bytes)',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      // Another command's bytes pass through the pool (the victim's write), then return to it.
      const w = await h.write(1, 1000, 8, SECRET);
      assert.ok(w.ok, 'victim write');
      // The attacker's R2T write to LBA 0 gets a pooled buffer, then "completes" with no data.
      const r2t = await startR2TWrite(raw, 5, 4096);
      raw.send(emptyH2C(raw, 5, r2t.ttag, 0, 4096));
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: DATA.length,
    offending: H2C_HEADER,
    verify: async (h) => {
      const back = Buffer.alloc(4096);
      const r = await h.read(1, 0, 8, back);
      assert.ok(r.ok, 'read back LBA 0');
      assert.ok(!back.equals(SECRET), 'LBA 0 must not hold the bytes another command wrote');
      assert.ok(back.equals(Buffer.alloc(4096)), 'LBA 0 was never written');
    },
  },
  {
    name: 'H2CData without data aimed at a free slot (no completion for an old CID)',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      // Slot 0 runs one R2T write to completion and is free again.
      const r2t = await startR2TWrite(raw, 9, 4096);
      raw.send(buildH2CData(9, r2t.ttag, 0, pattern(4096, 1), true, raw.link));
      const cqe = await raw.response();
      assert.equal(cqe.cid, 9);
      assert.equal(cqe.status, 0);
      // The same TTAG again, with no data: the slot is free, nothing may run or complete.
      raw.send(emptyH2C(raw, 9, r2t.ttag, 0, 4096));
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: DATA.ttag,
    offending: H2C_HEADER,
    verify: async (_h, end) => {
      assert.deepEqual(
        end.other.filter((e) => e.kind === 'pdu' && e.hdr[CH.pduType] === PduType.CapsuleResp),
        [],
        'no completion for a command that is not outstanding',
      );
    },
  },
  {
    name: 'H2CData without data and a TTAG beyond the slot table (not an internal error)',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      raw.send(emptyH2C(raw, 1, 0x4321, 0, 4096));
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: DATA.ttag,
    offending: H2C_HEADER,
  },
  {
    name: 'H2CData with DATAL 0 for a pending R2T (a transfer must make progress)',
    provoke: async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 6, 4096);
      raw.send(emptyH2C(raw, 6, r2t.ttag, 0, 0));
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: DATA.length,
    offending: H2C_HEADER,
  },

  // ---- The session's order: ICReq first, once ----
  {
    name: 'data (a CapsuleCmd) before ICReq',
    provoke: async (t) => {
      const raw = await t.raw();
      raw.send(buildCapsuleCmd(S.fabricsConnect(sqe(), { qid: 0, queueSize: 32 }), S.connectData({ hostid: Buffer.alloc(16, 1), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN }), { hdgst: false, ddgst: false, cpda: 0 }));
      return raw;
    },
    fes: FES.PDU_SEQUENCE_ERROR,
  },
  {
    name: 'a second ICReq',
    provoke: async (t) => {
      const raw = await afterICReq(t);
      raw.send(buildICReq({ hdgst: false, ddgst: false }));
      return raw;
    },
    fes: FES.PDU_SEQUENCE_ERROR,
  },
  {
    name: 'ICReq with an unsupported PFV',
    provoke: async (t) => {
      const raw = await t.raw();
      const ic = buildICReq({ hdgst: false, ddgst: false });
      ic.writeUInt16LE(1, IC.pfv);
      raw.send(ic);
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: 8,
  },
  {
    name: 'ICReq with an unsupported HPDA',
    provoke: async (t) => {
      const raw = await t.raw();
      raw.send(buildICReq({ hdgst: false, ddgst: false, hpda: 32 }));
      return raw;
    },
    fes: FES.INVALID_PDU_HEADER_FIELD,
    fei: 10,
  },
];

const FES_NAME = new Map<number, string>(Object.entries(FES).map(([k, v]) => [v, k]));

/** A healthy session first, the bad connection, then the healthy one again. */
async function fatalCase(c: FatalCase): Promise<void> {
  await withTarget(testConfig(c.config), async (t) => {
    const h = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    try {
      const raw = await c.provoke(t, h);
      try {
        const end = await expectTermination(raw, c.fes, c.fei, 5000, c.offending);
        if (c.verify) await c.verify(h, end);
      } finally {
        raw.close();
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
}

for (const c of FATAL) {
  const fei = c.fei === undefined ? '' : ` (FEI ${c.fei})`;
  test(`bad input (fatal): ${c.name} -> C2HTermReq ${FES_NAME.get(c.fes)}${fei}, close`, () => fatalCase(c));
}
