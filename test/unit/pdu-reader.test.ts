// PduReader: the receive state machine fed whole streams, byte by byte and at random split points;
// header and data digests good and bad; malformed headers; padding between header and data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PduReader, RecvState, type PduSink } from '../../src/transport/tcp/pdu-reader.js';
import { CH, DATA, FES, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { CQE } from '../../src/spec/sqe.js';
import { crc32c } from '../../src/native/crc32c.js';
import { buildCapsuleCmd, buildH2CData, buildH2CTermReq, buildICReq, type LinkParams } from '../../src/initiator/pdu-build.js';
import { mulberry32, pattern, sqeWith } from './reader-helpers.js';

const TARGET_ACCEPT = [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData];
const HOST_ACCEPT = [PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T];

type Ev =
  | { ev: 'pdu'; type: number; hdr: Buffer; data: Buffer | null; ddgstOk: boolean }
  | { ev: 'fatal'; fes: number; fei: number; reason: string };

class Recorder implements PduSink {
  readonly events: Ev[] = [];
  headers = 0;
  onHeader(_hdr: Buffer, dataLen: number): Uint8Array | null {
    this.headers++;
    return new Uint8Array(dataLen);
  }
  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    this.events.push({ ev: 'pdu', type: hdr[CH.pduType]!, hdr: Buffer.from(hdr.subarray(0, hdr[CH.hlen]!)), data: data ? Buffer.from(data) : null, ddgstOk });
  }
  onFatal(fes: number, fei: number, _hdr: Buffer, reason: string): void {
    this.events.push({ ev: 'fatal', fes, fei, reason });
  }
  pdus(): Extract<Ev, { ev: 'pdu' }>[] {
    return this.events.filter((e): e is Extract<Ev, { ev: 'pdu' }> => e.ev === 'pdu');
  }
  fatal(): Extract<Ev, { ev: 'fatal' }> {
    const f = this.events.find((e): e is Extract<Ev, { ev: 'fatal' }> => e.ev === 'fatal');
    assert.ok(f, `expected a fatal error, got ${JSON.stringify(this.events.map((e) => e.ev))}`);
    return f;
  }
}

function reader(sink: PduSink, o: { role?: 'target' | 'host'; hdgst?: boolean; ddgst?: boolean; maxPlen?: number } = {}): PduReader {
  const r = new PduReader(sink, { accept: o.role === 'host' ? HOST_ACCEPT : TARGET_ACCEPT, maxPlen: o.maxPlen ?? 1 << 20 });
  r.hdgst = o.hdgst ?? false;
  r.ddgst = o.ddgst ?? false;
  return r;
}

/** A mixed stream (no ICReq: digests apply to every PDU in it) and what the reader must report. */
function stream(p: LinkParams): { bytes: Buffer; expect: { type: number; cid: number; data: Buffer | null }[] } {
  const d1 = pattern(4096, 1);
  const d2 = pattern(777, 2);
  const d3 = pattern(1, 3);
  const parts = [
    buildCapsuleCmd(sqeWith(0x02, 1), null, p),
    buildCapsuleCmd(sqeWith(0x01, 2), d1, p),
    buildH2CData(3, 9, 0, d2, false, p),
    buildH2CData(3, 9, 777, d3, true, p),
    buildCapsuleCmd(sqeWith(0x00, 4), null, p),
  ];
  return {
    bytes: Buffer.concat(parts),
    expect: [
      { type: PduType.CapsuleCmd, cid: 1, data: null },
      { type: PduType.CapsuleCmd, cid: 2, data: d1 },
      { type: PduType.H2CData, cid: 3, data: d2 },
      { type: PduType.H2CData, cid: 3, data: d3 },
      { type: PduType.CapsuleCmd, cid: 4, data: null },
    ],
  };
}

function checkStream(rec: Recorder, expect: ReturnType<typeof stream>['expect']): void {
  assert.deepEqual(rec.events.filter((e) => e.ev === 'fatal'), []);
  const got = rec.pdus();
  assert.equal(got.length, expect.length);
  got.forEach((g, i) => {
    const x = expect[i]!;
    assert.equal(g.type, x.type, `PDU ${i} type`);
    const cid = g.type === PduType.CapsuleCmd ? g.hdr.readUInt16LE(8 + 2) : g.hdr.readUInt16LE(DATA.cccid);
    assert.equal(cid, x.cid, `PDU ${i} cid`);
    assert.equal(g.ddgstOk, true, `PDU ${i} data digest`);
    if (x.data === null) assert.equal(g.data, null, `PDU ${i} has no data`);
    else assert.ok(g.data !== null && g.data.equals(x.data), `PDU ${i} data`);
  });
}

