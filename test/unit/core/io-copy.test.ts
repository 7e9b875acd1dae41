// Verify (opcode 0Ch) and Copy (opcode 19h, source range descriptor format 0) as the core executes them,
// on a RAM namespace (memory view) and on a backend without a view (reads and writes go through the
// backend, as on a file or io_uring). SQEs and descriptors are built from the NVM command set
// specification's byte offsets, independently of src/spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminOpc, IoOpc } from '../../../src/spec/opcodes.js';
import { SCT, status } from '../../../src/spec/status.js';
import type { BackendRequest } from '../../../src/backend/backend.js';
import { Namespace } from '../../../src/core/namespace.js';
import type { TargetContext } from '../../../src/core/context.js';
import { admin, enabledAdmin, io, ioQueue, makeConfig, makeContext, recordNamespace, RecordingBackend, SUBNQN, type FakeQueue } from './fakes.js';

const FUA = 1 << 30;
const sc = (s: number): number => s & 0x7ff;
const LBA_OUT_OF_RANGE = status(SCT.GENERIC, 0x80);
const INVALID_FIELD = status(SCT.GENERIC, 0x02);
const WRITE_PROTECTED = status(SCT.GENERIC, 0x20);
const SGL_LENGTH_INVALID = status(SCT.GENERIC, 0x0f);
const CMD_SIZE_LIMIT = status(SCT.COMMAND_SPECIFIC, 0x83);

function setup(config = makeConfig()): { ctx: TargetContext; q: FakeQueue; ioq: FakeQueue } {
  const ctx = makeContext(config);
  const q = enabledAdmin(ctx);
  return { ctx, q, ioq: ioQueue(ctx, q) };
}

function writeBlocks(ioq: FakeQueue, ctx: TargetContext, slba: number, data: Buffer): void {
  const c = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Write;
    sqe.writeUInt32LE(1, 4);
    sqe.writeBigUInt64LE(BigInt(slba), 40);
    sqe.writeUInt32LE(data.length / 512 - 1, 48);
  }, data.length, data);
  assert.equal(c.status, 0);
}

function readBlocks(ioq: FakeQueue, ctx: TargetContext, slba: number, nlb: number): Buffer {
  const c = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Read;
    sqe.writeUInt32LE(1, 4);
    sqe.writeBigUInt64LE(BigInt(slba), 40);
    sqe.writeUInt32LE(nlb - 1, 48);
  }, nlb * 512);
  assert.equal(c.status, 0);
  return Buffer.from(c.outData!);
}

/** Source range descriptors, format 0: SLBA u64 at byte 8, NLB (0's based) u16 at byte 16, 32 bytes each. */
function ranges(list: [slba: bigint | number, nlb: number][]): Buffer {
  const b = Buffer.alloc(list.length * 32);
  list.forEach(([slba, nlb], i) => {
    b.writeBigUInt64LE(BigInt(slba), i * 32 + 8);
    b.writeUInt16LE(nlb - 1, i * 32 + 16);
  });
  return b;
}

function copy(ioq: FakeQueue, ctx: TargetContext, o: { nsid?: number; sdlba: bigint | number; data: Buffer; nr?: number; cdw12?: number }) {
  const nr = o.nr ?? o.data.length / 32;
  const c = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Copy;
    sqe.writeUInt32LE(o.nsid ?? 1, 4);
    sqe.writeBigUInt64LE(BigInt(o.sdlba), 40); // cdw10-11: SDLBA
    sqe.writeUInt32LE(((nr - 1) | (o.cdw12 ?? 0)) >>> 0, 48); // cdw12: NR (0's based), DESFMT, FUA
  }, o.data.length, o.data);
  assert.equal(c.completed, 1, 'completed exactly once');
  return c;
}

function verify(ioq: FakeQueue, ctx: TargetContext, slba: bigint | number, nlb: number, nsid = 1) {
  const c = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Verify;
    sqe.writeUInt32LE(nsid, 4);
    sqe.writeBigUInt64LE(BigInt(slba), 40);
    sqe.writeUInt32LE(nlb - 1, 48);
  });
  assert.equal(c.completed, 1, 'completed exactly once');
  assert.equal(c.outData, null, 'Verify transfers no data');
  return c;
}

function pattern(blocks: number, seed: number): Buffer {
  const b = Buffer.alloc(blocks * 512);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/** A backend without a memory view that counts reads and can fail them with EIO. */
class FaultyBackend extends RecordingBackend {
  reads = 0;
  failReads = false;
  override submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    this.reads++;
    if (this.failReads) return req.backendDone(-5);
    super.submitRead(req, offset, dst);
  }
}

