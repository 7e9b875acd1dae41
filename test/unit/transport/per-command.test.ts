// The per-command receive path reuses what it can (word views for the SQE copy, views of the socket's
// chunk for in-capsule data, the slots' arrays): nothing of one command may reach another. Pipelined
// writes and reads, cut at every kind of place, each see exactly their own bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../../src/initiator/sqe-build.js';
import { buildCapsuleCmd } from '../../../src/initiator/pdu-build.js';
import { prepareSqe } from '../../../src/initiator/raw.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { CAPSULE_SQE_OFFSET, DATA, PduType } from '../../../src/spec/pdu.js';
import { CommandPath } from '../../../src/transport/tcp/commands.js';
import type { Request } from '../../../src/transport/tcp/request.js';
import { LINK, connectAdmin, connectIo, cqes, makeContext, until, type Side } from './session.js';

const QD = 32;
const NLB = 8; // 4 KiB of 512-byte blocks (namespace 1 of the fake context)

function pattern(i: number): Buffer {
  const b = Buffer.alloc(NLB * 512);
  for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j * 7 + (j >> 9)) & 0xff;
  return b;
}

/** Sends `stream` in pieces of pseudo-random sizes (1 byte up to a few PDUs). */
function sendCut(side: Side, stream: Buffer, seed: number): void {
  let x = seed;
  for (let at = 0; at < stream.length; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = x % 7 === 0 ? 1 + (x % 13) : 1 + (x % 20000);
    side.sock.send(Buffer.from(stream.subarray(at, Math.min(stream.length, at + n))));
    at += n;
  }
}

async function writeThenRead(seed: number | null): Promise<void> {
  const ctx = makeContext();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1);
  // Block addresses spread over the namespace, none shared: each write's bytes are its own.
  const lba = (i: number): number => ((i * 37) % 64) * NLB;
  const writes: Buffer[] = [];
  for (let i = 0; i < QD; i++) {
    const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, lba(i), NLB), 100 + i, { inCapsule: NLB * 512 });
    writes.push(buildCapsuleCmd(sqe, pattern(i), LINK));
  }
  const wstream = Buffer.concat(writes);
  if (seed === null) io.sock.send(wstream);
  else sendCut(io, wstream, seed);
  await until(() => cqes(io).length >= QD, 'the write completions');
  assert.deepEqual(cqes(io).map((c) => [c.cid, c.status]), Array.from({ length: QD }, (_, i) => [100 + i, 0]));
  io.sock.pdus.length = 0;
  const reads: Buffer[] = [];
  for (let i = 0; i < QD; i++) {
    const sqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, lba(i), NLB), 200 + i, { transport: NLB * 512 });
    reads.push(buildCapsuleCmd(sqe, null, LINK));
  }
  const rstream = Buffer.concat(reads);
  if (seed === null) io.sock.send(rstream);
  else sendCut(io, rstream, seed + 1);
  await until(() => cqes(io).length >= QD, 'the read completions');
  const data = io.sock.ofType(PduType.C2HData);
  assert.equal(data.length, QD);
  for (const d of data) {
    const i = d.hdr.readUInt16LE(DATA.cccid) - 200;
    assert.ok(i >= 0 && i < QD, `C2HData for an unknown cid ${i + 200}`);
    assert.ok(d.data !== null && d.data.equals(pattern(i)), `read ${i} returned another command's bytes`);
  }
  assert.deepEqual(cqes(io).map((c) => c.status), new Array(QD).fill(0));
}

test('per-command: 32 pipelined 4 KiB writes in one chunk, then 32 reads in one chunk: each its own bytes', async () => {
  await writeThenRead(null);
});

test('per-command: the same with the stream cut anywhere (single bytes to several PDUs per piece)', async () => {
  for (const seed of [1, 7, 99]) await writeThenRead(seed);
});

