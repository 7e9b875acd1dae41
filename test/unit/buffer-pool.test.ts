// The per-thread buffer pool: aligned size classes, the shared memory budget, waiting for memory, and
// giving memory back after a burst.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BufferPool } from '../../src/runtime/buffer-pool.js';
import { MemoryBudget } from '../../src/runtime/memory-budget.js';
import { HeapSlabSource, defaultSlabSource } from '../../src/runtime/slab-memory.js';
import { watchSlabs } from '../../src/runtime/slab-registry.js';

const MiB = 1 << 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits until cond() holds (true) or the deadline passes (false): timers run late on a busy machine. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

test('size classes: powers of two from 512 B to maxSize; larger requests get a one-off buffer', () => {
  const p = new BufferPool({ maxSize: MiB, trimIdleMs: 0 });
  assert.equal(BufferPool.classOf(1), 0);
  assert.equal(BufferPool.classOf(512), 0);
  assert.equal(BufferPool.classOf(513), 1);
  assert.equal(BufferPool.classOf(4096), 3);
  assert.equal(BufferPool.classOf(MiB), 11);
  for (const [n, len] of [[1, 512], [512, 512], [513, 1024], [4000, 4096], [4097, 8192], [MiB - 1, MiB], [MiB, MiB]] as const) {
    const b = p.acquire(n);
    assert.equal(b.length, len, `acquire(${n})`);
    p.release(b);
  }
  const big = p.acquire(MiB + 100);
  assert.equal(big.length, MiB + 100);
  assert.equal(p.stats().allocatedBytes - p.freeBytes, MiB + 4096, 'the one-off slab is page-rounded and counted');
  p.release(big);
  assert.equal(p.outstanding, 0);
  assert.equal(p.freeBytes, p.allocatedBytes, 'the one-off slab is gone on release');
  p.close();
});

test('alignment: every buffer from 4 KiB up starts on a 4 KiB boundary (O_DIRECT reads into it work)', (t) => {
  const p = new BufferPool({ maxSize: MiB, trimIdleMs: 0 });
  assert.equal(p.aligned, true, 'the addon provides aligned slabs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-pool-'));
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, Buffer.alloc(2 * MiB, 7));
  let fd = -1;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  } catch {
    t.diagnostic('O_DIRECT refused by the file system here: checking offsets and slab alignment only');
  }
  const held: Buffer[] = [];
  for (let size = 512; size <= MiB; size *= 2) {
    for (let k = 0; k < 3; k++) {
      const b = p.acquire(size);
      held.push(b);
      assert.equal(b.byteOffset % Math.min(size, 4096), 0);
      // The slab itself is page-aligned: the addon refuses residentBytes for an unaligned base.
      assert.ok(defaultSlabSource().resident(b.buffer as ArrayBuffer) >= 0);
      if (fd >= 0 && size >= 4096) assert.equal(fs.readSync(fd, b, 0, size, 0), size, `O_DIRECT read into a ${size}-byte buffer`);
    }
  }
  if (fd >= 0) fs.closeSync(fd);
  for (const b of held) p.release(b);
  p.close();
  fs.rmSync(dir, { recursive: true });
});

test('aligned slabs are announced to slab observers (the io_uring engine); heap slabs (no addon) are not', () => {
  const seen: ArrayBuffer[] = [];
  const stop = watchSlabs({ slabAdded: (ab) => void seen.push(ab), slabRemoved: (ab) => void seen.splice(seen.indexOf(ab), 1) });
  const aligned = new BufferPool({ maxSize: MiB, trimIdleMs: 0 });
  const heap = new BufferPool({ maxSize: MiB, trimIdleMs: 0, slabs: new HeapSlabSource() });
  assert.equal(heap.aligned, false);
  const x = aligned.acquire(MiB);
  const y = heap.acquire(MiB);
  assert.deepEqual(seen, [x.buffer]);
  assert.equal(heap.allocatedBytes, MiB, 'heap slabs are accounted all the same');
  aligned.release(x);
  heap.release(y);
  aligned.close();
  heap.close();
  assert.equal(seen.length, 0, 'removed before being given back');
  assert.equal(heap.allocatedBytes, 0);
  stop();
});

