// The perf latency histogram: bucket layout, percentiles against exact answers, merging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, HISTOGRAM_BUCKETS, bucketHigh, bucketLow, bucketOf } from '../../src/perf/histogram.js';

test('buckets tile the value range without gaps, each at most 1/128 of its value wide', () => {
  for (let i = 0; i < HISTOGRAM_BUCKETS - 1; i++) {
    assert.equal(bucketHigh(i) + 1, bucketLow(i + 1), `bucket ${i} ends where ${i + 1} starts`);
    if (i >= 256) assert.ok(bucketHigh(i) - bucketLow(i) + 1 <= bucketLow(i) / 128, `bucket ${i} width`);
  }
  for (const v of [0, 1, 255, 256, 257, 1000, 4095, 4096, 123_456, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345]) {
    const b = bucketOf(v);
    assert.ok(bucketLow(b) <= v && v <= bucketHigh(b), `${v} in bucket ${b} [${bucketLow(b)}, ${bucketHigh(b)}]`);
  }
  assert.equal(bucketOf(2 ** 60), HISTOGRAM_BUCKETS - 1, 'huge values land in the last bucket');
});

test('percentiles of a uniform set are within one bucket of the exact value', () => {
  const h = new Histogram();
  // 1 us .. 10 ms in 1 us steps, shuffled order does not matter.
  for (let us = 1; us <= 10_000; us++) h.record(us * 1000);
  assert.equal(h.count, 10_000);
  assert.equal(h.min, 1000);
  assert.equal(h.max, 10_000_000);
  assert.ok(Math.abs(h.mean - 5_000_500) < 1, `mean ${h.mean}`);
  for (const [p, exact] of [[50, 5_000_000], [90, 9_000_000], [99, 9_900_000], [99.9, 9_990_000]] as const) {
    const got = h.percentile(p);
    assert.ok(got >= exact && got <= exact * (1 + 1 / 128), `p${p}: ${got}, exact ${exact}`);
  }
  assert.equal(h.percentile(100), 10_000_000);
  assert.equal(h.percentile(0), 1000, 'p0 is the minimum');
});

test('a skewed set: the tail percentiles find the few slow values', () => {
  const h = new Histogram();
  for (let i = 0; i < 9990; i++) h.record(20_000);
  for (let i = 0; i < 10; i++) h.record(5_000_000);
  assert.ok(h.percentile(99) < 20_200, `p99 ${h.percentile(99)} is the fast mode`);
  assert.ok(h.percentile(99.95) >= 5_000_000, `p99.95 ${h.percentile(99.95)} is the slow tail`);
  assert.equal(h.max, 5_000_000);
});

test('empty histogram reports zeros; reset empties it', () => {
  const h = new Histogram();
  assert.equal(h.percentile(50), 0);
  assert.equal(h.mean, 0);
  h.record(100);
  h.reset();
  assert.equal(h.count, 0);
  assert.equal(h.percentile(99), 0);
});

test('merging (worker results) equals recording everything in one histogram', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 1; i <= 5000; i++) {
    const v = (i * 7919) % 100_000;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  const m = Histogram.fromData(a.toData());
  m.add(b.toData());
  assert.equal(m.count, all.count);
  assert.equal(m.min, all.min);
  assert.equal(m.max, all.max);
  assert.equal(m.sum, all.sum);
  for (const p of [1, 50, 99, 99.9]) assert.equal(m.percentile(p), all.percentile(p), `p${p}`);
});
