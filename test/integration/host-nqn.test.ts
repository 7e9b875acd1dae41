// Host NQN admission: an empty host NQN (what some initiators send by default) is admitted where any
// host is allowed, logged once per subsystem, and refused with Connect Invalid Host under an allow list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Controller } from '../../src/initiator/controller.js';
import { startTarget } from '../../src/server/target.js';
import { CmdSpecific, SCT, status } from '../../src/spec/status.js';
import { SUBNQN, assertHealthy, testConfig, withTarget } from './helpers.js';

/** A logger whose JSON lines are kept in `lines`. */
function capturingLogger(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

test('host NQN: an empty host NQN connects (admin and I/O queues) where any host is allowed, logged once per subsystem', async () => {
  const { log, lines } = capturingLogger();
  const target = await startTarget(testConfig({ allowAnyHost: true }), log);
  try {
    const a = target.addresses[0]!;
    for (let i = 0; i < 2; i++) {
      const c = await Controller.connect({ host: a.address, port: a.port, subnqn: SUBNQN, hostnqn: '', ioQueues: 2, commandTimeoutMs: 10000 });
      try {
        assert.equal(c.hostnqn, '');
        await assertHealthy(c);
      } finally {
        await c.disconnect();
      }
    }
    const admitted = lines.filter((l) => /empty host NQN admitted/.test(l.msg));
    assert.equal(admitted.length, 1, `one line for two empty-host-NQN controllers, got ${admitted.length}`);
    assert.ok(admitted[0]!.level >= 30, 'info or warn');
  } finally {
    await target.close();
  }
});

test('host NQN: an empty host NQN is refused with Connect Invalid Host where an allow list applies', async () => {
  const allowed = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000aa';
  await withTarget(testConfig({ allowAnyHost: false, allowedHosts: [allowed] }), async (t) => {
    const raw = await t.raw();
    try {
      await raw.icreq();
      const cqe = await raw.connect({ qid: 0, queueSize: 32, hostid: Buffer.alloc(16, 3), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: '' });
      assert.equal(cqe.status & 0x7ff, status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_HOST), `status 0x${cqe.status.toString(16)}`);
    } finally {
      raw.close();
    }
  });
});
