// The initiator's queue pair against a scripted fake controller: ICReq/ICResp, completion by
// CapsuleResp and by C2HData SUCCESS, R2T answered with H2CData split at MAXH2CDATA, CPDA padding,
// digests, and the host's reaction to a misbehaving controller (H2CTermReq, close, rejected commands).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PduReader, type PduSink } from '../../src/transport/tcp/pdu-reader.js';
import { CAPSULE_CQE_OFFSET, CH, DATA, FES, IC, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { CQE, SGL, SglId, SQE } from '../../src/spec/sqe.js';
import { crc32c } from '../../src/native/crc32c.js';
import { HostQueue } from '../../src/initiator/queue.js';
import { TransportError } from '../../src/initiator/result.js';
import * as S from '../../src/initiator/sqe-build.js';

type Got = { type: number; hdr: Buffer; data: Buffer | null; ddgstOk: boolean } | { type: 'closed' } | { type: 'fatal'; fes: number };

/** One accepted connection of the fake controller: parses what the host sends, sends what the test says. */
class FakeConn implements PduSink {
  readonly reader: PduReader;
  readonly got: Got[] = [];
  #wake: (() => void) | null = null;
  hdgst = false;
  ddgst = false;

  constructor(readonly socket: net.Socket) {
    this.reader = new PduReader(this, { accept: [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData], maxPlen: 1 << 24 });
    socket.on('data', (c: Buffer) => this.reader.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#push({ type: 'closed' }));
  }
  #push(g: Got): void {
    this.got.push(g);
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
  onHeader(_h: Buffer, n: number): Uint8Array {
    return Buffer.alloc(n);
  }
  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    this.#push({ type: hdr[CH.pduType]!, hdr: Buffer.from(hdr.subarray(0, hdr[CH.hlen]!)), data: data ? Buffer.from(data) : null, ddgstOk });
  }
  onFatal(fes: number): void {
    this.#push({ type: 'fatal', fes });
  }
  async next(ms = 3000): Promise<Got> {
    const until = Date.now() + ms;
    while (this.got.length === 0) {
      if (Date.now() > until) throw new Error('fake controller: nothing from the host');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return this.got.shift()!;
  }
  async pdu(type: number): Promise<{ hdr: Buffer; data: Buffer | null; ddgstOk: boolean }> {
    const g = await this.next();
    assert.equal(g.type, type, `fake controller expected PDU 0x${type.toString(16)}, got ${JSON.stringify(g.type)}`);
    return g as { hdr: Buffer; data: Buffer | null; ddgstOk: boolean };
  }
  send(b: Buffer): void {
    this.socket.write(b);
  }
  /** Answers the ICReq. */
  async icresp(o: { cpda?: number; hdgst?: boolean; ddgst?: boolean; maxh2c?: number; pfv?: number } = {}): Promise<Buffer> {
    const { hdr } = await this.pdu(PduType.ICReq);
    const b = Buffer.alloc(128);
    b[CH.pduType] = PduType.ICResp;
    b[CH.hlen] = 128;
    b.writeUInt32LE(128, CH.plen);
    b.writeUInt16LE(o.pfv ?? 0, IC.pfv);
    b[IC.pda] = o.cpda ?? 0;
    b[IC.digest] = (o.hdgst ? 1 : 0) | (o.ddgst ? 2 : 0);
    b.writeUInt32LE(o.maxh2c ?? 131072, IC.maxr2tOrMaxdata);
    this.send(b);
    this.hdgst = this.reader.hdgst = o.hdgst ?? false;
    this.ddgst = this.reader.ddgst = o.ddgst ?? false;
    return hdr;
  }
  #pdu(type: number, fill: (h: Buffer) => void, data: Buffer | null, flags = 0): Buffer {
    const hd = this.hdgst ? 4 : 0;
    const h = Buffer.alloc(24 + hd);
    h[CH.pduType] = type;
    h[CH.flags] = flags | (this.hdgst ? PduFlags.HDGSTF : 0) | (data && this.ddgst ? PduFlags.DDGSTF : 0);
    h[CH.hlen] = 24;
    h[CH.pdo] = data ? 24 + hd : 0;
    h.writeUInt32LE(24 + hd + (data ? data.length + (this.ddgst ? 4 : 0) : 0), CH.plen);
    fill(h);
    if (this.hdgst) h.writeUInt32LE(crc32c(h, 0, 24), 24);
    if (!data) return h;
    const parts = [h, data];
    if (this.ddgst) {
      const d = Buffer.alloc(4);
      d.writeUInt32LE(crc32c(data), 0);
      parts.push(d);
    }
    return Buffer.concat(parts);
  }
  resp(cid: number, status = 0, dw0 = 0, sqhd = 1): Buffer {
    return this.#pdu(PduType.CapsuleResp, (h) => {
      h.writeUInt32LE(dw0, CAPSULE_CQE_OFFSET + CQE.dw0);
      h.writeUInt16LE(sqhd, CAPSULE_CQE_OFFSET + CQE.sqhd);
      h.writeUInt16LE(cid, CAPSULE_CQE_OFFSET + CQE.cid);
      h.writeUInt16LE(status << 1, CAPSULE_CQE_OFFSET + CQE.status);
    }, null);
  }
  c2hData(cid: number, datao: number, data: Buffer, flags: number): Buffer {
    return this.#pdu(PduType.C2HData, (h) => {
      h.writeUInt16LE(cid, DATA.cccid);
      h.writeUInt32LE(datao, DATA.offset);
      h.writeUInt32LE(data.length, DATA.length);
    }, data, flags);
  }
  r2t(cid: number, ttag: number, r2to: number, r2tl: number): Buffer {
    return this.#pdu(PduType.R2T, (h) => {
      h.writeUInt16LE(cid, DATA.cccid);
      h.writeUInt16LE(ttag, DATA.ttag);
      h.writeUInt32LE(r2to, DATA.offset);
      h.writeUInt32LE(r2tl, DATA.length);
    }, null);
  }
  termReq(fes: number, fei: number): Buffer {
    const b = Buffer.alloc(24);
    b[CH.pduType] = PduType.C2HTermReq;
    b[CH.hlen] = 24;
    b.writeUInt32LE(24, CH.plen);
    b.writeUInt16LE(fes, TERM.fes);
    b.writeUInt32LE(fei, TERM.fei);
    return b;
  }
}