const LINKS: [string, LinkParams][] = [
  ['no digests', { hdgst: false, ddgst: false, cpda: 0 }],
  ['header digest', { hdgst: true, ddgst: false, cpda: 0 }],
  ['data digest', { hdgst: false, ddgst: true, cpda: 0 }],
  ['both digests', { hdgst: true, ddgst: true, cpda: 0 }],
  ['both digests, PDO aligned to 64 bytes', { hdgst: true, ddgst: true, cpda: 15 }],
];

for (const [name, p] of LINKS) {
  test(`pdu-reader: whole stream in one chunk (${name})`, () => {
    const { bytes, expect } = stream(p);
    const rec = new Recorder();
    const r = reader(rec, p);
    r.push(bytes);
    checkStream(rec, expect);
    assert.equal(r.state, RecvState.HEADER);
  });

  test(`pdu-reader: byte by byte (${name})`, () => {
    const { bytes, expect } = stream(p);
    const rec = new Recorder();
    const r = reader(rec, p);
    for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
    checkStream(rec, expect);
  });

  test(`pdu-reader: random splits (${name})`, () => {
    const { bytes, expect } = stream(p);
    const rnd = mulberry32(0xc0ffee + p.cpda + (p.hdgst ? 2 : 0) + (p.ddgst ? 4 : 0));
    for (let round = 0; round < 50; round++) {
      const rec = new Recorder();
      const r = reader(rec, p);
      let at = 0;
      while (at < bytes.length) {
        // Mostly small pieces, sometimes large ones that hold several PDUs.
        const n = rnd() < 0.8 ? 1 + Math.floor(rnd() * 100) : 1 + Math.floor(rnd() * 6000);
        r.push(bytes.subarray(at, Math.min(bytes.length, at + n)));
        at += n;
      }
      checkStream(rec, expect);
    }
  });
}

test('pdu-reader: two streams concatenated with a split inside every field still parse', () => {
  const p = { hdgst: true, ddgst: true, cpda: 0 };
  const a = stream(p);
  const both = Buffer.concat([a.bytes, a.bytes]);
  // Split at every position once: a header, digest, data or padding boundary is hit by some cut.
  for (let cut = 1; cut < 200; cut++) {
    const rec = new Recorder();
    const r = reader(rec, p);
    r.push(both.subarray(0, cut));
    r.push(both.subarray(cut));
    checkStream(rec, [...a.expect, ...a.expect]);
  }
});

test('pdu-reader: ICReq is never digested, even after digests were enabled', () => {
  const rec = new Recorder();
  const r = reader(rec, { hdgst: true, ddgst: true });
  r.push(buildICReq({ hdgst: true, ddgst: true, maxr2t: 3 }));
  assert.equal(rec.pdus().length, 1);
  assert.equal(rec.pdus()[0]!.type, PduType.ICReq);
});

test('pdu-reader: bad header digest is fatal with FES Header Digest Error', () => {
  const p = { hdgst: true, ddgst: false, cpda: 0 };
  const pdu = buildCapsuleCmd(sqeWith(0x02, 5), null, p);
  pdu[72] ^= 0x01; // first byte of the header digest
  const rec = new Recorder();
  const r = reader(rec, p);
  r.push(Buffer.concat([pdu, buildCapsuleCmd(sqeWith(0x02, 6), null, p)]));
  const f = rec.fatal();
  assert.equal(f.fes, FES.HEADER_DIGEST_ERROR);
  assert.equal(rec.pdus().length, 0, 'nothing delivered, not even the good PDU after it');
  assert.equal(r.state, RecvState.ERROR);
});

test('pdu-reader: a corrupted header byte (digest intact) fails the header digest', () => {
  const p = { hdgst: true, ddgst: false, cpda: 0 };
  const pdu = buildCapsuleCmd(sqeWith(0x02, 5), null, p);
  pdu[8 + 40] ^= 0x80; // inside cdw10
  const rec = new Recorder();
  reader(rec, p).push(pdu);
  assert.equal(rec.fatal().fes, FES.HEADER_DIGEST_ERROR);
});

