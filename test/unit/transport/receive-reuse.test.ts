// The receive path as the thread's receive buffer drives it: one buffer object, read into again and
// again (the PDU reader gathers headers through a word view of it, made once, and reads its
// ArrayBuffer and offset once per push), at any offset of its memory; in-capsule data lent from it;
// the backends a batch touched kicked at its end, batch after batch; latency sampled one command in 8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LEND_CHUNK, PduReader, type PduSink } from '../../../src/transport/tcp/pdu-reader.js';
import { CH, DATA, PduType } from '../../../src/spec/pdu.js';
import { buildCapsuleCmd, buildH2CData, type LinkParams } from '../../../src/initiator/pdu-build.js';
import * as S from '../../../src/initiator/sqe-build.js';
import { prepareSqe } from '../../../src/initiator/raw.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { threadStats } from '../../../src/runtime/stats.js';
import type { RamBackend } from '../../../src/backend/ram.js';
import type { TargetContext } from '../../../src/core/context.js';
import { mulberry32, pattern, sqeWith } from '../reader-helpers.js';
import { LINK, connectAdmin, connectIo, cqes, makeContext, until } from './session.js';
import { SUBNQN, makeConfig } from '../core/fakes.js';

const TARGET_ACCEPT = [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData];

interface Seen {
  type: number;
  cid: number;
  hdr: Buffer;
  data: Buffer | null;
  ddgstOk: boolean;
}

/** Records every PDU; capsule data is lent from the chunk when `lend` (copied at onPdu, as a sink must). */
class Sink implements PduSink {
  readonly seen: Seen[] = [];
  fatal: string | null = null;
  lent = 0;
  constructor(private readonly lend = false) {}
  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    if (this.lend && dataLen > 0 && hdr[CH.pduType] === PduType.CapsuleCmd) return LEND_CHUNK;
    return new Uint8Array(dataLen);
  }
  lendRefused(dataLen: number): Uint8Array {
    return new Uint8Array(dataLen);
  }
  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    const type = hdr[CH.pduType]!;
    const cid = type === PduType.CapsuleCmd ? hdr.readUInt16LE(8 + 2) : hdr.readUInt16LE(DATA.cccid);
    if (data !== null && data.length > 0 && !(data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.length === data.buffer.byteLength)) this.lent++;
    this.seen.push({ type, cid, hdr: Buffer.from(hdr), data: data ? Buffer.from(data) : null, ddgstOk });
  }
  onFatal(_fes: number, _fei: number, _hdr: Buffer, reason: string): void {
    this.fatal = reason;
  }
}

/** PDUs of every size class, so that headers start at every offset modulo 4 of the stream. */
function stream(p: LinkParams): { bytes: Buffer; want: { type: number; cid: number; data: Buffer | null }[] } {
  const parts: Buffer[] = [];
  const want: { type: number; cid: number; data: Buffer | null }[] = [];
  for (let i = 0; i < 40; i++) {
    const cid = 1 + i;
    const len = [0, 1, 2, 3, 4, 5, 7, 64, 513, 4096][i % 10]!;
    if (i % 7 === 3 && len > 0) {
      const d = pattern(len, i);
      parts.push(buildH2CData(cid, i, 0, d, true, p));
      want.push({ type: PduType.H2CData, cid, data: d });
      continue;
    }
    const d = len === 0 ? null : pattern(len, i);
    parts.push(buildCapsuleCmd(sqeWith(len === 0 ? 0x02 : 0x01, cid), d, p));
    want.push({ type: PduType.CapsuleCmd, cid, data: d });
  }
  return { bytes: Buffer.concat(parts), want };
}

function check(sink: Sink, want: ReturnType<typeof stream>['want'], what: string): void {
  assert.equal(sink.fatal, null, what);
  assert.equal(sink.seen.length, want.length, `${what}: PDUs`);
  sink.seen.forEach((s, i) => {
    const w = want[i]!;
    assert.equal(s.type, w.type, `${what}: PDU ${i} type`);
    assert.equal(s.cid, w.cid, `${what}: PDU ${i} cid`);
    assert.equal(s.ddgstOk, true, `${what}: PDU ${i} data digest`);
    if (w.data === null) assert.equal(s.data, null, `${what}: PDU ${i} has no data`);
    else assert.ok(s.data !== null && s.data.equals(w.data), `${what}: PDU ${i} data`);
  });
}

const LINKS: [string, LinkParams][] = [
  ['no digests', { hdgst: false, ddgst: false, cpda: 0 }],
  ['both digests', { hdgst: true, ddgst: true, cpda: 0 }],
  ['both digests, PDO aligned to 64 bytes', { hdgst: true, ddgst: true, cpda: 15 }],
];

