// Issue 14: a Read that a RAM namespace answers from its own memory (a view) is granted no pool
// buffer; every read the backend cannot answer so (an injected delay, a range over a segment
// boundary, another backend) is granted one within the memory budget as before. With data digests a
// RAM namespace only this thread writes is sent from its memory as well (digested in the same native
// call as the write), while a namespace shared with I/O workers is copied into the read's granted
// buffer, not into a second one taken past the budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../../src/initiator/sqe-build.js';
import { buildCapsuleCmd, buildICReq, type LinkParams } from '../../../src/initiator/pdu-build.js';
import { prepareSqe } from '../../../src/initiator/raw.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { DATA, PduType } from '../../../src/spec/pdu.js';
import { initThreadBufferPool, threadBufferPool } from '../../../src/runtime/thread.js';
import type { DataPool } from '../../../src/transport/tcp/quota.js';
import { TcpConnection } from '../../../src/transport/tcp/connection.js';
import { ReqState } from '../../../src/transport/tcp/request.js';
import { Cc, Prop } from '../../../src/spec/properties.js';
import { FakeSocket } from './fake-socket.js';
import { HOSTID, LINK, connectAdmin, connectIo, cqes, makeContext, until, type Side } from './session.js';
import { HOSTNQN, SUBNQN, makeConfig } from '../core/fakes.js';
import { Namespace } from '../../../src/core/namespace.js';
import { RamBackend, allocateSharedRam } from '../../../src/backend/ram.js';

const MiB = 1 << 20;
const NLB = 8; // 4 KiB of 512-byte blocks
/** The thread's pool, with a budget this file can fill (the first pool of the process: this one). */
const BUDGET = 8 * MiB;
const pool = initThreadBufferPool({ maxSize: MiB, budget: BUDGET, trimIdleMs: 0 });

/**
 * Namespace 1: plain RAM; 3: RAM with an injected completion delay (no views); 4: 2 GiB RAM; 5: RAM
 * in shared memory, as when I/O workers share it.
 */
function context(): ReturnType<typeof makeContext> {
  const ctx = makeContext(
    makeConfig({
      subsystems: [
        {
          nqn: SUBNQN,
          serial: 'SERIAL0001',
          namespaces: [
            { nsid: 1, backing: { type: 'ram', size: MiB }, blockSize: 512 },
            { nsid: 3, backing: { type: 'ram', size: MiB, delayUs: 200 }, blockSize: 512 },
            { nsid: 4, backing: { type: 'ram', size: 2 * 1024 * MiB + MiB }, blockSize: 512 },
            { nsid: 5, backing: { type: 'ram', size: MiB }, blockSize: 512 },
          ],
        },
      ],
    }),
  );
  const sub = ctx.subsystems.get(SUBNQN)!;
  const ns5 = sub.namespaces.get(5)!;
  sub.namespaces.set(5, new Namespace(ns5.config, new RamBackend(MiB, allocateSharedRam(MiB))));
  return ctx;
}

function pattern(i: number, n = NLB * 512): Buffer {
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j++) b[j] = (i * 31 + j * 7 + (j >> 9)) & 0xff;
  return b;
}

/** Counts the data pool calls of a connection (its grants and its responder use the same object). */
function countCalls(p: DataPool): { tryAcquire: number; acquire: number } {
  const n = { tryAcquire: 0, acquire: 0 };
  const tryAcquire = p.tryAcquire.bind(p);
  const acquire = p.acquire.bind(p);
  p.tryAcquire = (size: number): Buffer | null => (n.tryAcquire++, tryAcquire(size));
  p.acquire = (size: number): Buffer => (n.acquire++, acquire(size));
  return n;
}

function read(side: Side, nsid: number, slba: number, nlb: number, cid: number, link: LinkParams = LINK): void {
  const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, nsid, slba, nlb), cid, { transport: nlb * 512 });
  side.sock.send(buildCapsuleCmd(sqe, null, link));
}