test('outstanding accounting; double and foreign releases are ignored', () => {
  const p = new BufferPool({ maxSize: 64 * 1024, trimIdleMs: 0 });
  const a = p.acquire(4096);
  const b = p.acquire(100);
  const c = p.tryAcquire(65536)!;
  assert.equal(p.outstanding, 3);
  assert.equal(p.stats().outstandingBytes, 4096 + 512 + 65536);
  p.release(a);
  p.release(a);
  p.release(Buffer.alloc(4096));
  p.release(b.subarray(0, 100));
  assert.equal(p.outstanding, 2);
  assert.equal(p.stats().badReleases, 3);
  p.release(b);
  p.release(c);
  assert.equal(p.outstanding, 0);
  assert.equal(p.stats().outstandingBytes, 0);
  // A released buffer is handed out again (the pool reuses, does not grow).
  const before = p.allocatedBytes;
  const again = p.acquire(4096);
  assert.equal(again, a);
  assert.equal(p.allocatedBytes, before);
  p.release(again);
  p.close();
});

test('tryAcquire returns null at the budget; acquire uses the reserve, then counts going over', () => {
  const budget = new MemoryBudget({ limitBytes: 4 * MiB, reserveBytes: MiB });
  const p = new BufferPool({ maxSize: MiB, budget, trimIdleMs: 0 });
  const held: Buffer[] = [];
  for (;;) {
    const b = p.tryAcquire(MiB);
    if (!b) break;
    held.push(b);
  }
  assert.equal(held.length, 3, 'limit less the reserve');
  assert.equal(budget.usedBytes, 3 * MiB);
  assert.equal(p.tryAcquire(4096), null, 'no class may grow');
  assert.equal(p.stats().waits, 2);
  const ctl = p.acquire(MiB);
  assert.equal(budget.usedBytes, 4 * MiB, 'the reserve');
  assert.equal(p.stats().overBudgetBytes, 0);
  const over = p.acquire(4096);
  assert.equal(over.length, 4096);
  assert.ok(p.stats().overBudgetBytes > 0, 'going over the whole budget is counted');
  for (const b of [...held, ctl, over]) p.release(b);
  p.close();
  assert.equal(budget.usedBytes, 0);
});

test('two pools sharing a budget never hold more than it together', () => {
  const budget = new MemoryBudget({ limitBytes: 6 * MiB, reserveBytes: 0 });
  const a = new BufferPool({ maxSize: MiB, budget, trimIdleMs: 0, lowWaterBytes: 0 });
  const b = new BufferPool({ maxSize: MiB, budget: budget.sab, trimIdleMs: 0, lowWaterBytes: 0 });
  const held: [BufferPool, Buffer][] = [];
  let seed = 1;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  let refusals = 0;
  for (let i = 0; i < 2000; i++) {
    const pool = rnd() & 1 ? a : b;
    if (held.length > 0 && rnd() % 3 === 0) {
      const [owner, buf] = held.splice(rnd() % held.length, 1)[0]!;
      owner.release(buf);
      if (rnd() % 5 === 0) owner.trim(0);
    } else {
      const buf = pool.tryAcquire(512 << rnd() % 12);
      if (buf) held.push([pool, buf]);
      else refusals++;
    }
    assert.ok(budget.usedBytes <= 6 * MiB, `over the budget at step ${i}: ${budget.usedBytes}`);
    assert.equal(budget.usedBytes, a.allocatedBytes + b.allocatedBytes);
  }
  assert.ok(refusals > 0, 'the budget was reached');
  assert.ok(budget.peakBytes <= 6 * MiB);
  for (const [owner, buf] of held) owner.release(buf);
  a.close();
  b.close();
  assert.equal(budget.usedBytes, 0);
});

