// The target's PDU writers, each PDU written into an OutQueue, flushed into a fake socket and read
// back twice: by the PDU reader in the initiator's role (with the digests negotiated) and the
// initiator's parse helpers, and field by field at the byte offsets of the NVMe/TCP specification
// (written here as numbers, so that a wrong shared constant cannot cancel out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutQueue } from '../../../src/transport/tcp/out-queue.js';
import { writeC2HData, writeC2HTermReq, writeCapsuleResp, writeICResp, writeR2T } from '../../../src/transport/tcp/pdu-writer.js';
import { parseCqe, parseICResp, parseTermReq } from '../../../src/initiator/pdu-build.js';
import { crc32c } from '../../../src/native/crc32c.js';
import { PduFlags, PduType } from '../../../src/spec/pdu.js';
import { FakeSocket } from './fake-socket.js';

/** The arena is allocUnsafe: pre-dirty it so that any byte a writer leaves alone shows up as 0xee. */
const DIRT = 0xee;

function emit(write: (q: OutQueue) => void, digests: { hdgst?: boolean; ddgst?: boolean } = {}): { sock: FakeSocket; bytes: Buffer } {
  const q = new OutQueue();
  q.buf.fill(DIRT);
  write(q);
  const sock = new FakeSocket(digests);
  q.flush(sock.asSocket);
  return { sock, bytes: sock.written() };
}

/** Common header, at the spec's offsets: type 0, flags 1, HLEN 2, PDO 3, PLEN 4..7. */
function ch(b: Buffer): { type: number; flags: number; hlen: number; pdo: number; plen: number } {
  return { type: b[0]!, flags: b[1]!, hlen: b[2]!, pdo: b[3]!, plen: b.readUInt32LE(4) };
}

function assertZero(b: Buffer, from: number, to: number, what: string): void {
  assert.deepEqual(b.subarray(from, to), Buffer.alloc(to - from), `${what}: bytes ${from}..${to - 1} are zero`);
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return b;
}

// ---- ICResp ----

const icrespCases = [
  { name: 'no digests, CPDA 0', cpda: 0, digest: 0, maxH2CData: 4096 },
  { name: 'both digests, CPDA 3', cpda: 3, digest: 3, maxH2CData: 131072 },
  { name: 'header digest only, CPDA 31, MAXH2CDATA 2^32-1', cpda: 31, digest: 1, maxH2CData: 0xffffffff },
];

for (const c of icrespCases) {
  test(`pdu-writer: ICResp (${c.name}) parses back with every field, reserved bytes zero`, () => {
    const { sock, bytes } = emit((q) => writeICResp(q, c.cpda, c.digest, c.maxH2CData));
    assert.equal(sock.pdus.length, 1);
    assert.equal(sock.pdus[0]!.type, PduType.ICResp);
    assert.deepEqual(ch(bytes), { type: 0x01, flags: 0, hlen: 128, pdo: 0, plen: 128 });
    assert.equal(bytes.length, 128);
    assert.deepEqual(parseICResp(sock.pdus[0]!.hdr), { pfv: 0, cpda: c.cpda, hdgst: (c.digest & 1) !== 0, ddgst: (c.digest & 2) !== 0, maxH2CData: c.maxH2CData });
    assert.equal(bytes.readUInt16LE(8), 0, 'PFV 0');
    assert.equal(bytes[10], c.cpda, 'CPDA at byte 10');
    assert.equal(bytes[11], c.digest, 'DGST at byte 11');
    assert.equal(bytes.readUInt32LE(12), c.maxH2CData, 'MAXH2CDATA at bytes 12..15');
    assertZero(bytes, 16, 128, 'ICResp reserved');
  });
}

// ---- CapsuleResp ----

const cqeCases = [
  { name: 'success', hdgst: false, dw0: 0, dw1: 0, sqhd: 5, sqid: 1, cid: 0x1234, status: 0, raw: 0x0000 },
  // DNR (bit 14) | SCT 1 | SC 0x82: in the CQE's 16-bit field it moves up one, above the phase bit.
  { name: 'Connect Invalid Parameters with DNR', hdgst: false, dw0: 0x0001002c, dw1: 0, sqhd: 0, sqid: 0, cid: 7, status: 0x4182, raw: 0x8304 },
  { name: 'every status bit, all-ones fields', hdgst: false, dw0: -1, dw1: 0x80000001, sqhd: 0xffff, sqid: 0xffff, cid: 0xffff, status: 0x7fff, raw: 0xfffe },
  { name: 'with a header digest', hdgst: true, dw0: 0xdeadbeef, dw1: 0x01020304, sqhd: 31, sqid: 4, cid: 0xabcd, status: 0x0022, raw: 0x0044 },
];

