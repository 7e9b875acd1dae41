// One test per bad input (issue 2, "Bad input"), against the real target over loopback.
// Fatal transport errors must produce a C2HTermReq with the right FES, then a close, and leave a
// healthy connection opened before untouched; command errors must produce the spec's status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import { RawConnection } from '../../src/initiator/raw.js';
import { buildCapsuleCmd, buildH2CData, buildICReq } from '../../src/initiator/pdu-build.js';
import * as S from '../../src/initiator/sqe-build.js';
import { CH, DATA, FES, PduType } from '../../src/spec/pdu.js';
import { SQE_SIZE } from '../../src/spec/sqe.js';
import { ConnectData, IoOpc } from '../../src/spec/opcodes.js';
import { CmdSpecific, Generic, SCT, status } from '../../src/spec/status.js';
import { Cns } from '../../src/spec/identify.js';
import { HOSTNQN, MiB, SUBNQN, assertHealthy, expectTermination, pattern, rawIoQueue, startR2TWrite, testConfig, withTarget, type Running } from './helpers.js';

const S_TRANSIENT = status(SCT.GENERIC, Generic.TRANSIENT_TRANSPORT_ERROR);

function sqe(): Buffer {
  return Buffer.alloc(SQE_SIZE);
}

/** A healthy controller (qid 1 connected) that also asked for a second I/O queue for raw use. */
async function healthy(t: Running, extra: Partial<Parameters<Running['opts']>[0]> = {}): Promise<Controller> {
  return Controller.connect(t.opts({ extraIoQueues: 1, ...extra }));
}

/** Runs a fatal-error scenario: a healthy session first, the bad connection, then the healthy one again. */
async function fatalCase(
  cfg: ReturnType<typeof testConfig>,
  provoke: (t: Running, h: Controller) => Promise<RawConnection>,
  fes: number,
  fei?: number,
  offending?: { type: number; headerLength: number },
): Promise<void> {
  await withTarget(cfg, async (t) => {
    const h = await healthy(t);
    try {
      const raw = await provoke(t, h);
      try {
        await expectTermination(raw, fes, fei, 5000, offending);
      } finally {
        raw.close();
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
}

// ---- Fatal transport errors ----

test('bad input: unknown PDU type -> C2HTermReq Invalid PDU Header Field (FEI 0), close', async () => {
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      await raw.icreq();
      const b = Buffer.alloc(24);
      b[CH.pduType] = 0x0b;
      b[CH.hlen] = 24;
      b.writeUInt32LE(24, CH.plen);
      raw.send(b);
      return raw;
    },
    FES.INVALID_PDU_HEADER_FIELD,
    CH.pduType,
  );
});

test('bad input: wrong HLEN -> C2HTermReq Invalid PDU Header Field (FEI 2), close', async () => {
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      await raw.icreq();
      const pdu = buildCapsuleCmd(S.keepAlive(sqe()), null, raw.link);
      pdu[CH.hlen] = 70;
      raw.send(pdu);
      return raw;
    },
    FES.INVALID_PDU_HEADER_FIELD,
    CH.hlen,
  );
});

test('bad input: PLEN beyond the negotiated maximum -> C2HTermReq Data Transfer Limit Exceeded, close', async () => {
  // A CapsuleCmd announcing 16 MiB of in-capsule data: refused from the header alone.
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      await raw.icreq();
      const pdu = buildCapsuleCmd(S.keepAlive(sqe()), null, raw.link);
      pdu[CH.pdo] = 72;
      pdu.writeUInt32LE(72 + 16 * MiB, CH.plen);
      raw.send(pdu);
      return raw;
    },
    FES.DATA_TRANSFER_LIMIT_EXCEEDED,
    CH.plen,
  );
  // An H2CData carrying more than MAXH2CDATA (4096) bytes in answer to an 8 KiB R2T.
  await fatalCase(
    testConfig({ maxH2CData: 4096 }),
    async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 3, 8192);
      assert.ok(r2t.r2tl <= 8192);
      raw.send(buildH2CData(3, r2t.ttag, r2t.r2to, pattern(r2t.r2tl > 4096 ? r2t.r2tl : 8192, 1), true, raw.link));
      return raw;
    },
    FES.DATA_TRANSFER_LIMIT_EXCEEDED,
  );
});

