// NVM I/O against the real target over loopback: read/write/compare/flush/DSM/write-zeroes, with and
// without digests, in-capsule and R2T writes (also larger than MAXH2CDATA), 512 and 4096-byte
// blocks, C2HData SUCCESS when SQ flow control is disabled, many commands in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import * as S from '../../src/initiator/sqe-build.js';
import { buildH2CData } from '../../src/initiator/pdu-build.js';
import { DATA, PduType } from '../../src/spec/pdu.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { MiB, SUBNQN, pattern, testConfig, withTarget, type Running } from './helpers.js';
import { Media, SCT } from '../../src/spec/status.js';

const DIGESTS: [string, { hdgst: boolean; ddgst: boolean }][] = [
  ['no digests', { hdgst: false, ddgst: false }],
  ['header digest', { hdgst: true, ddgst: false }],
  ['data digest', { hdgst: false, ddgst: true }],
  ['header and data digests', { hdgst: true, ddgst: true }],
];

/** The whole command set on one namespace: every check reads back through the target. */
async function exercise(t: Running, c: Controller, nsid: number, bs: number): Promise<void> {
  const nlb = 8;
  const data = pattern(nlb * bs, bs + nsid);

  // Write in-capsule when it fits (8 KiB), read back.
  const w = await c.write(nsid, 16, nlb, data);
  assert.ok(w.ok, `write: ${w.name}`);
  const back = Buffer.alloc(nlb * bs);
  const r = await c.read(nsid, 16, nlb, back);
  assert.ok(r.ok, `read: ${r.name}`);
  assert.ok(back.equals(data), 'read returns what was written');

  // Compare: equal, then a one-byte difference.
  const cmpOk = await c.compare(nsid, 16, nlb, data);
  assert.ok(cmpOk.ok, `compare equal: ${cmpOk.name}`);
  const differs = Buffer.from(data);
  differs[differs.length - 1] ^= 1;
  const cmpBad = await c.compare(nsid, 16, nlb, differs);
  assert.equal(cmpBad.sct, SCT.MEDIA, `compare mismatch: ${cmpBad.name}`);
  assert.equal(cmpBad.sc, Media.COMPARE_FAILURE);

  // Flush.
  const f = await c.flush(nsid);
  assert.ok(f.ok, `flush: ${f.name}`);

  // Write Zeroes over part of the range, then read: zeroes there, data around it.
  const wz = await c.writeZeroes(nsid, 18, 2);
  assert.ok(wz.ok, `write zeroes: ${wz.name}`);
  const afterWz = Buffer.alloc(nlb * bs);
  assert.ok((await c.read(nsid, 16, nlb, afterWz)).ok);
  assert.ok(afterWz.subarray(0, 2 * bs).equals(data.subarray(0, 2 * bs)), 'blocks before the zeroed range intact');
  assert.ok(afterWz.subarray(2 * bs, 4 * bs).every((b) => b === 0), 'zeroed range reads zeroes');
  assert.ok(afterWz.subarray(4 * bs).equals(data.subarray(4 * bs)), 'blocks after the zeroed range intact');

  // DSM deallocate of two ranges; a RAM namespace reads deallocated blocks as zeroes.
  const d = await c.dsm(nsid, [
    { slba: 20, nlb: 1 },
    { slba: 22, nlb: 2 },
  ]);
  assert.ok(d.ok, `dsm: ${d.name}`);
  const afterDsm = Buffer.alloc(nlb * bs);
  assert.ok((await c.read(nsid, 16, nlb, afterDsm)).ok);
  assert.ok(afterDsm.subarray(4 * bs, 5 * bs).every((b) => b === 0), 'deallocated block 20 reads zeroes');
  assert.ok(afterDsm.subarray(5 * bs, 6 * bs).equals(data.subarray(5 * bs, 6 * bs)), 'block 21 kept');
  assert.ok(afterDsm.subarray(6 * bs, 8 * bs).every((b) => b === 0), 'deallocated blocks 22-23 read zeroes');

  // A write by R2T (forced), FUA, read back.
  const big = pattern(32 * bs, 77);
  const wr = await c.write(nsid, 100, 32, big, { inCapsule: false, fua: true });
  assert.ok(wr.ok, `R2T write: ${wr.name}`);
  const bigBack = Buffer.alloc(32 * bs);
  assert.ok((await c.read(nsid, 100, 32, bigBack)).ok);
  assert.ok(bigBack.equals(big), 'R2T write reads back');
  void t;
}

