// The write range lock (src/core/range-lock.ts): plain writes share a stripe, a Compare and Write
// owns it and waits for the writes in flight; stripes follow 128 KiB chunks; the table is shared by
// every thread that builds the namespace over the same shared memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { RangeLock, RANGE_LOCK_BYTES, STRIPES } from '../../../src/core/range-lock.js';
import { RESV_SNAPSHOT_BYTES } from '../../../src/core/reservations/snapshot.js';
import { Namespace, NsStat, allocateNsStats } from '../../../src/core/namespace.js';
import { makeConfig } from './fakes.js';
import { RamBackend } from '../../../src/backend/ram.js';

const EXCL = 1 << 30;
// 512-byte blocks: 256 blocks per 128 KiB chunk.
const lock = (): RangeLock => RangeLock.private(9);

test('range lock: plain writes count in, a Compare and Write waits for them and keeps new ones out', () => {
  const l = lock();
  assert.ok(l.enterShared(10, 8));
  assert.ok(l.enterShared(12, 1), 'plain writes share a stripe');
  assert.equal(l.word(10), 2);
  assert.ok(l.tryExclusive(10, 1), 'the Compare and Write takes the stripe');
  assert.equal(l.drained(10, 1), false, 'but must wait for the two writes in flight');
  assert.equal(l.enterShared(100, 1), false, 'a new write to the stripe is kept out');
  assert.equal(l.word(100), EXCL | 2, 'and holds nothing');
  assert.equal(l.tryExclusive(11, 1), false, 'a second Compare and Write is kept out');
  l.leaveShared(10, 8);
  l.leaveShared(12, 1);
  assert.ok(l.drained(10, 1));
  l.leaveExclusive(10, 1);
  assert.equal(l.word(10), 0);
  assert.ok(l.enterShared(100, 1), 'writes enter again');
  l.leaveShared(100, 1);
  assert.equal(l.word(100), 0);
});

test('range lock: stripes follow 128 KiB chunks; a range across a boundary takes both, a huge one each stripe once', () => {
  const l = lock();
  assert.ok(l.tryExclusive(0, 256), 'chunk 0');
  assert.ok(l.enterShared(256, 256), 'chunk 1 is another stripe');
  assert.equal(l.enterShared(250, 10), false, 'a write across the boundary touches chunk 0 too');
  assert.equal(l.word(256), 1, 'and backed out of chunk 1');
  assert.equal(l.tryExclusive(200, 100), false, 'a Compare and Write across the boundary cannot take chunk 0');
  assert.equal(l.word(256), 1, 'and took nothing of chunk 1');
  l.leaveShared(256, 256);
  l.leaveExclusive(0, 256);
  // A range of more than STRIPES chunks (Write Zeroes) enters every stripe exactly once.
  const blocks = (STRIPES + 5) * 256;
  assert.ok(l.enterShared(0, blocks));
  for (const lba of [0, 256, 5 * 256, (STRIPES - 1) * 256]) assert.equal(l.word(lba), 1);
  l.leaveShared(0, blocks);
  assert.equal(l.word(0), 0);
  // LBAs beyond 31 bits map like the others (2^31 is chunk 2^23: stripe 0).
  assert.ok(l.tryExclusive(2 ** 31 + 300, 1));
  assert.equal(l.word(256), EXCL, 'LBA 2^31 + 300 is in a chunk of stripe 1');
  assert.equal(l.enterShared(2 ** 31 - 1, 300), false, 'a range across LBA 2^31 meets it');
  assert.equal(l.word(2 ** 31 - 1), 0, 'and backed out of stripe 1023');
  l.leaveExclusive(2 ** 31 + 300, 1);
  // Chunks STRIPES apart share a stripe (a false conflict, never a missed one).
  assert.ok(l.tryExclusive(0, 1));
  assert.equal(l.enterShared(STRIPES * 256, 1), false);
  l.leaveExclusive(0, 1);
});

test('range lock: namespaces built over the same shared memory (main thread, worker slot) share one table', () => {
  const sab = allocateNsStats(2);
  const backend = new RamBackend(1 << 20);
  const nc = makeConfig().subsystems[0]!.namespaces[0]!;
  const main = new Namespace(nc, backend, sab, 0);
  const worker = new Namespace(nc, backend, sab, 1);
  assert.ok(worker.writeLock.enterShared(5, 1));
  assert.ok(main.writeLock.tryExclusive(5, 1));
  assert.equal(main.writeLock.drained(5, 1), false, "the worker's write in flight is seen");
  worker.writeLock.leaveShared(5, 1);
  assert.ok(main.writeLock.drained(5, 1));
  main.writeLock.leaveExclusive(5, 1);
  // The counters before the table are unaffected.
  main.stats[NsStat.WRITES] = 3;
  worker.stats[NsStat.WRITES] = 4;
  assert.equal(main.total(NsStat.WRITES), 7);
  assert.equal(worker.writeLock.word(5), 0);
  assert.equal(sab.byteLength, 2 * NsStat.FIELDS * 8 + RESV_SNAPSHOT_BYTES + RANGE_LOCK_BYTES);
});

test('range lock: another thread holding a write keeps the Compare and Write waiting until it leaves', async () => {
  const sab = new SharedArrayBuffer(RANGE_LOCK_BYTES);
  const words = new Int32Array(sab);
  const l = new RangeLock(words, 12);
  const url = new URL('../../../src/core/range-lock.js', import.meta.url).href;
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.url).then(({ RangeLock }) => {
      const l = new RangeLock(new Int32Array(workerData.sab), 12);
      parentPort.postMessage(l.enterShared(7, 2));
      parentPort.once('message', () => { l.leaveShared(7, 2); parentPort.postMessage('left'); });
    });`;
  const w = new Worker(code, { eval: true, workerData: { sab, url } });
  try {
    const next = (): Promise<unknown> => new Promise((r) => w.once('message', r));
    assert.equal(await next(), true, 'the worker entered');
    assert.ok(l.tryExclusive(7, 1));
    assert.equal(l.drained(7, 1), false);
    const left = next();
    w.postMessage('leave');
    assert.equal(await left, 'left');
    assert.ok(l.drained(7, 1), 'drained once the other thread left');
    l.leaveExclusive(7, 1);
    assert.equal(Atomics.load(words, 0), 0);
  } finally {
    await w.terminate();
  }
});