/** CommandPath.copySqe() reached from a test. */
class SqeCopier extends CommandPath {
  peer = '';
  localAddress = '';
  constructor() {
    super(makeContext().config.ports[0]!, makeContext(), { acquire: Buffer.alloc, tryAcquire: Buffer.alloc, release: () => undefined, whenAvailable: () => undefined, cancelWait: () => undefined }, makeContext().log);
  }
  get closed(): boolean {
    return false;
  }
  close(): void {}
  drain(): Promise<void> {
    return Promise.resolve();
  }
  onFatal(): void {}
  protected takesCommands(): boolean {
    return true;
  }
  protected afterIoConnect(): void {}
  protected checkIdle(): void {}
  copy(hdr: Buffer, req: Request): void {
    this.copySqe(hdr, req);
  }
}

test('per-command: the SQE copy is exact from word-aligned and unaligned headers, and follows a new header buffer', () => {
  const path = new SqeCopier();
  const req = { sqe: Buffer.alloc(64), sqeWords: null as unknown as Int32Array } as unknown as Request;
  (req as { sqeWords: Int32Array }).sqeWords = new Int32Array(req.sqe.buffer, req.sqe.byteOffset, 16);
  const backing = Buffer.alloc(256);
  for (const shift of [0, 1, 2, 3, 4, 0]) {
    const hdr = backing.subarray(shift, shift + 72);
    for (let i = 0; i < 72; i++) hdr[i] = (i * 13 + shift * 29 + 1) & 0xff;
    path.copy(hdr, req);
    assert.deepEqual(req.sqe, hdr.subarray(CAPSULE_SQE_OFFSET, CAPSULE_SQE_OFFSET + 64), `header at byte offset ${shift}`);
  }
  // A second header buffer (another reader): its own bytes, not the cached view's.
  const other = Buffer.alloc(72, 0xa5);
  path.copy(other, req);
  assert.deepEqual(req.sqe, Buffer.alloc(64, 0xa5));
});

test('per-command: a write\'s in-capsule buffer goes back to the pool at completion; a read\'s data stays held until the socket took it', async () => {
  const ctx = makeContext();
  const admin = await connectAdmin(ctx);
  const io = await connectIo(ctx, admin.cntlid, 1);
  const pool = io.conn.pool as unknown as { held: number };
  await until(() => pool.held === 0, 'the Connect buffers back');
  const wsqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, NLB), 1, { inCapsule: NLB * 512 });
  io.sock.send(buildCapsuleCmd(wsqe, pattern(1), LINK));
  // Synchronously after the receive: the write completed, its response is queued, not yet flushed.
  assert.equal(cqes(io).length, 0, 'the response is still queued');
  assert.equal(pool.held, 0, 'the in-capsule buffer is back already');
  await until(() => cqes(io).length === 1, 'the write completion');
  assert.equal(cqes(io)[0]!.status, 0);
  // A read from a backend without views is answered from a pooled buffer: held until written.
  const ns = ctx.subsystems.values().next().value!.namespaces.get(1)!;
  const backend = ns.backend as unknown as { view: unknown; viewable: unknown };
  backend.view = (): null => null;
  backend.viewable = (): boolean => false;
  const rsqe = prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 0, NLB), 2, { transport: NLB * 512 });
  // The socket takes the bytes but reports them written only when the test says so.
  const written: (() => void)[] = [];
  const write = io.sock.write.bind(io.sock);
  io.sock.write = (b: Uint8Array, cb?: () => void): boolean => write(b, cb && ((): void => void written.push(cb)));
  io.sock.send(buildCapsuleCmd(rsqe, null, LINK));
  await until(() => cqes(io).length === 2, 'the read completion');
  assert.equal(pool.held, NLB * 512, 'the read data buffer is held while the socket has not written the C2HData');
  for (const cb of written.splice(0)) cb();
  const data = io.sock.ofType(PduType.C2HData);
  assert.equal(data.length, 1);
  assert.ok(data[0]!.data!.equals(pattern(1)));
  await until(() => pool.held === 0, 'the read buffer back after the write');
});