test('pdu-reader: missing header digest flag against the negotiated setting is fatal', () => {
  const rec = new Recorder();
  const r = reader(rec, { hdgst: true });
  r.push(buildCapsuleCmd(sqeWith(0x02, 5), null, { hdgst: false, ddgst: false, cpda: 0 }));
  const f = rec.fatal();
  assert.equal(f.fes, FES.INVALID_PDU_HEADER_FIELD);
  assert.equal(f.fei, CH.flags);
});

test('pdu-reader: bad data digest is reported per PDU and the stream goes on', () => {
  const p = { hdgst: false, ddgst: true, cpda: 0 };
  const data = pattern(1000, 9);
  const bad = buildCapsuleCmd(sqeWith(0x01, 7), data, p);
  bad[bad.length - 1] ^= 0xff;
  const good = buildCapsuleCmd(sqeWith(0x01, 8), data, p);
  for (const split of [0, 1, 3]) {
    const rec = new Recorder();
    const r = reader(rec, p);
    const all = Buffer.concat([bad, good]);
    if (split === 0) r.push(all);
    else for (let i = 0; i < all.length; i += split) r.push(all.subarray(i, i + split));
    const got = rec.pdus();
    assert.equal(got.length, 2);
    assert.equal(got[0]!.ddgstOk, false);
    assert.ok(got[0]!.data!.equals(data), 'data still delivered for the caller to fail the command');
    assert.equal(got[1]!.ddgstOk, true);
    assert.equal(r.state, RecvState.HEADER);
  }
});

test('pdu-reader: corrupted data with an intact digest is caught', () => {
  const p = { hdgst: false, ddgst: true, cpda: 0 };
  const pdu = buildH2CData(1, 2, 0, pattern(512, 4), true, p);
  pdu[24 + 100] ^= 0x10;
  const rec = new Recorder();
  reader(rec, p).push(pdu);
  assert.equal(rec.pdus()[0]!.ddgstOk, false);
});

test('pdu-reader: missing data digest flag against the negotiated setting is fatal', () => {
  const rec = new Recorder();
  reader(rec, { ddgst: true }).push(buildCapsuleCmd(sqeWith(0x01, 1), pattern(64, 1), { hdgst: false, ddgst: false, cpda: 0 }));
  const f = rec.fatal();
  assert.equal(f.fes, FES.INVALID_PDU_HEADER_FIELD);
  assert.equal(f.fei, CH.flags);
});

test('pdu-reader: wrong HLEN is fatal, FEI pointing at HLEN', () => {
  const pdu = buildCapsuleCmd(sqeWith(0x02, 1), null, { hdgst: false, ddgst: false, cpda: 0 });
  pdu[CH.hlen] = 64;
  const rec = new Recorder();
  const r = reader(rec);
  r.push(pdu);
  const f = rec.fatal();
  assert.equal(f.fes, FES.INVALID_PDU_HEADER_FIELD);
  assert.equal(f.fei, CH.hlen);
  assert.equal(rec.headers, 0);
});

test('pdu-reader: PLEN beyond the maximum is fatal before any data is read', () => {
  const p = { hdgst: false, ddgst: false, cpda: 0 };
  const pdu = buildCapsuleCmd(sqeWith(0x01, 1), pattern(8192, 1), p);
  const rec = new Recorder();
  const r = reader(rec, { maxPlen: 72 + 4096 });
  r.push(pdu.subarray(0, CH.size)); // only the common header: the check must not wait for more
  const f = rec.fatal();
  assert.equal(f.fes, FES.DATA_TRANSFER_LIMIT_EXCEEDED);
  assert.equal(f.fei, CH.plen);
  assert.equal(rec.headers, 0);
});

