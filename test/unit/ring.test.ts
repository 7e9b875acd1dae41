import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SpscRing } from '../../src/shard/ring.js';

test('ring: records come out in order, full ring refuses and counts drops', () => {
  const r = new SpscRing(4);
  for (let i = 0; i < 4; i++) assert.equal(r.push(i, i * 10), true);
  assert.equal(r.push(99), false);
  assert.equal(r.drops, 1);
  const got: number[][] = [];
  assert.equal(r.drain((w, at) => got.push([w[at]!, w[at + 1]!])), 4);
  assert.deepEqual(got, [[0, 0], [1, 10], [2, 20], [3, 30]]);
  assert.equal(r.size, 0);
  assert.equal(r.push(5), true, 'slots are reusable after drain');
});

test('ring: a producer thread and a consumer thread exchange 200000 records without loss or reordering', async () => {
  const r = new SpscRing(256);
  const total = 200_000;
  const src = `
    const { workerData } = require('node:worker_threads');
    const a = new Int32Array(workerData.sab);
    const cap = (a.length - 4) / 8;
    let i = 0;
    while (i < workerData.total) {
      const tail = Atomics.load(a, 1), head = Atomics.load(a, 0);
      if (tail - head >= cap) continue;
      const at = 4 + (tail & (cap - 1)) * 8;
      a[at] = i; a[at + 1] = i ^ 0x5a5a;
      Atomics.store(a, 1, tail + 1);
      i++;
    }
  `;
  const w = new Worker(src, { eval: true, workerData: { sab: r.sab, total } });
  // Listen before draining: the producer can finish and exit while the loop below awaits.
  const exited = new Promise((res) => w.once('exit', res));
  let expect = 0;
  let bad = 0;
  while (expect < total) {
    r.drain((words, at) => {
      if (words[at] !== expect || words[at + 1] !== (expect ^ 0x5a5a)) bad++;
      expect++;
    });
    if (expect < total) await new Promise((res) => setImmediate(res));
  }
  await exited;
  assert.equal(bad, 0);
  assert.equal(expect, total);
});
