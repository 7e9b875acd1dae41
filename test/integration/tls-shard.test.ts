// TLS I/O queues on I/O worker threads: after an I/O queue's Connect the main thread hands the TCP
// descriptor AND the established TLS session (engine.detach(), adopted by the worker) to a worker,
// with the decrypted bytes it had read but not consumed. Proved by the per-thread statistics (the
// workers hold the queues and executed the commands; the main thread did not), verified data, SHA-256
// and SHA-384 PSKs, commands pipelined behind the Connect in the same TLS flight, and no TLS session
// left in the process once the host is gone (the addon's live-session count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { TargetConfig } from '../../src/config/types.js';
import { formatTlsKey } from '../../src/keys/tls-key.js';
import { Controller } from '../../src/initiator/controller.js';
import { RawConnection } from '../../src/initiator/raw.js';
import { hostTlsPsk } from '../../src/initiator/tls.js';
import * as S from '../../src/initiator/sqe-build.js';
import { TlsSocket } from '../../src/native/tls-socket.js';
import { tlsSessionCounts } from '../../src/native/tls-engine.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { HOSTNQN, MiB, SUBNQN, assertHealthy, pattern, testConfig, withTarget, type Running } from './helpers.js';

const KEY256 = formatTlsKey({ transform: 1, key: crypto.randomBytes(32) });
const KEY384 = formatTlsKey({ transform: 2, key: crypto.randomBytes(48) });

function tlsConfig(workers: number, key: string): TargetConfig {
  const c = testConfig({ workers, namespaces: [{ size: 16 * MiB, blockSize: 512 }] });
  c.ports[0]!.tls = 'required';
  c.hosts = [{ nqn: HOSTNQN, tlsKey: key }];
  return c;
}

/** Waits until the process holds the TLS sessions it held before (`base`), none detached. */
async function sessionsBackTo(base: number): Promise<void> {
  const deadline = Date.now() + 5000;
  let now = tlsSessionCounts();
  while ((now.sessions !== base || now.detached !== 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    now = tlsSessionCounts();
  }
  assert.deepEqual(now, { sessions: base, detached: 0 }, 'every TLS session of the closed queues is freed (on the workers too)');
}

function workerQueues(t: Running): number[] {
  return t.target.stats().workers.map((w) => w.queues.length);
}

for (const [name, key, suite] of [
  ['SHA-256', KEY256, 'TLS_AES_128_GCM_SHA256'],
  ['SHA-384', KEY384, 'TLS_AES_256_GCM_SHA384'],
] as const) {
  test(`TLS on workers (${name} PSK, 2 workers): the 2 I/O queues run on the workers with their session; 1 MiB written and read back; closing frees every session`, async () => {
    const base = tlsSessionCounts().sessions;
    await withTarget(tlsConfig(2, key), async (t) => {
      const c = await Controller.connect(t.opts({ ioQueues: 2, tlsKey: key }));
      try {
        for (const q of [c.admin, c.ioQueue(0), c.ioQueue(1)]) {
          assert.ok(q.socket instanceof TlsSocket);
          assert.equal(q.socket.cipher, suite);
        }
        assert.deepEqual(workerQueues(t), [1, 1], 'round robin: one TLS I/O queue per worker');
        const mainBefore = t.target.stats().main.commands;
        const data = pattern(MiB, name.length);
        // Written on one worker's queue, read back on the other's, then the reverse.
        assert.ok((await c.write(1, 0, data.length / 512, data, { queue: 0 })).ok);
        const back = Buffer.alloc(data.length);
        assert.ok((await c.read(1, 0, back.length / 512, back, { queue: 1 })).ok);
        assert.ok(back.equals(data), 'reads back on worker 1 the 1 MiB written on worker 0');
        const data2 = pattern(MiB, 99);
        assert.ok((await c.write(1, 4096, data2.length / 512, data2, { queue: 1 })).ok);
        const back2 = Buffer.alloc(data2.length);
        assert.ok((await c.read(1, 4096, back2.length / 512, back2, { queue: 0 })).ok);
        assert.ok(back2.equals(data2));
        const st = t.target.stats();
        for (const w of st.workers) assert.ok(w.stats.commands >= 2, `worker ${w.index} executed ${w.stats.commands} commands`);
        assert.equal(st.main.commands, mainBefore, 'the main thread executed none of the I/O');
        await assertHealthy(c);
      } finally {
        await c.disconnect();
      }
      const deadline = Date.now() + 5000;
      while (workerQueues(t).some((n) => n > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(workerQueues(t), [0, 0]);
      await sessionsBackTo(base);
    });
  });
}

test('TLS on a worker: commands pipelined behind the Connect in the same TLS flight (decrypted on the main thread) all execute on the worker, none lost', async () => {
  const base = tlsSessionCounts().sessions;
  await withTarget(tlsConfig(1, KEY256), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1, extraIoQueues: 1, tlsKey: KEY256 }));
    const raw = await RawConnection.openTls(t.host, t.port, hostTlsPsk(KEY256, HOSTNQN, SUBNQN));
    try {
      await raw.icreq();
      const mainBefore = t.target.stats().main.commands;
      const workerBefore = t.target.stats().workers[0]!.stats.commands;
      const N = 48;
      const BLOCKS = 8;
      const p = { qid: 2, queueSize: 64, hostid: c.hostid, cntlid: c.cntlid, subnqn: SUBNQN, hostnqn: c.hostnqn };
      const parts = [raw.buildCapsule(S.fabricsConnect(Buffer.alloc(64), p), 0, { inCapsule: S.connectData(p) })];
      for (let i = 1; i <= N; i++) {
        parts.push(raw.buildCapsule(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 1000 + i * BLOCKS, BLOCKS), i, { inCapsule: pattern(BLOCKS * 512, 500 + i) }));
      }
      // One write: one TLS flight (about 200 KiB, a dozen records) behind the Connect.
      raw.send(Buffer.concat(parts));
      const connect = await raw.response();
      assert.equal(connect.status, 0, `Connect status 0x${connect.status.toString(16)}`);
      const done = new Set<number>();
      for (let i = 0; i < N; i++) {
        const r = await raw.response();
        assert.equal(r.status, 0, `cid ${r.cid}: status 0x${r.status.toString(16)}`);
        done.add(r.cid);
      }
      assert.equal(done.size, N, 'every pipelined command completed once');
      const st = t.target.stats();
      assert.equal(st.workers[0]!.queues.length, 2, 'the raw TLS queue is on the worker');
      assert.ok(st.workers[0]!.stats.commands - workerBefore >= N, `the worker executed the ${N} writes`);
      assert.ok(st.main.commands - mainBefore <= 1, 'the main thread executed the Connect at most');
      for (let i = 1; i <= N; i++) {
        const back = Buffer.alloc(BLOCKS * 512);
        assert.ok((await c.read(1, 1000 + i * BLOCKS, BLOCKS, back, { queue: 0 })).ok);
        assert.ok(back.equals(pattern(BLOCKS * 512, 500 + i)), `write ${i} landed`);
      }
      // The moved session still works both ways after the handoff.
      raw.capsule(S.flush(Buffer.alloc(64), 1), N + 1);
      assert.equal((await raw.response()).status, 0);
    } finally {
      raw.close();
      await c.disconnect();
    }
    await sessionsBackTo(base);
  });
});