function faultyNamespace(ctx: TargetContext): FaultyBackend {
  const s = ctx.subsystems.get(SUBNQN)!;
  const nc = s.config.namespaces.find((n) => n.nsid === 1)!;
  const b = new FaultyBackend(1 << 20);
  s.namespaces.set(1, new Namespace(nc, b));
  return b;
}

for (const kind of ['RAM (memory view)', 'no memory view (file-like)'] as const) {
  test(`Copy of two ranges lands at SDLBA in range order: ${kind}`, () => {
    const { ctx, q, ioq } = setup();
    const rec = kind === 'RAM (memory view)' ? null : recordNamespace(ctx);
    const a = pattern(3, 1);
    const b = pattern(5, 99);
    writeBlocks(ioq, ctx, 10, a);
    writeBlocks(ioq, ctx, 100, b);
    const c = copy(ioq, ctx, { sdlba: 500, data: ranges([[100, 5], [10, 3]]) });
    assert.equal(c.status, 0);
    assert.equal(c.auxData, null, 'the staging buffer is let go');
    assert.deepEqual(readBlocks(ioq, ctx, 500, 8), Buffer.concat([b, a]));
    assert.deepEqual(readBlocks(ioq, ctx, 508, 1), Buffer.alloc(512), 'nothing written past the copy');
    if (rec) assert.deepEqual(rec.writes.at(-1), ['write', false]);
    q.ctrl!.teardown('test over');
  });
}

test('Copy with overlapping source and destination copies the data as it was before the command', () => {
  const { ctx, q, ioq } = setup();
  recordNamespace(ctx);
  const a = pattern(4, 3);
  writeBlocks(ioq, ctx, 20, a);
  assert.equal(copy(ioq, ctx, { sdlba: 22, data: ranges([[20, 4]]) }).status, 0);
  assert.deepEqual(readBlocks(ioq, ctx, 22, 4), a);
  assert.deepEqual(readBlocks(ioq, ctx, 20, 2), a.subarray(0, 1024));
  q.ctrl!.teardown('test over');
});

test('Copy honours CDW12.FUA and the volatile write cache (WCE=0: written as FUA)', () => {
  const { ctx, q, ioq } = setup();
  const rec = recordNamespace(ctx);
  assert.equal(copy(ioq, ctx, { sdlba: 50, data: ranges([[0, 1]]), cdw12: FUA }).status, 0);
  assert.equal(copy(ioq, ctx, { sdlba: 51, data: ranges([[0, 1]]) }).status, 0);
  const setWce = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.SetFeatures;
    sqe.writeUInt32LE(0x06, 40);
    sqe.writeUInt32LE(0, 44);
  }, 0);
  assert.equal(setWce.status, 0);
  assert.equal(copy(ioq, ctx, { sdlba: 52, data: ranges([[0, 1]]) }).status, 0);
  assert.deepEqual(rec.writes, [['write', true], ['write', false], ['write', true]]);
  q.ctrl!.teardown('test over');
});

test('Copy refusals: size limits (MSRC, MSSRL, MCL), LBA ranges, descriptor format, write protection, short range list', () => {
  const { ctx, q, ioq } = setup(); // MDTS 1 MiB, 512-byte blocks: MSSRL = MCL = 2048 blocks, 128 ranges
  const rec = recordNamespace(ctx);
  const nsBlocks = (1 << 20) / 512;
  const cases: [string, Parameters<typeof copy>[2], number][] = [
    ['129 ranges: past MSRC', { sdlba: 0, data: ranges(Array.from({ length: 129 }, (_, i) => [i, 1] as [number, number])) }, CMD_SIZE_LIMIT],
    ['one range of 2049 blocks: past MSSRL', { sdlba: 0, data: ranges([[0, 2049]]) }, CMD_SIZE_LIMIT],
    ['two ranges of 1500 blocks: past MCL', { sdlba: 0, data: ranges([[0, 1500], [0, 1500]]) }, CMD_SIZE_LIMIT],
    ['a source range past the end', { sdlba: 0, data: ranges([[0, 1], [nsBlocks - 1, 2]]) }, LBA_OUT_OF_RANGE],
    ['a source SLBA past 2^53', { sdlba: 0, data: ranges([[1n << 60n, 1]]) }, LBA_OUT_OF_RANGE],
    ['the destination past the end', { sdlba: nsBlocks - 2, data: ranges([[0, 2], [4, 1]]) }, LBA_OUT_OF_RANGE],
    ['descriptor format 1', { sdlba: 0, data: ranges([[0, 1]]), cdw12: 1 << 8 }, INVALID_FIELD],
    ['read-only namespace', { nsid: 2, sdlba: 0, data: ranges([[0, 1]]) }, WRITE_PROTECTED],
    ['fewer descriptors than NR', { sdlba: 0, data: ranges([[0, 1]]), nr: 2 }, SGL_LENGTH_INVALID],
  ];
  for (const [what, o, expected] of cases) {
    const c = copy(ioq, ctx, o);
    assert.equal(sc(c.status), sc(expected), what);
    assert.ok(c.status & 0x4000, `${what}: DNR`);
  }
  assert.deepEqual(rec.writes, [], 'nothing was written');
  assert.equal(copy(ioq, ctx, { sdlba: 0, data: ranges(Array.from({ length: 128 }, (_, i) => [i * 16, 16] as [number, number])) }).status, 0, '128 ranges, 2048 blocks: at the limits');
  q.ctrl!.teardown('test over');
});