test('a waiter is called when a buffer is released, and then gets memory', async () => {
  const p = new BufferPool({ maxSize: MiB, budget: new MemoryBudget({ limitBytes: 2 * MiB, reserveBytes: 0 }), trimIdleMs: 0 });
  const x = p.tryAcquire(MiB)!;
  const y = p.tryAcquire(MiB)!;
  assert.equal(p.tryAcquire(MiB), null);
  let got: Buffer | null = null;
  let calls = 0;
  p.whenAvailable(() => {
    calls++;
    got = p.tryAcquire(MiB);
  });
  assert.equal(p.budget.pressure, 1);
  await sleep(5);
  assert.equal(calls, 0, 'not called before memory comes back');
  p.release(y);
  await sleep(0);
  assert.equal(calls, 1);
  assert.equal(got, y);
  assert.equal(p.budget.pressure, 0);
  p.release(x);
  p.release(got!);
  p.close();
});

test('cancelWait withdraws a waiter and the pressure it put on the budget', async () => {
  const p = new BufferPool({ maxSize: 4096, budget: new MemoryBudget({ limitBytes: 64 * 1024, reserveBytes: 0 }), maxSlabBytes: 64 * 1024, trimIdleMs: 0 });
  const held = [];
  for (let b; (b = p.tryAcquire(4096)); ) held.push(b);
  assert.equal(held.length, 16);
  let called = 0;
  const cb = (): void => void called++;
  p.whenAvailable(cb);
  assert.equal(p.budget.pressure, 1);
  p.cancelWait(cb);
  assert.equal(p.budget.pressure, 0);
  for (const b of held) p.release(b);
  await sleep(0);
  assert.equal(called, 0);
  p.close();
});

test('while a pool waits, another pool sharing the budget gives its free memory back at its next release', async () => {
  const budget = new MemoryBudget({ limitBytes: 4 * MiB, reserveBytes: 0 });
  const a = new BufferPool({ maxSize: MiB, budget, trimIdleMs: 0, lowWaterBytes: 0 });
  const b = new BufferPool({ maxSize: MiB, budget, trimIdleMs: 0, lowWaterBytes: 0 });
  const held = Array.from({ length: 4 }, () => a.tryAcquire(MiB)!);
  for (const x of held.slice(0, 3)) a.release(x);
  assert.equal(a.freeBytes, 3 * MiB, 'kept: no timer, nobody waiting');
  assert.equal(b.tryAcquire(MiB), null);
  const got = new Promise<Buffer | null>((r) => b.whenAvailable(() => r(b.tryAcquire(MiB))));
  a.release(held[3]!);
  const buf = await got;
  assert.ok(buf, 'the waiting pool got memory');
  assert.ok(a.allocatedBytes <= 3 * MiB);
  assert.ok(budget.usedBytes <= 4 * MiB);
  b.release(buf);
  a.close();
  b.close();
});

