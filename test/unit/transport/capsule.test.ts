// The two error planes of capsule.ts, table-driven: NVMe statuses for bad data descriptors, fatal
// transport errors for H2CData PDUs that do not match their R2T.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../../src/runtime/buffer-pool.js';
import { CapsulePlan, checkH2CData, isFatal, planCapsule } from '../../../src/transport/tcp/capsule.js';
import { ReqState, RequestTable, type Request, type RequestOwner } from '../../../src/transport/tcp/request.js';
import { prepareSqe, type SglSpec } from '../../../src/initiator/raw.js';
import { buildH2CDataHeader } from '../../../src/initiator/pdu-build.js';
import * as S from '../../../src/initiator/sqe-build.js';
import { AdminOpc, IoOpc } from '../../../src/spec/opcodes.js';
import { DATA, FES } from '../../../src/spec/pdu.js';
import { SGL, SQE } from '../../../src/spec/sqe.js';
import { Generic, S_SGL_LENGTH_INVALID, S_SGL_OFFSET_INVALID, S_SGL_TYPE_INVALID, SCT, status } from '../../../src/spec/status.js';

const owner = { pool: new BufferPool(1 << 20), closed: false, completeRequest: () => undefined, dropRequest: () => undefined } as unknown as RequestOwner;
const LIMITS = { mdts: 1 << 20 };

function req(table: RequestTable, sqe: Buffer, sgl: SglSpec): Request {
  const r = table.acquire(owner)!;
  prepareSqe(sqe, 1, sgl).copy(r.sqe);
  r.cid = 1;
  return r;
}

const write = (): Buffer => S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, 8);
const read = (): Buffer => S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 0, 8);

const planCases: { name: string; sqe: () => Buffer; sgl: SglSpec; data: number | null; plan: CapsulePlan; status?: number; tweak?: (sqe: Buffer) => void }[] = [
  { name: 'no data', sqe: () => S.flush(Buffer.alloc(64), 1), sgl: null, data: null, plan: CapsulePlan.EXECUTE },
  { name: 'write in-capsule', sqe: write, sgl: { inCapsule: 4096 }, data: 4096, plan: CapsulePlan.EXECUTE },
  { name: 'write by R2T', sqe: write, sgl: { transport: 4096 }, data: null, plan: CapsulePlan.FETCH_H2C },
  { name: 'read', sqe: read, sgl: { transport: 4096 }, data: null, plan: CapsulePlan.SEND_C2H },
  { name: 'in-capsule shorter than the SGL', sqe: write, sgl: { inCapsule: 4096 }, data: 512, plan: CapsulePlan.FAIL, status: S_SGL_LENGTH_INVALID },
  { name: 'in-capsule data for a read', sqe: read, sgl: { inCapsule: 512 }, data: 512, plan: CapsulePlan.FAIL, status: S_SGL_LENGTH_INVALID },
  { name: 'in-capsule data with a transport SGL', sqe: write, sgl: { transport: 512 }, data: 512, plan: CapsulePlan.FAIL, status: S_SGL_LENGTH_INVALID },
  { name: 'data with SGL length 0', sqe: write, sgl: { inCapsule: 0 }, data: 512, plan: CapsulePlan.FAIL, status: S_SGL_LENGTH_INVALID },
  { name: 'in-capsule offset not 0', sqe: write, sgl: { inCapsule: 512 }, data: 512, plan: CapsulePlan.FAIL, status: S_SGL_OFFSET_INVALID, tweak: (s) => s.writeUInt32LE(1, SQE.dptr + SGL.address + 4) },
  { name: 'keyed SGL type', sqe: read, sgl: { transport: 512 }, data: null, plan: CapsulePlan.FAIL, status: S_SGL_TYPE_INVALID, tweak: (s) => (s[SQE.dptr + SGL.identifier] = 0x40) },
  { name: 'beyond MDTS', sqe: read, sgl: { transport: (1 << 20) + 512 }, data: null, plan: CapsulePlan.FAIL, status: status(SCT.GENERIC, Generic.INVALID_FIELD, true) },
];

for (const c of planCases) {
  test(`capsule plan: ${c.name}`, () => {
    const t = new RequestTable(4);
    const r = req(t, c.sqe(), c.sgl);
    c.tweak?.(r.sqe);
    const data = c.data === null ? null : new Uint8Array(c.data);
    assert.equal(planCapsule(r, data, LIMITS), c.plan);
    if (c.status !== undefined) assert.equal(r.status, c.status);
    if (c.plan === CapsulePlan.EXECUTE && data) assert.equal(r.inData, data);
  });
}

test('capsule plan: a Connect with in-capsule data reads its direction from FCTYPE', () => {
  const t = new RequestTable(4);
  const r = req(t, S.fabricsConnect(Buffer.alloc(64), { qid: 0, queueSize: 32 }), { inCapsule: 1024 });
  assert.equal(r.sqe[SQE.opcode], AdminOpc.Fabrics);
  assert.equal(planCapsule(r, new Uint8Array(1024), LIMITS), CapsulePlan.EXECUTE);
});

/** A table with one write waiting for 8 KiB of H2C data on slot 0, 4 KiB of it received. */
function pending(): { t: RequestTable; r: Request } {
  const t = new RequestTable(4);
  const r = req(t, write(), { transport: 8192 });
  r.cid = 33;
  r.dataLen = 8192;
  r.inData = new Uint8Array(8192);
  r.setState(ReqState.AWAITING_H2C);
  r.h2cReceived = 4096;
  return { t, r };
}

const LINK = { hdgst: false, ddgst: false, cpda: 0 };
const h2cCases: { name: string; cccid?: number; ttag?: number; datao?: number; datal?: number; carried?: number; maxH2C?: number; fes?: number; fei?: number }[] = [
  { name: 'the next piece', datao: 4096, datal: 4096, carried: 4096 },
  { name: 'TTAG beyond the table', ttag: 0x4321, fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.ttag },
  { name: 'TTAG of a free slot', ttag: 1, fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.ttag },
  { name: 'CCCID of another command', cccid: 34, fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.ttag },
  { name: 'no data while DATAL claims some', datal: 4096, carried: 0, fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.length },
  { name: 'DATAL 0 and no data', datal: 0, carried: 0, fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.length },
  { name: 'DATAL differs from the data carried', datal: 4096, carried: 2048, fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.length },
  { name: 'beyond MAXH2CDATA', datal: 4096, carried: 4096, maxH2C: 2048, fes: FES.DATA_TRANSFER_LIMIT_EXCEEDED, fei: DATA.length },
  { name: 'offset already received (replay)', datao: 0, datal: 4096, carried: 4096, fes: FES.DATA_TRANSFER_OUT_OF_RANGE, fei: DATA.offset },
  { name: 'past the end of the transfer', datao: 4096, datal: 8192, carried: 8192, fes: FES.DATA_TRANSFER_OUT_OF_RANGE, fei: DATA.offset },
];

for (const c of h2cCases) {
  test(`H2CData check: ${c.name}`, () => {
    const { t, r } = pending();
    const hdr = buildH2CDataHeader(c.cccid ?? 33, c.ttag ?? r.index, c.datao ?? 4096, c.datal ?? 4096, false, LINK);
    const got = checkH2CData(hdr, c.carried ?? 4096, t, { maxH2CData: c.maxH2C ?? 1 << 20 });
    if (c.fes === undefined) {
      assert.equal(got, r);
    } else {
      assert.ok(isFatal(got), 'fatal expected');
      assert.equal(got.fes, c.fes);
      assert.equal(got.fei, c.fei);
    }
  });
}
