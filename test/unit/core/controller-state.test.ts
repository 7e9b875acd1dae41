// Controller state changes seen from outside the core: the observer hook (how I/O workers learn of
// them) and the outstanding Asynchronous Event Requests a reset or a teardown aborts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminOpc } from '../../../src/spec/opcodes.js';
import { FeatureId } from '../../../src/spec/log.js';
import { Generic, SCT, status } from '../../../src/spec/status.js';
import type { Controller } from '../../../src/core/controller.js';
import { admin, enabledAdmin, makeContext, propertySet } from './fakes.js';

const CC_ENABLED = 1 | (6 << 16) | (4 << 20);
const aborted = status(SCT.GENERIC, Generic.ABORTED_SQ_DELETION);

function recordingObserver(): { seen: { ready: boolean; shuttingDown: boolean; vwc: boolean }[]; controllerChanged(c: Controller): void; shouldMove(): boolean; move(): void } {
  const seen: { ready: boolean; shuttingDown: boolean; vwc: boolean }[] = [];
  return {
    seen,
    controllerChanged: (c) => seen.push({ ready: c.ready, shuttingDown: c.shuttingDown, vwc: c.volatileWriteCache }),
    shouldMove: () => false,
    move: () => undefined,
  };
}

test('every change of ready, shutdown and write cache is reported to the observer, with the new state', async () => {
  const ctx = makeContext();
  const observer = recordingObserver();
  ctx.observer = observer;
  const q = enabledAdmin(ctx);
  assert.deepEqual(observer.seen, [{ ready: true, shuttingDown: false, vwc: true }], 'CC.EN 0 -> 1');
  admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.SetFeatures;
    sqe.writeUInt32LE(FeatureId.VolatileWriteCache, 40);
    sqe.writeUInt32LE(0, 44);
  }, 0);
  assert.deepEqual(observer.seen.at(-1), { ready: true, shuttingDown: false, vwc: false }, 'write cache off');
  propertySet(q, ctx, 0x14, CC_ENABLED & ~1);
  assert.deepEqual(observer.seen.at(-1), { ready: false, shuttingDown: false, vwc: false }, 'CC.EN 1 -> 0');
  propertySet(q, ctx, 0x14, CC_ENABLED);
  const before = observer.seen.length;
  propertySet(q, ctx, 0x14, CC_ENABLED | (1 << 14));
  assert.deepEqual(observer.seen[before], { ready: true, shuttingDown: true, vwc: false }, 'shutdown processing');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(observer.seen.at(-1), { ready: false, shuttingDown: true, vwc: false }, 'shutdown complete');
  const q2 = enabledAdmin(ctx);
  assert.equal(observer.seen.at(-1)!.ready, true, 'another controller enabled');
  q2.ctrl!.teardown('keep alive timeout');
  assert.deepEqual(observer.seen.at(-1), { ready: false, shuttingDown: false, vwc: true }, 'torn down: not ready');
  q.ctrl!.teardown('test over');
  const n = observer.seen.length;
  q.ctrl!.volatileWriteCache = true;
  assert.equal(observer.seen.length, n, 'nothing is reported for a removed controller');
});

test('a controller reset (CC.EN 1 -> 0) and a teardown abort the outstanding AERs (Command Aborted due to SQ Deletion)', () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  const first = [0, 1].map(() => admin(q, ctx, (sqe) => (sqe[0] = AdminOpc.AsyncEventRequest), 0));
  assert.ok(first.every((a) => a.completed === 0), 'held until an event');
  propertySet(q, ctx, 0x14, CC_ENABLED & ~1);
  for (const a of first) {
    assert.equal(a.completed, 1, 'aborted by the reset');
    assert.equal(a.status, aborted);
  }
  propertySet(q, ctx, 0x14, CC_ENABLED);
  const second = [0, 1, 2].map(() => admin(q, ctx, (sqe) => (sqe[0] = AdminOpc.AsyncEventRequest), 0));
  q.ctrl!.teardown('keep alive timeout');
  for (const a of second) {
    assert.equal(a.completed, 1, 'aborted by the teardown');
    assert.equal(a.status, aborted);
  }
});
