// Finding 7: a target-wide memory budget for data buffers. Hosts that stop reading while their reads
// pile up cannot push the target past it; the others keep working; the memory goes back afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/initiator/controller.js';
import type { RawConnection } from '../../src/initiator/raw.js';
import * as S from '../../src/initiator/sqe-build.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { threadBufferPool } from '../../src/runtime/thread.js';
import { MiB, assertHealthy, rawIoQueue, testConfig, withTarget } from './helpers.js';

const BUDGET = 64 * MiB;

test('memory budget: four stalled queues of 1 MiB reads never push pooled memory past the budget; others go on; memory returns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmetd-budget-'));
  try {
    const cfg = testConfig({ workers: 0, maxQueueSize: 128 });
    cfg.subsystems[0]!.namespaces[0]!.backing = { type: 'file', path: join(dir, 'ns1.img'), size: 64 * MiB };
    cfg.memoryBudget = BUDGET;
    await withTarget(cfg, async (t) => {
      const h = await Controller.connect(t.opts({ extraIoQueues: 4 }));
      const raws: RawConnection[] = [];
      try {
        const pool = threadBufferPool()!;
        assert.equal(pool.stats().budgetBytes, BUDGET, 'the configured budget is in force');
        for (let q = 0; q < 4; q++) {
          const raw = await rawIoQueue(t, h, 2 + q, {}, 128);
          raw.socket.pause(); // never read what the target sends
          raws.push(raw);
          // 127 reads of 1 MiB each: 127 MiB per queue if nothing held the target back.
          for (let cid = 0; cid < 127; cid++) raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, (cid % 64) * 2048, 2048), cid, { transport: MiB });
        }
        await new Promise((r) => setTimeout(r, 1500));
        const s = pool.stats();
        assert.ok(s.budgetPeakBytes <= BUDGET, `peak ${s.budgetPeakBytes / MiB} MiB over the ${BUDGET / MiB} MiB budget`);
        assert.equal(s.overBudgetBytes, 0, 'nothing allocated past the budget');
        // The stalled host holds at most its quota per connection; the healthy one still does I/O.
        await assertHealthy(h);
      } finally {
        for (const r of raws) r.close();
      }
      // Once the stalled connections are gone their buffers return to the pool, then to the system.
      await new Promise((r) => setTimeout(r, 3000));
      const after = threadBufferPool()!.stats();
      assert.equal(after.outstandingBytes, 0, 'no buffer left handed out');
      assert.ok(after.allocatedBytes <= 8 * MiB, `pool kept ${after.allocatedBytes / MiB} MiB after the burst`);
      await assertHealthy(h);
      await h.disconnect();
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