for (const [name, dg] of DIGESTS) {
  test(`io: read/write/compare/flush/DSM/write-zeroes, 512-byte blocks, ${name}`, async () => {
    await withTarget(testConfig({ namespaces: [{ blockSize: 512, size: 16 * MiB }] }), async (t) => {
      const c = await Controller.connect(t.opts(dg));
      try {
        assert.equal(c.admin.link.hdgst, dg.hdgst, 'ICResp granted the header digest asked for');
        assert.equal(c.admin.link.ddgst, dg.ddgst, 'ICResp granted the data digest asked for');
        await exercise(t, c, 1, 512);
      } finally {
        await c.disconnect();
      }
    });
  });
}

test('io: 4096-byte blocks, header and data digests, two I/O queues', async () => {
  await withTarget(testConfig({ namespaces: [{ blockSize: 4096, size: 32 * MiB }] }), async (t) => {
    const c = await Controller.connect(t.opts({ hdgst: true, ddgst: true, ioQueues: 2 }));
    try {
      assert.equal(c.io.length, 2);
      await exercise(t, c, 1, 4096);
      // Two blocks in-capsule (8 KiB) on queue 1, read back on queue 0.
      const two = pattern(8192, 5);
      assert.ok((await c.write(1, 300, 2, two, { queue: 1 })).ok);
      const back = Buffer.alloc(8192);
      assert.ok((await c.read(1, 300, 2, back, { queue: 0 })).ok);
      assert.ok(back.equals(two));
    } finally {
      await c.disconnect();
    }
  });
});

test('io: in-capsule write at the 8 KiB limit and a byte-exact R2T write just above it', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ddgst: true }));
    try {
      const q = c.io[0]!;
      assert.equal(q.inCapsuleDataSize, 8192);
      const at = pattern(8192, 1);
      assert.ok((await c.write(1, 0, 16, at)).ok, 'in-capsule 8 KiB');
      const above = pattern(8192 + 512, 2);
      assert.ok((await c.write(1, 100, 17, above)).ok, 'R2T 8.5 KiB');
      const b1 = Buffer.alloc(8192);
      const b2 = Buffer.alloc(8192 + 512);
      assert.ok((await c.read(1, 0, 16, b1)).ok);
      assert.ok((await c.read(1, 100, 17, b2)).ok);
      assert.ok(b1.equals(at));
      assert.ok(b2.equals(above));
    } finally {
      await c.disconnect();
    }
  });
});

test('io: R2T writes larger than MAXH2CDATA (4096) are split into H2CData PDUs; reads of 1 MiB', async () => {
  await withTarget(testConfig({ maxH2CData: 4096, namespaces: [{ size: 32 * MiB }] }), async (t) => {
    for (const dg of [{ hdgst: false, ddgst: false }, { hdgst: true, ddgst: true }]) {
      const c = await Controller.connect(t.opts(dg));
      try {
        assert.equal(c.admin.icresp!.maxH2CData, 4096, 'ICResp MAXH2CDATA from the port config');
        for (const blocks of [9, 64, 2048]) {
          const data = pattern(blocks * 512, blocks);
          const w = await c.write(1, 1000, blocks, data);
          assert.ok(w.ok, `${blocks}-block write: ${w.name}`);
          const back = Buffer.alloc(blocks * 512);
          const r = await c.read(1, 1000, blocks, back);
          assert.ok(r.ok, `${blocks}-block read: ${r.name}`);
          assert.ok(back.equals(data), `${blocks} blocks read back (${dg.hdgst ? 'digests' : 'no digests'})`);
        }
      } finally {
        await c.disconnect();
      }
    }
  });
});

test('io: with SQ flow control disabled, reads may complete by C2HData SUCCESS; with it on, never', async () => {
  await withTarget(testConfig(), async (t) => {
    const data = pattern(4096, 9);
    const off = await Controller.connect(t.opts({ disableSqFlowControl: true }));
    try {
      const q = off.io[0]!;
      assert.equal(q.sqFlowControlDisabled, true, 'Connect response SQHD 0xFFFF');
      assert.ok((await off.write(1, 0, 8, data)).ok);
      const back = Buffer.alloc(4096);
      const r = await off.read(1, 0, 8, back);
      assert.ok(r.ok && back.equals(data));
      assert.equal(r.viaDataSuccess, true, 'the read completed by C2HData SUCCESS (no CapsuleResp)');
      // The next command on the queue must not be confused by a stray CapsuleResp for that read.
      assert.ok((await off.flush(1)).ok);
      assert.equal(q.successWithSqFlow, 0);
    } finally {
      await off.disconnect();
    }
    const on = await Controller.connect(t.opts());
    try {
      const back = Buffer.alloc(4096);
      const r = await on.read(1, 0, 8, back);
      assert.ok(r.ok && back.equals(data));
      assert.equal(r.viaDataSuccess, false, 'SQHD must be reported: a CapsuleResp follows the data');
      assert.equal(on.io[0]!.successWithSqFlow, 0, 'no C2HData SUCCESS while SQ flow control is on');
    } finally {
      await on.disconnect();
    }
  });
});

