// Issue 14: the send side of data digests. The digests of a flush are filled in the same native call
// as its sendmsg (writeFdDigests), so a view of RAM namespace memory only this thread writes goes out
// without a copy; what the kernel does not take, a flush through the stream, and an arena chunk
// left behind mid-batch must still give the host data that matches its digest, whatever is written
// into that memory after the flush.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { once } from 'node:events';
import { OutQueue } from '../../../src/transport/tcp/out-queue.js';
import { writeC2HData, writeCapsuleResp } from '../../../src/transport/tcp/pdu-writer.js';
import { PduFlags } from '../../../src/spec/pdu.js';
import { crc32c } from '../../../src/native/crc32c.js';
import { FakeSocket } from './fake-socket.js';
import { tcpPair as pair, readAll } from './tcp-pair.js';
import { parseResponses } from './response-stream.js';

function random(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Counts socket.write calls (the stream path) on `s`. */
function countStreamWrites(s: net.Socket): { n: number; chunks: Uint8Array[] } {
  const c = { n: 0, chunks: [] as Uint8Array[] };
  const orig = s.write.bind(s) as (...a: unknown[]) => boolean;
  (s as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
    c.n++;
    c.chunks.push(a[0] as Uint8Array);
    return orig(...a);
  };
  return c;
}

/** C2HData (both digests) of memory[i*len, +len) for i < count, each followed by its CapsuleResp. */
function queueReads(q: OutQueue, memory: Buffer, len: number, count: number, volatile: boolean, copyInto: Buffer | null = null): void {
  for (let i = 0; i < count; i++) {
    const view = memory.subarray(i * len, (i + 1) * len);
    if (copyInto !== null) writeC2HData(q, true, true, 4, i, 0, copyInto.subarray(i * len, (i + 1) * len), PduFlags.DATA_LAST, view);
    else writeC2HData(q, true, true, 4, i, 0, view, PduFlags.DATA_LAST, null, volatile);
    writeCapsuleResp(q, true, 0, 0, i + 1, 1, i, 0);
  }
}

test('digest-send: one native call fills the digests and writes the batch; its bytes are those of the stream path, every digest right', async () => {
  const { client, server, close } = await pair();
  try {
    const memory = random(64 * 4096, 3);
    // The same PDUs three ways: plain views, volatile views, views copied into buffers of ours.
    const build = (q: OutQueue): void => {
      queueReads(q, memory, 4096, 16, false);
      queueReads(q, memory.subarray(16 * 4096), 4096, 16, true);
      queueReads(q, memory.subarray(32 * 4096), 4096, 32, false, Buffer.alloc(32 * 4096));
    };
    const direct = new OutQueue(true);
    build(direct);
    const total = direct.pendingBytes;
    const writes = countStreamWrites(server);
    direct.flush(server);
    assert.equal(writes.n, 0, 'the whole flush in the native call: no socket.write');
    const got = await readAll(client, total);
    const viaStream = new OutQueue(false);
    build(viaStream);
    const rec = new FakeSocket({ parse: false });
    viaStream.flush(rec.asSocket);
    const want = Buffer.concat(rec.writes.map((w) => w.chunk));
    assert.equal(got.length, want.length);
    assert.ok(got.equals(want), 'the same bytes as digests filled first, then written through the stream');
    const pdus = parseResponses(got, true);
    assert.equal(pdus.length, 128);
    for (let i = 0; i < 64; i++) assert.ok(pdus[2 * i]!.data!.equals(memory.subarray(i * 4096, (i + 1) * 4096)), `read ${i}: its bytes`);
  } finally {
    close();
  }
});

test('digest-send: a short native write of volatile views: the rest goes to the stream as a copy, so a write into that memory right after the flush changes nothing the host gets', async () => {
  const { client, server, close } = await pair();
  try {
    const len = 128 * 1024;
    const count = 192; // 24 MiB: more than the loopback socket's buffers take while the peer does not read
    const memory = random(len * count, 9);
    const original = Buffer.from(memory);
    const q = new OutQueue(true);
    queueReads(q, memory, len, count, true);
    const total = q.pendingBytes;
    const writes = countStreamWrites(server);
    let written = false;
    q.flush(server, () => (written = true));
    const streamed = server.writableLength;
    // Later commands write the same blocks before the host has read anything.
    memory.fill(0xa5);
    const got = await readAll(client, total);
    const pdus = parseResponses(got, true); // checks every header and data digest
    assert.equal(pdus.length, 2 * count);
    for (let i = 0; i < count; i++) assert.ok(pdus[2 * i]!.data!.equals(original.subarray(i * len, (i + 1) * len)), `read ${i}: the bytes at the flush`);
    assert.ok(streamed > 0, 'the kernel took only part: the stream held the rest');
    assert.equal(writes.n, 1, 'the rest was one stream write');
    assert.notEqual(writes.chunks[0]!.buffer, memory.buffer, 'the rest is a copy, not a view of the namespace memory');
    if (server.writableLength > 0) await once(server, 'drain');
    await new Promise((r) => setImmediate(r));
    assert.equal(written, true);
  } finally {
    close();
  }
});

test('digest-send: an arena chunk left behind mid-batch: a volatile view is digested at the flush, not at the rollover, and the stream path sends a copy', () => {
  const q = new OutQueue(false);
  const memory = random(8192, 5);
  const view = memory.subarray(4096);
  writeC2HData(q, true, true, 4, 1, 0, view, PduFlags.DATA_LAST, null, true);
  const chunk1 = q.buf;
  // Enough headers to leave the first 64 KiB chunk behind before the flush.
  for (let i = 0; i < 70; i++) {
    const at = q.header(1000);
    q.buf.fill(i, at, at + 1000);
  }
  assert.notEqual(q.buf, chunk1, 'the batch spans two arena chunks');
  // A write to the same blocks, after the read was queued, before the flush: the host gets either
  // version, with its digest.
  view.fill(0x3c, 0, 512);
  const rec = new FakeSocket({ parse: false });
  q.flush(rec.asSocket);
  assert.equal(rec.writes.length, 1, 'one copy of the whole flush (volatile data on the stream path)');
  const out = Buffer.from(rec.writes[0]!.chunk);
  assert.notEqual(rec.writes[0]!.chunk.buffer, memory.buffer);
  view.fill(0x77); // later still: the bytes written above are ours
  assert.equal(out.readUInt32LE(24), crc32c(out, 0, 24), 'header digest');
  const data = out.subarray(28, 28 + 4096);
  assert.equal(data[0], 0x3c);
  assert.equal(out.readUInt32LE(28 + 4096), crc32c(data), 'the data digest is over the bytes sent');
  assert.equal(out.length, 28 + 4096 + 4 + 70 * 1000);
});
