// In-band authentication (DH-HMAC-CHAP) end to end: the target with hosts[].dhchap against the
// project's initiator (its host side is written separately from the target's, src/initiator/auth.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { HostDhchapConfig, TargetConfig } from '../../src/config/types.js';
import { formatDhchapKey } from '../../src/keys/dhchap-key.js';
import { AuthFailure } from '../../src/core/auth/messages.js';
import { S_AUTH_REQUIRED } from '../../src/core/auth/command.js';
import { AuthenticationError, CONNECT_ATR, authenticateQueue } from '../../src/initiator/auth.js';
import { Controller } from '../../src/initiator/controller.js';
import type { HostQueue } from '../../src/initiator/queue.js';
import { NvmeError } from '../../src/initiator/result.js';
import * as S from '../../src/initiator/sqe-build.js';
import { Prop } from '../../src/spec/properties.js';
import { startTarget } from '../../src/server/target.js';
import { HOSTNQN, SUBNQN, assertHealthy, runTarget, testConfig, withTarget, type Running } from './helpers.js';

const HOST_KEY = formatDhchapKey({ transform: 1, key: crypto.randomBytes(32) });
const CTRL_KEY = formatDhchapKey({ transform: 3, key: crypto.randomBytes(64) });
const WRONG_KEY = formatDhchapKey({ transform: 1, key: crypto.randomBytes(32) });

function authConfig(dhchap: Partial<HostDhchapConfig> = {}, o: { workers?: number } = {}): TargetConfig {
  const c = testConfig(o.workers !== undefined ? { workers: o.workers } : {});
  c.hosts = [{
    nqn: HOSTNQN,
    dhchap: {
      key: HOST_KEY,
      ctrlKey: CTRL_KEY,
      hashes: ['sha256', 'sha384', 'sha512'],
      dhgroups: ['ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192', 'null'],
      ...dhchap,
    },
  }];
  return c;
}

function controllers(t: Running): number {
  return t.target.ctx.subsystems.get(SUBNQN)!.controllers.size;
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An admin queue connected (not authenticated) by hand; returns it with the Connect's DW0. */
async function adminQueue(t: Running, kato = 0): Promise<{ q: HostQueue; dw0: number }> {
  const o = t.opts();
  const q = await Controller.openQueue(o, 0, 32);
  const r = await Controller.fabricsConnect(q, { qid: 0, queueSize: 32, kato, hostid: crypto.randomBytes(16), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN });
  assert.ok(r.ok, `admin Connect: ${r.name}`);
  return { q, dw0: r.dw0 };
}

function propertyGet(q: HostQueue, offset: number) {
  return q.submit((sqe) => S.propertyGet(sqe, offset, false));
}

test('auth: unidirectional, NULL group, SHA-256: every queue authenticates, then I/O', async () => {
  await withTarget(authConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 2, dhchap: { key: HOST_KEY, hashes: ['sha256'], dhgroups: ['null'] } }));
    try {
      assert.deepEqual([...c.authRequired].sort(), [0, 1, 2], 'the admin and both I/O queue Connects answered ATR');
      await assertHealthy(c);
      await c.ioQueue(1).submit((sqe) => S.flush(sqe, 1)).then((r) => assert.ok(r.ok, r.name));
    } finally {
      await c.disconnect();
    }
  });
});

test('auth: bidirectional, ffdhe2048, SHA-512: the controller proves the controller secret too', async () => {
  await withTarget(authConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 2, dhchap: { key: HOST_KEY, ctrlKey: CTRL_KEY, hashes: ['sha512'], dhgroups: ['ffdhe2048'] } }));
    try {
      await assertHealthy(c);
    } finally {
      await c.disconnect();
    }
  });
});

test('auth: the target offers only what the config lists (hash and group mismatch refused with their reasons)', async () => {
  await withTarget(authConfig({ hashes: ['sha384'], dhgroups: ['ffdhe3072'] }), async (t) => {
    const ok = await Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: HOST_KEY, hashes: ['sha256', 'sha384'], dhgroups: ['null', 'ffdhe3072'] } }));
    await assertHealthy(ok);
    await ok.disconnect();
    for (const [dhchap, explanation] of [
      [{ key: HOST_KEY, hashes: ['sha256' as const] }, AuthFailure.HASH_UNUSABLE],
      [{ key: HOST_KEY, dhgroups: ['null' as const] }, AuthFailure.DHGROUP_UNUSABLE],
    ] as const) {
      await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, dhchap })), (e: unknown) => e instanceof AuthenticationError && e.byController && e.explanation === explanation);
    }
    await until('refused controllers gone', () => controllers(t) === 0);
  });
});