for (const c of cqeCases) {
  test(`pdu-writer: CapsuleResp (${c.name}): CQE fields, status above a zero phase bit`, () => {
    const { sock, bytes } = emit((q) => writeCapsuleResp(q, c.hdgst, c.dw0, c.dw1, c.sqhd, c.sqid, c.cid, c.status), { hdgst: c.hdgst });
    const total = 24 + (c.hdgst ? 4 : 0);
    assert.equal(sock.pdus.length, 1);
    assert.deepEqual(ch(bytes), { type: 0x05, flags: c.hdgst ? PduFlags.HDGSTF : 0, hlen: 24, pdo: 0, plen: total });
    assert.equal(bytes.length, total);
    // The CQE at byte 8: DW0 0..3, DW1 4..7, SQHD 8..9, SQID 10..11, CID 12..13, status 14..15 (bit 0 the phase tag).
    assert.equal(bytes.readUInt32LE(8), c.dw0 >>> 0, 'DW0');
    assert.equal(bytes.readUInt32LE(12), c.dw1 >>> 0, 'DW1');
    assert.equal(bytes.readUInt16LE(16), c.sqhd, 'SQHD');
    assert.equal(bytes.readUInt16LE(18), c.sqid, 'SQID');
    assert.equal(bytes.readUInt16LE(20), c.cid, 'CID');
    assert.equal(bytes.readUInt16LE(22), c.raw, 'status field (phase bit 0)');
    assert.equal(bytes[22]! & 1, 0, 'phase tag 0 on fabrics');
    assert.deepEqual(parseCqe(sock.pdus[0]!.hdr), { dw0: c.dw0 >>> 0, dw1: c.dw1 >>> 0, sqhd: c.sqhd, sqid: c.sqid, cid: c.cid, status: c.status });
    if (c.hdgst) assert.equal(bytes.readUInt32LE(24), crc32c(bytes, 0, 24), 'header digest over CH + CQE');
  });
}

// ---- C2HData ----

const c2hCases = [
  { name: 'no digests, HPDA 0', hdgst: false, ddgst: false, hpda: 0, pdo: 24, len: 512, datao: 0, flags: PduFlags.DATA_LAST },
  { name: 'header digest, HPDA 0', hdgst: true, ddgst: false, hpda: 0, pdo: 28, len: 4096, datao: 8192, flags: PduFlags.DATA_LAST | PduFlags.DATA_SUCCESS },
  { name: 'both digests, HPDA 0', hdgst: true, ddgst: true, hpda: 0, pdo: 28, len: 1000, datao: 4096, flags: 0 },
  { name: 'data digest only, HPDA 0', hdgst: false, ddgst: true, hpda: 0, pdo: 24, len: 4096, datao: 0, flags: PduFlags.DATA_LAST },
  { name: 'no digests, HPDA 1 (8-byte alignment: 24 already aligned)', hdgst: false, ddgst: false, hpda: 1, pdo: 24, len: 64, datao: 0, flags: 0 },
  { name: 'header digest, HPDA 1 (28 rounds up to 32)', hdgst: true, ddgst: false, hpda: 1, pdo: 32, len: 64, datao: 0, flags: 0 },
  { name: 'header digest, HPDA 2 (12-byte alignment: 28 rounds up to 36)', hdgst: true, ddgst: true, hpda: 2, pdo: 36, len: 300, datao: 512, flags: PduFlags.DATA_LAST },
  { name: 'no digests, HPDA 7 (32-byte alignment)', hdgst: false, ddgst: false, hpda: 7, pdo: 32, len: 512, datao: 0, flags: PduFlags.DATA_LAST },
  { name: 'both digests, HPDA 31 (128-byte alignment)', hdgst: true, ddgst: true, hpda: 31, pdo: 128, len: 8192, datao: 0x10000, flags: PduFlags.DATA_LAST | PduFlags.DATA_SUCCESS },
];

