// Transfer sizes a host cannot use to make the target allocate without bound: MDTS applies on the
// admin queue too, and the connection goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/initiator/sqe-build.js';
import { Generic, SCT, status } from '../../src/spec/status.js';
import { PduType } from '../../src/spec/pdu.js';
import { parseCqe } from '../../src/initiator/pdu-build.js';
import { HOSTNQN, SUBNQN, testConfig, withTarget } from './helpers.js';

test('limits: admin commands asking for multi-GiB transfers fail with Invalid Field; the queue goes on', async () => {
  await withTarget(testConfig(), async (t) => {
    const raw = await t.raw();
    try {
      await raw.icreq();
      const c = await raw.connect({ qid: 0, queueSize: 32, hostid: Buffer.alloc(16, 3), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN });
      assert.equal(c.status, 0);
      raw.capsule(S.propertySet(Buffer.alloc(64), 0x14, 1 | (6 << 16) | (4 << 20)), 1);
      assert.equal((await raw.response()).status, 0);
      // Set Features with 4 GiB - 1 of host-to-controller data (would need an R2T and a buffer).
      raw.capsule(S.setFeatures(Buffer.alloc(64), 0x0e, 0), 2, { transport: 0xffffffff });
      const w = await raw.response();
      assert.equal(w.status & 0x7ff, status(SCT.GENERIC, Generic.INVALID_FIELD), `H2C: status 0x${w.status.toString(16)}`);
      // Get Log Page asking for 1 GiB back.
      raw.capsule(S.getLogPage(Buffer.alloc(64), 0x02, 1 << 30), 3, { transport: 1 << 30 });
      const r = await raw.response();
      assert.equal(r.status & 0x7ff, status(SCT.GENERIC, Generic.INVALID_FIELD), `C2H: status 0x${r.status.toString(16)}`);
      // The queue still works: Identify answers with its data, then the completion.
      raw.capsule(S.identify(Buffer.alloc(64), 1), 4, { transport: 4096 });
      let completed = false;
      for (let i = 0; i < 4 && !completed; i++) {
        const e = await raw.next(5000);
        assert.equal(e.kind, 'pdu', 'the connection stays up');
        if (e.kind === 'pdu' && e.type === PduType.CapsuleResp) {
          assert.equal(parseCqe(e.hdr).status, 0);
          completed = true;
        }
      }
      assert.ok(completed, 'Identify completed after the refused transfers');
    } finally {
      raw.close();
    }
  });
});
