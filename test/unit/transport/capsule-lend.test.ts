// In-capsule Write data lent from the received chunk (CommandPath.capsuleHeader, PduReader
// LEND_CHUNK): used in place only while the chunk is intact (a write that runs at once on a RAM
// namespace); every case that would keep it longer takes a copy. Each test overwrites the chunk as
// the socket's next read would, right after it was pushed, and checks the namespace holds the
// command's own bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../../src/initiator/sqe-build.js';
import { buildCapsuleCmd, buildICReq, type LinkParams } from '../../../src/initiator/pdu-build.js';
import { prepareSqe } from '../../../src/initiator/raw.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { Generic, S_LBA_OUT_OF_RANGE, SCT, status } from '../../../src/spec/status.js';
import type { Backend, BackendRequest } from '../../../src/backend/backend.js';
import { RamBackend } from '../../../src/backend/ram.js';
import { Namespace } from '../../../src/core/namespace.js';
import type { TargetContext } from '../../../src/core/context.js';
import { CommandPath } from '../../../src/transport/tcp/commands.js';
import { HOSTID, LINK, connectAdmin, connectIo, cqes, makeContext, open, until, type Side } from './session.js';
import { HOSTNQN, SUBNQN } from '../core/fakes.js';

const NLB = 8;
const LEN = NLB * 512;

function pattern(i: number): Buffer {
  const b = Buffer.alloc(LEN);
  for (let j = 0; j < b.length; j++) b[j] = (i * 53 + j * 11 + (j >> 8)) & 0xff;
  return b;
}

function writePdu(lba: number, cid: number, data: Buffer, link: LinkParams = LINK): Buffer {
  const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, lba, NLB), cid, { inCapsule: data.length });
  return buildCapsuleCmd(sqe, data, link);
}

function ram(ctx: TargetContext): RamBackend {
  return ctx.subsystems.values().next().value!.namespaces.get(1)!.backend as RamBackend;
}

function stored(ctx: TargetContext, lba: number): Buffer {
  return Buffer.from(ram(ctx).view(lba * 512, LEN)!);
}

/** Counts the in-capsule buffers the queue takes from its pool. */
function countAcquires(side: Side): { n: number } {
  const c = { n: 0 };
  const pool = side.conn.pool as { acquire(n: number): Buffer };
  const acquire = pool.acquire.bind(pool);
  pool.acquire = (n: number): Buffer => {
    c.n++;
    return acquire(n);
  };
  return c;
}

/** Sends `b` as one read, then overwrites it as the socket's next read into the same buffer would. */
function sendThenOverwrite(side: Side, b: Buffer): void {
  side.sock.send(b);
  b.fill(0xee);
}

async function ioQueue(ctx: TargetContext, ddgst = false): Promise<Side> {
  const admin = await connectAdmin(ctx);
  if (!ddgst) return connectIo(ctx, admin.cntlid, 1);
  const side = open(ctx);
  side.sock.send(buildICReq({ hdgst: false, ddgst: true }));
  const data = S.connectData({ hostid: HOSTID, cntlid: admin.cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN });
  side.sock.send(buildCapsuleCmd(prepareSqe(S.fabricsConnect(Buffer.alloc(64), { qid: 1, queueSize: 32 }), 1, { inCapsule: data.length }), data, { ...LINK, ddgst: true }));
  await until(() => cqes(side).length >= 1, 'the I/O Connect response');
  assert.equal(cqes(side)[0]!.status, 0);
  side.sock.pdus.length = 0;
  return side;
}

test('capsule lend: writes wholly in the chunk go to RAM from the chunk itself (no pool buffer) and store their own bytes', async () => {
  const ctx = makeContext();
  const io = await ioQueue(ctx);
  const acquires = countAcquires(io);
  const stream = Buffer.concat(Array.from({ length: 16 }, (_, i) => writePdu(i * NLB, 10 + i, pattern(i))));
  sendThenOverwrite(io, stream);
  await until(() => cqes(io).length === 16, 'the write completions');
  assert.deepEqual(cqes(io).map((c) => c.status), new Array(16).fill(0));
  assert.equal(acquires.n, 0, 'no in-capsule buffer taken');
  for (let i = 0; i < 16; i++) assert.ok(stored(ctx, i * NLB).equals(pattern(i)), `write ${i}`);
});

