// The same wire protocol with the target's I/O queues on worker threads (shard.workers = 2):
// digests, R2T splitting, data digest errors and I/O-queue fatal errors must behave exactly as on
// the main thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import { buildH2CData } from '../../src/initiator/pdu-build.js';
import * as S from '../../src/initiator/sqe-build.js';
import { FES, DATA, PduType } from '../../src/spec/pdu.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { Generic, SCT, status } from '../../src/spec/status.js';
import { MiB, assertHealthy, expectTermination, pattern, rawIoQueue, startR2TWrite, testConfig, withTarget } from './helpers.js';

const WORKERS = 2;

test('sharded: bad data digest on a worker-owned queue -> Transient Transport Error, the queue goes on', async () => {
  await withTarget(testConfig({ workers: WORKERS }), async (t) => {
    const h = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    try {
      const raw = await rawIoQueue(t, h, 2, { ddgst: true });
      try {
        const bad = raw.buildCapsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 60, 8), 12, { inCapsule: pattern(4096, 1) });
        bad[bad.length - 1] ^= 0xff;
        raw.send(bad);
        const r = await raw.response();
        assert.equal(r.status & 0x7ff, status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR), `status 0x${r.status.toString(16)}`);
        raw.capsule(S.flush(Buffer.alloc(64), 1), 13);
        assert.equal((await raw.response()).status, 0);
      } finally {
        raw.close();
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

test('sharded: H2CData for an unknown TTAG on a worker-owned queue -> C2HTermReq, close; others unaffected', async () => {
  await withTarget(testConfig({ workers: WORKERS }), async (t) => {
    const h = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    try {
      const raw = await rawIoQueue(t, h, 2);
      try {
        const r2t = await startR2TWrite(raw, 7);
        raw.send(buildH2CData(7, r2t.ttag ^ 0x4321, r2t.r2to, pattern(r2t.r2tl, 2), true, raw.link));
        await expectTermination(raw, FES.INVALID_PDU_HEADER_FIELD, DATA.ttag, 5000, { type: PduType.H2CData, headerLength: 24 });
      } finally {
        raw.close();
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

// Last: the digest variants, so that a crash in the data digest path cannot hide the tests above.
for (const dg of [
  { hdgst: false, ddgst: false },
  { hdgst: true, ddgst: false },
  { hdgst: false, ddgst: true },
  { hdgst: true, ddgst: true },
]) {
  test(`sharded: in-capsule, R2T (beyond MAXH2CDATA) and read, hdgst=${dg.hdgst} ddgst=${dg.ddgst}`, async () => {
    await withTarget(testConfig({ workers: WORKERS, maxH2CData: 4096, namespaces: [{ size: 16 * MiB }] }), async (t) => {
      const c = await Controller.connect(t.opts({ ...dg, ioQueues: 2 }));
      try {
        for (const [q, blocks] of [
          [0, 8],
          [1, 16],
          [0, 17],
          [1, 256],
        ] as const) {
          const data = pattern(blocks * 512, blocks + q);
          const w = await c.write(1, 100 * blocks, blocks, data, { queue: q });
          assert.ok(w.ok, `${blocks}-block write on queue ${q}: ${w.name}`);
          const back = Buffer.alloc(blocks * 512);
          const r = await c.read(1, 100 * blocks, blocks, back, { queue: 1 - q });
          assert.ok(r.ok, `${blocks}-block read: ${r.name}`);
          assert.ok(back.equals(data), `${blocks} blocks read back`);
        }
      } finally {
        await c.disconnect();
      }
    });
  });
}
