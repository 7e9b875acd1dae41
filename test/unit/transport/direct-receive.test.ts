// A TcpConnection receiving H2CData straight into the command's buffer (direct receive), over a
// socket whose reads work as Node's with a user buffer (direct-socket.ts). Data buffers come from a
// pool that fills each with a poison byte when it hands it out (stale bytes of an earlier command),
// so a test sees exactly which bytes a command's buffer received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../../src/initiator/sqe-build.js';
import { buildCapsuleCmd, buildH2CData, buildICReq, parseCqe, type LinkParams } from '../../../src/initiator/pdu-build.js';
import { prepareSqe, type SglSpec } from '../../../src/initiator/raw.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { DATA, PduType } from '../../../src/spec/pdu.js';
import { Generic, SCT, status } from '../../../src/spec/status.js';
import { BufferPool } from '../../../src/runtime/buffer-pool.js';
import { TcpConnection } from '../../../src/transport/tcp/connection.js';
import { ReqState, SHORT_READ } from '../../../src/transport/tcp/request.js';
import type { TargetContext } from '../../../src/core/context.js';
import { DirectSocket, overlaps } from './direct-socket.js';
import { HOSTID, connectAdmin, makeContext, until } from './session.js';
import { HOSTNQN, SUBNQN } from '../core/fakes.js';

const POISON = 0xee;
const KIB128 = 128 * 1024;
const NLB128 = KIB128 / 512;

/** A pool that poisons every data buffer it hands out and remembers them. */
class PoisonPool extends BufferPool {
  readonly data: Buffer[] = [];
  released = 0;
  constructor() {
    super(8 << 20);
  }
  override tryAcquire(n: number): Buffer | null {
    const b = super.tryAcquire(n);
    if (b !== null) {
      b.fill(POISON);
      this.data.push(b);
    }
    return b;
  }
  override release(buf: Uint8Array): void {
    this.released++;
    super.release(buf);
  }
}

interface Io {
  sock: DirectSocket;
  conn: TcpConnection;
  pool: PoisonPool;
  link: LinkParams;
}

function send(io: Io, b: Buffer, max = Infinity): void {
  io.sock.send(b, max);
}

function capsule(io: Io, sqe: Buffer, cid: number, sgl: SglSpec, data: Uint8Array | null = null, max = Infinity): void {
  send(io, buildCapsuleCmd(prepareSqe(sqe, cid, sgl), data, io.link), max);
}

function cqes(io: Io): { cid: number; status: number }[] {
  return io.sock.ofType(PduType.CapsuleResp).map((p) => parseCqe(p.hdr));
}

async function connectIo(ctx: TargetContext, cntlid: number, link: LinkParams): Promise<Io> {
  const sock = new DirectSocket({ hdgst: link.hdgst, ddgst: link.ddgst });
  const pool = new PoisonPool();
  const conn = new TcpConnection(sock.asSocket, ctx.config.ports[0]!, ctx, { onClose: () => undefined, pool });
  assert.ok(sock.next !== null, 'the connection receives into a user buffer');
  const io: Io = { sock, conn, pool, link };
  send(io, buildICReq({ hdgst: link.hdgst, ddgst: link.ddgst }));
  const data = S.connectData({ hostid: HOSTID, cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN });
  capsule(io, S.fabricsConnect(Buffer.alloc(64), { qid: 1, queueSize: 32 }), 1, { inCapsule: data.length }, data);
  await until(() => cqes(io).length >= 1, 'the I/O Connect response');
  assert.equal(cqes(io)[0]!.status, 0);
  sock.pdus.length = 0;
  sock.reads.length = 0;
  return io;
}

async function setup(link: LinkParams = { hdgst: false, ddgst: false, cpda: 0 }): Promise<Io> {
  const ctx = makeContext();
  const admin = await connectAdmin(ctx);
  return connectIo(ctx, admin.cntlid, link);
}

/** A write of `nlb` blocks at `slba` sent as a capsule; resolves with its R2T's TTAG and data buffer. */
async function writeCapsule(io: Io, cid: number, slba: number, nlb: number): Promise<{ ttag: number; buf: Buffer }> {
  const before = io.sock.ofType(PduType.R2T).length;
  const granted = io.pool.data.length;
  capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, slba, nlb), cid, { transport: nlb * 512 });
  await until(() => io.sock.ofType(PduType.R2T).length > before, 'the R2T');
  const r2t = io.sock.ofType(PduType.R2T).at(-1)!;
  assert.equal(r2t.hdr.readUInt16LE(DATA.cccid), cid);
  assert.equal(io.pool.data.length, granted + 1, 'one data buffer granted');
  return { ttag: r2t.hdr.readUInt16LE(DATA.ttag), buf: io.pool.data.at(-1)! };
}