test('capsule lend: turned off, the same writes take pool buffers (the measure of what lending saves)', async () => {
  CommandPath.lendWrites = false;
  try {
    const ctx = makeContext();
    const io = await ioQueue(ctx);
    const acquires = countAcquires(io);
    sendThenOverwrite(io, Buffer.concat([writePdu(0, 1, pattern(1)), writePdu(NLB, 2, pattern(2))]));
    await until(() => cqes(io).length === 2, 'the write completions');
    assert.equal(acquires.n, 2);
    assert.ok(stored(ctx, 0).equals(pattern(1)) && stored(ctx, NLB).equals(pattern(2)));
  } finally {
    CommandPath.lendWrites = true;
  }
});

test('capsule lend: data cut over two reads is copied (each read overwritten after it was pushed)', async () => {
  const ctx = makeContext();
  const io = await ioQueue(ctx);
  const acquires = countAcquires(io);
  const pdu = writePdu(0, 3, pattern(3));
  for (const cut of [pdu.length - 1, pdu.length - LEN + 1]) {
    sendThenOverwrite(io, Buffer.from(pdu.subarray(0, cut)));
    sendThenOverwrite(io, Buffer.from(pdu.subarray(cut)));
  }
  await until(() => cqes(io).length === 2, 'the write completions');
  assert.deepEqual(cqes(io).map((c) => c.status), [0, 0]);
  assert.equal(acquires.n, 2);
  assert.ok(stored(ctx, 0).equals(pattern(3)));
  // Cut right after the header: the data is all in the second read, lent from it.
  const next = writePdu(0, 4, pattern(4));
  sendThenOverwrite(io, Buffer.from(next.subarray(0, next.length - LEN)));
  sendThenOverwrite(io, Buffer.from(next.subarray(next.length - LEN)));
  await until(() => cqes(io).length === 3, 'the third write');
  assert.equal(acquires.n, 2);
  assert.ok(stored(ctx, 0).equals(pattern(4)));
});

test('capsule lend: a write waiting on the range lock writes its own bytes after its chunk was overwritten', async () => {
  const ctx = makeContext();
  const io = await ioQueue(ctx);
  const ns = ctx.subsystems.values().next().value!.namespaces.get(1)!;
  // A Compare and Write holds the range: the plain write parks until it is released.
  assert.ok(ns.writeLock.tryExclusive(0, NLB));
  sendThenOverwrite(io, writePdu(0, 4, pattern(4)));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(cqes(io).length, 0, 'the write waits');
  ns.writeLock.leaveExclusive(0, NLB);
  await until(() => cqes(io).length === 1, 'the write completion');
  assert.equal(cqes(io)[0]!.status, 0);
  assert.ok(stored(ctx, 0).equals(pattern(4)), 'the parked write stored the bytes it was sent');
});

