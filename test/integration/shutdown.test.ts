// Stopping the target (SIGTERM runs Target.close()): new commands stop, in-flight commands complete,
// outstanding Asynchronous Event Requests are aborted, and every connection ends with a FIN after
// its last completion. With and without I/O worker threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Controller } from '../../src/initiator/controller.js';
import type { CommandResult } from '../../src/initiator/result.js';
import { Generic, SCT } from '../../src/spec/status.js';
import { runTarget, testConfig } from './helpers.js';

/** Records how a host-side socket ended: 'end' is a FIN from the target, 'error' e.g. a RST. */
function watch(socket: Socket): { fin: boolean; error: string | null } {
  const w = { fin: false, error: null as string | null };
  socket.on('end', () => (w.fin = true));
  socket.on('error', (e) => (w.error ??= e.message));
  return w;
}

type Outcome = { result: CommandResult } | { failed: string };
function outcome(p: Promise<CommandResult>): Promise<Outcome> {
  return p.then(
    (result) => ({ result }),
    (e: unknown) => ({ failed: (e as Error).message }),
  );
}

for (const workers of [0, 2]) {
  test(`shutdown: an idle target with a connected controller holding AERs closes at once; the AERs are aborted (workers=${workers})`, async () => {
    const t = await runTarget(testConfig({ workers }));
    const c = await Controller.connect(t.opts({ ioQueues: 2, kato: 5000 }));
    try {
      assert.ok((await c.read(1, 0, 1, Buffer.alloc(512))).ok);
      const adminEnd = watch(c.admin.socket);
      const ioEnd = c.io.map((q) => watch(q.socket));
      const aers = [outcome(c.asyncEventRequest()), outcome(c.asyncEventRequest())];
      assert.ok((await c.keepAlive()).ok, 'the AERs are held, the admin queue goes on');
      const start = Date.now();
      await t.close();
      const took = Date.now() - start;
      assert.ok(took < 3000, `closing an idle target took ${took} ms`);
      for (const a of await Promise.all(aers)) {
        assert.ok('result' in a, `the AER got a completion (not: ${'failed' in a ? a.failed : ''})`);
        assert.equal(a.result.sct, SCT.GENERIC, a.result.name);
        assert.equal(a.result.sc, Generic.ABORTED_SQ_DELETION, `outstanding AER at shutdown: ${a.result.name}`);
      }
      await Promise.all([c.admin.closed, ...c.io.map((q) => q.closed)]);
      assert.ok(adminEnd.fin && adminEnd.error === null, `admin connection: FIN ${adminEnd.fin}, error ${adminEnd.error}`);
      for (const w of ioEnd) assert.ok(w.fin && w.error === null, `I/O connection: FIN ${w.fin}, error ${w.error}`);
    } finally {
      c.destroy();
      await t.close();
    }
  });

  test(`shutdown: under load every in-flight command completes before its connection ends with a FIN; later commands are not executed (workers=${workers})`, async () => {
    const cfg = testConfig({ workers, namespaces: [{ size: 16 * 1024 * 1024 }] });
    const ns = cfg.subsystems[0]!.namespaces[0]!;
    if (ns.backing.type === 'ram') ns.backing.delayUs = 300_000;
    const t = await runTarget(cfg);
    const c = await Controller.connect(t.opts({ ioQueues: 2, queueSize: 32, kato: 5000 }));
    try {
      const ends = [c.admin, ...c.io].map((q) => watch(q.socket));
      const aer = outcome(c.asyncEventRequest());
      const inflight: Promise<Outcome>[] = [];
      for (let q = 0; q < 2; q++) {
        for (let i = 0; i < 16; i++) {
          const data = Buffer.alloc(4096, q * 16 + i + 1);
          inflight.push(outcome(i % 2 ? c.write(1, (q * 16 + i) * 8, 8, data, { queue: q }) : c.read(1, (q * 16 + i) * 8, 8, Buffer.alloc(4096), { queue: q })));
        }
      }
      // Every command has reached the target and waits in the (slow) backend.
      await new Promise((r) => setTimeout(r, 100));
      const start = Date.now();
      const closing = t.close();
      await new Promise((r) => setTimeout(r, 50));
      // Sent while the target drains: not executed (the host re-issues them after reconnecting).
      const late = [0, 1].map((q) => outcome(c.write(1, 4096, 8, Buffer.alloc(4096, 0xee), { queue: q })));
      await closing;
      const took = Date.now() - start;
      const results = await Promise.all(inflight);
      results.forEach((o, i) => assert.ok('result' in o && o.result.ok, `in-flight command ${i}: ${'result' in o ? o.result.name : o.failed}`));
      for (const o of await Promise.all(late)) assert.ok('failed' in o, `a command sent during the drain was executed: ${'result' in o ? o.result.name : ''}`);
      const a = await aer;
      assert.ok('result' in a && a.result.sc === Generic.ABORTED_SQ_DELETION, 'the outstanding AER was aborted');
      assert.ok(took < 3000, `draining 300 ms of in-flight I/O took ${took} ms`);
      await Promise.all([c.admin.closed, ...c.io.map((q) => q.closed)]);
      ends.forEach((w, i) => assert.ok(w.fin && w.error === null, `connection ${i}: FIN ${w.fin}, error ${w.error}`));
    } finally {
      c.destroy();
      await t.close();
    }
  });
}