for (const [name, p] of LINKS) {
  for (const base of [0, 1, 2, 4]) {
    test(`receive reuse: one receive buffer read into again and again, at offset ${base} of its memory (${name})`, () => {
      const { bytes, want } = stream(p);
      // The "socket" reads pieces of the stream into the same buffer object, overwriting the last read.
      const memory = Buffer.alloc(base + 16384);
      const rx = memory.subarray(base);
      for (const lend of [false, true]) {
        const rnd = mulberry32(0x5eed + base + (p.hdgst ? 16 : 0) + p.cpda);
        for (let round = 0; round < 8; round++) {
          const sink = new Sink(lend);
          const r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
          r.hdgst = p.hdgst;
          r.ddgst = p.ddgst;
          for (let at = 0; at < bytes.length; ) {
            // Mostly reads of many PDUs; some short ones that cut headers at every kind of place.
            const n = Math.min(bytes.length - at, rnd() < 0.3 ? 1 + Math.floor(rnd() * 9) : 1 + Math.floor(rnd() * rx.length));
            bytes.copy(rx, 0, at, at + n);
            r.push(rx, n);
            rx.fill(0xa5, 0, n); // the next read lands here: nothing kept may still point at it
            at += n;
          }
          check(sink, want, `${lend ? 'lent' : 'copied'}, round ${round}`);
          if (lend && round === 0) assert.ok(sink.lent > 0, 'some capsule data was lent from the chunk');
        }
      }
    });
  }
}

test('receive reuse: the same buffer object holding different PDUs each read: headers are never stale', () => {
  const p: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  const sink = new Sink();
  const r = new PduReader(sink, { accept: TARGET_ACCEPT, maxPlen: 1 << 20 });
  const rx = Buffer.alloc(4 * 72);
  const want: ReturnType<typeof stream>['want'] = [];
  for (let read = 0; read < 50; read++) {
    const parts = [];
    for (let k = 0; k < 4; k++) {
      const cid = read * 4 + k;
      parts.push(buildCapsuleCmd(sqeWith(0x02, cid), null, p));
      want.push({ type: PduType.CapsuleCmd, cid, data: null });
    }
    Buffer.concat(parts).copy(rx);
    r.push(rx);
  }
  check(sink, want, 'capsules');
  // Each header is the SQE of its own capsule, word for word.
  sink.seen.forEach((s, i) => assert.equal(s.hdr.readUInt16LE(8 + 2), i));
});

// --- the connection: backends kicked per batch, latency sampling -------------------------------

const NLB = 8;
const LEN = NLB * 512;

function writePdu(nsid: number, lba: number, cid: number, data: Buffer): Buffer {
  return buildCapsuleCmd(prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, nsid, lba, NLB), cid, { inCapsule: data.length }), data, LINK);
}

function twoNamespaces(): TargetContext {
  return makeContext(
    makeConfig({
      subsystems: [
        {
          nqn: SUBNQN,
          serial: 'SERIAL0001',
          namespaces: [
            { nsid: 1, backing: { type: 'ram', size: 1 << 20 }, blockSize: 512 },
            { nsid: 3, backing: { type: 'ram', size: 1 << 20 }, blockSize: 512 },
          ],
        },
      ],
    }),
  );
}

function ram(ctx: TargetContext, nsid: number): RamBackend {
  return ctx.subsystems.values().next().value!.namespaces.get(nsid)!.backend as RamBackend;
}

test('receive reuse: a batch writing to two backends in turn (A, B, A, B) kicks both; the next batches, to the backend the last one ended on, are kicked again', async () => {
  const ctx = twoNamespaces();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1);
  // One receive buffer object for every batch (its contents replaced each time, as the socket's reads do).
  // Batches 0 and 3 alternate the two namespaces (ending on namespace 3); 1 and 2 write namespace 3 only.
  const nsOf = (i: number): number => (i >= 8 && i < 24 ? 3 : i % 2 === 0 ? 1 : 3);
  const batch = (b: number): Buffer => Buffer.concat(Array.from({ length: 8 }, (_, k) => writePdu(nsOf(b * 8 + k), (b * 8 + k) * NLB, b * 8 + k, pattern(LEN, b * 8 + k))));
  const rx = Buffer.alloc(batch(0).length);
  for (let b = 0; b < 4; b++) {
    batch(b).copy(rx);
    io.sock.send(rx);
    // RAM completions are delivered only by a kick: a backend the batch forgot would never answer.
    await until(() => cqes(io).length === (b + 1) * 8, `the completions of batch ${b}`);
  }
  // Each backend's completions come at its kick: in order per backend, not across the two.
  assert.deepEqual(cqes(io).map((c) => [c.cid, c.status]).sort((a, b) => a[0]! - b[0]!), Array.from({ length: 32 }, (_, i) => [i, 0]));
  for (let i = 0; i < 32; i++) {
    const got = Buffer.from(ram(ctx, nsOf(i)).view(i * LEN, LEN)!);
    assert.ok(got.equals(pattern(LEN, i)), `write ${i} stored its own bytes`);
  }
  io.conn.close('test over');
  admin.conn.close('test over');
});

test('receive reuse: latency is sampled on one command in 8 and every command is counted', async () => {
  const ctx = makeContext();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1);
  const before = threadStats().snapshot();
  const sampled = (s: typeof before): number => s.latencyHistogramUs.reduce((a, b) => a + b, 0);
  // The queue's Connect was its command 0 (sampled); writes 1..16 sample the 8th and the 16th.
  io.sock.send(Buffer.concat(Array.from({ length: 16 }, (_, i) => writePdu(1, i * NLB, i, pattern(LEN, i)))));
  await until(() => cqes(io).length === 16, 'the write completions');
  const after = threadStats().snapshot();
  assert.equal(after.commands - before.commands, 16);
  assert.equal(after.bytesWritten - before.bytesWritten, 16 * LEN);
  assert.equal(sampled(after) - sampled(before), 2);
  assert.ok(after.latencySumUs > before.latencySumUs, 'the sampled latencies were added');
  io.conn.close('test over');
  admin.conn.close('test over');
});
