// OutQueue, the writer side of a connection: headers from an append-only arena (adjacent ones merge
// into one write), payloads queued as views, one corked batch per flush.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutQueue } from '../../../src/transport/tcp/out-queue.js';
import { FakeSocket, settle } from './fake-socket.js';
import { crc32c } from '../../../src/native/crc32c.js';

const ARENA = 64 * 1024;

/** Reserves n header bytes and fills them with `byte`; returns the bytes as they should go out. */
function header(q: OutQueue, n: number, byte: number): Buffer {
  const at = q.header(n);
  q.buf.fill(byte, at, at + n);
  return Buffer.alloc(n, byte);
}

/** A socket that only records: the bytes these tests write are not PDUs. */
/** Whether `a` is a view of exactly the memory of `b` (the same bytes, not a copy of them). */
function sameMemory(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}

function recorder(): FakeSocket {
  return new FakeSocket({ parse: false });
}

test('out-queue: adjacent headers merge into one piece, written with one write and no cork', () => {
  const q = new OutQueue();
  const want = Buffer.concat([header(q, 24, 1), header(q, 24, 2), header(q, 28, 3)]);
  const s = recorder();
  assert.equal(q.flush(s.asSocket), true);
  assert.equal(s.writes.length, 1, 'three headers in a row are one write');
  assert.equal(s.writes[0]!.corked, false, 'a single piece needs no cork');
  assert.deepEqual(Buffer.from(s.writes[0]!.chunk), want);
});

test('out-queue: a payload splits the headers around it; the payload goes out as the same view, not a copy', () => {
  const q = new OutQueue();
  const h1 = header(q, 24, 0xa1);
  const backing = Buffer.alloc(8192, 0x55);
  const payload = backing.subarray(1000, 1000 + 4096);
  q.data(payload);
  const h2 = Buffer.concat([header(q, 4, 0xd1), header(q, 24, 0xa2)]);
  // Changed after queueing, before the flush: a view sends the new bytes, a copy would not.
  payload.fill(0x66, 0, 16);
  const s = recorder();
  q.flush(s.asSocket);
  assert.equal(s.writes.length, 3, 'header, payload, merged digest + next header');
  assert.ok(s.writes.every((w) => w.corked), 'a batch of several pieces is written corked');
  assert.ok(sameMemory(s.writes[1]!.chunk, payload), 'the payload goes out as the memory queued, not a copy');
  assert.equal(s.writes[1]!.chunk.buffer, backing.buffer, 'no copy of the payload');
  assert.deepEqual(Buffer.from(s.writes[0]!.chunk), h1);
  assert.deepEqual(Buffer.from(s.writes[2]!.chunk), h2);
  assert.equal(s.writes[1]!.chunk[0], 0x66, 'the bytes at flush time go out');
});

test('out-queue: a full 64 KiB arena chunk rolls over without touching pieces already queued or written', () => {
  const q = new OutQueue();
  const s = recorder();
  // Batch 1: headers nearly filling the first chunk, flushed (the socket may still hold them).
  const first: Buffer[] = [];
  for (let i = 0; i < 60; i++) first.push(header(q, 1000, i + 1));
  const chunk1 = q.buf;
  q.flush(s.asSocket);
  const written1 = s.writes[0]!.chunk;
  assert.equal(written1.buffer, chunk1.buffer, 'the first batch came from the first chunk');
  // Batch 2: more headers than the chunk has left: part stays in chunk 1, the rest moves to a new chunk.
  const second: Buffer[] = [];
  for (let i = 0; i < 8; i++) second.push(header(q, 1000, 0x80 + i));
  assert.notEqual(q.buf, chunk1, 'a new chunk once the first is full');
  assert.equal(q.pendingBytes, 8000);
  q.flush(s.asSocket);
  // Batch 3 in the new chunk, after batch 2 was handed to the socket.
  const third = header(q, 512, 0xee);
  q.flush(s.asSocket);

  assert.deepEqual(Buffer.from(written1), Buffer.concat(first), 'batch 1 unchanged by later batches and the rollover');
  const batch2 = s.writes.slice(1, -1);
  assert.equal(batch2.length, 2, 'batch 2: the piece at the end of the old chunk and the piece in the new one');
  assert.equal(batch2[0]!.chunk.buffer, chunk1.buffer);
  assert.equal(batch2[0]!.chunk.length, 5000, '5 headers fit the 5536 bytes left in the first chunk');
  assert.notEqual(batch2[1]!.chunk.buffer, chunk1.buffer);
  assert.deepEqual(Buffer.concat(batch2.map((w) => w.chunk)), Buffer.concat(second), 'batch 2 intact across the chunk boundary');
  assert.deepEqual(Buffer.from(s.writes.at(-1)!.chunk), third);
});

test('out-queue: a header exactly filling the chunk stays in it; the next one starts a new chunk', () => {
  const q = new OutQueue();
  const a = header(q, ARENA - 24, 1);
  const chunk1 = q.buf;
  const b = header(q, 24, 2);
  assert.equal(q.buf, chunk1, 'exactly full is not over');
  const c = header(q, 24, 3);
  assert.notEqual(q.buf, chunk1);
  const s = recorder();
  q.flush(s.asSocket);
  assert.equal(s.writes.length, 2);
  assert.equal(s.writes[0]!.chunk.length, ARENA);
  assert.deepEqual(Buffer.concat(s.writes.map((w) => w.chunk)), Buffer.concat([a, b, c]));
});