test('bad input: bad header digest -> C2HTermReq Header Digest Error, close', async () => {
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      await raw.icreq({ hdgst: true });
      assert.equal(raw.link.hdgst, true, 'header digest granted');
      const pdu = buildCapsuleCmd(S.keepAlive(sqe()), null, raw.link);
      pdu[72] ^= 0x5a;
      raw.send(pdu);
      return raw;
    },
    FES.HEADER_DIGEST_ERROR,
    undefined,
    { type: PduType.CapsuleCmd, headerLength: 76 },
  );
});

test('bad input: H2CData for an unknown TTAG -> C2HTermReq Invalid PDU Header Field (FEI 10), close', async () => {
  await fatalCase(
    testConfig(),
    async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 7);
      raw.send(buildH2CData(7, r2t.ttag ^ 0x4321, r2t.r2to, pattern(r2t.r2tl, 2), true, raw.link));
      return raw;
    },
    FES.INVALID_PDU_HEADER_FIELD,
    DATA.ttag,
    { type: PduType.H2CData, headerLength: 24 },
  );
});

test('bad input: H2CData outside its R2T -> C2HTermReq Data Transfer Out of Range, close', async () => {
  // Offset past the requested range.
  await fatalCase(
    testConfig(),
    async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 9);
      raw.send(buildH2CData(9, r2t.ttag, r2t.r2to + r2t.r2tl, pattern(512, 3), true, raw.link));
      return raw;
    },
    FES.DATA_TRANSFER_OUT_OF_RANGE,
    undefined,
    { type: PduType.H2CData, headerLength: 24 },
  );
  // Right offset, but longer than the R2T asked for.
  await fatalCase(
    testConfig(),
    async (t, h) => {
      const raw = await rawIoQueue(t, h, 2);
      const r2t = await startR2TWrite(raw, 10);
      raw.send(buildH2CData(10, r2t.ttag, r2t.r2to, pattern(r2t.r2tl + 512, 3), true, raw.link));
      return raw;
    },
    FES.DATA_TRANSFER_OUT_OF_RANGE,
  );
});

test('bad input: data (a CapsuleCmd) before ICReq -> C2HTermReq PDU Sequence Error, close', async () => {
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      raw.send(buildCapsuleCmd(S.fabricsConnect(sqe(), { qid: 0, queueSize: 32 }), S.connectData({ hostid: Buffer.alloc(16, 1), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN }), { hdgst: false, ddgst: false, cpda: 0 }));
      return raw;
    },
    FES.PDU_SEQUENCE_ERROR,
  );
});

test('bad input: a second ICReq -> C2HTermReq PDU Sequence Error, close', async () => {
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      await raw.icreq();
      raw.send(buildICReq({ hdgst: false, ddgst: false }));
      return raw;
    },
    FES.PDU_SEQUENCE_ERROR,
  );
});

// ---- Data digest errors: the command fails, the connection lives ----