/** A backend that takes the source at submit and reads it only at kick (as io_uring does). */
class DeferredBackend implements Backend {
  readonly kind = 'file';
  readonly engine = 'deferred';
  readonly discardZeroes = true;
  readonly #ram: RamBackend;
  readonly #pending: [BackendRequest, number, Uint8Array][] = [];
  constructor(ram: RamBackend) {
    this.#ram = ram;
  }
  get sizeBytes(): number {
    return this.#ram.sizeBytes;
  }
  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    this.#ram.submitRead(req, offset, dst);
  }
  submitWrite(req: BackendRequest, offset: number, src: Uint8Array): void {
    this.#pending.push([req, offset, src]);
  }
  submitFlush(req: BackendRequest): void {
    this.#ram.submitFlush(req);
  }
  submitDiscard(req: BackendRequest, offset: number, length: number): void {
    this.#ram.submitDiscard(req, offset, length);
  }
  submitWriteZeroes(req: BackendRequest, offset: number, length: number, fua: boolean): void {
    this.#ram.submitWriteZeroes(req, offset, length, fua);
  }
  view(): Uint8Array | null {
    return null;
  }
  kick(): void {
    if (this.#pending.length === 0) return this.#ram.kick();
    const all = this.#pending.splice(0);
    // The "device" reads the source later, from the event loop.
    setImmediate(() => {
      for (const [req, offset, src] of all) this.#ram.submitWrite(req, offset, src, false);
      this.#ram.kick();
    });
  }
  close(): Promise<void> {
    return this.#ram.close();
  }
}

test('capsule lend: a backend that keeps the source past submit gets a copy', async () => {
  const ctx = makeContext();
  const s = ctx.subsystems.values().next().value!;
  const nc = s.config.namespaces.find((n) => n.nsid === 1)!;
  const mem = new RamBackend(ram(ctx).sizeBytes);
  s.namespaces.set(1, new Namespace(nc, new DeferredBackend(mem)));
  const io = await ioQueue(ctx);
  sendThenOverwrite(io, Buffer.concat([writePdu(0, 5, pattern(5)), writePdu(NLB, 6, pattern(6))]));
  await until(() => cqes(io).length === 2, 'the write completions');
  assert.deepEqual(cqes(io).map((c) => c.status), [0, 0]);
  assert.ok(Buffer.from(mem.view(0, LEN)!).equals(pattern(5)));
  assert.ok(Buffer.from(mem.view(LEN, LEN)!).equals(pattern(6)));
});

test('capsule lend: data digest — a bad digest leaves the old data; a good one (digest in the next read) stores the bytes', async () => {
  const ctx = makeContext();
  const io = await ioQueue(ctx, true);
  const link = { ...LINK, ddgst: true };
  sendThenOverwrite(io, writePdu(0, 7, pattern(7), link));
  await until(() => cqes(io).length === 1, 'the first write');
  assert.equal(cqes(io)[0]!.status, 0);
  const bad = writePdu(0, 8, pattern(8), link);
  bad[bad.length - 1]! ^= 1;
  sendThenOverwrite(io, bad);
  await until(() => cqes(io).length === 2, 'the write with a bad digest');
  assert.equal(cqes(io)[1]!.status, status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR), 'transient transport error');
  assert.ok(stored(ctx, 0).equals(pattern(7)), 'the failed write did not touch the namespace');
  // Data in one read, its digest in the next: copied (the chunk is gone when the digest is checked).
  const split = writePdu(0, 9, pattern(9), link);
  sendThenOverwrite(io, Buffer.from(split.subarray(0, split.length - 2)));
  sendThenOverwrite(io, Buffer.from(split.subarray(split.length - 2)));
  await until(() => cqes(io).length === 3, 'the split-digest write');
  assert.equal(cqes(io)[2]!.status, 0);
  assert.ok(stored(ctx, 0).equals(pattern(9)));
});

test('capsule lend: a write beyond the namespace fails and stores nothing', async () => {
  const ctx = makeContext();
  const io = await ioQueue(ctx);
  const blocks = ram(ctx).sizeBytes / 512;
  const before = Buffer.from(ram(ctx).view(ram(ctx).sizeBytes - LEN, LEN)!);
  sendThenOverwrite(io, writePdu(blocks - NLB + 1, 10, pattern(10)));
  await until(() => cqes(io).length === 1, 'the completion');
  assert.equal(cqes(io)[0]!.status & 0x7ff, S_LBA_OUT_OF_RANGE & 0x7ff);
  assert.ok(Buffer.from(ram(ctx).view(ram(ctx).sizeBytes - LEN, LEN)!).equals(before));
});