test('auth: a wrong key is refused with AUTH_Failure1 (authentication failed), the controller is torn down, one log line without the secret', async () => {
  const lines: { level: number; msg: string }[] = [];
  const text: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text.push(chunk.toString('utf8'));
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  const target = await startTarget(authConfig(), pino({ level: 'info' }, sink));
  try {
    const a = target.addresses[0]!;
    const o = { host: a.address, port: a.port, subnqn: SUBNQN, hostnqn: HOSTNQN, commandTimeoutMs: 10000 };
    const q = await Controller.openQueue(o, 0, 32);
    const r = await Controller.fabricsConnect(q, { qid: 0, queueSize: 32, hostid: crypto.randomBytes(16), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN });
    assert.ok(r.ok && (r.dw0 & CONNECT_ATR) !== 0, 'ATR');
    await assert.rejects(authenticateQueue(q, { key: WRONG_KEY }, HOSTNQN, SUBNQN), (e: unknown) => e instanceof AuthenticationError && e.byController && e.explanation === AuthFailure.FAILED);
    await until('the controller closes the admin queue', () => q.isClosed);
    assert.equal(target.ctx.subsystems.get(SUBNQN)!.controllers.size, 0, 'controller torn down');
    const failed = lines.filter((l) => /authentication failed|host response does not match/.test(l.msg));
    assert.equal(failed.length, 1, `one line: ${JSON.stringify(failed)}`);
    assert.match(failed[0]!.msg, /does not match.*controller \d+ torn down/);
    const all = text.join('');
    for (const k of [HOST_KEY, CTRL_KEY, WRONG_KEY]) assert.ok(!all.includes(k.slice(10, 40)), 'no secret in the logs');
    // A wrong controller key (bidirectional): the host refuses the controller with AUTH_Failure2.
    await assert.rejects(
      Controller.connect({ ...o, ioQueues: 1, dhchap: { key: HOST_KEY, ctrlKey: WRONG_KEY } }),
      (e: unknown) => e instanceof AuthenticationError && !e.byController,
    );
  } finally {
    await target.close();
  }
});

test('auth: without a key nothing runs before authentication (Authentication Required), then it does', async () => {
  await withTarget(authConfig(), async (t) => {
    // Controller.connect without a secret: its first Property Get is refused.
    await assert.rejects(Controller.connect(t.opts({ ioQueues: 1 })), (e: unknown) => e instanceof NvmeError && e.result.code === (S_AUTH_REQUIRED & 0x7ff) && e.result.dnr);
    const { q, dw0 } = await adminQueue(t);
    try {
      assert.ok((dw0 & CONNECT_ATR) !== 0, 'ATR set');
      assert.equal(dw0 & (1 << 18), 0, 'never ASCR');
      for (const build of [(sqe: Buffer) => S.propertyGet(sqe, Prop.CAP, true), (sqe: Buffer) => S.keepAlive(sqe), (sqe: Buffer) => S.identify(sqe, 1)]) {
        const r = await q.submit(build, { dataIn: Buffer.alloc(4096) });
        assert.equal(r.code, S_AUTH_REQUIRED & 0x7ff, r.name);
      }
      await authenticateQueue(q, { key: HOST_KEY }, HOSTNQN, SUBNQN);
      const r = await propertyGet(q, Prop.VS);
      assert.ok(r.ok, r.name);
    } finally {
      q.destroy();
    }
  });
});