async function write(side: Side, nsid: number, slba: number, data: Buffer, cid: number): Promise<void> {
  const before = cqes(side).length;
  const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, nsid, slba, data.length / 512), cid, { inCapsule: data.length });
  side.sock.send(buildCapsuleCmd(sqe, data, LINK));
  await until(() => cqes(side).length > before, 'the write completion');
  assert.equal(cqes(side).at(-1)!.status, 0);
}

/** The data of the C2HData PDU for `cid`. */
function dataOf(side: Side, cid: number): Buffer {
  const d = side.sock.ofType(PduType.C2HData).find((p) => p.hdr.readUInt16LE(DATA.cccid) === cid);
  assert.ok(d?.data, `no C2HData for cid ${cid}`);
  return d.data;
}

async function ioQueue(): Promise<{ ctx: ReturnType<typeof makeContext>; io: Side }> {
  const ctx = context();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1);
  return { ctx, io };
}

test('read grant: 32 pipelined 4 KiB reads of a RAM namespace take no pool buffer and return their data', async () => {
  const { io } = await ioQueue();
  for (let i = 0; i < 32; i++) await write(io, 1, i * NLB, pattern(i), 100 + i);
  io.sock.pdus.length = 0;
  const calls = countCalls(io.conn.pool);
  const before = pool.stats().outstanding;
  const reads: Buffer[] = [];
  for (let i = 0; i < 32; i++) reads.push(buildCapsuleCmd(prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, i * NLB, NLB), 200 + i, { transport: NLB * 512 }), null, LINK));
  io.sock.send(Buffer.concat(reads));
  // Synchronously after the chunk: every read ran, none was granted a buffer.
  assert.equal(calls.tryAcquire, 0, 'no grant for a read answered from RAM');
  assert.equal(calls.acquire, 0, 'no buffer of any kind');
  assert.equal(pool.stats().outstanding, before, 'no pooled buffer handed out');
  await until(() => cqes(io).length === 32, 'the read completions');
  assert.deepEqual(cqes(io).map((c) => c.status), new Array(32).fill(0));
  for (let i = 0; i < 32; i++) assert.ok(dataOf(io, 200 + i).equals(pattern(i)), `read ${i}: its own bytes`);
});

test('read grant: reads the backend cannot view (injected delay, a range over a segment boundary) are granted a buffer and return the right data', async () => {
  const { io } = await ioQueue();
  await write(io, 3, 16, pattern(3), 10);
  // 4 KiB over the boundary between the 1 GiB segments of namespace 4: written, then read back.
  const boundary = (1024 * MiB) / 512;
  await write(io, 4, boundary - 4, pattern(4), 11);
  io.sock.pdus.length = 0;
  const calls = countCalls(io.conn.pool);
  read(io, 3, 16, NLB, 20);
  read(io, 4, boundary - 4, NLB, 21);
  assert.equal(calls.tryAcquire, 2, 'each granted a buffer');
  await until(() => cqes(io).length === 2, 'the read completions');
  assert.deepEqual(cqes(io).map((c) => c.status), [0, 0]);
  assert.ok(dataOf(io, 20).equals(pattern(3)), 'delayed namespace: its data');
  assert.ok(dataOf(io, 21).equals(pattern(4)), 'across the segment boundary: its data');
  // The view path still serves a written and an unwritten range of the large namespace.
  read(io, 4, boundary + 4096, NLB, 22);
  assert.equal(calls.tryAcquire, 2, 'a viewable range of namespace 4: no grant');
  await until(() => cqes(io).length === 3, 'the third read');
  assert.ok(dataOf(io, 22).equals(Buffer.alloc(NLB * 512)), 'an unwritten range reads as zeroes');
});