test('pdu-reader: a PLEN with its top bit set reads as a large unsigned length (beyond the maximum), not a negative one', () => {
  for (const plen of [0x80000000, 0xffffffff, 0x80000048]) {
    const pdu = buildCapsuleCmd(sqeWith(0x01, 1), null, { hdgst: false, ddgst: false, cpda: 0 });
    pdu.writeUInt32LE(plen, CH.plen);
    const rec = new Recorder();
    reader(rec).push(pdu.subarray(0, CH.size));
    const f = rec.fatal();
    assert.equal(f.fes, FES.DATA_TRANSFER_LIMIT_EXCEEDED, `PLEN 0x${plen.toString(16)}`);
    assert.equal(f.fei, CH.plen);
    assert.match(f.reason, new RegExp(`PLEN ${plen} beyond`));
  }
});

test('pdu-reader: PLEN shorter than the header is fatal', () => {
  const pdu = buildCapsuleCmd(sqeWith(0x02, 1), null, { hdgst: false, ddgst: false, cpda: 0 });
  pdu.writeUInt32LE(40, CH.plen);
  const rec = new Recorder();
  reader(rec).push(pdu);
  const f = rec.fatal();
  assert.equal(f.fes, FES.INVALID_PDU_HEADER_FIELD);
  assert.equal(f.fei, CH.plen);
});

test('pdu-reader: unknown PDU type is fatal, FEI 0', () => {
  for (const type of [0x08, 0x0a, 0x7f, 0xff]) {
    const b = Buffer.alloc(24);
    b[CH.pduType] = type;
    b[CH.hlen] = 24;
    b.writeUInt32LE(24, CH.plen);
    const rec = new Recorder();
    reader(rec).push(b);
    const f = rec.fatal();
    assert.equal(f.fes, FES.INVALID_PDU_HEADER_FIELD, `type 0x${type.toString(16)}`);
    assert.equal(f.fei, CH.pduType);
  }
});

test('pdu-reader: a PDU type of the other direction is refused (target role gets a C2HData)', () => {
  const b = Buffer.alloc(24);
  b[CH.pduType] = PduType.C2HData;
  b[CH.hlen] = 24;
  b.writeUInt32LE(24, CH.plen);
  const rec = new Recorder();
  reader(rec).push(b);
  assert.equal(rec.fatal().fes, FES.INVALID_PDU_HEADER_FIELD);
});

test('pdu-reader: PDO inside the header is fatal', () => {
  const p = { hdgst: false, ddgst: false, cpda: 0 };
  const pdu = buildCapsuleCmd(sqeWith(0x01, 1), pattern(100, 1), p);
  pdu[CH.pdo] = 40;
  const rec = new Recorder();
  reader(rec).push(pdu);
  const f = rec.fatal();
  assert.equal(f.fes, FES.INVALID_PDU_HEADER_FIELD);
  assert.equal(f.fei, CH.pdo);
});

test('pdu-reader: padding between header and PDO is skipped, split anywhere', () => {
  for (const p of [
    { hdgst: false, ddgst: false, cpda: 1 }, // 72 -> 72 (already 8-aligned)
    { hdgst: true, ddgst: false, cpda: 1 }, // 76 -> 80
    { hdgst: false, ddgst: true, cpda: 31 }, // 72 -> 128
    { hdgst: true, ddgst: true, cpda: 31 }, // 76 -> 128
  ]) {
    const data = pattern(3000, 5);
    const pdu = buildCapsuleCmd(sqeWith(0x01, 11), data, p);
    const expectPdo = Math.ceil((72 + (p.hdgst ? 4 : 0)) / ((p.cpda + 1) * 4)) * (p.cpda + 1) * 4;
    assert.equal(pdu[CH.pdo], expectPdo);
    // Fill the padding with garbage: the reader must not look at it.
    pdu.fill(0xee, 72 + (p.hdgst ? 4 : 0), expectPdo);
    for (const step of [pdu.length, 1, 7, 77]) {
      const rec = new Recorder();
      const r = reader(rec, p);
      for (let i = 0; i < pdu.length; i += step) r.push(pdu.subarray(i, i + step));
      const got = rec.pdus();
      assert.equal(got.length, 1, `cpda ${p.cpda} step ${step}`);
      assert.ok(got[0]!.data!.equals(data));
      assert.equal(got[0]!.ddgstOk, true);
    }
  }
});