test('out-queue: flush with the written callback: it comes with the last write only, and runs', async () => {
  const q = new OutQueue();
  header(q, 24, 1);
  q.data(Buffer.alloc(100, 2));
  header(q, 24, 3);
  const s = recorder();
  let calls = 0;
  q.flush(s.asSocket, () => calls++);
  assert.deepEqual(
    s.writes.map((w) => w.withCallback),
    [false, false, true],
  );
  await settle();
  assert.equal(calls, 1);

  // A single piece: the one write carries it.
  header(q, 24, 4);
  q.flush(s.asSocket, () => calls++);
  assert.equal(s.writes.at(-1)!.withCallback, true);
  await settle();
  assert.equal(calls, 2);
});

test('out-queue: flush of nothing writes nothing, unless a callback waits (then an empty write carries it)', async () => {
  const q = new OutQueue();
  const s = recorder();
  assert.equal(q.flush(s.asSocket), true);
  assert.equal(s.writes.length, 0, 'nothing queued, nothing written');
  let called = false;
  assert.equal(q.flush(s.asSocket, () => (called = true)), true);
  assert.equal(s.writes.length, 1);
  assert.equal(s.writes[0]!.chunk.length, 0);
  assert.equal(s.writes[0]!.withCallback, true);
  await settle();
  assert.equal(called, true, 'the callback runs after the bytes before it were written');
});

test('out-queue: flush without a callback passes none; its result is the socket backpressure', () => {
  const q = new OutQueue();
  const s = recorder();
  header(q, 24, 1);
  q.data(Buffer.alloc(10));
  q.flush(s.asSocket);
  assert.ok(s.writes.every((w) => !w.withCallback));
  s.writeReturns = false;
  header(q, 24, 1);
  assert.equal(q.flush(s.asSocket), false, 'over the high-water mark: false');
  header(q, 24, 1);
  q.data(Buffer.alloc(10));
  assert.equal(q.flush(s.asSocket), false, 'corked batch over the high-water mark: false');
  s.writeReturns = true;
  header(q, 24, 1);
  assert.equal(q.flush(s.asSocket), true);
});

test('out-queue: pendingBytes counts headers and payloads until the flush, and nothing is written twice', () => {
  const q = new OutQueue();
  assert.equal(q.pendingBytes, 0);
  header(q, 24, 1);
  assert.equal(q.pendingBytes, 24);
  q.data(Buffer.alloc(4096));
  assert.equal(q.pendingBytes, 24 + 4096);
  header(q, 4, 2);
  header(q, 72, 3);
  assert.equal(q.pendingBytes, 24 + 4096 + 4 + 72);
  const s = recorder();
  q.flush(s.asSocket);
  assert.equal(q.pendingBytes, 0);
  assert.equal(Buffer.concat(s.writes.map((w) => w.chunk)).length, 24 + 4096 + 4 + 72);
  const n = s.writes.length;
  q.flush(s.asSocket);
  assert.equal(s.writes.length, n, 'a second flush sends nothing again');
  header(q, 24, 4);
  assert.equal(q.pendingBytes, 24, 'a new batch counts from zero');
});

test('out-queue: header and data digests recorded while building are filled before the flush writes', () => {
  const q = new OutQueue();
  const at = q.header(28);
  q.buf.fill(0x11, at, at + 24);
  q.headerDigest(at, 24);
  const payload = Buffer.alloc(4096, 0x22);
  q.dataWithDigest(payload);
  // Changed after queueing, before the flush: the digest covers what goes out.
  payload.fill(0x33, 0, 100);
  const s = recorder();
  q.flush(s.asSocket);
  const out = Buffer.concat(s.writes.map((w) => w.chunk));
  assert.equal(out.length, 28 + 4096 + 4);
  assert.equal(out.readUInt32LE(24), crc32c(Buffer.alloc(24, 0x11)));
  assert.equal(out.readUInt32LE(28 + 4096), crc32c(payload));
  assert.ok(sameMemory(s.writes[1]!.chunk, payload), 'the payload still goes out as the memory queued');
});

test('out-queue: a data copy is made with its digest; the source changing after the flush changes neither', () => {
  const q = new OutQueue();
  const source = Buffer.alloc(4096, 0x44);
  const mine = Buffer.alloc(4096);
  q.dataWithDigest(mine, source);
  const s = recorder();
  q.flush(s.asSocket);
  source.fill(0x55);
  assert.ok(sameMemory(s.writes[0]!.chunk, mine), 'our buffer goes out, not the source');
  assert.deepEqual(mine, Buffer.alloc(4096, 0x44));
  assert.equal(Buffer.from(s.writes[1]!.chunk).readUInt32LE(0), crc32c(Buffer.alloc(4096, 0x44)));
});

test('out-queue: digests recorded in a chunk that fills up are filled before the queue moves to a new chunk', () => {
  const q = new OutQueue();
  const s = recorder();
  const want: Buffer[] = [];
  // 24-byte headers + digests and 4 KiB payloads + digests until well past one 64 KiB chunk.
  for (let i = 0; i < 3000; i++) {
    const at = q.header(28);
    q.buf.fill(i & 0xff, at, at + 24);
    q.headerDigest(at, 24);
    const h = Buffer.alloc(28, i & 0xff);
    h.writeUInt32LE(crc32c(h, 0, 24), 24);
    want.push(h);
    if (i % 100 === 0) {
      const p = Buffer.alloc(4096, i & 0x7f);
      q.dataWithDigest(p);
      const d = Buffer.alloc(4);
      d.writeUInt32LE(crc32c(p));
      want.push(p, d);
    }
  }
  const first = q.buf;
  q.header(0);
  q.flush(s.asSocket);
  assert.ok(s.writes.some((w) => w.chunk.buffer !== first.buffer), 'the batch spans more than one chunk');
  assert.deepEqual(Buffer.concat(s.writes.map((w) => w.chunk)), Buffer.concat(want));
});