test('read grant: reads that fail their checks (unknown namespace, out of range, length mismatch) still get their status', async () => {
  const { io } = await ioQueue();
  const calls = countCalls(io.conn.pool);
  read(io, 9, 0, NLB, 30); // no such namespace
  read(io, 1, MiB / 512 - 4, NLB, 31); // past the end
  const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 0, NLB), 32, { transport: 512 }); // SGL shorter than NLB
  io.sock.send(buildCapsuleCmd(sqe, null, LINK));
  await until(() => cqes(io).length === 3, 'the three completions');
  const st = new Map(cqes(io).map((c) => [c.cid, c.status]));
  for (const cid of [30, 31, 32]) assert.notEqual(st.get(cid), 0, `cid ${cid} fails`);
  assert.equal(io.sock.ofType(PduType.C2HData).length, 0, 'no data sent');
  // Unknown namespace, range past the end: not viewable, granted as before. The length mismatch is
  // viewable (its first 512 bytes): run ungranted, it fails before any data.
  assert.equal(calls.tryAcquire, 2, 'the two reads the backend cannot view are granted');
  assert.equal(calls.acquire, 0, 'no buffer taken past the budget for any of them');
  assert.equal(io.conn.stateCounts[ReqState.WAIT_BUFFER], 0);
});

test('read grant: with the memory budget full, RAM reads are answered at once while reads that need a buffer wait for memory', async () => {
  const { io } = await ioQueue();
  await write(io, 1, 0, pattern(1), 1);
  await write(io, 3, 0, pattern(3), 2);
  io.sock.pdus.length = 0;
  // Fill the budget (less its reserve) from the test: tryAcquire refuses from then on.
  const taken: Buffer[] = [];
  for (let b = pool.tryAcquire(MiB); b !== null; b = pool.tryAcquire(MiB)) taken.push(b);
  for (let b = pool.tryAcquire(4096); b !== null; b = pool.tryAcquire(4096)) taken.push(b);
  assert.ok(taken.length > 0);
  try {
    // One chunk: a read with no view (injected delay) that must wait for memory, then a RAM read.
    const capsule = (nsid: number, cid: number): Buffer => buildCapsuleCmd(prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, nsid, 0, NLB), cid, { transport: NLB * 512 }), null, LINK);
    io.sock.send(Buffer.concat([capsule(3, 40), capsule(1, 41)]));
    await until(() => cqes(io).length === 1, 'the RAM read completion');
    assert.equal(cqes(io)[0]!.cid, 41);
    assert.equal(cqes(io)[0]!.status, 0);
    assert.ok(dataOf(io, 41).equals(pattern(1)));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(cqes(io).length, 1, 'the read that needs a buffer is still waiting');
    assert.equal(io.conn.stateCounts[ReqState.WAIT_BUFFER], 1);
    assert.equal(pool.stats().overBudgetBytes, 0, 'nothing allocated past the budget');
  } finally {
    for (const b of taken.splice(0)) pool.release(b);
  }
  await until(() => cqes(io).length === 2, 'the waiting read, once memory is back');
  assert.equal(cqes(io)[1]!.cid, 40);
  assert.equal(cqes(io)[1]!.status, 0);
  assert.ok(dataOf(io, 40).equals(pattern(3)));
});

const DIGESTS: LinkParams = { hdgst: false, ddgst: true, cpda: 0 };

/** An admin and an I/O queue that negotiated data digests. */
async function digestQueue(ctx = context()): Promise<Side> {
  const open = (): Side => {
    const sock = new FakeSocket({ ddgst: true });
    const conn = new TcpConnection(sock.asSocket, ctx.config.ports[0]!, ctx, { onClose: () => undefined });
    sock.send(buildICReq({ hdgst: false, ddgst: true }));
    return { sock, conn };
  };
  const connect = async (side: Side, qid: number, cntlid: number): Promise<number> => {
    const data = S.connectData({ hostid: HOSTID, cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN });
    side.sock.send(buildCapsuleCmd(prepareSqe(S.fabricsConnect(Buffer.alloc(64), { qid, queueSize: 32 }), 1, { inCapsule: data.length }), data, DIGESTS));
    await until(() => cqes(side).length >= 1, 'the Connect response');
    assert.equal(cqes(side)[0]!.status, 0);
    return cqes(side)[0]!.dw0 & 0xffff;
  };
  const admin = open();
  const cntlid = await connect(admin, 0, 0xffff);
  admin.sock.send(buildCapsuleCmd(prepareSqe(S.propertySet(Buffer.alloc(64), Prop.CC, Cc.EN | (6 << 16) | (4 << 20)), 2, null), null, DIGESTS));
  await until(() => cqes(admin).length >= 2, 'the Property Set response');
  const io = open();
  await connect(io, 1, cntlid);
  io.sock.pdus.length = 0;
  return io;
}

