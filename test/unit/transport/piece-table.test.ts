// Issue 14: an out queue names its pieces by buffer and range in a word table (buffer index, offset,
// length) that the addon reads as plain words (writeFdTable, writeFdTableDigests), each buffer
// looked up once. Pinned here: the addon checks every index and range before it writes anything; a
// batch naming more buffers than the addon caches arrives intact and in order, with every digest
// right; after a short write, the rest goes through the stream as views of the same memory (or as a
// copy when volatile), in order behind what the kernel took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { OutQueue } from '../../../src/transport/tcp/out-queue.js';
import { writeC2HData, writeCapsuleResp } from '../../../src/transport/tcp/pdu-writer.js';
import { PduFlags } from '../../../src/spec/pdu.js';
import { native } from '../../../src/native/addon.js';
import { tcpPair as pair, readAll } from './tcp-pair.js';
import { parseResponses } from './response-stream.js';

/** n bytes of their own backing store, different for each seed. */
function random(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x;
  }
  return b;
}

test('piece-table: writeFdTable sends the ranges its table names, in order; a bad index, a range outside its buffer or more pieces than the table holds throws and writes nothing', async () => {
  const { client, server, fd, close } = await pair();
  try {
    const a = random(1000, 1);
    const b = random(3000, 2);
    const table = new Uint32Array([1, 10, 100, 0, 0, 50, 0, 900, 100, 1, 2990, 10, 1, 0, 0]);
    assert.equal(native.writeFdTable(fd, table, 5, [a, b]), 260);
    const want = Buffer.concat([b.subarray(10, 110), a.subarray(0, 50), a.subarray(900, 1000), b.subarray(2990, 3000)]);
    const bad: [Uint32Array, number, Uint8Array[]][] = [
      [new Uint32Array([0, 0, 10, 2, 0, 10]), 2, [a, b]], // no buffer 2
      [new Uint32Array([0, 0, 10, 0, 991, 10]), 2, [a, b]], // past the end of a
      [new Uint32Array([1, 0xffffffff, 2]), 1, [a, b]], // offset past the end
      [new Uint32Array([0, 0, 10]), 2, [a, b]], // count larger than the table
    ];
    for (const [t, n, bufs] of bad) assert.throws(() => native.writeFdTable(fd, t, n, bufs), RangeError);
    assert.throws(() => native.writeFdTable(fd, new Uint32Array([0, 0, 1]), 1, [new Uint16Array(4) as unknown as Uint8Array]), RangeError);
    assert.throws(() => native.writeFdTableDigests(fd, new Uint32Array([0, 0, 10, 0, 995, 10]), 2, [a], new Uint8Array(64), new Uint32Array(8), 0), RangeError);
    // Nothing of a refused table went out: the peer gets exactly the first table's bytes.
    assert.equal(native.writeFdTable(fd, new Uint32Array([0, 0, 4]), 1, [a]), 4);
    const got = await readAll(client, want.length + 4);
    assert.deepEqual(got, Buffer.concat([want, a.subarray(0, 4)]));
  } finally {
    close();
  }
});

for (const [digests, volatile] of [
  [false, false],
  [true, false],
  [true, true],
] as const) {
  const what = `${digests ? 'both digests' : 'no digests'}${volatile ? ', volatile views' : ''}`;
  test(`piece-table: a batch naming 48 buffers (more than the addon caches) and arena chunks rolled over, short-written to a peer that does not read: every byte in order, every digest right (${what})`, async () => {
    const { client, server, close } = await pair();
    try {
      const len = 64 * 1024;
      const memories = Array.from({ length: 48 }, (_, k) => random(8 * len, 100 + k));
      const originals = memories.map((m) => Buffer.from(m));
      const q = new OutQueue(true);
      // 384 reads (24 MiB, more than loopback takes unread), round robin over the memories; enough
      // headers for the arena to roll over.
      const count = 384;
      const firstArena = q.buf;
      for (let i = 0; i < count; i++) {
        const m = memories[i % 48]!;
        const at = ((i * 7) % 8) * len;
        writeC2HData(q, digests, digests, 4, i, 0, m.subarray(at, at + len), PduFlags.DATA_LAST, null, volatile);
        writeCapsuleResp(q, digests, 0, 0, i + 1, 1, i, 0);
        // More completions (another cid) so the 64 KiB arena fills a few times.
        for (let k = 0; k < 16; k++) writeCapsuleResp(q, digests, 0, 0, i + 1, 1, 0xffff, 0);
      }
      const total = q.pendingBytes;
      let written = false;
      q.flush(server, () => (written = true));
      assert.notEqual(q.buf, firstArena, 'the batch spanned more than one arena chunk');
      assert.ok(server.writableLength > 0, 'the kernel took only part: the stream holds the rest');
      // Later commands write the same memory before the host reads: only volatile views must not show it.
      if (volatile) for (const m of memories) m.fill(0x5a);
      const got = await readAll(client, total);
      assert.equal(got.length, total);
      const reads = parseResponses(got, digests).flatMap((r) => (r.data !== null ? [[r.cid, r.data] as [number, Buffer]] : []));
      assert.equal(reads.length, count);
      for (let i = 0; i < count; i++) {
        const [cid, data] = reads[i]!;
        assert.equal(cid, i, `read ${i} in order`);
        const at = ((i * 7) % 8) * len;
        assert.ok(data.equals(originals[i % 48]!.subarray(at, at + len)), `read ${i}: its bytes`);
      }
      if (server.writableLength > 0) await once(server, 'drain');
      await new Promise((r) => setImmediate(r));
      assert.equal(written, true);
    } finally {
      close();
    }
  });
}