test('pdu-reader: H2CTermReq with error data is accepted without digests while digests are on', () => {
  const offending = Buffer.alloc(72, 0xab);
  const t = buildH2CTermReq(FES.PDU_SEQUENCE_ERROR, 0, offending);
  const rec = new Recorder();
  reader(rec, { hdgst: true, ddgst: true }).push(t);
  const got = rec.pdus();
  assert.equal(got.length, 1);
  assert.equal(got[0]!.type, PduType.H2CTermReq);
  assert.equal(got[0]!.hdr.readUInt16LE(TERM.fes), FES.PDU_SEQUENCE_ERROR);
  assert.ok(got[0]!.data!.equals(offending));
});

/** C2H PDUs built by hand for the host role. */
function c2h(type: number, hlen: number, fill: (b: Buffer) => void, data: Buffer | null, p: LinkParams): Buffer {
  const hd = p.hdgst ? 4 : 0;
  const pdo = data ? hlen + hd : 0;
  const plen = hlen + hd + (data ? data.length + (p.ddgst ? 4 : 0) : 0);
  const h = Buffer.alloc(hlen + hd);
  h[CH.pduType] = type;
  h[CH.flags] = (p.hdgst ? PduFlags.HDGSTF : 0) | (data && p.ddgst ? PduFlags.DDGSTF : 0);
  h[CH.hlen] = hlen;
  h[CH.pdo] = pdo;
  h.writeUInt32LE(plen, CH.plen);
  fill(h);
  if (p.hdgst) h.writeUInt32LE(crc32c(h, 0, hlen), hlen);
  if (!data) return h;
  const parts = [h, data];
  if (p.ddgst) {
    const d = Buffer.alloc(4);
    d.writeUInt32LE(crc32c(data), 0);
    parts.push(d);
  }
  return Buffer.concat(parts);
}

test('pdu-reader: host role parses CapsuleResp, R2T, C2HData with SUCCESS, C2HTermReq', () => {
  const p = { hdgst: true, ddgst: true, cpda: 0 };
  const data = pattern(5000, 8);
  const bytes = Buffer.concat([
    c2h(PduType.R2T, 24, (h) => {
      h.writeUInt16LE(3, DATA.cccid);
      h.writeUInt16LE(17, DATA.ttag);
      h.writeUInt32LE(4096, DATA.length);
    }, null, p),
    c2h(PduType.C2HData, 24, (h) => {
      h[CH.flags]! |= PduFlags.DATA_LAST | PduFlags.DATA_SUCCESS;
      h.writeUInt16LE(4, DATA.cccid);
      h.writeUInt32LE(data.length, DATA.length);
    }, data, p),
    c2h(PduType.CapsuleResp, 24, (h) => h.writeUInt16LE(5, 8 + CQE.cid), null, p),
  ]);
  const rec = new Recorder();
  const r = reader(rec, { role: 'host', ...p });
  for (let i = 0; i < bytes.length; i += 13) r.push(bytes.subarray(i, i + 13));
  const term = Buffer.alloc(24);
  term[CH.pduType] = PduType.C2HTermReq;
  term[CH.hlen] = 24;
  term.writeUInt32LE(24, CH.plen);
  term.writeUInt16LE(FES.INVALID_PDU_HEADER_FIELD, TERM.fes);
  r.push(term);
  const got = rec.pdus();
  assert.deepEqual(got.map((g) => g.type), [PduType.R2T, PduType.C2HData, PduType.CapsuleResp, PduType.C2HTermReq]);
  assert.equal(got[0]!.hdr.readUInt16LE(DATA.ttag), 17);
  assert.ok(got[1]!.data!.equals(data));
  assert.equal(got[1]!.ddgstOk, true);
  assert.equal(got[2]!.hdr.readUInt16LE(8 + CQE.cid), 5);
});

test('pdu-reader: host role refuses a CapsuleCmd from the controller', () => {
  const rec = new Recorder();
  reader(rec, { role: 'host' }).push(buildCapsuleCmd(sqeWith(0x02, 1), null, { hdgst: false, ddgst: false, cpda: 0 }));
  assert.equal(rec.fatal().fes, FES.INVALID_PDU_HEADER_FIELD);
});