test('bad input: bad data digest -> the command fails with Transient Transport Error, the queue goes on', async () => {
  await withTarget(testConfig(), async (t) => {
    const h = await healthy(t);
    try {
      const raw = await rawIoQueue(t, h, 2, { ddgst: true });
      try {
        assert.equal(raw.link.ddgst, true, 'data digest granted');
        // A good in-capsule write, then one with a wrong data digest.
        const data = pattern(4096, 4);
        raw.capsule(S.readWrite(sqe(), IoOpc.Write, 1, 50, 8), 11, { inCapsule: data });
        const ok = await raw.response();
        assert.equal(ok.cid, 11);
        assert.equal(ok.status, 0, 'the good write succeeds');
        const bad = raw.buildCapsule(S.readWrite(sqe(), IoOpc.Write, 1, 60, 8), 12, { inCapsule: data });
        bad[bad.length - 1] ^= 0xff;
        raw.send(bad);
        const r1 = await raw.response();
        assert.equal(r1.cid, 12);
        assert.equal(r1.status & 0x7ff, S_TRANSIENT, `in-capsule data digest error: status 0x${r1.status.toString(16)}, expected Transient Transport Error`);

        // H2CData with a wrong digest.
        const r2t = await startR2TWrite(raw, 13);
        const h2c = buildH2CData(13, r2t.ttag, r2t.r2to, pattern(r2t.r2tl, 5), true, raw.link);
        h2c[h2c.length - 2] ^= 0x01;
        raw.send(h2c);
        const r2 = await raw.response();
        assert.equal(r2.cid, 13);
        assert.equal(r2.status & 0x7ff, S_TRANSIENT, `H2CData data digest error: status 0x${r2.status.toString(16)}, expected Transient Transport Error`);

        // The connection still works.
        raw.capsule(S.flush(sqe(), 1), 14);
        const f = await raw.response();
        assert.equal(f.cid, 14);
        assert.equal(f.status, 0);
      } finally {
        raw.close();
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

// ---- Connect errors ----

test('bad input: Connect to an unknown subsystem -> Connect Invalid Parameters, IATTR/IPO at SUBNQN', async () => {
  await withTarget(testConfig(), async (t) => {
    const raw = await t.raw();
    try {
      await raw.icreq();
      const cqe = await raw.connect({ qid: 0, queueSize: 32, hostid: Buffer.alloc(16, 2), cntlid: 0xffff, subnqn: 'nqn.2026-11.io.nvmetd:no-such-subsystem', hostnqn: HOSTNQN });
      assert.equal(cqe.status & 0x7ff, status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_PARAMETERS), `status 0x${cqe.status.toString(16)}`);
      assert.equal(cqe.dw0 >>> 16 & 0xff, 1, 'IATTR: the bad field is in the Connect data');
      assert.equal(cqe.dw0 & 0xffff, ConnectData.subnqn, 'IPO: SUBNQN');
    } finally {
      raw.close();
    }
  });
});

test('bad input: Connect from a host not allowed -> Connect Invalid Host', async () => {
  const allowed = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000aa';
  await withTarget(testConfig({ allowAnyHost: false, allowedHosts: [allowed] }), async (t) => {
    const raw = await t.raw();
    try {
      await raw.icreq();
      const cqe = await raw.connect({ qid: 0, queueSize: 32, hostid: Buffer.alloc(16, 3), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN });
      assert.equal(cqe.status & 0x7ff, status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_HOST), `status 0x${cqe.status.toString(16)}`);
    } finally {
      raw.close();
    }
    // The allowed host gets in.
    const c = await Controller.connect(t.opts({ hostnqn: allowed }));
    await assertHealthy(c);
    await c.disconnect();
  });
});

test('bad input: I/O queue Connect with a wrong CNTLID -> Connect Invalid Parameters, IATTR/IPO at CNTLID', async () => {
  await withTarget(testConfig(), async (t) => {
    const h = await healthy(t);
    try {
      const raw = await t.raw();
      try {
        await raw.icreq();
        const cqe = await raw.connect({ qid: 2, queueSize: 32, hostid: h.hostid, cntlid: (h.cntlid + 1) & 0xffff, subnqn: SUBNQN, hostnqn: h.hostnqn });
        assert.equal(cqe.status & 0x7ff, status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_PARAMETERS), `status 0x${cqe.status.toString(16)}`);
        assert.equal(cqe.dw0 >>> 16 & 0xff, 1, 'IATTR: the bad field is in the Connect data');
        assert.equal(cqe.dw0 & 0xffff, ConnectData.cntlid, 'IPO: CNTLID');
      } finally {
        raw.close();
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

// ---- Command errors ----

test('bad input: commands before CC.EN -> Command Sequence Error', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ adminOnly: true }));
    try {
      const id = await c.identify(Cns.Controller);
      assert.equal(id.sct, SCT.GENERIC, id.name);
      assert.equal(id.sc, Generic.COMMAND_SEQUENCE_ERROR, `Identify before CC.EN: ${id.name}`);
      const nq = await c.setFeatures(0x07, 0);
      assert.equal(nq.code, Generic.COMMAND_SEQUENCE_ERROR, `Set Features before CC.EN: ${nq.name}`);
      // Fabrics commands are allowed, and enabling makes the same command work.
      c.cap = await c.propertyGetValue(0x00, true);
      await c.enable();
      const id2 = await c.identify(Cns.Controller);
      assert.ok(id2.ok, `Identify after CC.EN: ${id2.name}`);
    } finally {
      await c.disconnect();
    }
  });
});

test('bad input: out-of-range LBA -> LBA Out of Range', async () => {
  await withTarget(testConfig({ namespaces: [{ size: 1 * MiB }] }), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const blocks = (1 * MiB) / 512;
      const past = await c.read(1, blocks - 4, 8, Buffer.alloc(4096));
      assert.equal(past.sct, SCT.GENERIC, past.name);
      assert.equal(past.sc, Generic.LBA_OUT_OF_RANGE, `read across the end: ${past.name}`);
      const wpast = await c.write(1, blocks, 1, Buffer.alloc(512));
      assert.equal(wpast.code, Generic.LBA_OUT_OF_RANGE, `write past the end: ${wpast.name}`);
      const zpast = await c.writeZeroes(1, blocks - 1, 2);
      assert.equal(zpast.code, Generic.LBA_OUT_OF_RANGE, `write zeroes across the end: ${zpast.name}`);
      const cpast = await c.compare(1, blocks, 1, Buffer.alloc(512));
      assert.equal(cpast.code, Generic.LBA_OUT_OF_RANGE, `compare past the end: ${cpast.name}`);
      const huge = await c.read(1, 2n ** 63n, 1, Buffer.alloc(512));
      assert.equal(huge.code, Generic.LBA_OUT_OF_RANGE, `SLBA 2^63: ${huge.name}`);
      const wrap = await c.read(1, 2n ** 64n - 1n, 2, Buffer.alloc(1024));
      assert.equal(wrap.code, Generic.LBA_OUT_OF_RANGE, `SLBA+NLB wrapping 2^64: ${wrap.name}`);
      const dsm = await c.dsm(1, [{ slba: blocks - 1, nlb: 2 }]);
      assert.equal(dsm.code, Generic.LBA_OUT_OF_RANGE, `DSM range across the end: ${dsm.name}`);
      const last = await c.read(1, blocks - 1, 1, Buffer.alloc(512));
      assert.ok(last.ok, `the last block is in range: ${last.name}`);
    } finally {
      await c.disconnect();
    }
  });
});

test('bad input: NSID 0 and an unknown NSID on I/O -> Invalid Namespace or Format', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      for (const nsid of [0, 2, 0xfffffffe]) {
        const r = await c.read(nsid, 0, 1, Buffer.alloc(512));
        assert.equal(r.sct, SCT.GENERIC, `read NSID ${nsid}: ${r.name}`);
        assert.equal(r.sc, Generic.INVALID_NAMESPACE, `read NSID ${nsid}: ${r.name}`);
        const w = await c.write(nsid, 0, 1, Buffer.alloc(512));
        assert.equal(w.code, Generic.INVALID_NAMESPACE, `write NSID ${nsid}: ${w.name}`);
        const f = await c.flush(nsid);
        if (nsid !== 0xffffffff) assert.equal(f.code, Generic.INVALID_NAMESPACE, `flush NSID ${nsid}: ${f.name}`);
      }
      assert.ok((await c.read(1, 0, 1, Buffer.alloc(512))).ok, 'NSID 1 still works');
    } finally {
      await c.disconnect();
    }
  });
});

