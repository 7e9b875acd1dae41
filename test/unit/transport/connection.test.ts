// TcpConnection in-process, over a fake socket: drain semantics, the memory budget, slot states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../../src/initiator/sqe-build.js';
import { buildH2CData } from '../../../src/initiator/pdu-build.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { DATA, PduType } from '../../../src/spec/pdu.js';
import { BufferPool } from '../../../src/runtime/buffer-pool.js';
import { ReqState } from '../../../src/transport/tcp/request.js';
import { LINK, capsule, connectAdmin, connectIo, cqes, makeContext, settle, until } from './session.js';
import { makeConfig } from '../core/fakes.js';

/** A pool whose budget the test opens and closes. */
class GatedPool extends BufferPool {
  open = true;
  #waiters: (() => void)[] = [];
  constructor() {
    super(1 << 20);
  }
  override tryAcquire(n: number): Buffer | null {
    return this.open ? this.acquire(n) : null;
  }
  override whenAvailable(cb: () => void): void {
    this.#waiters.push(cb);
  }
  release_(): void {
    this.open = true;
    for (const cb of this.#waiters.splice(0)) cb();
  }
}

test('connection: a write waits for the memory budget (WAIT_BUFFER, receive paused), then gets its R2T', async () => {
  const ctx = makeContext();
  const pool = new GatedPool();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1, { pool });
  pool.open = false;
  capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, 8), 10, { transport: 4096 });
  await settle();
  assert.equal(io.sock.ofType(PduType.R2T).length, 0, 'no R2T while the budget is spent');
  assert.equal(io.conn.stateCounts[ReqState.WAIT_BUFFER], 1);
  assert.equal(io.sock.paused, true, 'receive paused at the budget');
  pool.release_();
  await until(() => io.sock.ofType(PduType.R2T).length > 0, 'the R2T');
  const r2t = io.sock.ofType(PduType.R2T);
  assert.equal(r2t.length, 1, 'R2T once memory came back');
  assert.equal(io.sock.paused, false, 'receive resumed');
  assert.equal(io.conn.stateCounts[ReqState.AWAITING_H2C], 1);
  io.sock.send(buildH2CData(10, r2t[0]!.hdr.readUInt16LE(DATA.ttag), 0, Buffer.alloc(4096, 0xab), true, LINK));
  await until(() => cqes(io).length > 0, 'the write completion');
  assert.equal(cqes(io).at(-1)?.status, 0);
  assert.equal(io.conn.inflight, 0);
  assert.equal(io.conn.stateCounts[ReqState.FREE], io.conn.stateCounts.reduce((a, b) => a + b, 0), 'every slot free again');
});

test('connection: reads that need a buffer wait for the budget too, and run in arrival order', async () => {
  // A RAM namespace with an injected delay answers no read from its memory: each needs a buffer
  // (a read it answers with a view is granted none: read-grant.test.ts).
  const cfg = makeConfig();
  (cfg.subsystems[0]!.namespaces[0]!.backing as { delayUs?: number }).delayUs = 100;
  const ctx = makeContext(cfg);
  const pool = new GatedPool();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1, { pool });
  pool.open = false;
  for (let cid = 20; cid < 23; cid++) capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, cid, 1), cid, { transport: 512 });
  await settle();
  assert.equal(io.conn.stateCounts[ReqState.WAIT_BUFFER], 3);
  assert.equal(cqes(io).length, 0);
  pool.release_();
  await until(() => cqes(io).length >= 3, 'three read completions');
  assert.deepEqual(cqes(io).map((c) => c.cid), [20, 21, 22]);
});

test('connection: drain answers what is in flight, takes no new command, then ends the socket (FIN, not destroy first)', async () => {
  const cfg = makeConfig();
  (cfg.subsystems[0]!.namespaces[0]!.backing as { delayUs?: number }).delayUs = 20_000;
  const ctx = makeContext(cfg);
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid);
  capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 0, 1), 5, { transport: 512 });
  await until(() => io.conn.inflight === 1, 'the read to be in flight');
  const drained = io.conn.drain('target shutting down');
  // A command that arrives while draining is consumed and never answered.
  capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 0, 1), 6, { transport: 512 });
  await drained;
  const answered = cqes(io).map((c) => c.cid);
  assert.deepEqual(answered, [5], 'the in-flight read is answered, the late one is not');
  const endAt = io.sock.events.indexOf('end');
  assert.ok(endAt >= 0, 'socket ended');
  assert.ok(io.sock.events.lastIndexOf(`pdu ${PduType.CapsuleResp}`) < endAt, 'the completion went out before the FIN');
  const destroyAt = io.sock.events.indexOf('destroy');
  assert.ok(destroyAt === -1 || destroyAt > endAt, 'never destroyed before ending');
});

test('connection: drain of an idle connection resolves at once', async () => {
  const ctx = makeContext();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid);
  const t0 = Date.now();
  const p = io.conn.drain('bye');
  io.sock.destroy(); // the peer closes after our FIN
  await p;
  assert.ok(Date.now() - t0 < 1000);
  assert.ok(io.sock.ended);
});

test('connection: a completed R2T slot cannot be fed again (H2CData for a free TTAG is fatal)', async () => {
  const ctx = makeContext();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid);
  capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, 1), 7, { transport: 512 });
  await until(() => io.sock.ofType(PduType.R2T).length > 0, 'the R2T');
  const ttag = io.sock.ofType(PduType.R2T)[0]!.hdr.readUInt16LE(DATA.ttag);
  io.sock.send(buildH2CData(7, ttag, 0, Buffer.alloc(512, 1), true, LINK));
  await until(() => cqes(io).length > 0, 'the write completion');
  assert.equal(cqes(io).length, 1);
  io.sock.send(buildH2CData(7, ttag, 0, Buffer.alloc(512, 2), true, LINK));
  await until(() => io.conn.closed, 'the connection to close');
  assert.equal(cqes(io).length, 1, 'no second completion');
  assert.equal(io.sock.ofType(PduType.C2HTermReq).length, 1, 'C2HTermReq');
  assert.equal(io.conn.closed, true);
});
