// Fused pairs on the wire (raw queue): the pair runs only once both commands have all their data
// (one by R2T, one in-capsule), and a command of a pair that fails on its own (a data digest error)
// takes its partner with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import { buildH2CData } from '../../src/initiator/pdu-build.js';
import * as S from '../../src/initiator/sqe-build.js';
import { DATA, PduType } from '../../src/spec/pdu.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { Generic, SCT, status } from '../../src/spec/status.js';
import { StatField, threadStats } from '../../src/runtime/stats.js';
import { pattern, rawIoQueue, testConfig, withTarget } from './helpers.js';

const BS = 512;

async function readBack(c: Controller, slba: number, nlb: number): Promise<Buffer> {
  const b = Buffer.alloc(nlb * BS);
  assert.ok((await c.read(1, slba, nlb, b)).ok);
  return b;
}

test('fused pair: nothing runs until both commands have their data (compare by R2T, write in-capsule)', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    const raw = await rawIoQueue(t, c, 2);
    try {
      const old = pattern(4096, 31);
      const next = pattern(4096, 32);
      assert.ok((await c.write(1, 64, 8, old)).ok);
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Compare, 1, 64, 8, { fuse: 1 }), 1, { transport: 4096 });
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 64, 8, { fuse: 2 }), 2, { inCapsule: next });
      const { hdr } = await raw.expectPdu(PduType.R2T);
      assert.equal(hdr.readUInt16LE(DATA.cccid), 1, 'the R2T is for the compare');
      // The write has its data, the compare not yet: neither may complete, nothing is written.
      await assert.rejects(raw.next(200), /nothing from the controller/);
      assert.ok((await readBack(c, 64, 8)).equals(old), 'no write before the compare has its data');
      raw.send(buildH2CData(1, hdr.readUInt16LE(DATA.ttag), 0, old, true, raw.link));
      const a = await raw.response();
      const b = await raw.response();
      assert.deepEqual([a.cid, a.status, b.cid, b.status], [1, 0, 2, 0], 'compare then write, both successful');
      assert.ok((await readBack(c, 64, 8)).equals(next), 'the write happened');
    } finally {
      raw.close();
      await c.disconnect();
    }
  });
});

test('fused pair: a data digest error on the compare aborts the write with Failed Fused Command', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    const raw = await rawIoQueue(t, c, 2, { ddgst: true });
    try {
      const old = pattern(1024, 41);
      const next = pattern(1024, 42);
      assert.ok((await c.write(1, 128, 2, old)).ok);
      const bad = raw.buildCapsule(S.readWrite(Buffer.alloc(64), IoOpc.Compare, 1, 128, 2, { fuse: 1 }), 1, { inCapsule: old });
      bad[bad.length - 1]! ^= 0xff; // the data digest
      raw.send(bad);
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 128, 2, { fuse: 2 }), 2, { inCapsule: next });
      const byCid = new Map<number, number>();
      for (let i = 0; i < 2; i++) {
        const r = await raw.response();
        byCid.set(r.cid, r.status);
      }
      assert.equal(byCid.get(1), status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR), 'compare: data digest error');
      assert.equal(byCid.get(2), status(SCT.GENERIC, Generic.ABORTED_FAILED_FUSED), 'write: aborted, its first command failed');
      assert.ok((await readBack(c, 128, 2)).equals(old), 'nothing written');
      // The queue goes on: a good pair now.
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Compare, 1, 128, 2, { fuse: 1 }), 3, { inCapsule: old });
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 128, 2, { fuse: 2 }), 4, { inCapsule: next });
      const x = await raw.response();
      const y = await raw.response();
      assert.deepEqual([x.status, y.status], [0, 0]);
      assert.ok((await readBack(c, 128, 2)).equals(next));
    } finally {
      raw.close();
      await c.disconnect();
    }
  });
});

test('fused pair: a queue closing with half a pair, or a pair waiting for data, leaves nothing outstanding', async () => {
  await withTarget(testConfig({ workers: 0 }), async (t) => {
    const c = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    try {
      const inflight = (): number => threadStats().f[StatField.INFLIGHT]!;
      const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
      await settle();
      const base = inflight();
      // A first command waiting for its second.
      let raw = await rawIoQueue(t, c, 2);
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Compare, 1, 8, 1, { fuse: 1 }), 1, { inCapsule: Buffer.alloc(BS) });
      await settle();
      assert.equal(inflight(), base + 1, 'the first command is held');
      raw.close();
      await settle();
      assert.equal(inflight(), base, 'dropped when the queue closed');
      // A pair whose write (second) waits for the compare's data by R2T.
      raw = await rawIoQueue(t, c, 2);
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Compare, 1, 8, 1, { fuse: 1 }), 1, { transport: BS });
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 8, 1, { fuse: 2 }), 2, { inCapsule: pattern(BS, 5) });
      await raw.expectPdu(PduType.R2T);
      await settle();
      assert.equal(inflight(), base + 2, 'both commands held');
      raw.close();
      await settle();
      assert.equal(inflight(), base, 'both dropped when the queue closed');
      assert.ok((await readBack(c, 8, 1)).every((x) => x === 0), 'nothing written');
    } finally {
      await c.disconnect();
    }
  });
});