async function readBack(io: Io, cid: number, slba: number, nlb: number): Promise<Buffer> {
  const before = cqes(io).length;
  io.sock.pdus.length = 0;
  capsule(io, S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, slba, nlb), cid, { transport: nlb * 512 });
  await until(() => cqes(io).length > 0, 'the read completion');
  void before;
  assert.equal(cqes(io)[0]!.status, 0);
  return Buffer.concat(io.sock.ofType(PduType.C2HData).map((p) => p.data!));
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed * 101 + (i >> 9)) & 0xff;
  return b;
}

function allPoison(b: Uint8Array, from = 0, to = b.length): boolean {
  for (let i = from; i < to; i++) if (b[i] !== POISON) return false;
  return true;
}

const LINKS: [string, LinkParams][] = [
  ['no digests', { hdgst: false, ddgst: false, cpda: 0 }],
  ['both digests', { hdgst: true, ddgst: true, cpda: 0 }],
];

for (const [name, link] of LINKS) {
  test(`direct receive: a 128 KiB write's H2CData is read into the command's buffer, not copied (${name})`, async () => {
    const io = await setup(link);
    const { ttag, buf } = await writeCapsule(io, 10, 0, NLB128);
    const payload = pattern(KIB128, 1);
    io.sock.reads.length = 0;
    // The kernel has the whole PDU at once: the first read is kept short (a large transfer is
    // due), the rest of the payload is read straight into place.
    send(io, buildH2CData(10, ttag, 0, payload, true, link));
    await until(() => cqes(io).length > 0, 'the write completion');
    assert.equal(cqes(io)[0]!.status, 0);
    const first = io.sock.reads[0]!;
    assert.equal(first.buf.length, SHORT_READ, 'the read before the payload is a short one');
    const landed = io.sock.landedIn(buf);
    assert.ok(landed.bytes >= KIB128 - SHORT_READ, `${landed.bytes} bytes read in place`);
    assert.equal(landed.reads, 1, 'in one read');
    assert.deepEqual(await readBack(io, 11, 0, NLB128), payload, 'the namespace holds the data');
    assert.equal(io.conn.inflight, 0);
  });

  test(`direct receive: a payload split over many reads, followed by the next PDU (${name})`, async () => {
    const io = await setup(link);
    const a = await writeCapsule(io, 20, 0, NLB128);
    const b = await writeCapsule(io, 21, NLB128, NLB128);
    const pa = pattern(KIB128, 2);
    const pb = pattern(KIB128, 3);
    // Two H2CData PDUs for each command, all in one burst, received in reads of at most 20000 bytes.
    const half = KIB128 / 2;
    send(
      io,
      Buffer.concat([
        buildH2CData(20, a.ttag, 0, pa.subarray(0, half), false, link),
        buildH2CData(21, b.ttag, 0, pb.subarray(0, half), false, link),
        buildH2CData(20, a.ttag, half, pa.subarray(half), true, link),
        buildH2CData(21, b.ttag, half, pb.subarray(half), true, link),
      ]),
      20000,
    );
    await until(() => cqes(io).length >= 2, 'both write completions');
    assert.deepEqual(cqes(io).map((c) => [c.cid, c.status]), [[20, 0], [21, 0]]);
    assert.ok(io.sock.landedIn(a.buf).reads > 2 && io.sock.landedIn(b.buf).reads > 2, 'both read in place, over several reads');
    for (const r of io.sock.reads) {
      assert.ok(!(overlaps(r.buf, r.n, a.buf) && overlaps(r.buf, r.n, b.buf)), 'no read spans two commands');
    }
    assert.deepEqual(await readBack(io, 22, 0, 2 * NLB128), Buffer.concat([pa, pb]));
  });
}

test('direct receive: a data digest error in bytes read in place fails the write; the namespace keeps its data', async () => {
  const link: LinkParams = { hdgst: false, ddgst: true, cpda: 0 };
  const io = await setup(link);
  const { ttag, buf } = await writeCapsule(io, 30, 0, NLB128);
  const pdu = buildH2CData(30, ttag, 0, pattern(KIB128, 4), true, link);
  pdu[pdu.length - 4 - 5000]! ^= 1; // deep in the payload: read in place
  send(io, pdu);
  await until(() => cqes(io).length > 0, 'the write completion');
  assert.ok(io.sock.landedIn(buf).bytes > KIB128 / 2, 'the corrupted part was read in place');
  assert.equal(cqes(io)[0]!.status, status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR));
  assert.deepEqual(await readBack(io, 31, 0, NLB128), Buffer.alloc(KIB128), 'nothing written');
});

const BAD: [string, (ttag: number, cid: number) => Buffer][] = [
  ['unknown TTAG', (ttag, cid) => buildH2CData(cid, ttag + 5, 0, Buffer.alloc(KIB128, 0x5a), true, { hdgst: false, ddgst: false, cpda: 0 })],
  ['wrong CCCID', (ttag, cid) => buildH2CData(cid + 1, ttag, 0, Buffer.alloc(KIB128, 0x5a), true, { hdgst: false, ddgst: false, cpda: 0 })],
  ['DATAO not where the transfer stands', (ttag, cid) => buildH2CData(cid, ttag, 4096, Buffer.alloc(KIB128 - 4096, 0x5a), true, { hdgst: false, ddgst: false, cpda: 0 })],
  [
    'DATAL that disagrees with PLEN',
    (ttag, cid) => {
      const b = buildH2CData(cid, ttag, 0, Buffer.alloc(KIB128, 0x5a), true, { hdgst: false, ddgst: false, cpda: 0 });
      b.writeUInt32LE(KIB128 - 512, DATA.length);
      return b;
    },
  ],
  ['data beyond the R2T', (ttag, cid) => buildH2CData(cid, ttag, 0, Buffer.alloc(KIB128 + 512, 0x5a), true, { hdgst: false, ddgst: false, cpda: 0 })],
];