test('a waiter is woken when another pool (another thread) gives memory back', async () => {
  const budget = new MemoryBudget({ limitBytes: 4 * MiB, reserveBytes: 0 });
  const url = new URL('../../src/runtime/buffer-pool.js', import.meta.url).href;
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.url).then(({ BufferPool }) => {
       const p = new BufferPool({ maxSize: 1 << 20, budget: workerData.sab, trimIdleMs: 0, lowWaterBytes: 0 });
       const held = [];
       for (let b; (b = p.tryAcquire(1 << 20)); ) held.push(b);
       parentPort.postMessage(held.length);
       parentPort.once('message', () => { for (const b of held) p.release(b); p.trim(0); parentPort.postMessage('freed'); });
     });`,
    { eval: true, workerData: { url, sab: budget.sab } },
  );
  const n = await new Promise<number>((r) => w.once('message', r));
  assert.equal(n, 4);
  const p = new BufferPool({ maxSize: MiB, budget, trimIdleMs: 0 });
  assert.equal(p.tryAcquire(MiB), null);
  const woken = new Promise<Buffer | null>((r) => p.whenAvailable(() => r(p.tryAcquire(MiB))));
  w.postMessage('release');
  const got = await woken;
  assert.ok(got, 'memory the worker gave back is available here');
  p.release(got);
  p.close();
  await w.terminate();
});

test('after a burst, free memory beyond the low-water mark goes back to the system and the budget', async () => {
  const budget = new MemoryBudget({ limitBytes: 64 * MiB });
  const p = new BufferPool({ maxSize: MiB, budget, trimIdleMs: 50, lowWaterBytes: 2 * MiB });
  const held = Array.from({ length: 16 }, () => p.tryAcquire(MiB)!);
  for (const b of held) b.fill(0xa5);
  const slabs = held.map((b) => b.buffer as ArrayBuffer);
  const src = defaultSlabSource();
  assert.equal(slabs.reduce((n, s) => n + src.resident(s), 0), 16 * MiB, 'touched memory is resident');
  assert.equal(budget.usedBytes, 16 * MiB);
  for (const b of held) p.release(b);
  assert.equal(p.freeBytes, 16 * MiB);
  await until(() => p.allocatedBytes <= 2 * MiB, 5000);
  assert.equal(p.allocatedBytes, 2 * MiB, 'kept: the low-water mark');
  assert.equal(budget.usedBytes, 2 * MiB, 'the shared counter went down');
  assert.equal(p.stats().trimmedBytes, 14 * MiB);
  const resident = slabs.reduce((n, s) => n + src.resident(s), 0);
  assert.equal(resident, 2 * MiB, 'the trimmed slabs are no longer in memory');
  p.close();
  assert.equal(budget.usedBytes, 0);
});

test('a pool in use keeps what it needed during the last period', async () => {
  const p = new BufferPool({ maxSize: MiB, trimIdleMs: 40, lowWaterBytes: 0 });
  const burst = Array.from({ length: 8 }, () => p.acquire(MiB));
  for (const b of burst) p.release(b);
  // Steady use of 4 buffers: the 4 never needed go, the 4 in use stay.
  const round = async (): Promise<void> => {
    const use = Array.from({ length: 4 }, () => p.acquire(MiB));
    assert.ok(p.allocatedBytes >= 4 * MiB);
    await sleep(15);
    for (const b of use) p.release(b);
  };
  const end = Date.now() + 5000;
  while (p.allocatedBytes > 4 * MiB && Date.now() < end) await round();
  assert.equal(p.allocatedBytes, 4 * MiB, 'the burst beyond the working set went back');
  const trimmed = p.stats().trimmedBytes;
  for (let i = 0; i < 8; i++) await round();
  assert.equal(p.stats().trimmedBytes, trimmed, 'the working set is not trimmed and made again');
  assert.equal(p.allocatedBytes, 4 * MiB);
  p.close();
});

test('regression (finding 7): released buffers do not keep their memory after a burst (old API only)', async () => {
  const pool = new BufferPool(MiB);
  const rss0 = process.memoryUsage().rss;
  const held = Array.from({ length: 48 }, () => pool.acquire(MiB));
  for (const b of held) b.fill(1);
  const rss1 = process.memoryUsage().rss;
  assert.ok(rss1 - rss0 > 40 * MiB, `the burst is resident (${(rss1 - rss0) / MiB} MiB)`);
  for (const b of held) pool.release(b);
  held.length = 0;
  await until(() => rss1 - process.memoryUsage().rss > 32 * MiB, 5000);
  const rss2 = process.memoryUsage().rss;
  assert.ok(rss1 - rss2 > 32 * MiB, `memory given back after the idle period (${(rss1 - rss2) / MiB} MiB of ${(rss1 - rss0) / MiB} MiB)`);
  assert.equal(pool.outstanding, 0);
});