for (const c of c2hCases) {
  test(`pdu-writer: C2HData (${c.name}): PDO ${c.pdo}, zero padding, digests, fields`, () => {
    const data = pattern(c.len, c.pdo);
    const cid = 0x0a0b;
    const { sock, bytes } = emit((q) => writeC2HData(q, c.hdgst, c.ddgst, (c.hpda + 1) * 4, cid, c.datao, data, c.flags), { hdgst: c.hdgst, ddgst: c.ddgst });
    const plen = c.pdo + c.len + (c.ddgst ? 4 : 0);
    const flags = c.flags | (c.hdgst ? PduFlags.HDGSTF : 0) | (c.ddgst ? PduFlags.DDGSTF : 0);
    assert.deepEqual(ch(bytes), { type: 0x07, flags, hlen: 24, pdo: c.pdo, plen });
    assert.equal(bytes.length, plen);
    assert.equal(c.pdo % ((c.hpda + 1) * 4), 0, 'PDO is a multiple of the host alignment');
    assert.equal(bytes.readUInt16LE(8), cid, 'CCCID');
    assert.equal(bytes.readUInt16LE(10), 0, 'TTAG reserved in C2HData');
    assert.equal(bytes.readUInt32LE(12), c.datao, 'DATAO');
    assert.equal(bytes.readUInt32LE(16), c.len, 'DATAL');
    assertZero(bytes, 20, 24, 'C2HData reserved');
    const hdrEnd = 24 + (c.hdgst ? 4 : 0);
    if (c.hdgst) assert.equal(bytes.readUInt32LE(24), crc32c(bytes, 0, 24), 'header digest');
    assertZero(bytes, hdrEnd, c.pdo, 'padding up to PDO');
    assert.deepEqual(bytes.subarray(c.pdo, c.pdo + c.len), data, 'the data at PDO');
    if (c.ddgst) assert.equal(bytes.readUInt32LE(c.pdo + c.len), crc32c(data), 'data digest after the data');
    const p = sock.pdus[0]!;
    assert.equal(sock.pdus.length, 1);
    assert.equal(p.type, PduType.C2HData);
    assert.deepEqual(p.data, data, 'the reader gets the data back');
    assert.equal(p.ddgstOk, true, 'the reader finds the data digest right');
  });
}

test('pdu-writer: C2HData, data digest, CapsuleResp and R2T in one batch parse back in order', () => {
  const d1 = pattern(4096, 1);
  const d2 = pattern(512, 2);
  const { sock } = emit(
    (q) => {
      writeC2HData(q, true, true, 4, 1, 0, d1, 0);
      writeC2HData(q, true, true, 4, 1, 4096, d2, PduFlags.DATA_LAST);
      writeCapsuleResp(q, true, 0, 0, 3, 1, 1, 0);
      writeR2T(q, true, 2, 5, 0, 8192);
    },
    { hdgst: true, ddgst: true },
  );
  assert.deepEqual(
    sock.pdus.map((p) => p.type),
    [PduType.C2HData, PduType.C2HData, PduType.CapsuleResp, PduType.R2T],
  );
  assert.deepEqual(sock.pdus[0]!.data, d1);
  assert.deepEqual(sock.pdus[1]!.data, d2);
  assert.ok(sock.pdus.every((p) => p.ddgstOk));
  assert.equal(parseCqe(sock.pdus[2]!.hdr).sqhd, 3);
  assert.equal(sock.pdus[3]!.hdr.readUInt32LE(16), 8192);
});