test('io: a full queue of mixed commands in flight, all verified', async () => {
  await withTarget(testConfig({ namespaces: [{ size: 64 * MiB }] }), async (t) => {
    const c = await Controller.connect(t.opts({ queueSize: 128, hdgst: true, ddgst: true }));
    try {
      const n = 127 * 4; // more than the queue holds: submit() waits for slots
      const bufs = Array.from({ length: n }, (_, i) => pattern(((i % 17) + 1) * 512, i));
      const ws = await Promise.all(bufs.map((b, i) => c.write(1, i * 32, b.length / 512, b)));
      ws.forEach((w, i) => assert.ok(w.ok, `write ${i}: ${w.name}`));
      const backs = bufs.map((b) => Buffer.alloc(b.length));
      const rs = await Promise.all(backs.map((b, i) => c.read(1, i * 32, b.length / 512, b)));
      rs.forEach((r, i) => {
        assert.ok(r.ok, `read ${i}: ${r.name}`);
        assert.ok(backs[i]!.equals(bufs[i]!), `data ${i}`);
      });
    } finally {
      await c.disconnect();
    }
  });
});

test('io: the callback path (acquire/send) reuses slots without promises', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ queueSize: 32 }));
    try {
      const q = c.io[0]!;
      const { readWrite } = await import('../../src/initiator/sqe-build.js');
      const buf = Buffer.alloc(4096);
      let done = 0;
      let failed = 0;
      await new Promise<void>((resolve) => {
        const total = 2000;
        let sent = 0;
        const pump = (): void => {
          for (;;) {
            if (sent === total) return;
            const s = q.acquire();
            if (!s) return;
            readWrite(s.sqe, 0x02, 1, (sent * 8) % 10000, 8);
            s.dataIn = buf;
            sent++;
            q.send(s, (x) => {
              if (x.error || x.status !== 0) failed++;
              if (++done === total) resolve();
              else queueMicrotask(pump);
            });
          }
        };
        pump();
      });
      assert.equal(failed, 0);
      assert.equal(q.inFlight, 0, 'every slot back in the pool');
    } finally {
      await c.disconnect();
    }
  });
});

test('io: the target honours MAXR2T 0 (one R2T outstanding per command) and sends R2Ts within the transfer', async () => {
  await withTarget(testConfig({ maxH2CData: 4096 }), async (t) => {
    const c = await Controller.connect(t.opts({ extraIoQueues: 1 }));
    const raw = await t.raw();
    try {
      await raw.icreq({ maxr2t: 0 });
      const cqe = await raw.connect({ qid: 2, queueSize: 32, hostid: c.hostid, cntlid: c.cntlid, subnqn: SUBNQN, hostnqn: c.hostnqn });
      assert.equal(cqe.status, 0);
      const total = 64 * 1024;
      const data = pattern(total, 12);
      raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, total / 512), 1, { transport: total });
      let covered = 0;
      for (;;) {
        const { hdr } = await raw.expectPdu(PduType.R2T);
        const r2to = hdr.readUInt32LE(DATA.offset);
        const r2tl = hdr.readUInt32LE(DATA.length);
        assert.equal(hdr.readUInt16LE(DATA.cccid), 1);
        assert.equal(r2to, covered, 'R2Ts ask for the data in order');
        assert.ok(r2tl > 0 && r2to + r2tl <= total, `R2T ${r2to}+${r2tl} within the ${total}-byte transfer`);
        // Nothing else may arrive while this R2T is unanswered.
        await assert.rejects(raw.next(200), /nothing from the controller/, 'a second R2T while one is outstanding');
        const ttag = hdr.readUInt16LE(DATA.ttag);
        for (let off = r2to; off < r2to + r2tl; off += 4096) {
          const len = Math.min(4096, r2to + r2tl - off);
          raw.send(buildH2CData(1, ttag, off, data.subarray(off, off + len), off + len === r2to + r2tl, raw.link));
        }
        covered += r2tl;
        if (covered === total) break;
      }
      const done = await raw.response();
      assert.equal(done.cid, 1);
      assert.equal(done.status, 0);
      const back = Buffer.alloc(total);
      assert.ok((await c.read(1, 0, total / 512, back)).ok);
      assert.ok(back.equals(data));
    } finally {
      raw.close();
      await c.disconnect();
    }
  });
});

