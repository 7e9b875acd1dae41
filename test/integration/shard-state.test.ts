// The state of a controller (it lives on the main thread) as seen by the I/O queues a worker owns:
// CC.EN and CC.SHN reach the workers, and what the workers record in the controller's error log
// keeps every field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import { Cc, Csts, Prop } from '../../src/spec/properties.js';
import { Generic, SCT } from '../../src/spec/status.js';
import { LogId } from '../../src/spec/log.js';
import { testConfig, withTarget } from './helpers.js';

for (const workers of [0, 1]) {
  test(`controller state: a Read after Property Set CC.EN=0 gets Command Sequence Error (workers=${workers})`, async () => {
    await withTarget(testConfig({ workers }), async (t) => {
      const c = await Controller.connect(t.opts({ ioQueues: 1 }));
      try {
        if (workers > 0) assert.equal(t.target.stats().workers[0]!.queues.length, 1, 'the I/O queue is owned by the worker');
        assert.ok((await c.read(1, 0, 1, Buffer.alloc(512))).ok, 'Read while enabled');
        const aer = c.asyncEventRequest();
        const cc = Number(await c.propertyGetValue(Prop.CC, false));
        assert.ok((await c.propertySet(Prop.CC, cc & ~Cc.EN)).ok, 'Property Set CC.EN=0');
        // A controller reset aborts the outstanding Asynchronous Event Requests.
        const a = await Promise.race([aer, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
        assert.ok(a, 'the outstanding AER completes when CC.EN is cleared');
        assert.equal(a.sc, Generic.ABORTED_SQ_DELETION, `AER at controller reset: ${a.name}`);
        const r = await c.read(1, 0, 1, Buffer.alloc(512));
        assert.equal(r.sct, SCT.GENERIC, r.name);
        assert.equal(r.sc, Generic.COMMAND_SEQUENCE_ERROR, `Read after CC.EN=0: ${r.name}`);
        const w = await c.write(1, 0, 1, Buffer.alloc(512));
        assert.equal(w.sc, Generic.COMMAND_SEQUENCE_ERROR, `Write after CC.EN=0: ${w.name}`);
      } finally {
        c.destroy();
      }
    });
  });

  test(`controller state: I/O after a CC.SHN shutdown completed gets Command Sequence Error (workers=${workers})`, async () => {
    await withTarget(testConfig({ workers }), async (t) => {
      const c = await Controller.connect(t.opts({ ioQueues: 1 }));
      try {
        const cc = Number(await c.propertyGetValue(Prop.CC, false));
        assert.ok((await c.propertySet(Prop.CC, (cc & ~Cc.shnMask) | (1 << Cc.shnShift))).ok);
        // Shutdown completes once the namespaces are flushed (RAM: at once); poll CSTS.SHST.
        const until = Date.now() + 3000;
        while (Date.now() < until && (Number(await c.propertyGetValue(Prop.CSTS, false)) & Csts.shstMask) !== Csts.SHST_COMPLETE) await new Promise((r) => setTimeout(r, 10));
        const r = await c.read(1, 0, 1, Buffer.alloc(512));
        assert.equal(r.sc, Generic.COMMAND_SEQUENCE_ERROR, `Read after shutdown: ${r.name}`);
      } finally {
        c.destroy();
      }
    });
  });

  test(`controller state: the error log entry of an I/O error keeps its parameter error location (workers=${workers})`, async () => {
    await withTarget(testConfig({ workers }), async (t) => {
      const c = await Controller.connect(t.opts({ ioQueues: 1 }));
      try {
        const bad = await c.read(99, 0, 1, Buffer.alloc(512));
        assert.equal(bad.sc, Generic.INVALID_NAMESPACE, bad.name);
        const oor = await c.read(1, 1n << 40n, 1, Buffer.alloc(512));
        assert.equal(oor.sc, Generic.LBA_OUT_OF_RANGE, oor.name);
        // A worker reports its entries to the main thread asynchronously: wait for both.
        let log = await c.getLogPage(LogId.ErrorInformation, 128);
        for (const until = Date.now() + 2000; Date.now() < until && log.ok && log.data!.readBigUInt64LE(64) === 0n; ) {
          await new Promise((r) => setTimeout(r, 20));
          log = await c.getLogPage(LogId.ErrorInformation, 128);
        }
        assert.ok(log.ok, log.name);
        const e = log.data!;
        // Newest first: the LBA Out of Range entry, then the Invalid Namespace entry.
        assert.equal(e.readUInt16LE(8), 1, 'SQID of the I/O queue');
        assert.equal(e.readUInt16LE(10), oor.cid, 'CID');
        assert.equal((e.readUInt16LE(12) >> 1) & 0xff, Generic.LBA_OUT_OF_RANGE, 'status');
        assert.equal(e.readUInt16LE(14), 40, 'parameter error location: SLBA (byte 40)');
        assert.equal(e.readBigUInt64LE(16), 1n << 40n, 'LBA');
        assert.equal(e.readUInt32LE(24), 1, 'NSID');
        assert.equal((e.readUInt16LE(64 + 12) >> 1) & 0xff, Generic.INVALID_NAMESPACE, 'status of the older entry');
        assert.equal(e.readUInt16LE(64 + 14), 4, 'parameter error location: NSID (byte 4)');
        assert.equal(e.readUInt32LE(64 + 24), 99, 'NSID of the older entry');
      } finally {
        await c.disconnect();
      }
    });
  });
}