test('pdu-reader: digests can be switched on between PDUs of one chunk (as after ICReq)', () => {
  const rec = new Recorder();
  let r: PduReader | null = null;
  const sink: PduSink = {
    onHeader: (h, n) => rec.onHeader(h, n),
    onFatal: (a, b, h, s) => rec.onFatal(a, b, h, s),
    onPdu: (h, d, ok) => {
      rec.onPdu(h, d, ok);
      if (h[CH.pduType] === PduType.ICReq) {
        r!.hdgst = true;
        r!.ddgst = true;
      }
    },
  };
  r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
  const p = { hdgst: true, ddgst: true, cpda: 0 };
  const data = pattern(300, 1);
  r.push(Buffer.concat([buildICReq({ hdgst: true, ddgst: true }), buildCapsuleCmd(sqeWith(0x01, 1), data, p)]));
  const got = rec.pdus();
  assert.equal(got.length, 2);
  assert.ok(got[1]!.data!.equals(data));
  assert.equal(got[1]!.ddgstOk, true);
});

test('pdu-reader: each header is handed out at its exact length, without bytes of longer earlier headers', () => {
  const p = { hdgst: true, ddgst: false, cpda: 0 };
  const seen: number[] = [];
  const tails: Buffer[] = [];
  const sink: PduSink = {
    onHeader: (h, n) => {
      seen.push(h.length);
      return new Uint8Array(n);
    },
    onPdu: (h) => {
      seen.push(h.length);
      tails.push(Buffer.from(h));
    },
    onFatal: () => assert.fail('no fatal error expected'),
  };
  const r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
  r.hdgst = true;
  r.push(Buffer.concat([buildCapsuleCmd(sqeWith(0x01, 1), null, p), buildH2CData(1, 2, 0, pattern(100, 1), true, p)]));
  assert.deepEqual(seen, [76, 76, 28, 28], 'CapsuleCmd 72+4, H2CData 24+4 (onHeader and onPdu of each)');
  assert.equal(tails[1]![0], PduType.H2CData);
});

test('pdu-reader: every PDU, with or without data, is shown to onHeader before onPdu (one validation point)', () => {
  const p = { hdgst: false, ddgst: false, cpda: 0 };
  const calls: string[] = [];
  const sink: PduSink = {
    onHeader: (h, n) => {
      calls.push(`header ${h[0]} ${n}`);
      return new Uint8Array(n);
    },
    onPdu: (h, d) => {
      calls.push(`pdu ${h[0]} ${d?.length ?? 0}`);
    },
    onFatal: () => assert.fail('no fatal error expected'),
  };
  const r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
  // A header-only H2CData (PLEN == HLEN == 24), then a capsule without data.
  const empty = buildH2CData(1, 2, 0, new Uint8Array(0), true, p);
  r.push(Buffer.concat([empty, buildCapsuleCmd(sqeWith(0x01, 1), null, p)]));
  assert.deepEqual(calls, [`header ${PduType.H2CData} 0`, `pdu ${PduType.H2CData} 0`, `header ${PduType.CapsuleCmd} 0`, `pdu ${PduType.CapsuleCmd} 0`]);
});

test('pdu-reader: onHeader returning null for a PDU without data stops the reader (no onPdu)', () => {
  const p = { hdgst: false, ddgst: false, cpda: 0 };
  let pdus = 0;
  const sink: PduSink = {
    onHeader: () => null,
    onPdu: () => {
      pdus++;
    },
    onFatal: () => undefined,
  };
  const r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
  r.push(Buffer.concat([buildCapsuleCmd(sqeWith(0x01, 1), null, p), buildCapsuleCmd(sqeWith(0x01, 2), null, p)]));
  assert.equal(pdus, 0);
  assert.equal(r.state, RecvState.ERROR);
});

test('pdu-reader: the header given with a fatal error is the offending header only', () => {
  const box: { got: Buffer | null } = { got: null };
  const sink: PduSink = {
    onHeader: (_h, n) => new Uint8Array(n),
    onPdu: () => undefined,
    onFatal: (_f, _i, h) => {
      box.got = Buffer.from(h);
    },
  };
  const r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
  const p = { hdgst: true, ddgst: false, cpda: 0 };
  r.hdgst = true;
  const bad = buildH2CData(1, 2, 0, pattern(100, 1), true, p);
  bad[24] ^= 1; // header digest
  r.push(Buffer.concat([buildCapsuleCmd(sqeWith(0x01, 1), null, p), bad]));
  assert.ok(box.got !== null);
  assert.equal(box.got.length, 28);
  assert.equal(box.got[0], PduType.H2CData);
});
