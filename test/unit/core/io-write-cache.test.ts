// Durability of writes as the I/O path hands them to the backend: Volatile Write Cache (Set Features 06h)
// and CDW12.FUA on Write and Write Zeroes. Also Compare through a backend that has no memory view.
// SQEs are built from the NVMe base specification's byte offsets, independently of src/spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminOpc, IoOpc } from '../../../src/spec/opcodes.js';
import { FeatureId } from '../../../src/spec/log.js';
import { SCT, status } from '../../../src/spec/status.js';
import { admin, enabledAdmin, io, ioQueue, makeContext, recordNamespace, type FakeQueue } from './fakes.js';
import type { TargetContext } from '../../../src/core/context.js';

const FUA = 1 << 30;

function setWce(q: FakeQueue, ctx: TargetContext, wce: 0 | 1): void {
  const c = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.SetFeatures;
    sqe.writeUInt32LE(FeatureId.VolatileWriteCache, 40); // cdw10: FID
    sqe.writeUInt32LE(wce, 44); // cdw11 bit 0: WCE
  }, 0);
  assert.equal(c.status, 0);
}

function getWce(q: FakeQueue, ctx: TargetContext): number {
  const c = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.GetFeatures;
    sqe.writeUInt32LE(FeatureId.VolatileWriteCache, 40);
  }, 0);
  assert.equal(c.status, 0);
  return c.dw0;
}

/** A one-block Write (512-byte blocks) to nsid 1 at `slba`, with or without FUA. */
function write(q: FakeQueue, ctx: TargetContext, slba: number, fua: boolean, fill = 0xab): number {
  const c = io(q, ctx, (sqe) => {
    sqe[0] = IoOpc.Write;
    sqe.writeUInt32LE(1, 4);
    sqe.writeBigUInt64LE(BigInt(slba), 40);
    sqe.writeUInt32LE(fua ? FUA : 0, 48); // NLB 0 (one block)
  }, 512, Buffer.alloc(512, fill));
  assert.equal(c.completed, 1);
  return c.status;
}

/** Write Zeroes of 8 blocks of nsid 1 at `slba`, with or without FUA. */
function writeZeroes(q: FakeQueue, ctx: TargetContext, slba: number, fua: boolean): number {
  const c = io(q, ctx, (sqe) => {
    sqe[0] = IoOpc.WriteZeroes;
    sqe.writeUInt32LE(1, 4);
    sqe.writeBigUInt64LE(BigInt(slba), 40);
    sqe.writeUInt32LE((fua ? FUA : 0) | 7, 48);
  });
  assert.equal(c.completed, 1);
  return c.status;
}

test('WCE=0 (Set Features 06h): every Write and Write Zeroes reaches the backend as FUA; WCE=1: only when the command sets FUA', () => {
  const ctx = makeContext();
  const rec = recordNamespace(ctx);
  const q = enabledAdmin(ctx);
  const ioq = ioQueue(ctx, q);

  assert.equal(getWce(q, ctx), 1, 'the cache is enabled by default');
  assert.equal(write(ioq, ctx, 0, false), 0);
  assert.equal(write(ioq, ctx, 1, true), 0);
  assert.equal(writeZeroes(ioq, ctx, 8, false), 0);
  assert.deepEqual(rec.writes.splice(0), [['write', false], ['write', true], ['zeroes', false]]);

  setWce(q, ctx, 0);
  assert.equal(getWce(q, ctx), 0);
  assert.equal(write(ioq, ctx, 2, false), 0);
  assert.equal(write(ioq, ctx, 3, true), 0);
  assert.equal(writeZeroes(ioq, ctx, 16, false), 0);
  assert.deepEqual(rec.writes.splice(0), [['write', true], ['write', true], ['zeroes', true]], 'write-through while WCE=0');

  setWce(q, ctx, 1);
  assert.equal(write(ioq, ctx, 4, false), 0);
  assert.equal(writeZeroes(ioq, ctx, 24, false), 0);
  assert.deepEqual(rec.writes.splice(0), [['write', false], ['zeroes', false]], 'cached again once WCE=1');
  q.ctrl!.teardown('test over');
});

test('WCE is per controller: another controller of the subsystem keeps its write cache', () => {
  const ctx = makeContext();
  const rec = recordNamespace(ctx);
  const a = enabledAdmin(ctx);
  const b = enabledAdmin(ctx);
  assert.notEqual(a.ctrl!.cntlid, b.ctrl!.cntlid);
  const ioa = ioQueue(ctx, a);
  const iob = ioQueue(ctx, b);
  setWce(a, ctx, 0);
  assert.equal(write(ioa, ctx, 0, false), 0);
  assert.equal(write(iob, ctx, 1, false), 0);
  assert.deepEqual(rec.writes, [['write', true], ['write', false]]);
  a.ctrl!.teardown('test over');
  b.ctrl!.teardown('test over');
});

test('Write Zeroes hands CDW12.FUA to the backend', () => {
  const ctx = makeContext();
  const rec = recordNamespace(ctx);
  const q = enabledAdmin(ctx);
  const ioq = ioQueue(ctx, q);
  assert.equal(writeZeroes(ioq, ctx, 0, true), 0);
  assert.equal(writeZeroes(ioq, ctx, 8, false), 0);
  assert.deepEqual(rec.writes, [['zeroes', true], ['zeroes', false]]);
  q.ctrl!.teardown('test over');
});

test('Compare on a backend without a memory view: the stored data is read into the command and compared', () => {
  const ctx = makeContext();
  recordNamespace(ctx);
  const q = enabledAdmin(ctx);
  const ioq = ioQueue(ctx, q);
  assert.equal(write(ioq, ctx, 5, false, 0x5a), 0);
  const compare = (fill: number) =>
    io(ioq, ctx, (sqe) => {
      sqe[0] = IoOpc.Compare;
      sqe.writeUInt32LE(1, 4);
      sqe.writeBigUInt64LE(5n, 40);
    }, 512, Buffer.alloc(512, fill));
  const same = compare(0x5a);
  assert.equal(same.completed, 1);
  assert.equal(same.status, 0);
  assert.equal(same.auxData, null, 'the second buffer is let go once compared');
  const diff = compare(0x5b);
  assert.equal(diff.completed, 1);
  assert.equal(diff.status & 0x7ff, status(SCT.MEDIA, 0x85) & 0x7ff, 'Compare Failure');
  q.ctrl!.teardown('test over');
});
