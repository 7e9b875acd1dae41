// The request lifecycle: one setter, legal transitions only, per-state counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../../src/runtime/buffer-pool.js';
import { LARGE_H2C, REQ_STATES, ReqState, RequestTable, type RequestOwner } from '../../../src/transport/tcp/request.js';

function owner(): RequestOwner {
  return {
    pool: new BufferPool(1 << 16),
    closed: false,
    completeRequest: () => undefined,
    dropRequest: () => undefined,
  } as unknown as RequestOwner;
}

test('request: the lifecycle FREE -> NEW -> AWAITING_H2C -> EXECUTING -> FREE keeps the counts', () => {
  const t = new RequestTable(4);
  const o = owner();
  const r = t.acquire(o)!;
  assert.equal(r.state, ReqState.NEW);
  assert.equal(t.counts[ReqState.NEW], 1);
  r.setState(ReqState.AWAITING_H2C);
  r.setState(ReqState.EXECUTING);
  assert.equal(t.counts[ReqState.EXECUTING], 1);
  assert.equal(t.inflight, 1);
  t.release(r);
  assert.equal(t.inflight, 0);
  assert.equal(t.counts[ReqState.FREE], 1);
  assert.equal(t.counts.reduce((a, b) => a + b, 0), 1);
  assert.equal(t.counts.length, REQ_STATES);
});

test('request: transitions the lifecycle does not have are refused', () => {
  const t = new RequestTable(4);
  const r = t.acquire(owner())!;
  r.setState(ReqState.EXECUTING);
  assert.throws(() => r.setState(ReqState.AWAITING_H2C), /no transition/);
  assert.throws(() => r.setState(ReqState.NEW), /no transition/);
  t.release(r);
  assert.throws(() => r.setState(ReqState.EXECUTING), /no transition/, 'a free slot cannot run');
  assert.throws(() => t.release(r), /no transition/, 'freed twice');
});

test('request: the table hands out at most `limit` slots; TTAG = slot index; reuse resets fields', () => {
  const t = new RequestTable(2);
  const o = owner();
  const a = t.acquire(o)!;
  const b = t.acquire(o)!;
  assert.equal(t.acquire(o), null);
  assert.equal(t.byTtag(a.index), a);
  assert.equal(t.byTtag(b.index), b);
  assert.equal(t.byTtag(99), undefined);
  a.status = 5;
  a.dw0 = 7;
  a.inData = new Uint8Array(4);
  a.setState(ReqState.EXECUTING);
  t.release(a);
  const c = t.acquire(o)!;
  assert.equal(c, a);
  assert.equal(c.status, 0);
  assert.equal(c.dw0, 0);
  assert.equal(c.inData, null);
});

test('request: buffer() is zeroed even when the pool hands back dirty memory; dataBuffer() uses the granted buffer', () => {
  const t = new RequestTable(2);
  const o = owner();
  const dirty = o.pool.acquire(4096);
  dirty.fill(0xee);
  o.pool.release(dirty);
  const r = t.acquire(o)!;
  const b = r.buffer(4096);
  assert.ok(b.every((x) => x === 0), 'no stale bytes');
  const granted = Buffer.alloc(8192);
  r.granted = granted;
  const d = r.dataBuffer(4096);
  assert.equal(d.buffer, granted.buffer);
  assert.equal(d.length, 4096);
  assert.equal(r.granted, null);
});

test('request: the table counts the large R2T transfers outstanding (short reads while there is one)', () => {
  const t = new RequestTable(4);
  const o = owner();
  const big = t.acquire(o)!;
  big.dataLen = LARGE_H2C;
  const small = t.acquire(o)!;
  small.dataLen = LARGE_H2C - 1;
  big.setState(ReqState.WAIT_BUFFER);
  assert.equal(t.largeAwaiting, 0, 'no R2T yet');
  big.setState(ReqState.AWAITING_H2C);
  small.setState(ReqState.AWAITING_H2C);
  assert.equal(t.largeAwaiting, 1, 'only the large one counts');
  big.setState(ReqState.EXECUTING);
  assert.equal(t.largeAwaiting, 0, 'its data is in');
  const dropped = t.acquire(o)!;
  dropped.dataLen = 1 << 20;
  dropped.setState(ReqState.AWAITING_H2C);
  assert.equal(t.largeAwaiting, 1);
  t.release(dropped);
  assert.equal(t.largeAwaiting, 0, 'a slot freed while awaiting data (queue closing) leaves the count');
  t.release(big);
  const again = t.acquire(o)!;
  assert.equal(again.dataLen, 0);
  again.setState(ReqState.AWAITING_H2C);
  assert.equal(t.largeAwaiting, 0, 'a reused slot starts small');
});