test('read grant: with data digests a RAM read of memory only this thread writes takes no buffer; data and digest right, and a write to the same blocks after the flush changes nothing sent', async () => {
  const ctx = context();
  const io = await digestQueue(ctx);
  const data = pattern(7);
  const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 64, NLB), 5, { inCapsule: data.length });
  io.sock.send(buildCapsuleCmd(sqe, data, DIGESTS));
  await until(() => cqes(io).length === 1, 'the write');
  assert.equal(cqes(io)[0]!.status, 0);
  const calls = countCalls(io.conn.pool);
  const held = io.conn.pool as unknown as { held: number };
  const writesBefore = io.sock.writes.length;
  read(io, 1, 64, NLB, 6, DIGESTS);
  assert.equal(calls.tryAcquire, 0, 'no grant: nothing is copied into a pool buffer');
  assert.equal(calls.acquire, 0, 'no buffer taken past the budget');
  assert.equal(held.held, 0, 'nothing held until the write');
  await until(() => cqes(io).length === 2, 'the read');
  assert.equal(cqes(io)[1]!.status, 0);
  const pdu = io.sock.ofType(PduType.C2HData)[0]!;
  assert.ok(pdu.ddgstOk, 'the data digest matches');
  assert.ok(pdu.data!.equals(data));
  // A socket without a descriptor takes the stream path: the flush went out as a copy of ours, not
  // as a view the stream would hold while later writes change the namespace.
  const nsMemory = ctx.subsystems.get(SUBNQN)!.namespaces.get(1)!.backend.view(64 * 512, 1)!.buffer;
  for (const w of io.sock.writes.slice(writesBefore)) assert.notEqual(w.chunk.buffer, nsMemory, 'no written chunk is a view of the namespace');
});

test('read grant: with data digests a RAM read of memory shared with I/O workers is copied into its granted buffer (one buffer, within the budget), digest and data right', async () => {
  const io = await digestQueue();
  const data = pattern(7);
  const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 5, 64, NLB), 5, { inCapsule: data.length });
  io.sock.send(buildCapsuleCmd(sqe, data, DIGESTS));
  await until(() => cqes(io).length === 1, 'the write');
  assert.equal(cqes(io)[0]!.status, 0);
  const calls = countCalls(io.conn.pool);
  const held = io.conn.pool as unknown as { held: number };
  read(io, 5, 64, NLB, 6, DIGESTS);
  assert.equal(calls.tryAcquire, 1, 'granted a buffer (the copy goes there)');
  assert.equal(calls.acquire, 0, 'no second buffer taken past the budget for the copy');
  assert.equal(held.held, 4096, 'one 4 KiB buffer held until the socket took the copy');
  await until(() => cqes(io).length === 2, 'the read');
  assert.equal(cqes(io)[1]!.status, 0);
  const pdu = io.sock.ofType(PduType.C2HData)[0]!;
  assert.ok(pdu.ddgstOk, 'the data digest matches');
  assert.ok(pdu.data!.equals(data));
  await until(() => held.held === 0, 'the copy buffer back after the write');
});

test('read grant: the pool hands out nothing after these tests', async () => {
  await until(() => threadBufferPool()!.stats().outstanding === 0, 'every buffer back');
});
