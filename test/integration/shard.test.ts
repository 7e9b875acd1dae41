// I/O queues spread over worker threads: verified I/O, isolation between connections, a worker
// dying and being replaced, pinning read back from the threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTarget, type Target } from '../../src/server/target.js';
import { createLogger } from '../../src/util/log.js';
import { Controller } from '../../src/initiator/controller.js';
import { SUBNQN, testConfig } from './helpers.js';
import type { ShardConfig } from '../../src/config/types.js';
import { WORKER_SEMI_SPACE_MB } from '../../src/runtime/worker-heap.js';
import { freshWorkerNewSpace } from '../unit/fresh-worker.js';

async function withShardedTarget(shard: Partial<ShardConfig>, fn: (t: Target, port: number) => Promise<void>): Promise<void> {
  const config = testConfig({ namespaces: [{ size: 64 * 1024 * 1024 }, { size: 16 * 1024 * 1024, blockSize: 4096 }] });
  config.shard = { workers: 4, cores: [], mainCore: -1, policy: 'round-robin', map: {}, mode: 'event', ...shard };
  const t = await startTarget(config, createLogger('silent'));
  try {
    await fn(t, t.addresses[0]!.port);
  } finally {
    await t.close();
  }
}

/** Writes then reads back a distinct pattern on every queue; returns how many round trips matched. */
async function verifyAllQueues(c: Controller, queues: number, round: number): Promise<number> {
  let ok = 0;
  await Promise.all(
    Array.from({ length: queues }, async (_, q) => {
      for (const [nsid, bs] of [
        [1, 512],
        [2, 4096],
      ] as const) {
        for (const size of [4096, 65536, 262144]) {
          const data = randomBytes(size);
          // Each queue has its own 2 MiB region; each round its own 256 KiB slot in it.
          const slba = BigInt((q * 2 * 1024 * 1024 + round * 262144) / bs);
          const w = await c.write(nsid, slba, size / bs, data, { queue: q });
          const dst = Buffer.alloc(size);
          const r = await c.read(nsid, slba, size / bs, dst, { queue: q });
          if (w.ok && r.ok && dst.equals(data)) ok++;
        }
      }
    }),
  );
  return ok;
}

// First in this file: no worker pool has started in this process before it.
test('shard: the pool gives its workers the young-generation floor (runtime/worker-heap.ts) before starting them', async () => {
  const floor = WORKER_SEMI_SPACE_MB * 1024 * 1024;
  assert.ok((await freshWorkerNewSpace()) < floor, 'before any pool: V8 default');
  await withShardedTarget({ workers: 1 }, async () => {
    assert.ok((await freshWorkerNewSpace()) >= floor, 'threads started once the pool has run get the floor');
  });
});

test('shard: a controller with 8 I/O queues over 4 workers does verified I/O on every queue', async () => {
  await withShardedTarget({}, async (t, port) => {
    const c = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 8, kato: 5000 });
    try {
      assert.equal(await verifyAllQueues(c, 8, 0), 8 * 2 * 3);
      const info = t.stats().workers;
      assert.equal(info.length, 4);
      assert.deepEqual(
        info.map((w) => w.queues.length),
        [2, 2, 2, 2],
        'round robin: two I/O queues per worker',
      );
      for (const w of info) assert.ok(w.stats.commands >= 12, `worker ${w.index} served ${w.stats.commands} commands`);
      // SMART counts the I/O done on every worker.
      const smart = await c.getLogPage(0x02, 512, 0, { nsid: 0xffffffff });
      assert.ok(smart.ok, smart.name);
      assert.equal(smart.data!.readBigUInt64LE(80), BigInt(8 * 2 * 3), 'host write commands across workers');
    } finally {
      await c.disconnect();
    }
  });
});

test('shard: closing and breaking single connections leaves the other queues and controllers untouched', async () => {
  await withShardedTarget({ workers: 2 }, async (t, port) => {
    const a = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 4, kato: 5000 });
    const b = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 2, kato: 5000 });
    try {
      // Break one of a's queues at the TCP level (no Disconnect).
      a.io[1]!.socket.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const others = [0, 2, 3];
      for (const q of others) {
        const data = randomBytes(8192);
        assert.ok((await a.write(1, BigInt(q * 100), 16, data, { queue: q })).ok);
        const dst = Buffer.alloc(8192);
        assert.ok((await a.read(1, BigInt(q * 100), 16, dst, { queue: q })).ok);
        assert.ok(dst.equals(data));
      }
      assert.equal(await verifyAllQueues(b, 2, 1), 2 * 2 * 3, 'the other controller is unaffected');
      const live = t.stats().workers.reduce((n, w) => n + w.queues.length, 0);
      assert.equal(live, 3 + 2, 'the broken queue is gone from its worker, the others remain');
    } finally {
      await a.disconnect();
      await b.disconnect();
    }
  });
});

test('shard: a worker that dies has its connections closed, its controllers fail, the process survives and the worker is replaced', async () => {
  await withShardedTarget({ workers: 2, policy: 'per-controller' }, async (t, port) => {
    const pool = t.workers!;
    const victim = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 2, kato: 5000 });
    // per-controller placement: every queue of a controller on worker cntlid % 2.
    const victimWorker = victim.cntlid % 2;
    let other = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 2, kato: 5000 });
    while (other.cntlid % 2 === victimWorker) {
      await other.disconnect();
      other = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 2, kato: 5000 });
    }
    try {
      await pool.terminateWorker(victimWorker);
      await new Promise((r) => setTimeout(r, 300));
      // The victim's connections are gone (its admin queue too: the controller was torn down).
      assert.ok(victim.io.every((q) => q.isClosed), 'I/O queues on the dead worker are closed');
      assert.ok(victim.admin.isClosed, 'the failed controller was torn down');
      // The other controller keeps working.
      assert.equal(await verifyAllQueues(other, 2, 2), 2 * 2 * 3);
      // A new controller can use the replacement worker.
      await pool.workerReady(victimWorker);
      const again = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 2, kato: 5000 });
      try {
        assert.equal(await verifyAllQueues(again, 2, 3), 2 * 2 * 3);
      } finally {
        await again.disconnect();
      }
    } finally {
      victim.destroy();
      await other.disconnect();
    }
  });
});

test('shard: workers are pinned to the configured cores (affinity read back from each thread)', async () => {
  const { native } = await import('../../src/native/addon.js');
  const available = native.getAffinity();
  const cores = available.length > 1 ? [available[0]!, available[1]!] : [available[0]!];
  await withShardedTarget({ workers: 2, cores }, async (t) => {
    const info = t.stats().workers;
    assert.deepEqual(info[0]!.affinity, [cores[0]]);
    assert.deepEqual(info[1]!.affinity, [cores[1 % cores.length]]);
    assert.ok(info.every((w) => w.tid > 0));
  });
});

test('shard: poll and adaptive modes serve verified I/O', async () => {
  for (const mode of ['poll', 'adaptive'] as const) {
    await withShardedTarget({ workers: 1, mode }, async (_t, port) => {
      const c = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, ioQueues: 2, kato: 5000 });
      try {
        assert.equal(await verifyAllQueues(c, 2, 4), 2 * 2 * 3, `mode ${mode}`);
      } finally {
        await c.disconnect();
      }
    });
  }
});
