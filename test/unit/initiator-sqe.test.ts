// The initiator's SQE encoders and PDU builders, checked field by field against the spec offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/initiator/sqe-build.js';
import { buildCapsuleCmd, buildH2CData, buildH2CTermReq, buildICReq, dataOffset, parseCqe } from '../../src/initiator/pdu-build.js';
import { CommandResult } from '../../src/initiator/result.js';
import { CH, DATA, IC, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { SQE } from '../../src/spec/sqe.js';
import { crc32c } from '../../src/native/crc32c.js';

const sqe = (): Buffer => Buffer.alloc(64, 0xee);

test('initiator-sqe: Connect SQE and Connect data', () => {
  const s = S.fabricsConnect(sqe(), { qid: 3, queueSize: 128, kato: 5000, disableSqFlowControl: true });
  assert.equal(s[0], 0x7f);
  assert.equal(s[4], 0x01, 'FCTYPE Connect');
  assert.equal(s.readUInt16LE(40), 0, 'RECFMT');
  assert.equal(s.readUInt16LE(42), 3, 'QID');
  assert.equal(s.readUInt16LE(44), 127, 'SQSIZE is 0\'s based');
  assert.equal(s[46], 0x04, 'CATTR disable SQ flow control');
  assert.equal(s.readUInt32LE(48), 5000, 'KATO');
  assert.ok(s.subarray(8, 40).every((b) => b === 0), 'stale bytes cleared');
  const d = S.connectData({ hostid: Buffer.alloc(16, 0xab), cntlid: 0xffff, subnqn: 'nqn.a', hostnqn: 'nqn.b' });
  assert.equal(d.length, 1024);
  assert.ok(d.subarray(0, 16).every((b) => b === 0xab));
  assert.equal(d.readUInt16LE(16), 0xffff);
  assert.equal(d.toString('utf8', 256, 261), 'nqn.a');
  assert.equal(d[261], 0, 'NUL terminated');
  assert.equal(d.toString('utf8', 512, 517), 'nqn.b');
});

test('initiator-sqe: Property Get/Set', () => {
  const g = S.propertyGet(sqe(), 0x00, true);
  assert.equal(g[4], 0x04);
  assert.equal(g[40], 1, 'ATTRIB size 8');
  assert.equal(g.readUInt32LE(44), 0);
  const p = S.propertySet(sqe(), 0x14, 0x460001);
  assert.equal(p[4], 0x00);
  assert.equal(p[40], 0);
  assert.equal(p.readUInt32LE(44), 0x14);
  assert.equal(p.readBigUInt64LE(48), 0x460001n);
  assert.equal(S.fabricsDisconnect(sqe())[4], 0x08);
});

test('initiator-sqe: Identify, Get Log Page (NUMDL/NUMDU split, offset), features, abort', () => {
  const id = S.identify(sqe(), 0x03, 7, 0x1234, 2);
  assert.equal(id[0], 0x06);
  assert.equal(id.readUInt32LE(SQE.nsid), 7);
  assert.equal(id.readUInt32LE(SQE.cdw10), 0x1234_0003);
  assert.equal(id.readUInt32LE(SQE.cdw11) >>> 24, 2, 'CSI');

  const big = 0x40000 * 4 + 8; // NUMD needs more than 16 bits
  const lp = S.getLogPage(sqe(), 0x70, big, 2 ** 33 + 4, { rae: true, lsp: 1, nsid: 0 });
  const numd = big / 4 - 1;
  assert.equal(lp[0], 0x02);
  assert.equal(lp.readUInt32LE(SQE.cdw10) & 0xff, 0x70);
  assert.equal((lp.readUInt32LE(SQE.cdw10) >>> 8) & 0x7f, 1, 'LSP');
  assert.equal((lp.readUInt32LE(SQE.cdw10) >>> 15) & 1, 1, 'RAE');
  assert.equal(lp.readUInt32LE(SQE.cdw10) >>> 16, numd & 0xffff, 'NUMDL');
  assert.equal(lp.readUInt32LE(SQE.cdw11) & 0xffff, numd >>> 16, 'NUMDU');
  assert.equal(lp.readBigUInt64LE(SQE.cdw12), 2n ** 33n + 4n, 'LPOL/LPOU');
  assert.throws(() => S.getLogPage(sqe(), 1, 6));

  const gf = S.getFeatures(sqe(), 0x07, 3, 9);
  assert.equal(gf.readUInt32LE(SQE.cdw10), (3 << 8) | 7);
  assert.equal(gf.readUInt32LE(SQE.cdw11), 9);
  const sf = S.setFeatures(sqe(), 0x0f, 15000, true);
  assert.equal(sf.readUInt32LE(SQE.cdw10) >>> 0, (0x8000_0000 | 0x0f) >>> 0, 'SV bit 31');
  const ab = S.abort(sqe(), 2, 0x55);
  assert.equal(ab.readUInt32LE(SQE.cdw10), (0x55 << 16) | 2);
});

test('initiator-sqe: I/O commands: 64-bit SLBA, 0\'s based NLB, FUA, DEAC, DSM ranges', () => {
  const r = S.readWrite(sqe(), 0x02, 1, 2 ** 40 + 3, 256, { fua: true });
  assert.equal(r.readBigUInt64LE(40), 2n ** 40n + 3n);
  assert.equal(r.readUInt32LE(48) & 0xffff, 255);
  assert.equal(r.readUInt32LE(48) >>> 30 & 1, 1, 'FUA bit 30');
  const rb = S.readWrite(sqe(), 0x01, 1, 2n ** 63n + 1n, 1);
  assert.equal(rb.readBigUInt64LE(40), 2n ** 63n + 1n);
  assert.throws(() => S.readWrite(sqe(), 0x02, 1, 0, 0));
  assert.throws(() => S.readWrite(sqe(), 0x02, 1, 0, 65537));
  const wz = S.writeZeroes(sqe(), 1, 10, 4, true);
  assert.equal(wz[0], 0x08);
  assert.equal(wz.readUInt32LE(48), (1 << 25) | 3);
  const dsm = S.datasetManagement(sqe(), 1, 2, true);
  assert.equal(dsm[0], 0x09);
  assert.equal(dsm.readUInt32LE(SQE.cdw10), 1, 'NR is 0\'s based');
  assert.equal(dsm.readUInt32LE(SQE.cdw11), 4, 'AD');
  const ranges = S.encodeDsmRanges([{ slba: 2 ** 35, nlb: 8, cattr: 1 }, { slba: 5, nlb: 1 }]);
  assert.equal(ranges.length, 32);
  assert.equal(ranges.readUInt32LE(0), 1);
  assert.equal(ranges.readUInt32LE(4), 8);
  assert.equal(ranges.readBigUInt64LE(8), 2n ** 35n);
  assert.equal(ranges.readBigUInt64LE(24), 5n);
});

test('initiator-sqe: Verify and Copy (SDLBA, NR 0\'s based, descriptor format, FUA) and format 0 source ranges', () => {
  const v = S.verify(sqe(), 1, 2n ** 40n + 5n, 16);
  assert.equal(v[0], 0x0c);
  assert.equal(v.readBigUInt64LE(40), 2n ** 40n + 5n, 'SLBA');
  assert.equal(v.readUInt32LE(48), 15, 'NLB 0\'s based, no flags');
  assert.equal(v.readUInt32LE(24), 0, 'no data pointer set by the encoder');
  const c = S.copy(sqe(), 3, 7000, 2, { fua: true, desfmt: 1 });
  assert.equal(c[0], 0x19);
  assert.equal(c.readUInt32LE(4), 3, 'NSID');
  assert.equal(c.readBigUInt64LE(40), 7000n, 'SDLBA in CDW10-11');
  assert.equal(c.readUInt32LE(48), (1 | (1 << 8) | (1 << 30)) >>> 0, 'NR=1 (two ranges), DESFMT 1, FUA');
  const r = S.encodeCopyRanges([{ slba: 2n ** 33n, nlb: 65536 }, { slba: 9, nlb: 1 }]);
  assert.equal(r.length, 64, '32 bytes per range');
  assert.equal(r.readBigUInt64LE(8), 2n ** 33n);
  assert.equal(r.readUInt16LE(16), 0xffff, 'NLB 0\'s based');
  assert.equal(r.readBigUInt64LE(40), 9n);
  assert.equal(r.readUInt16LE(48), 0);
  assert.ok(r.subarray(0, 8).every((b) => b === 0) && r.subarray(18, 32).every((b) => b === 0), 'reserved bytes zero');
  assert.throws(() => S.copy(sqe(), 1, 0, 257), RangeError);
  assert.throws(() => S.encodeCopyRanges([{ slba: 0, nlb: 0 }]), RangeError);
  assert.throws(() => S.verify(sqe(), 1, 0, 0x10001), RangeError);
});

test('initiator-sqe: host PDUs: ICReq, CapsuleCmd, H2CData, H2CTermReq layouts and digests', () => {
  const ic = buildICReq({ hpda: 2, hdgst: true, ddgst: false, maxr2t: 7 });
  assert.deepEqual([ic[CH.pduType], ic[CH.hlen], ic.readUInt32LE(CH.plen)], [PduType.ICReq, 128, 128]);
  assert.deepEqual([ic[IC.pda], ic[IC.digest], ic.readUInt32LE(IC.maxr2tOrMaxdata)], [2, 1, 7]);

  const p = { hdgst: true, ddgst: true, cpda: 0 };
  const data = Buffer.from('in-capsule data!');
  const cap = buildCapsuleCmd(S.keepAlive(sqe()), data, p);
  assert.equal(cap[CH.hlen], 72);
  assert.equal(cap[CH.pdo], 76);
  assert.equal(cap.readUInt32LE(CH.plen), 76 + data.length + 4);
  assert.equal(cap[CH.flags], PduFlags.HDGSTF | PduFlags.DDGSTF);
  assert.equal(cap.readUInt32LE(72), crc32c(cap, 0, 72), 'header digest');
  assert.equal(cap.readUInt32LE(cap.length - 4), crc32c(data), 'data digest');
  const noData = buildCapsuleCmd(S.keepAlive(sqe()), null, p);
  assert.equal(noData.length, 76);
  assert.equal(noData[CH.pdo], 0);
  assert.equal(noData[CH.flags], PduFlags.HDGSTF, 'no DDGSTF without data');

  const h2c = buildH2CData(9, 3, 4096, data, true, { hdgst: false, ddgst: false, cpda: 3 });
  assert.equal(h2c[CH.pdo], 32, 'PDO aligned to (CPDA+1)*4');
  assert.equal(h2c.readUInt16LE(DATA.cccid), 9);
  assert.equal(h2c.readUInt16LE(DATA.ttag), 3);
  assert.equal(h2c.readUInt32LE(DATA.offset), 4096);
  assert.equal(h2c.readUInt32LE(DATA.length), data.length);
  assert.equal(h2c[CH.flags], PduFlags.DATA_LAST);
  assert.ok(h2c.subarray(24, 32).every((b) => b === 0), 'zero padding');
  assert.equal(dataOffset(24, { hdgst: true, ddgst: false, cpda: 31 }), 128);

  const t = buildH2CTermReq(0x02, 10, Buffer.alloc(200, 1));
  assert.equal(t.readUInt32LE(CH.plen), 24 + 128, 'error data capped at 128 bytes');
  assert.equal(t.readUInt16LE(TERM.fes), 2);
  assert.equal(t.readUInt32LE(TERM.fei), 10);
});

test('initiator-sqe: CQE parsing and status decoding', () => {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0x10100, 8);
  h.writeUInt16LE(0xffff, 8 + 8);
  h.writeUInt16LE(42, 8 + 12);
  h.writeUInt16LE(((0x4000 | (1 << 8) | 0x82) << 1) | 1, 8 + 14); // DNR, SCT 1, SC 0x82, phase 1
  const c = parseCqe(h);
  assert.equal(c.cid, 42);
  assert.equal(c.sqhd, 0xffff);
  const r = new CommandResult(c.status, c.dw0, c.dw1, c.sqhd, c.cid, null);
  assert.equal(r.sct, 1);
  assert.equal(r.sc, 0x82);
  assert.equal(r.dnr, true);
  assert.equal(r.ok, false);
  assert.match(r.name, /CONNECT_INVALID_PARAMETERS/);
});
