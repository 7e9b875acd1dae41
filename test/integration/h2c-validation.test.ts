// H2CData PDUs are validated the same way whatever their length (finding: an H2CData with no data,
// PLEN == HLEN == 24, skipped every slot check). Each case is followed by a check that a healthy
// controller on the same target still works and that no block holds bytes its writer never sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import type { RawConnection } from '../../src/initiator/raw.js';
import { buildH2CDataHeader } from '../../src/initiator/pdu-build.js';
import { CH, DATA, FES, PduType } from '../../src/spec/pdu.js';
import { assertHealthy, expectTermination, pattern, rawIoQueue, startR2TWrite, testConfig, withTarget, type Running } from './helpers.js';

/** An H2CData header with no data at all: PLEN == HLEN == 24, whatever DATAL claims. */
function emptyH2C(raw: RawConnection, cccid: number, ttag: number, datao: number, datal: number): Buffer {
  const b = buildH2CDataHeader(cccid, ttag, datao, datal, true, { ...raw.link, hdgst: false, ddgst: false });
  b[CH.pdo] = 0;
  b.writeUInt32LE(24, CH.plen);
  return b;
}

async function setup(t: Running): Promise<{ h: Controller; raw: RawConnection }> {
  const h = await Controller.connect(t.opts({ extraIoQueues: 1 }));
  const raw = await rawIoQueue(t, h, 2);
  return { h, raw };
}

test('H2CData without data for a pending R2T: terminated, and the write never runs with stale pooled bytes', async () => {
  await withTarget(testConfig(), async (t) => {
    const { h, raw } = await setup(t);
    try {
      // Another command's bytes pass through the pool (the victim's write), then return to it.
      const secret = pattern(4096, 0x5ec7e7);
      const w = await h.write(1, 1000, 8, secret);
      assert.ok(w.ok, 'victim write');
      // The attacker's R2T write to LBA 0 gets a pooled buffer, then "completes" with no data.
      const r2t = await startR2TWrite(raw, 5, 4096);
      raw.send(emptyH2C(raw, 5, r2t.ttag, 0, 4096));
      await expectTermination(raw, FES.INVALID_PDU_HEADER_FIELD, DATA.length, 5000, { type: PduType.H2CData, headerLength: 24 });
      const back = Buffer.alloc(4096);
      const r = await h.read(1, 0, 8, back);
      assert.ok(r.ok, 'read back LBA 0');
      assert.ok(!back.equals(secret), 'LBA 0 must not hold the bytes another command wrote');
      assert.ok(back.equals(Buffer.alloc(4096)), 'LBA 0 was never written');
      await assertHealthy(h);
    } finally {
      raw.close();
      await h.disconnect();
    }
  });
});

test('H2CData without data aimed at a free slot: terminated, no completion for an old CID', async () => {
  await withTarget(testConfig(), async (t) => {
    const { h, raw } = await setup(t);
    try {
      // Slot 0 runs one R2T write to completion and is free again.
      const r2t = await startR2TWrite(raw, 9, 4096);
      const { buildH2CData } = await import('../../src/initiator/pdu-build.js');
      raw.send(buildH2CData(9, r2t.ttag, 0, pattern(4096, 1), true, raw.link));
      const cqe = await raw.response();
      assert.equal(cqe.cid, 9);
      assert.equal(cqe.status, 0);
      // The same TTAG again, with no data: the slot is free, nothing may run or complete.
      raw.send(emptyH2C(raw, 9, r2t.ttag, 0, 4096));
      const term = await raw.termination(5000);
      assert.ok(term.termReq, 'C2HTermReq expected');
      assert.equal(term.termReq.fes, FES.INVALID_PDU_HEADER_FIELD);
      assert.equal(term.termReq.fei, DATA.ttag);
      assert.deepEqual(
        term.other.filter((e) => e.kind === 'pdu' && e.hdr[CH.pduType] === PduType.CapsuleResp),
        [],
        'no completion for a command that is not outstanding',
      );
      await assertHealthy(h);
    } finally {
      raw.close();
      await h.disconnect();
    }
  });
});

test('H2CData without data and a TTAG beyond the slot table: C2HTermReq (not an internal error)', async () => {
  await withTarget(testConfig(), async (t) => {
    const { h, raw } = await setup(t);
    try {
      raw.send(emptyH2C(raw, 1, 0x4321, 0, 4096));
      await expectTermination(raw, FES.INVALID_PDU_HEADER_FIELD, DATA.ttag, 5000, { type: PduType.H2CData, headerLength: 24 });
      await assertHealthy(h);
    } finally {
      raw.close();
      await h.disconnect();
    }
  });
});

test('H2CData with DATAL 0 for a pending R2T: terminated (a transfer must make progress)', async () => {
  await withTarget(testConfig(), async (t) => {
    const { h, raw } = await setup(t);
    try {
      const r2t = await startR2TWrite(raw, 6, 4096);
      raw.send(emptyH2C(raw, 6, r2t.ttag, 0, 0));
      await expectTermination(raw, FES.INVALID_PDU_HEADER_FIELD, DATA.length, 5000, { type: PduType.H2CData, headerLength: 24 });
      await assertHealthy(h);
    } finally {
      raw.close();
      await h.disconnect();
    }
  });
});