for (const [name, build] of BAD) {
  test(`direct receive: bad H2CData (${name}) never reaches a command's buffer`, async () => {
    const io = await setup();
    const { ttag, buf } = await writeCapsule(io, 40, 0, NLB128);
    io.sock.reads.length = 0;
    // Reads of at most 16 KiB: the kernel keeps delivering what follows the bad header while the
    // C2HTermReq lingers.
    send(io, build(ttag, 40), 16384);
    await until(() => io.conn.closed, 'the connection to close');
    assert.equal(io.sock.ofType(PduType.C2HTermReq).length, 1, 'C2HTermReq');
    assert.ok(io.sock.reads.length > 1, 'reads went on after the bad header');
    assert.equal(io.sock.landedIn(buf).reads, 0, 'no read landed in the command buffer');
    assert.ok(allPoison(buf), 'the command buffer kept its old bytes');
    assert.equal(cqes(io).length, 0, 'the write was never answered');
  });
}

test('direct receive: a good PDU then a bad one in the same read: the good one fills exactly its range', async () => {
  const io = await setup();
  const a = await writeCapsule(io, 50, 0, NLB128);
  const b = await writeCapsule(io, 51, NLB128, NLB128);
  const link = io.link;
  const half = KIB128 / 2;
  send(
    io,
    Buffer.concat([
      buildH2CData(50, a.ttag, 0, Buffer.alloc(half, 0x11), false, link),
      // Offset 4096 where 0 is due: fatal.
      buildH2CData(51, b.ttag, 4096, Buffer.alloc(half, 0x22), false, link),
    ]),
  );
  await until(() => io.conn.closed, 'the connection to close');
  assert.ok(io.sock.landedIn(a.buf).bytes > 0, 'the good PDU was read in place');
  assert.ok(a.buf.subarray(0, half).every((x) => x === 0x11), 'the good PDU landed');
  assert.ok(allPoison(a.buf, half), 'nothing after its range');
  assert.ok(allPoison(b.buf), 'the bad PDU wrote nothing');
  assert.equal(io.sock.landedIn(b.buf).reads, 0);
});

for (const how of ['the peer closes', 'the target closes'] as const) {
  test(`direct receive: connection drop mid-payload (${how}): the buffer goes back to the pool, the socket no longer reads into it`, async () => {
    const io = await setup();
    const { ttag, buf } = await writeCapsule(io, 60, 0, NLB128);
    const pdu = buildH2CData(60, ttag, 0, Buffer.alloc(KIB128, 0x33), true, io.link);
    send(io, pdu.subarray(0, 40000));
    assert.equal(io.conn.stateCounts[ReqState.AWAITING_H2C], 1);
    assert.ok(io.sock.next !== null && overlaps(io.sock.next, io.sock.next.length, buf), 'the next read is due in the command buffer');
    const released = io.pool.released;
    if (how === 'the peer closes') io.sock.emit('close');
    else io.conn.close('test');
    await until(() => io.conn.closed, 'the connection to close');
    assert.equal(io.conn.inflight, 0, 'the write was dropped');
    assert.ok(io.pool.released > released, 'its buffer went back to the pool');
    assert.ok(io.sock.next !== null && !overlaps(io.sock.next, io.sock.next.length, buf), 'the socket reads into the thread buffer again');
    // A read the kernel still delivers (the socket may linger) lands elsewhere.
    const again = io.pool.acquire(KIB128);
    again.fill(0x44);
    io.sock.readOnce(pdu.subarray(40000));
    assert.ok(again.every((x) => x === 0x44), 'memory given to someone else keeps its bytes');
    assert.equal(cqes(io).length, 0);
  });
}

test('direct receive: small writes keep long reads (many PDUs per read)', async () => {
  const io = await setup();
  const { ttag } = await writeCapsule(io, 70, 0, 8);
  io.sock.reads.length = 0;
  const burst: Buffer[] = [buildH2CData(70, ttag, 0, Buffer.alloc(4096, 1), true, io.link)];
  for (let cid = 71; cid < 79; cid++) burst.push(buildCapsuleCmd(prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, cid * 8, 8), cid, { inCapsule: 4096 }), Buffer.alloc(4096, cid), io.link));
  send(io, Buffer.concat(burst));
  await until(() => cqes(io).length >= 9, 'nine write completions');
  assert.equal(io.sock.reads.length, 1, 'one read took them all');
});