async function withFake(fn: (port: number, conn: () => Promise<FakeConn>) => Promise<void>): Promise<void> {
  const conns: FakeConn[] = [];
  const waiters: ((c: FakeConn) => void)[] = [];
  const server = net.createServer((s) => {
    const c = new FakeConn(s);
    const w = waiters.shift();
    if (w) w(c);
    else conns.push(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await fn(port, () => (conns.length ? Promise.resolve(conns.shift()!) : new Promise((r) => waiters.push(r))));
  } finally {
    server.close();
    for (const c of conns) c.socket.destroy();
  }
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

async function open(port: number, conn: () => Promise<FakeConn>, o: Parameters<FakeConn['icresp']>[0] = {}, q: Partial<Parameters<typeof HostQueue.open>[0]> = {}): Promise<[HostQueue, FakeConn]> {
  const p = HostQueue.open({ host: '127.0.0.1', port, hdgst: o.hdgst ?? false, ddgst: o.ddgst ?? false, ...q });
  const c = await conn();
  await c.icresp(o);
  return [await p, c];
}

test('initiator-queue: ICReq carries HPDA, digests and MAXR2T; ICResp settles the link', async () => {
  await withFake(async (port, conn) => {
    const p = HostQueue.open({ host: '127.0.0.1', port, hdgst: true, ddgst: true, maxr2t: 3, hpda: 0 });
    const c = await conn();
    const icreq = await c.icresp({ hdgst: true, ddgst: false, cpda: 3, maxh2c: 8192 });
    assert.equal(icreq.readUInt16LE(IC.pfv), 0);
    assert.equal(icreq[IC.pda], 0);
    assert.equal(icreq[IC.digest], 3);
    assert.equal(icreq.readUInt32LE(IC.maxr2tOrMaxdata), 3);
    const q = await p;
    assert.deepEqual(q.link, { hdgst: true, ddgst: false, cpda: 3 });
    assert.equal(q.icresp!.maxH2CData, 8192);
    q.destroy();
  });
});

test('initiator-queue: in-capsule data starts at a CPDA-aligned PDO, with header and data digests', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn, { hdgst: true, ddgst: true, cpda: 7 }, { inCapsuleDataSize: 8192 });
    const data = pattern(1000, 1);
    const done = q.submit((s) => S.readWrite(s, 0x01, 1, 5, 2), { dataOut: data });
    const cmd = await c.pdu(PduType.CapsuleCmd);
    assert.equal(cmd.hdr[CH.pdo], 96, 'PDO 72+4 rounded up to 32 bytes');
    assert.equal(cmd.hdr[CH.flags]! & (PduFlags.HDGSTF | PduFlags.DDGSTF), PduFlags.HDGSTF | PduFlags.DDGSTF);
    assert.ok(cmd.data!.equals(data));
    assert.equal(cmd.ddgstOk, true);
    const sqe = cmd.hdr.subarray(8, 72);
    assert.equal(sqe[SQE.dptr + SGL.identifier], SglId.IN_CAPSULE);
    assert.equal(sqe.readUInt32LE(SQE.dptr + SGL.length), 1000);
    assert.equal(sqe[SQE.flags]! & 0xc0, 0x40, 'PSDT: SGL');
    c.send(c.resp(sqe.readUInt16LE(SQE.cid)));
    assert.ok((await done).ok);
    q.destroy();
  });
});