test('pdu-writer: C2HData with copyOf sends our buffer holding the source bytes (copied at the flush with a data digest, at once without)', () => {
  for (const ddgst of [true, false]) {
    const source = pattern(4096, 9);
    const ours = Buffer.alloc(4096);
    const q = new OutQueue();
    writeC2HData(q, true, ddgst, 4, 7, 0, ours, PduFlags.DATA_LAST, source);
    const want = Buffer.from(source);
    const sock = new FakeSocket({ hdgst: true, ddgst });
    q.flush(sock.asSocket);
    // The source changing after the flush changes nothing that was sent.
    source.fill(0);
    assert.ok(sock.writes.some((w) => w.chunk.buffer === ours.buffer && w.chunk.byteOffset === ours.byteOffset && w.chunk.length === ours.length), `${ddgst ? 'digest' : 'no digest'}: our buffer is what goes out`);
    assert.deepEqual(ours, want, 'it holds the source bytes');
    assert.equal(sock.pdus.length, 1);
    assert.deepEqual(sock.pdus[0]!.data, want);
    assert.equal(sock.pdus[0]!.ddgstOk, true);
    if (ddgst) assert.equal(sock.written().readUInt32LE(28 + 4096), crc32c(want), 'the data digest covers the copy');
  }
});

// ---- R2T ----

const r2tCases = [
  { name: 'no header digest', hdgst: false, cid: 3, ttag: 0, r2to: 0, r2tl: 4096 },
  { name: 'with a header digest', hdgst: true, cid: 0xfffe, ttag: 0x7f, r2to: 131072, r2tl: 0x100000 },
];

for (const c of r2tCases) {
  test(`pdu-writer: R2T (${c.name}): CCCID, TTAG, R2TO, R2TL`, () => {
    const { sock, bytes } = emit((q) => writeR2T(q, c.hdgst, c.cid, c.ttag, c.r2to, c.r2tl), { hdgst: c.hdgst });
    const total = 24 + (c.hdgst ? 4 : 0);
    assert.deepEqual(ch(bytes), { type: 0x09, flags: c.hdgst ? PduFlags.HDGSTF : 0, hlen: 24, pdo: 0, plen: total });
    assert.equal(bytes.length, total);
    assert.equal(bytes.readUInt16LE(8), c.cid, 'CCCID');
    assert.equal(bytes.readUInt16LE(10), c.ttag, 'TTAG');
    assert.equal(bytes.readUInt32LE(12), c.r2to, 'R2TO');
    assert.equal(bytes.readUInt32LE(16), c.r2tl, 'R2TL');
    assertZero(bytes, 20, 24, 'R2T reserved');
    if (c.hdgst) assert.equal(bytes.readUInt32LE(24), crc32c(bytes, 0, 24), 'header digest');
    assert.equal(sock.pdus.length, 1);
    assert.equal(sock.pdus[0]!.type, PduType.R2T);
  });
}

// ---- C2HTermReq ----

const termCases = [
  { name: 'no offending header', fes: 0x02, fei: 0, offending: 0, errorData: 0 },
  { name: 'a 24-byte offending header', fes: 0x01, fei: 10, offending: 24, errorData: 24 },
  { name: 'a 128-byte offending header (the cap exactly)', fes: 0x01, fei: 2, offending: 128, errorData: 128 },
  { name: 'a 200-byte offending PDU, capped at 128 bytes', fes: 0x05, fei: 4, offending: 200, errorData: 128 },
  { name: 'FEI 2^32-1', fes: 0x04, fei: 0xffffffff, offending: 76, errorData: 76 },
];

for (const c of termCases) {
  test(`pdu-writer: C2HTermReq (${c.name}): FES, FEI, PDU Error Data`, () => {
    const offending = pattern(c.offending, 9);
    // Even with digests negotiated, a TermReq carries none.
    const { sock, bytes } = emit((q) => writeC2HTermReq(q, c.fes, c.fei, offending), { hdgst: true, ddgst: true });
    assert.deepEqual(ch(bytes), { type: 0x03, flags: 0, hlen: 24, pdo: 0, plen: 24 + c.errorData });
    assert.equal(bytes.length, 24 + c.errorData);
    assert.equal(bytes.readUInt16LE(8), c.fes, 'FES');
    assert.equal(bytes.readUInt32LE(10), c.fei, 'FEI');
    assertZero(bytes, 14, 24, 'C2HTermReq reserved');
    assert.deepEqual(bytes.subarray(24), offending.subarray(0, c.errorData), 'PDU Error Data: the start of the offending PDU');
    assert.equal(sock.pdus.length, 1);
    const t = parseTermReq(sock.pdus[0]!.hdr, sock.pdus[0]!.data);
    assert.deepEqual(t, { type: PduType.C2HTermReq, fes: c.fes, fei: c.fei, errorData: offending.subarray(0, c.errorData) });
  });
}