test('io: two hosts share one namespace: what one writes the other reads', async () => {
  await withTarget(testConfig(), async (t) => {
    const a = await Controller.connect(t.opts({ hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000a' }));
    const b = await Controller.connect(t.opts({ hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000b' }));
    try {
      assert.notEqual(a.cntlid, b.cntlid, 'each host gets its own controller');
      const data = pattern(8192, 21);
      assert.ok((await a.write(1, 64, 16, data)).ok);
      const back = Buffer.alloc(8192);
      assert.ok((await b.read(1, 64, 16, back)).ok);
      assert.ok(back.equals(data), 'host B sees host A\'s write');
      const data2 = pattern(8192, 22);
      assert.ok((await b.write(1, 64, 16, data2, { inCapsule: false })).ok);
      assert.ok((await a.read(1, 64, 16, back)).ok);
      assert.ok(back.equals(data2), 'host A sees host B\'s write');
    } finally {
      await a.disconnect();
      await b.disconnect();
    }
  });
});

/** A TCP proxy that re-cuts the stream in both directions into small random pieces, one per tick. */
async function splittingProxy(targetHost: string, targetPort: number, seed: number): Promise<{ port: number; close: () => void }> {
  const net = await import('node:net');
  let x = seed >>> 0 || 1;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const sockets = new Set<import('node:net').Socket>();
  const pump = (from: import('node:net').Socket, to: import('node:net').Socket): void => {
    const pending: Buffer[] = [];
    let busy = false;
    const drainSome = (): void => {
      if (pending.length === 0) {
        busy = false;
        return;
      }
      busy = true;
      const head = pending[0]!;
      const n = Math.min(head.length, rnd() < 0.5 ? 1 + Math.floor(rnd() * 7) : 1 + Math.floor(rnd() * 3000));
      to.write(head.subarray(0, n));
      if (n === head.length) pending.shift();
      else pending[0] = head.subarray(n);
      setImmediate(drainSome);
    };
    from.on('data', (c: Buffer) => {
      pending.push(c);
      if (!busy) drainSome();
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    pump(client, upstream);
    pump(upstream, client);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

test('io: a whole session through a proxy that re-splits both directions (digests on)', async () => {
  await withTarget(testConfig({ maxH2CData: 8192 }), async (t) => {
    const proxy = await splittingProxy(t.host, t.port, 0x5eed);
    try {
      const c = await Controller.connect({ ...t.opts({ hdgst: true, ddgst: true }), port: proxy.port });
      try {
        for (const blocks of [1, 16, 17, 100]) {
          const data = pattern(blocks * 512, blocks);
          assert.ok((await c.write(1, 2000, blocks, data)).ok, `${blocks}-block write`);
          const back = Buffer.alloc(blocks * 512);
          assert.ok((await c.read(1, 2000, blocks, back)).ok, `${blocks}-block read`);
          assert.ok(back.equals(data), `${blocks} blocks read back intact`);
        }
        assert.ok((await c.identifyController()).ok);
      } finally {
        await c.disconnect();
      }
    } finally {
      proxy.close();
    }
  });
});

test('io: the target honours HPDA: C2HData PDO aligned to (HPDA+1)*4, data intact', async () => {
  await withTarget(testConfig(), async (t) => {
    for (const hpda of [3, 7, 31]) {
      const c = await Controller.connect(t.opts({ hpda, hdgst: true, ddgst: true, extraIoQueues: 1 }));
      const raw = await t.raw();
      try {
        const data = pattern(4096, hpda);
        assert.ok((await c.write(1, 8, 8, data)).ok);
        const back = Buffer.alloc(4096);
        assert.ok((await c.read(1, 8, 8, back)).ok, 'read through padded C2HData');
        assert.ok(back.equals(data));
        await raw.icreq({ hpda, hdgst: true });
        const cqe = await raw.connect({ qid: 2, queueSize: 32, hostid: c.hostid, cntlid: c.cntlid, subnqn: SUBNQN, hostnqn: c.hostnqn });
        assert.equal(cqe.status, 0);
        raw.capsule(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 8, 8), 1, { transport: 4096 });
        const { hdr, data: got } = await raw.expectPdu(PduType.C2HData);
        assert.equal(hdr[3]! % ((hpda + 1) * 4), 0, `PDO ${hdr[3]} aligned to ${(hpda + 1) * 4}`);
        assert.ok(hdr[3]! >= 28, 'PDO after the header and its digest');
        assert.ok(got!.equals(data));
      } finally {
        raw.close();
        await c.disconnect();
      }
    }
  });
});
