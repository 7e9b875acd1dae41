// A controller torn down by its keep-alive timeout says how many commands were in flight on its
// queues (they never get a completion): counted on the main thread, and by the worker owning a
// queue when the I/O queues are on workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startTarget } from '../../src/server/target.js';
import { Controller } from '../../src/initiator/controller.js';
import { HOSTNQN, SUBNQN, testConfig } from './helpers.js';

interface Entry {
  msg: string;
  inflight?: number;
  queuesOnWorkers?: number;
  dropped?: number;
}

for (const workers of [0, 2]) {
  test(`keep-alive teardown logs the in-flight commands it drops (workers=${workers})`, async () => {
    const entries: Entry[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb): void {
        for (const line of chunk.toString().split('\n')) if (line) entries.push(JSON.parse(line) as Entry);
        cb();
      },
    });
    const cfg = testConfig({ workers, namespaces: [{ size: 16 * 1024 * 1024 }] });
    const ns = cfg.subsystems[0]!.namespaces[0]!;
    // Commands stay in the backend for 2.5 s: longer than the keep-alive timeout below.
    if (ns.backing.type === 'ram') ns.backing.delayUs = 2_500_000;
    const t = await startTarget(cfg, pino({ level: 'info' }, sink));
    const port = t.addresses[0]!.port;
    const c = await Controller.connect({ host: '127.0.0.1', port, subnqn: SUBNQN, hostnqn: HOSTNQN, ioQueues: 2, kato: 500, sendKeepAlives: false });
    try {
      const pending = [0, 0, 0, 1, 1].map((q, i) => c.read(1, i * 8, 8, Buffer.alloc(4096), { queue: q }).catch(() => null));
      await c.admin.closed;
      // Queues on workers report when they have closed.
      const until = Date.now() + 2000;
      const droppedOnWorkers = (): number => entries.reduce((n, e) => n + (e.dropped ?? 0), 0);
      while (workers > 0 && droppedOnWorkers() < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const removed = entries.find((e) => e.msg.startsWith('controller removed'));
      assert.ok(removed, 'the teardown is logged');
      if (workers === 0) {
        assert.equal(removed.inflight, 5, `teardown log: ${removed.msg}`);
        assert.match(removed.msg, /5 in-flight command\(s\) dropped/);
      } else {
        assert.equal(removed.queuesOnWorkers, 2, `teardown log: ${removed.msg}`);
        assert.equal(droppedOnWorkers(), 5, `dropped as reported by the workers: ${entries.filter((e) => e.dropped !== undefined).map((e) => e.msg).join('; ')}`);
      }
      await Promise.all(pending);
    } finally {
      c.destroy();
      await t.close();
    }
  });
}