test('bad input: unknown opcode on the admin and I/O queues -> Invalid Command Opcode', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      for (const opc of [0x7e, 0xf0, 0x83]) {
        const r = await c.submitIo((s) => S.bare(s, opc, 1));
        assert.equal(r.sct, SCT.GENERIC, `I/O opcode 0x${opc.toString(16)}: ${r.name}`);
        assert.equal(r.sc, Generic.INVALID_OPCODE, `I/O opcode 0x${opc.toString(16)}: ${r.name}`);
        assert.ok(r.dnr, 'DNR set');
      }
      for (const opc of [0x03, 0x7e, 0xc1]) {
        const r = await c.submitAdmin((s) => S.bare(s, opc));
        assert.equal(r.code, Generic.INVALID_OPCODE, `admin opcode 0x${opc.toString(16)}: ${r.name}`);
      }
      assert.ok((await c.keepAlive()).ok, 'admin queue still works');
      assert.ok((await c.flush(1)).ok, 'I/O queue still works');
    } finally {
      await c.disconnect();
    }
  });
});

// ---- Resource abuse ----

test('bad input: a peer that stops reading -> bounded memory (backpressure or close), others unaffected', async () => {
  await withTarget(testConfig({ namespaces: [{ size: 64 * MiB }] }), async (t) => {
    const h = await healthy(t);
    try {
      const raw = await rawIoQueue(t, h, 2, {}, 128);
      try {
        // Make the namespace data real (not a shared zero page) so reads cost the target something.
        const fill = pattern(128 * 1024, 6);
        for (let lba = 0; lba < 64 * 2048; lba += 256) assert.ok((await h.write(1, lba, 256, fill)).ok);
        raw.socket.pause(); // stop reading
        const before = process.memoryUsage();
        // Phase 1: a full queue (127 of 128 entries) of 256 KiB reads (~32 MiB) the peer never picks up.
        for (let cid = 0; cid < 127; cid++) raw.capsule(S.readWrite(sqe(), IoOpc.Read, 1, cid * 512, 512), cid, { transport: 256 * 1024 });
        await new Promise((r) => setTimeout(r, 300));
        await assertHealthy(h);
        // Phase 2: keep sending 8 KiB in-capsule writes (beyond the queue size) up to 96 MiB.
        const data8k = pattern(8192, 7);
        const capsules = Array.from({ length: 64 }, (_, i) => raw.buildCapsule(S.readWrite(sqe(), IoOpc.Write, 1, 4096 + i * 16, 16), 100 + i, { inCapsule: data8k }));
        let sent = 0;
        const budget = 96 * MiB;
        while (sent < budget && !raw.isClosed) {
          for (const c of capsules) {
            raw.send(c);
            sent += c.length;
          }
          if (raw.socket.writableLength > 48 * MiB) break;
          await new Promise((r) => setImmediate(r));
        }
        await new Promise((r) => setTimeout(r, 1000));
        // Either the target stopped reading (our bytes pile up on our side) or it refused the
        // excess and closed. It must not have swallowed everything.
        const stalled = raw.socket.writableLength;
        if (process.env.NVMETD_TEST_VERBOSE) console.log(`stalled ${(stalled / MiB).toFixed(1)} MiB of ${(sent / MiB).toFixed(1)} MiB; closed ${raw.isClosed}`);
        const closed = raw.isClosed || raw.socket.destroyed;
        assert.ok(closed || stalled > 16 * MiB, `target consumed ${(sent - stalled) / MiB} MiB of ${sent / MiB} MiB while the peer did not read`);
        const after = process.memoryUsage();
        const grew = after.rss - before.rss;
        assert.ok(grew < 400 * MiB, `process RSS grew by ${(grew / MiB).toFixed(0)} MiB`);
        // Others keep working while the peer is stuck.
        await assertHealthy(h);
      } finally {
        raw.close();
      }
      await new Promise((r) => setTimeout(r, 200));
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

test('bad input: a peer that connects and says nothing -> closed after the ICReq timeout', async () => {
  await withTarget(testConfig({ icreqTimeout: 1 }), async (t) => {
    const h = await healthy(t);
    try {
      const silent = await t.raw();
      const talker = await t.raw();
      await talker.icreq();
      const start = Date.now();
      const end = await silent.termination(5000);
      const elapsed = Date.now() - start;
      assert.ok(end.closed, 'the silent connection was closed');
      assert.ok(elapsed >= 800, `closed after ${elapsed} ms, not before the 1 s timeout`);
      assert.ok(elapsed < 4000, `closed after ${elapsed} ms`);
      // A connection that did send ICReq is not closed by the ICReq timer.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(talker.isClosed, false, 'the connection that sent ICReq stays open');
      talker.close();
      silent.close();
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});


// ---- Further command errors named in issue 2 (Connect fields, MDTS, SGL length, read-only) ----

test('bad input: I/O queue Connect with a QID beyond the negotiated queues or a bad SQSIZE -> Connect Invalid Parameters in the SQE', async () => {
  await withTarget(testConfig({ maxQueueSize: 128 }), async (t) => {
    const h = await healthy(t); // negotiated 2 I/O queues, qid 1 connected
    try {
      const cases: [string, { qid: number; queueSize: number }, number][] = [
        ['QID beyond the negotiated number of queues', { qid: 3, queueSize: 32 }, 42],
        ['QID already connected', { qid: 1, queueSize: 32 }, 42],
        ['SQSIZE above the port maximum', { qid: 2, queueSize: 1024 }, 44],
        ['SQSIZE 0 (a one-entry queue)', { qid: 2, queueSize: 1 }, 44],
      ];
      for (const [what, p, ipo] of cases) {
        const raw = await t.raw();
        try {
          await raw.icreq();
          const cqe = await raw.connect({ ...p, hostid: h.hostid, cntlid: h.cntlid, subnqn: SUBNQN, hostnqn: h.hostnqn });
          assert.equal(cqe.status & 0x7ff, status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_PARAMETERS), `${what}: status 0x${cqe.status.toString(16)}`);
          assert.equal((cqe.dw0 >>> 16) & 0xff, 0, `${what}: IATTR 0 (field in the SQE)`);
          assert.equal(cqe.dw0 & 0xffff, ipo, `${what}: IPO`);
        } finally {
          raw.close();
        }
      }
      await assertHealthy(h);
    } finally {
      await h.disconnect();
    }
  });
});

test('bad input: a transfer larger than MDTS -> Invalid Field in Command', async () => {
  await withTarget(testConfig({ mdts: 256 * 1024, namespaces: [{ size: 8 * MiB }] }), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      assert.equal(c.id!.mdts, 6, 'Identify MDTS: 256 KiB = 2^6 x 4 KiB pages');
      const ok = await c.read(1, 0, 512, Buffer.alloc(256 * 1024));
      assert.ok(ok.ok, `a read of exactly MDTS: ${ok.name}`);
      const r = await c.read(1, 0, 1024, Buffer.alloc(512 * 1024));
      assert.equal(r.code, Generic.INVALID_FIELD, `read of 2 x MDTS: ${r.name}`);
      const w = await c.write(1, 0, 1024, Buffer.alloc(512 * 1024));
      assert.equal(w.code, Generic.INVALID_FIELD, `write of 2 x MDTS: ${w.name}`);
      assert.ok((await c.flush(1)).ok, 'the queue goes on');
    } finally {
      await c.disconnect();
    }
  });
});

test('bad input: SGL length different from NLB x block size -> Data SGL Length Invalid', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const short = await c.submitIo((s) => S.readWrite(s, IoOpc.Read, 1, 0, 8), { dataIn: Buffer.alloc(2048) });
      assert.equal(short.code, Generic.DATA_SGL_LENGTH_INVALID, `read, SGL shorter than 8 blocks: ${short.name}`);
      const long = await c.submitIo((s) => S.readWrite(s, IoOpc.Write, 1, 0, 1), { dataOut: Buffer.alloc(1024) });
      assert.equal(long.code, Generic.DATA_SGL_LENGTH_INVALID, `write, SGL longer than 1 block: ${long.name}`);
      assert.ok((await c.read(1, 0, 8, Buffer.alloc(4096))).ok, 'the queue goes on');
    } finally {
      await c.disconnect();
    }
  });
});

test('bad input: a write to a read-only namespace -> Namespace is Write Protected', async () => {
  await withTarget(testConfig({ namespaces: [{ nsid: 1 }, { nsid: 2, readOnly: true }] }), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const w = await c.write(2, 0, 1, Buffer.alloc(512, 1));
      assert.equal(w.code, Generic.NS_WRITE_PROTECTED, `write: ${w.name}`);
      const z = await c.writeZeroes(2, 0, 1);
      assert.equal(z.code, Generic.NS_WRITE_PROTECTED, `write zeroes: ${z.name}`);
      const d = await c.dsm(2, [{ slba: 0, nlb: 1 }]);
      assert.equal(d.code, Generic.NS_WRITE_PROTECTED, `deallocate: ${d.name}`);
      assert.ok((await c.read(2, 0, 1, Buffer.alloc(512))).ok, 'reads are fine');
    } finally {
      await c.disconnect();
    }
  });
});

test('bad input: ICReq with an unsupported PFV or HPDA -> C2HTermReq Invalid PDU Header Field at that field', async () => {
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      const ic = buildICReq({ hdgst: false, ddgst: false });
      ic.writeUInt16LE(1, 8);
      raw.send(ic);
      return raw;
    },
    FES.INVALID_PDU_HEADER_FIELD,
    8,
  );
  await fatalCase(
    testConfig(),
    async (t) => {
      const raw = await t.raw();
      raw.send(buildICReq({ hdgst: false, ddgst: false, hpda: 32 }));
      return raw;
    },
    FES.INVALID_PDU_HEADER_FIELD,
    10,
  );
});
