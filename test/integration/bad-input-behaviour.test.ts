// Bad input that is about behaviour over time rather than one PDU or one command (issue 2, "Bad
// input"): a peer that stops reading must not make the target's memory grow without bound, and a
// peer that never sends ICReq is closed after the ICReq timeout. Against the real target over loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import * as S from '../../src/initiator/sqe-build.js';
import { SQE_SIZE } from '../../src/spec/sqe.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { MiB, assertHealthy, pattern, rawIoQueue, testConfig, withTarget, type Running } from './helpers.js';

function sqe(): Buffer {
  return Buffer.alloc(SQE_SIZE);
}

/** A healthy controller (qid 1 connected) that also asked for a second I/O queue for raw use. */
async function healthy(t: Running): Promise<Controller> {
  return Controller.connect(t.opts({ extraIoQueues: 1 }));
}

test('bad input: a peer that stops reading -> bounded memory (backpressure or close), others unaffected', async () => {
  await withTarget(testConfig({ namespaces: [{ size: 64 * MiB }] }), async (t) => {
    const h = await healthy(t);
    try {
      const raw = await rawIoQueue(t, h, 2, {}, 128);
      try {
        // Make the namespace data real (not a shared zero page) so reads cost the target something.
        const fill = pattern(128 * 1024, 6);
        for (let lba = 0; lba < 64 * 2048; lba += 256) assert.ok((await h.write(1, lba, 256, fill)).ok);
        raw.socket.pause(); // stop reading
        const before = process.memoryUsage();
        // Phase 1: a full queue (127 of 128 entries) of 256 KiB reads (~32 MiB) the peer never picks up.
        for (let cid = 0; cid < 127; cid++) raw.capsule(S.readWrite(sqe(), IoOpc.Read, 1, cid * 512, 512), cid, { transport: 256 * 1024 });
        await new Promise((r) => setTimeout(r, 300));
        await assertHealthy(h);
        // Phase 2: keep sending 8 KiB in-capsule writes (beyond the queue size) up to 96 MiB.
        const data8k = pattern(8192, 7);
        const capsules = Array.from({ length: 64 }, (_, i) => raw.buildCapsule(S.readWrite(sqe(), IoOpc.Write, 1, 4096 + i * 16, 16), 100 + i, { inCapsule: data8k }));
        let sent = 0;
        const budget = 96 * MiB;
        while (sent < budget && !raw.isClosed) {
          for (const c of capsules) {
            raw.send(c);
            sent += c.length;
          }
          if (raw.socket.writableLength > 48 * MiB) break;
          await new Promise((r) => setImmediate(r));
        }
        await new Promise((r) => setTimeout(r, 1000));
        // Either the target stopped reading (our bytes pile up on our side) or it refused the
        // excess and closed. It must not have swallowed everything.
        const stalled = raw.socket.writableLength;
        if (process.env.NVMETD_TEST_VERBOSE) console.log(`stalled ${(stalled / MiB).toFixed(1)} MiB of ${(sent / MiB).toFixed(1)} MiB; closed ${raw.isClosed}`);
        const closed = raw.isClosed || raw.socket.destroyed;
        assert.ok(closed || stalled > 16 * MiB, `target consumed ${(sent - stalled) / MiB} MiB of ${sent / MiB} MiB while the peer did not read`);
        const after = process.memoryUsage();
        const grew = after.rss - before.rss;
        assert.ok(grew < 400 * MiB, `process RSS grew by ${(grew / MiB).toFixed(0)} MiB`);
        // Others keep working while the peer is stuck.
        await assertHealthy(h);
      } finally {
        raw.close();
      }
      await new Promise((r) => setTimeout(r, 200));
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

test('bad input: a peer that connects and says nothing -> closed after the ICReq timeout', async () => {
  await withTarget(testConfig({ icreqTimeout: 1 }), async (t) => {
    const h = await healthy(t);
    try {
      const silent = await t.raw();
      const talker = await t.raw();
      await talker.icreq();
      const start = Date.now();
      const end = await silent.termination(5000);
      const elapsed = Date.now() - start;
      assert.ok(end.closed, 'the silent connection was closed');
      assert.ok(elapsed >= 800, `closed after ${elapsed} ms, not before the 1 s timeout`);
      assert.ok(elapsed < 4000, `closed after ${elapsed} ms`);
      // A connection that did send ICReq is not closed by the ICReq timer.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(talker.isClosed, false, 'the connection that sent ICReq stays open');
      talker.close();
      silent.close();
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});