test('initiator-queue: read completes by C2HData (two PDUs) and CapsuleResp, or by C2HData SUCCESS alone', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn, { hdgst: true, ddgst: true });
    const data = pattern(6000, 2);
    const p1 = q.submit((s) => S.readWrite(s, 0x02, 1, 0, 12), { dataIn: Buffer.alloc(6000) });
    const cid1 = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    c.send(Buffer.concat([c.c2hData(cid1, 0, data.subarray(0, 4000), 0), c.c2hData(cid1, 4000, data.subarray(4000), PduFlags.DATA_LAST), c.resp(cid1, 0, 0, 7)]));
    const r1 = await p1;
    assert.ok(r1.ok);
    assert.equal(r1.viaDataSuccess, false);
    assert.equal(r1.sqhd, 7);
    assert.ok(r1.data!.equals(data));

    const p2 = q.submit((s) => S.readWrite(s, 0x02, 1, 0, 12), { dataIn: Buffer.alloc(6000) });
    const cid2 = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    c.send(c.c2hData(cid2, 0, data, PduFlags.DATA_LAST | PduFlags.DATA_SUCCESS));
    const r2 = await p2;
    assert.ok(r2.ok && r2.viaDataSuccess && r2.data!.equals(data));
    assert.equal(q.successWithSqFlow, 1, 'SUCCESS while SQ flow control was not disabled is counted');
    q.destroy();
  });
});

test('initiator-queue: R2Ts are answered with H2CData split at MAXH2CDATA, LAST on the end of each R2T', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn, { ddgst: true, maxh2c: 4096 });
    const data = pattern(10000, 3);
    const p = q.submit((s) => S.readWrite(s, 0x01, 1, 0, 20), { dataOut: data });
    const cmd = await c.pdu(PduType.CapsuleCmd);
    const sqe = cmd.hdr.subarray(8, 72);
    assert.equal(cmd.data, null, 'no in-capsule data');
    assert.equal(sqe[SQE.dptr + SGL.identifier], SglId.TRANSPORT);
    assert.equal(sqe.readUInt32LE(SQE.dptr + SGL.length), 10000);
    const cid = sqe.readUInt16LE(SQE.cid);
    c.send(c.r2t(cid, 0x55, 0, 6000));
    const got: [number, number, boolean][] = [];
    const assembled = Buffer.alloc(10000);
    const take = async (): Promise<void> => {
      const d = await c.pdu(PduType.H2CData);
      assert.equal(d.hdr.readUInt16LE(DATA.cccid), cid);
      assert.equal(d.hdr.readUInt16LE(DATA.ttag), 0x55);
      assert.equal(d.ddgstOk, true);
      const off = d.hdr.readUInt32LE(DATA.offset);
      d.data!.copy(assembled, off);
      got.push([off, d.hdr.readUInt32LE(DATA.length), (d.hdr[CH.flags]! & PduFlags.DATA_LAST) !== 0]);
    };
    await take();
    await take();
    c.send(c.r2t(cid, 0x55, 6000, 4000));
    await take();
    assert.deepEqual(got, [
      [0, 4096, false],
      [4096, 1904, true],
      [6000, 4000, true],
    ]);
    assert.ok(assembled.equals(data));
    c.send(c.resp(cid));
    assert.ok((await p).ok);
    q.destroy();
  });
});

test('initiator-queue: a C2HData data digest error fails the command', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn, { ddgst: true });
    const p = q.submit((s) => S.readWrite(s, 0x02, 1, 0, 1), { dataIn: Buffer.alloc(512) });
    const cid = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    const pdu = c.c2hData(cid, 0, pattern(512, 4), PduFlags.DATA_LAST);
    pdu[pdu.length - 1] ^= 1;
    c.send(Buffer.concat([pdu, c.resp(cid)]));
    await assert.rejects(p, (e: unknown) => e instanceof TransportError && /digest/.test(e.message));
    // The connection stays usable.
    const p2 = q.submit((s) => S.flush(s, 1));
    const cid2 = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    c.send(c.resp(cid2));
    assert.ok((await p2).ok);
    q.destroy();
  });
});

