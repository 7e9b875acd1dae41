// src/spec layouts against the values of the NVMe base, NVMe over Fabrics and NVMe/TCP transport
// specifications: entry and PDU header sizes, field offsets, bit positions, and the SQE accessors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sqeSpec from '../../src/spec/sqe.js';
import { CQE, CQE_SIZE, Psdt, SGL, SQE, SQE_SIZE, SglId } from '../../src/spec/sqe.js';
import { CAPSULE_CQE_OFFSET, CAPSULE_SQE_OFFSET, CH, DATA, DIGEST_LEN, FES, HLEN, IC, ICDigest, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { Cdw12, ConnectAttr, ConnectData, Dsm, FabricsSqe, FabricsType, IoOpc, IoSqe } from '../../src/spec/opcodes.js';

test('SQE: 64 bytes; CDW0 opcode/flags/CID, NSID, MPTR, DPTR, CDW10..15 at their spec offsets', () => {
  assert.equal(SQE_SIZE, 64);
  assert.deepEqual(
    { ...SQE },
    {
      opcode: 0,
      flags: 1,
      cid: 2,
      nsid: 4,
      fctype: 4,
      cdw2: 8,
      cdw3: 12,
      mptr: 16,
      dptr: 24,
      cdw10: 40,
      cdw11: 44,
      cdw12: 48,
      cdw13: 52,
      cdw14: 56,
      cdw15: 60,
    },
  );
  // DPTR is 16 bytes and ends where CDW10 starts; CDW15 is the last dword.
  assert.equal(SQE.dptr + 16, SQE.cdw10);
  assert.equal(SQE.cdw15 + 4, SQE_SIZE);
  // PSDT is bits 7:6 of CDW0 byte 1: 01b SGL (MPTR contiguous), 10b SGL (MPTR an SGL).
  assert.equal(Psdt.mask, 0b11 << 6);
  assert.equal(Psdt.SGL_MPTR_CONTIG, 0b01 << 6);
  assert.equal(Psdt.SGL_MPTR_SGL, 0b10 << 6);
});

test('SGL descriptor: address u64 @0, length u32 @8, identifier @15; NVMe/TCP identifiers', () => {
  assert.deepEqual({ ...SGL }, { address: 0, length: 8, identifier: 15 });
  // Data Block (type 0h), Offset subtype (1h); Transport SGL Data Block (type 5h), transport specific (Ah).
  assert.equal(SglId.IN_CAPSULE, (0x0 << 4) | 0x1);
  assert.equal(SglId.TRANSPORT, (0x5 << 4) | 0xa);
});

test('CQE: 16 bytes; DW0, DW1, SQHD, SQID, CID, status+phase at their spec offsets', () => {
  assert.equal(CQE_SIZE, 16);
  assert.deepEqual({ ...CQE }, { dw0: 0, dw1: 4, sqhd: 8, sqid: 10, cid: 12, status: 14 });
  assert.equal(CQE.status + 2, CQE_SIZE);
});

test('NVM command fields: SLBA in CDW10-11, NLB/DEAC/FUA/LR bits of CDW12; Dataset Management ranges', () => {
  assert.equal(IoSqe.slba, SQE.cdw10);
  assert.equal(IoSqe.cdw12, SQE.cdw12);
  assert.equal(Cdw12.NLB_MASK, 0xffff);
  assert.equal(Cdw12.DEAC, 2 ** 25);
  assert.equal(Cdw12.FUA, 2 ** 30);
  assert.equal(Cdw12.LR >>> 0, 2 ** 31);
  assert.equal(Dsm.rangeSize, 16);
  assert.equal(Dsm.rangeLength, 4);
  assert.equal(Dsm.rangeSlba, 8);
  assert.equal(Dsm.ATTR_DEALLOCATE, 1 << 2);
  assert.equal(Dsm.maxRanges, 256);
  assert.deepEqual([IoOpc.Flush, IoOpc.Write, IoOpc.Read, IoOpc.Compare, IoOpc.WriteZeroes, IoOpc.DatasetManagement], [0x00, 0x01, 0x02, 0x05, 0x08, 0x09]);
});

test('Fabrics SQE fields: FCTYPE, Connect (RECFMT, QID, SQSIZE, CATTR, KATO), Property Get/Set; Connect data', () => {
  assert.deepEqual(
    { ...FabricsSqe },
    { fctype: 4, recfmt: 40, qid: 42, sqsize: 44, cattr: 46, kato: 48, propAttrib: 40, propOffset: 44, propValue: 48 },
  );
  assert.deepEqual({ ...FabricsType }, { PropertySet: 0x00, Connect: 0x01, PropertyGet: 0x04, AuthenticationSend: 0x05, AuthenticationReceive: 0x06, Disconnect: 0x08 });
  assert.deepEqual({ ...ConnectData }, { size: 1024, hostid: 0, cntlid: 16, subnqn: 256, hostnqn: 512 });
  assert.equal(ConnectAttr.DISABLE_SQFLOW, 1 << 2);
});

test('NVMe/TCP: common header, PDU types and flags, header lengths per PDU type', () => {
  assert.deepEqual({ ...CH }, { pduType: 0, flags: 1, hlen: 2, pdo: 3, plen: 4, size: 8 });
  assert.deepEqual(
    { ...PduType },
    { ICReq: 0x00, ICResp: 0x01, H2CTermReq: 0x02, C2HTermReq: 0x03, CapsuleCmd: 0x04, CapsuleResp: 0x05, H2CData: 0x06, C2HData: 0x07, R2T: 0x09 },
  );
  assert.deepEqual({ ...PduFlags }, { HDGSTF: 1 << 0, DDGSTF: 1 << 1, DATA_LAST: 1 << 2, DATA_SUCCESS: 1 << 3 });
  assert.equal(DIGEST_LEN, 4);
  assert.equal(HLEN[PduType.ICReq], 128);
  assert.equal(HLEN[PduType.ICResp], 128);
  assert.equal(HLEN[PduType.H2CTermReq], 24);
  assert.equal(HLEN[PduType.C2HTermReq], 24);
  assert.equal(HLEN[PduType.H2CData], 24);
  assert.equal(HLEN[PduType.C2HData], 24);
  assert.equal(HLEN[PduType.R2T], 24);
  // Capsules: the common header, then the whole SQE (command) or CQE (response).
  assert.equal(CAPSULE_SQE_OFFSET, CH.size);
  assert.equal(CAPSULE_CQE_OFFSET, CH.size);
  assert.equal(HLEN[PduType.CapsuleCmd], CH.size + SQE_SIZE);
  assert.equal(HLEN[PduType.CapsuleResp], CH.size + CQE_SIZE);
});

test('NVMe/TCP: ICReq/ICResp, data PDU / R2T and TermReq fields', () => {
  assert.deepEqual({ ...IC }, { pfv: 8, pda: 10, digest: 11, maxr2tOrMaxdata: 12 });
  assert.deepEqual({ ...ICDigest }, { HDGST: 1, DDGST: 2 });
  // CCCID 09:08, TTAG 11:10, DATAO/R2TO 15:12, DATAL/R2TL 19:16; 20..23 reserved.
  assert.deepEqual({ ...DATA }, { cccid: 8, ttag: 10, offset: 12, length: 16 });
  assert.ok(DATA.length + 4 <= HLEN[PduType.H2CData]);
  // FES 09:08, FEI 13:10; the PDU header in error follows the 24-byte header, at most 128 bytes of it.
  assert.equal(TERM.fes, 8);
  assert.equal(TERM.fei, 10);
  assert.equal(TERM.maxErrorData, 128);
  assert.deepEqual(
    { ...FES },
    {
      INVALID_PDU_HEADER_FIELD: 0x01,
      PDU_SEQUENCE_ERROR: 0x02,
      HEADER_DIGEST_ERROR: 0x03,
      DATA_TRANSFER_OUT_OF_RANGE: 0x04,
      DATA_TRANSFER_LIMIT_EXCEEDED: 0x05,
      UNSUPPORTED_PARAMETER: 0x06,
    },
  );
});

/** An SQE with a distinct value in every field, written by raw spec offsets. */
function sampleSqe(): Buffer {
  const b = Buffer.alloc(64);
  b[0] = 0x01; // opcode
  b[1] = 0x40; // flags
  b.writeUInt16LE(0xbeef, 2); // CID
  b.writeUInt32LE(0x11223344, 4); // NSID
  b.writeUInt32LE(0xa0a0a0a0, 40);
  b.writeUInt32LE(0xa1a1a1a1, 44);
  b.writeUInt32LE(0x4000_0007, 48); // FUA, NLB 7
  b.writeUInt32LE(0xa3a3a3a3, 52);
  b.writeUInt32LE(0xa4a4a4a4, 56);
  b.writeUInt32LE(0xa5a5a5a5, 60);
  return b;
}

test('SQE accessors read the spec fields', () => {
  const b = sampleSqe();
  assert.equal(sqeSpec.sqeOpcode(b), 0x01);
  assert.equal(sqeSpec.sqeCid(b), 0xbeef);
  assert.equal(sqeSpec.sqeNsid(b), 0x11223344);
  assert.equal(sqeSpec.sqeFctype(b), 0x44);
  assert.equal(sqeSpec.sqeCdw10(b), 0xa0a0a0a0);
  assert.equal(sqeSpec.sqeCdw11(b), 0xa1a1a1a1);
  assert.equal(sqeSpec.sqeCdw12(b), 0x40000007);
  assert.equal(sqeSpec.sqeCdw13(b), 0xa3a3a3a3);
  assert.equal(sqeSpec.sqeCdw14(b), 0xa4a4a4a4);
  assert.equal(sqeSpec.sqeCdw15(b), 0xa5a5a5a5);
  assert.equal(sqeSpec.sqeNlb(b), 8, 'NLB is 0-based');
  assert.equal(sqeSpec.sqeFua(b), true);
  b.writeUInt32LE(0xbfff_ffff, 48); // every CDW12 bit but FUA
  assert.equal(sqeSpec.sqeFua(b), false);
  assert.equal(sqeSpec.sqeNlb(b), 0x10000);
});

test('SLBA accessor: exact up to 2^53 - 1, Infinity beyond (so range checks reject it)', () => {
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE(0x1234_5678_9abcn, 40);
  assert.equal(sqeSpec.sqeSlba(b), 0x1234_5678_9abc);
  assert.equal(sqeSpec.sqeSlbaBig(b), 0x1234_5678_9abcn);
  b.writeBigUInt64LE(2n ** 53n - 1n, 40);
  assert.equal(sqeSpec.sqeSlba(b), Number.MAX_SAFE_INTEGER);
  b.writeBigUInt64LE(2n ** 53n, 40);
  assert.equal(sqeSpec.sqeSlba(b), Infinity);
  b.writeBigUInt64LE(2n ** 64n - 1n, 40);
  assert.equal(sqeSpec.sqeSlba(b), Infinity);
  assert.equal(sqeSpec.sqeSlbaBig(b), 2n ** 64n - 1n);
});

test('Fabrics accessors: Connect and Property Get/Set fields', () => {
  const b = Buffer.alloc(64);
  b.writeUInt16LE(0x0102, 40); // RECFMT
  b.writeUInt16LE(7, 42); // QID
  b.writeUInt16LE(127, 44); // SQSIZE
  b[46] = 0x04; // CATTR
  b.writeUInt32LE(120000, 48); // KATO
  assert.equal(sqeSpec.connectRecfmt(b), 0x0102);
  assert.equal(sqeSpec.connectQid(b), 7);
  assert.equal(sqeSpec.connectSqsize(b), 127);
  assert.equal(sqeSpec.connectCattr(b), 0x04);
  assert.equal(sqeSpec.connectKato(b), 120000);
  const p = Buffer.alloc(64);
  p[40] = 1; // ATTRIB: 8 bytes
  p.writeUInt32LE(0x14, 44); // OFST: CC
  p.writeBigUInt64LE(0xdead_0000_0046_0001n, 48);
  assert.equal(sqeSpec.propertySize8(p), true);
  assert.equal(sqeSpec.propertyOffset(p), 0x14);
  assert.equal(sqeSpec.propertyValue(p), 0x00460001);
  p[40] = 0;
  assert.equal(sqeSpec.propertySize8(p), false);
});

test('SQE accessors (byte loads, no Buffer.read*) agree with readUInt*LE on random and all-ones SQEs', () => {
  let x = 12345;
  const rnd = (): number => (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  for (let n = 0; n < 200; n++) {
    const b = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) b[i] = n === 0 ? 0xff : rnd();
    for (let at = 0; at <= 60; at++) assert.equal(sqeSpec.sqeU32(b, at), b.readUInt32LE(at), `u32 at ${at}`);
    assert.equal(sqeSpec.sqeCid(b), b.readUInt16LE(SQE.cid));
    assert.equal(sqeSpec.sqeNsid(b), b.readUInt32LE(SQE.nsid));
    assert.equal(sqeSpec.sqeNlb(b), (b.readUInt32LE(IoSqe.cdw12) & 0xffff) + 1);
    assert.equal(sqeSpec.sqeFua(b), (b.readUInt32LE(IoSqe.cdw12) & Cdw12.FUA) !== 0);
    const slba = b.readBigUInt64LE(IoSqe.slba);
    assert.equal(sqeSpec.sqeSlba(b), slba <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(slba) : Infinity);
  }
});