test('auth: I/O queues authenticate too: an I/O queue that did not is refused, then authenticates and does I/O', async () => {
  await withTarget(authConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1, extraIoQueues: 1, dhchap: { key: HOST_KEY } }));
    const q = await Controller.openQueue(c.options, 2, 32);
    try {
      const cr = await Controller.fabricsConnect(q, { qid: 2, queueSize: 32, hostid: c.hostid, cntlid: c.cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN });
      assert.ok(cr.ok && (cr.dw0 & CONNECT_ATR) !== 0 && (cr.dw0 & 0xffff) === c.cntlid, 'I/O Connect: cntlid | ATR');
      const buf = Buffer.alloc(512);
      const before = await q.submit((sqe) => S.readWrite(sqe, 0x02, 1, 0, 1), { dataIn: buf });
      assert.equal(before.code, S_AUTH_REQUIRED & 0x7ff, before.name);
      await authenticateQueue(q, { key: HOST_KEY, dhgroups: ['ffdhe2048'] }, HOSTNQN, SUBNQN);
      const after = await q.submit((sqe) => S.readWrite(sqe, 0x02, 1, 0, 1), { dataIn: buf });
      assert.ok(after.ok, after.name);
      await assertHealthy(c);
    } finally {
      q.destroy();
      await c.disconnect();
    }
  });
});

test('auth: with workers: 1, I/O queues move to the worker once authenticated, and re-authenticate there', async () => {
  const t = await runTarget(authConfig({}, { workers: 1 }));
  try {
    const c = await Controller.connect(t.opts({ ioQueues: 2, dhchap: { key: HOST_KEY, ctrlKey: CTRL_KEY, dhgroups: ['ffdhe2048'] } }));
    try {
      await until('both I/O queues on the worker', () => t.target.stats().workers.reduce((n, w) => n + w.queues.length, 0) === 2);
      await assertHealthy(c);
      for (let i = 0; i < 2; i++) assert.ok((await c.flush(1, { queue: i })).ok);
      assert.ok(t.target.stats().workers[0]!.stats.commands >= 4, 'the worker served the I/O');
      // Re-authentication of queues that live on the worker (Linux does it on every queue when its secret changes).
      await c.authenticate(1);
      await c.authenticate(2, { key: HOST_KEY, dhgroups: ['null'], hashes: ['sha384'] });
      await assertHealthy(c);
      await assert.rejects(c.authenticate(1, { key: WRONG_KEY }), (e: unknown) => e instanceof AuthenticationError && e.byController && e.explanation === AuthFailure.FAILED);
      await until('the I/O queue that failed is closed', () => c.io[0]!.isClosed);
      assert.ok((await c.flush(1, { queue: 1 })).ok, 'the other I/O queue still works');
      assert.ok((await c.keepAlive()).ok, 'the admin queue still works');
    } finally {
      await c.disconnect();
    }
  } finally {
    await t.close();
  }
});

test('auth: re-authentication on live queues keeps them usable; a failed one tears the controller down', async () => {
  await withTarget(authConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: HOST_KEY, dhgroups: ['null'] } }));
    try {
      await c.authenticate(0);
      await c.authenticate(1, { key: HOST_KEY, ctrlKey: CTRL_KEY, dhgroups: ['ffdhe2048'] });
      await assertHealthy(c);
      await assert.rejects(c.authenticate(0, { key: WRONG_KEY }), (e: unknown) => e instanceof AuthenticationError && e.explanation === AuthFailure.FAILED);
      await until('controller torn down', () => controllers(t) === 0 && c.admin.isClosed && c.io[0]!.isClosed);
    } finally {
      c.destroy();
    }
  });
});

test('auth: an I/O queue that does not authenticate within KATO is closed; its controller stays', async () => {
  await withTarget(authConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1, extraIoQueues: 1, kato: 1000, dhchap: { key: HOST_KEY, dhgroups: ['null'] } }));
    const q = await Controller.openQueue(c.options, 2, 32);
    try {
      const cr = await Controller.fabricsConnect(q, { qid: 2, queueSize: 32, hostid: c.hostid, cntlid: c.cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN });
      assert.ok(cr.ok && (cr.dw0 & CONNECT_ATR) !== 0);
      const t0 = Date.now();
      await until('the silent I/O queue is closed', () => q.isClosed, 4000);
      assert.ok(Date.now() - t0 >= 800, `closed after ${Date.now() - t0} ms, KATO is 1000`);
      assert.equal(controllers(t), 1, 'the controller stays');
      await assertHealthy(c);
    } finally {
      q.destroy();
      await c.disconnect();
    }
  });
});
