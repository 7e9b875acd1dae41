// DigestBatch and the addon's crc32cBatch: every digest of a batch filled in one native call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestBatch } from '../../src/native/digest-batch.js';
import { native } from '../../src/native/addon.js';
import { crc32c } from '../../src/native/crc32c.js';

function random(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

test('digest-batch: header, data and copy jobs land little-endian where recorded, all in one run', () => {
  const arena = random(1024, 1);
  const d1 = random(4096, 2);
  const d2 = new Uint8Array(new SharedArrayBuffer(8192), 100, 3000);
  d2.set(random(3000, 3));
  const src = random(512, 4);
  const to = Buffer.alloc(512);
  const b = new DigestBatch();
  b.header(0, 24, 24);
  b.header(100, 72, 172);
  b.data(d1, 300);
  b.data(d2, 304);
  b.copy(to, src, 308);
  b.data(new Uint8Array(0), 312);
  assert.equal(b.pending, true);
  const want = [crc32c(arena, 0, 24), crc32c(arena, 100, 72)];
  b.run(arena);
  assert.equal(b.pending, false, 'a run starts over');
  assert.equal(arena.readUInt32LE(24), want[0]);
  assert.equal(arena.readUInt32LE(172), want[1]);
  assert.equal(arena.readUInt32LE(300), crc32c(d1));
  assert.equal(arena.readUInt32LE(304), crc32c(d2), 'a view over a SharedArrayBuffer at an offset');
  assert.deepEqual(to, src, 'the copy was made');
  assert.equal(arena.readUInt32LE(308), crc32c(src));
  assert.equal(arena.readUInt32LE(312), 0, 'the digest of nothing');
  // Nothing is left over: a second run writes nothing.
  arena.fill(0xee, 300, 316);
  b.run(arena);
  assert.equal(arena.readUInt32LE(300), 0xeeeeeeee);
});

test('digest-batch: headers at every length 0..140 and unaligned offsets agree with crc32c; batches grow past 128 jobs', () => {
  const arena = random(64 * 1024, 5);
  const b = new DigestBatch();
  const want: [number, number][] = [];
  let at = 0;
  for (let len = 0; len <= 140; len++) {
    for (const skew of [0, 1, 3]) {
      const start = at + skew;
      want.push([start + len, crc32c(arena, start, len)]);
      b.header(start, len, start + len);
      at = start + len + 4;
    }
  }
  assert.ok(want.length > 128);
  b.run(arena);
  for (const [dst, crc] of want) assert.equal(arena.readUInt32LE(dst), crc, `digest at ${dst}`);
});

test('digest-batch: a job outside its buffers throws a RangeError and the batch starts over', () => {
  const arena = Buffer.alloc(64);
  const b = new DigestBatch();
  b.header(40, 30, 10);
  assert.throws(() => b.run(arena), RangeError, 'header past the arena');
  assert.equal(b.pending, false);
  b.header(0, 8, 61);
  assert.throws(() => b.run(arena), RangeError, 'digest past the arena');
  b.data(Buffer.alloc(10), 0);
  b.run(arena);
  assert.throws(() => b.copy(Buffer.alloc(4), Buffer.alloc(5), 0), RangeError, 'copy of another length');
  // The addon checks on its own too (kinds, buffer indices, ranges).
  const job = (...w: number[]): Uint32Array => Uint32Array.from([...w, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8));
  assert.throws(() => native.crc32cBatch(arena, job(1, 5, 0, 1, 0, 0, 0), 1, [Buffer.alloc(1)]), RangeError, 'no such buffer');
  assert.throws(() => native.crc32cBatch(arena, job(1, 0, 2, 4, 0, 0, 0), 1, [Buffer.alloc(5)]), RangeError, 'range past its buffer');
  assert.throws(() => native.crc32cBatch(arena, job(9, 0, 0, 1, 0, 0, 0), 1, []), RangeError, 'unknown kind');
  assert.throws(() => native.crc32cBatch(arena, job(2, 0, 0, 5, 1, 0, 0), 1, [Buffer.alloc(8), Buffer.alloc(4)]), RangeError, 'copy source too short');
  assert.throws(() => native.crc32cBatch(arena, job(0, 0, 0, 4, 0, 0, 8), 2, []), RangeError, 'count past the job array');
  assert.throws(() => native.crc32cBatch(arena, new Uint32Array(8), 1, {} as unknown as Uint8Array[]), TypeError);
});

test('digest-batch: more distinct backing buffers in one batch than either side keeps (48), views at offsets in each', () => {
  const arena = Buffer.alloc(48 * 8);
  const b = new DigestBatch();
  const views: Uint8Array[] = [];
  for (let i = 0; i < 48; i++) {
    const backing = i % 2 ? new Uint8Array(new SharedArrayBuffer(700)) : new Uint8Array(new ArrayBuffer(700));
    backing.set(random(700, 100 + i));
    views.push(backing.subarray(i, i + 300 + i));
  }
  const copies = views.map((v) => new Uint8Array(new ArrayBuffer(v.length + 10)).subarray(10));
  for (let i = 0; i < 48; i++) {
    if (i % 3 === 0) b.copy(copies[i]!, views[i]!, 8 * i);
    else b.data(views[i]!, 8 * i);
    b.data(views[(i * 7) % 48]!, 8 * i + 4);
  }
  b.run(arena);
  for (let i = 0; i < 48; i++) {
    assert.equal(arena.readUInt32LE(8 * i), crc32c(views[i]!), `job ${i}`);
    assert.equal(arena.readUInt32LE(8 * i + 4), crc32c(views[(i * 7) % 48]!), `job ${i}, a buffer named again`);
    if (i % 3 === 0) assert.deepEqual(copies[i], views[i]);
  }
});

test('digest-batch: a copy within one buffer, overlapping or not, leaves the source bytes at the destination and digests them', () => {
  const arena = Buffer.alloc(8);
  for (const [from, to, len] of [[0, 4096, 4096], [0, 100, 3000], [100, 0, 3000], [0, 1, 1000]] as const) {
    const backing = random(8192, from + to + len);
    const want = Buffer.from(backing.subarray(from, from + len));
    const b = new DigestBatch();
    b.copy(backing.subarray(to, to + len), backing.subarray(from, from + len), 0);
    b.run(arena);
    assert.deepEqual(backing.subarray(to, to + len), want, `copy ${from} -> ${to}, ${len} bytes`);
    assert.equal(arena.readUInt32LE(0), crc32c(want), `digest of copy ${from} -> ${to}`);
  }
});

test('digest-batch: retarget() keeps the jobs recorded so far on the arena left behind; run() with the new one fills both, nothing early', () => {
  const old = random(1024, 11);
  const fresh = random(1024, 12);
  const data = random(4096, 13);
  const b = new DigestBatch();
  b.header(0, 24, 24);
  b.data(data, 28);
  b.retarget(old);
  assert.equal(old.readUInt32LE(24), random(1024, 11).readUInt32LE(24), 'nothing computed at the retarget');
  data.fill(9, 0, 100); // changed after the retarget: the digest is over the bytes at the run
  b.header(100, 72, 172);
  b.run(fresh);
  assert.equal(old.readUInt32LE(24), crc32c(old, 0, 24), 'the old arena got its header digest');
  assert.equal(old.readUInt32LE(28), crc32c(data), 'and its data digest, over the bytes at the run');
  assert.equal(fresh.readUInt32LE(172), crc32c(fresh, 100, 72), 'the new arena its own');
  b.retarget(Buffer.alloc(8).subarray(2)); // nothing pending: a no-op, even for a view that is not a whole buffer
  b.data(data, 0);
  assert.throws(() => b.retarget(Buffer.alloc(8).subarray(2)), RangeError, 'an arena must be a whole buffer');
  b.clear();
});