test('Copy: a source read that fails completes with a media error and writes nothing', () => {
  const { ctx, q, ioq } = setup();
  const b = faultyNamespace(ctx);
  b.failReads = true;
  const c = copy(ioq, ctx, { sdlba: 10, data: ranges([[0, 1], [4, 2]]) });
  assert.equal((c.status >> 8) & 7, SCT.MEDIA);
  assert.deepEqual(b.writes, []);
  assert.equal(c.auxData, null);
  q.ctrl!.teardown('test over');
});

test('Verify: in range succeeds without data; past the end is LBA Out of Range; read-only namespaces verify too', () => {
  const { ctx, q, ioq } = setup();
  assert.equal(verify(ioq, ctx, 0, 2048).status, 0);
  assert.equal(verify(ioq, ctx, 2047, 1).status, 0);
  assert.equal(verify(ioq, ctx, 0, 8, 2).status, 0);
  assert.equal(sc(verify(ioq, ctx, 2047, 2).status), sc(LBA_OUT_OF_RANGE));
  assert.equal(sc(verify(ioq, ctx, 1n << 62n, 1).status), sc(LBA_OUT_OF_RANGE));
  q.ctrl!.teardown('test over');
});

test('Verify without a memory view reads the whole range through the backend in MDTS pieces and surfaces read errors', () => {
  const { ctx, q, ioq } = setup(makeConfig({ mdts: 4096 }));
  const b = faultyNamespace(ctx);
  const c = verify(ioq, ctx, 3, 20); // 10 KiB: 4 KiB + 4 KiB + 2 KiB
  assert.equal(c.status, 0);
  assert.equal(b.reads, 3);
  assert.equal(c.auxData, null);
  b.failReads = true;
  const bad = verify(ioq, ctx, 0, 1);
  assert.equal((bad.status >> 8) & 7, SCT.MEDIA, 'a media error');
  q.ctrl!.teardown('test over');
});

test('Identify and the effects log advertise Verify and Copy with their limits', () => {
  const { ctx, q } = setup();
  const idc = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.Identify;
    sqe.writeUInt32LE(1, 40); // CNS 01h
  });
  const ctrl = Buffer.from(idc.outData!);
  const oncs = ctrl.readUInt16LE(520);
  assert.ok(oncs & (1 << 7), 'ONCS: Verify');
  assert.ok(oncs & (1 << 8), 'ONCS: Copy');
  assert.equal(ctrl.readUInt16LE(534) & 1, 1, 'OCFS: format 0');
  for (const [nsid, bs] of [[1, 512], [2, 4096]] as const) {
    const idn = admin(q, ctx, (sqe) => {
      sqe[0] = AdminOpc.Identify;
      sqe.writeUInt32LE(nsid, 4);
    });
    const ns = Buffer.from(idn.outData!);
    assert.equal(ns.readUInt16LE(74), (1 << 20) / bs, `nsid ${nsid}: MSSRL`);
    assert.equal(ns.readUInt32LE(76), (1 << 20) / bs, `nsid ${nsid}: MCL`);
    assert.equal(ns[80], 127, `nsid ${nsid}: MSRC (0's based)`);
  }
  const log = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.GetLogPage;
    sqe.writeUInt32LE(0x05 | (1023 << 16), 40); // LID 05h, NUMDL: 4 KiB
  });
  assert.equal(log.status, 0);
  const effects = Buffer.from(log.outData!);
  assert.equal(effects.readUInt32LE(1024 + 0x0c * 4), 1, 'Verify: CSUPP');
  assert.equal(effects.readUInt32LE(1024 + 0x19 * 4), 3, 'Copy: CSUPP | LBCC');
  q.ctrl!.teardown('test over');
});