test('initiator-queue: C2HData outside the command buffer -> H2CTermReq Data Transfer Out of Range, close', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn);
    const p = assert.rejects(q.submit((s) => S.readWrite(s, 0x02, 1, 0, 1), { dataIn: Buffer.alloc(512) }), TransportError);
    const cid = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    c.send(c.c2hData(cid, 512, pattern(512, 5), PduFlags.DATA_LAST));
    const term = await c.pdu(PduType.H2CTermReq);
    assert.equal(term.hdr.readUInt16LE(TERM.fes), FES.DATA_TRANSFER_OUT_OF_RANGE);
    assert.equal(term.hdr.readUInt32LE(TERM.fei), DATA.offset);
    assert.equal(term.data![0], PduType.C2HData, 'the offending header comes back');
    assert.equal((await c.next()).type, 'closed');
    await p;
  });
});

test('initiator-queue: R2T for a command without data -> H2CTermReq Invalid PDU Header Field', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn);
    const p = assert.rejects(q.submit((s) => S.flush(s, 1)), TransportError);
    const cid = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    c.send(c.r2t(cid, 1, 0, 512));
    const term = await c.pdu(PduType.H2CTermReq);
    assert.equal(term.hdr.readUInt16LE(TERM.fes), FES.INVALID_PDU_HEADER_FIELD);
    assert.equal(term.hdr.readUInt32LE(TERM.fei), DATA.cccid);
    await p;
  });
});

test('initiator-queue: C2HTermReq from the controller rejects outstanding commands with its FES', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn);
    const p = q.submit((s) => S.keepAlive(s));
    await c.pdu(PduType.CapsuleCmd);
    c.send(c.termReq(FES.PDU_SEQUENCE_ERROR, 0));
    c.socket.end();
    await assert.rejects(p, (e: unknown) => e instanceof TransportError && e.termReq?.fes === FES.PDU_SEQUENCE_ERROR);
    assert.equal((await q.closed)?.fes, FES.PDU_SEQUENCE_ERROR);
    await assert.rejects(q.submit((s) => S.keepAlive(s)), TransportError);
  });
});

test('initiator-queue: a timed-out command keeps its CID until the late completion arrives', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn, {}, { queueSize: 3 });
    const slow = q.submit((s) => S.keepAlive(s), { timeoutMs: 150 });
    const cid = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    await assert.rejects(slow, /timed out/);
    assert.equal(q.inFlight, 1, 'CID still reserved');
    const other = q.submit((s) => S.keepAlive(s));
    const cid2 = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    assert.notEqual(cid2, cid, 'the abandoned CID is not reused');
    c.send(Buffer.concat([c.resp(cid), c.resp(cid2)]));
    assert.ok((await other).ok);
    assert.equal(q.inFlight, 0);
    q.destroy();
  });
});

test('initiator-queue: submit waits for a free slot when the queue is full', async () => {
  await withFake(async (port, conn) => {
    const [q, c] = await open(port, conn, {}, { queueSize: 2 });
    assert.equal(q.depth, 1);
    const a = q.submit((s) => S.keepAlive(s));
    const b = q.submit((s) => S.keepAlive(s));
    const ca = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.got.length, 0, 'the second command waits');
    c.send(c.resp(ca));
    const cb = (await c.pdu(PduType.CapsuleCmd)).hdr.readUInt16LE(8 + SQE.cid);
    c.send(c.resp(cb));
    assert.ok((await a).ok && (await b).ok);
    q.destroy();
  });
});

test('initiator-queue: an ICResp with PFV != 0 is refused with H2CTermReq', async () => {
  await withFake(async (port, conn) => {
    const p = HostQueue.open({ host: '127.0.0.1', port });
    const c = await conn();
    await c.icresp({ pfv: 1 });
    await assert.rejects(p, TransportError);
    const term = await c.pdu(PduType.H2CTermReq);
    assert.equal(term.hdr.readUInt16LE(TERM.fes), FES.INVALID_PDU_HEADER_FIELD);
    assert.equal(term.hdr.readUInt32LE(TERM.fei), IC.pfv);
  });
});

test('initiator-queue: a controller that never sends ICResp fails open() after connectTimeoutMs', async () => {
  await withFake(async (port, conn) => {
    const start = Date.now();
    const p = HostQueue.open({ host: '127.0.0.1', port, connectTimeoutMs: 300 });
    const c = await conn();
    await c.pdu(PduType.ICReq);
    await assert.rejects(p, /ICResp/);
    assert.ok(Date.now() - start >= 250);
  });
});
