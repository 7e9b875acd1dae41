// A connection's quota of the thread's pool: a connection past its share waits on its own releases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../../src/runtime/buffer-pool.js';
import { ConnectionQuota, quotaFor } from '../../../src/transport/tcp/quota.js';

test('quota: a connection cannot take more than its share, others still can', async () => {
  const pool = new BufferPool({ maxSize: 1 << 20, budget: 64 << 20, trimIdleMs: 0 });
  const limit = quotaFor(pool, 1 << 20);
  assert.equal(limit, 4 << 20, 'max(4 x MDTS, budget / 16)');
  const slow = new ConnectionQuota(pool, limit);
  const other = new ConnectionQuota(pool, limit);
  const held: Buffer[] = [];
  for (;;) {
    const b = slow.tryAcquire(1 << 20);
    if (b === null) break;
    held.push(b);
  }
  assert.equal(held.length, 4);
  assert.ok(slow.held <= limit);
  const b = other.tryAcquire(1 << 20);
  assert.ok(b, 'another connection is not starved by the slow one');
  other.release(b!);
  // The slow connection waits on its own memory.
  let woke = 0;
  slow.whenAvailable(() => woke++);
  slow.release(held.pop()!);
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, 1);
  assert.ok(slow.tryAcquire(1 << 20), 'room again after its own release');
});

test('quota: one command always fits when the connection holds nothing; no limit without a budget', () => {
  const pool = new BufferPool({ maxSize: 1 << 20, trimIdleMs: 0 });
  assert.equal(quotaFor(pool, 1 << 20), Infinity);
  const q = new ConnectionQuota(pool, 4096);
  const b = q.tryAcquire(1 << 20);
  assert.ok(b, 'a transfer larger than the quota still runs alone');
  assert.equal(q.tryAcquire(512), null);
  q.release(b!);
  assert.equal(q.held, 0);
});
