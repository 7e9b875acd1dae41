// In-band authentication in the fabrics layer, driven through the core's one entry point: Connect
// answers ATR for a host with a policy (not on discovery, not for other hosts), the gate (one log line
// per queue), a whole transaction, failure (the queue ends only after AUTH_Failure1 went out), the
// timeout, and re-authentication keeping the queue usable.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { TargetContext } from '../../../src/core/context.js';
import { execute } from '../../../src/core/dispatch.js';
import { AUTH_TIMEOUT_NO_KATO_MS } from '../../../src/core/authentication.js';
import { CONNECT_AUTHREQ_ASCR, CONNECT_AUTHREQ_ATR, S_AUTH_REQUIRED } from '../../../src/core/auth/command.js';
import { formatDhchapKey } from '../../../src/keys/dhchap-key.js';
import { AuthFailure } from '../../../src/core/auth/messages.js';
import { FabricsSqe, FabricsType } from '../../../src/spec/opcodes.js';
import { S_SEQUENCE_ERROR } from '../../../src/spec/status.js';
import { Subsystem } from '../../../src/core/subsystem.js';
import type { Controller } from '../../../src/core/controller.js';
import { RefHost, failure1Explanation } from '../auth-host.js';
import { FakeCommand, FakeQueue, HOSTNQN, SUBNQN, connectCommand, makeConfig } from './fakes.js';

const SECRET = crypto.randomBytes(32);
const KEY = formatDhchapKey({ transform: 0, key: SECRET });
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555';

function setup() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  const config = makeConfig({ hosts: [{ nqn: HOSTNQN, dhchap: { key: KEY, hash: 'sha256', dhgroup: 'null' } }] });
  const ctx = new TargetContext(config, pino({ level: 'debug' }, sink));
  for (const sc of config.subsystems) ctx.subsystems.set(sc.nqn, new Subsystem<Controller>(sc));
  return { ctx, lines };
}

function run(ctx: TargetContext, q: FakeQueue, build: (c: FakeCommand) => void, dataLen = 0): FakeCommand {
  const c = new FakeCommand(q, dataLen);
  build(c);
  execute(c, ctx);
  return c;
}

function authCmd(ctx: TargetContext, q: FakeQueue, fctype: 5 | 6, data: Uint8Array | null, al = 4096): FakeCommand {
  const len = data ? data.length : al;
  return run(ctx, q, (c) => {
    c.sqe[0] = 0x7f;
    c.sqe[FabricsSqe.fctype] = fctype;
    c.sqe[41] = 1;
    c.sqe[42] = 1;
    c.sqe[43] = 0xe9;
    c.sqe.writeUInt32LE(len, 44);
    c.inData = data;
  }, len);
}

function propertyGet(ctx: TargetContext, q: FakeQueue): FakeCommand {
  return run(ctx, q, (c) => {
    c.sqe[0] = 0x7f;
    c.sqe[FabricsSqe.fctype] = FabricsType.PropertyGet;
    c.sqe.writeUInt32LE(0x08, FabricsSqe.propOffset); // VS
  });
}

function connect(ctx: TargetContext, o: Parameters<typeof connectCommand>[1] = {}): { q: FakeQueue; c: FakeCommand } {
  const q = new FakeQueue(ctx.config.ports[0]!);
  const c = connectCommand(q, o);
  execute(c, ctx);
  assert.equal(c.status, 0, `connect status 0x${c.status.toString(16)}`);
  return { q, c };
}

function host(secret = SECRET, tid = 7): RefHost {
  return new RefHost({ hostnqn: HOSTNQN, subnqn: SUBNQN, hostSecret: secret, hostTransform: 0, hashes: [1], dhgroups: [0], tid });
}

/** Runs a whole transaction on q; returns the Success1 / Failure1 the host received. */
function authenticate(ctx: TargetContext, q: FakeQueue, h = host()): Uint8Array {
  assert.equal(authCmd(ctx, q, 5, h.negotiate()).status, 0);
  const ch = authCmd(ctx, q, 6, null);
  assert.equal(ch.status, 0);
  assert.equal(authCmd(ctx, q, 5, h.reply(ch.outData!.subarray(0, 16 + 32))).status, 0);
  const s1 = authCmd(ctx, q, 6, null);
  assert.equal(s1.status, 0);
  return s1.outData!;
}

test('Connect: ATR (never ASCR) with the controller id for a host with a policy; none for other hosts or discovery', () => {
  const { ctx } = setup();
  const { q, c } = connect(ctx);
  const cntlid = c.dw0 & 0xffff;
  assert.ok(cntlid > 0);
  assert.equal(c.dw0 & ~0xffff, CONNECT_AUTHREQ_ATR);
  assert.equal(c.dw0 & CONNECT_AUTHREQ_ASCR, 0);
  assert.ok(q.auth && !q.auth.authenticated);
  const other = connect(ctx, { hostnqn: OTHER_HOST });
  assert.equal(other.c.dw0 >>> 16, 0);
  assert.equal(other.q.auth, null);
  const disc = connect(ctx, { subnqn: 'nqn.2014-08.org.nvmexpress.discovery' });
  assert.equal(disc.c.dw0 >>> 16, 0);
  assert.equal(disc.q.auth, null);
});

test('the gate: Authentication Required for everything but Connect/Auth/Disconnect, logged once per queue', () => {
  const { ctx, lines } = setup();
  const { q } = connect(ctx);
  for (let i = 0; i < 3; i++) assert.equal(propertyGet(ctx, q).status, S_AUTH_REQUIRED);
  const ka = run(ctx, q, (c) => (c.sqe[0] = 0x18));
  assert.equal(ka.status, S_AUTH_REQUIRED);
  assert.equal(lines.filter((l) => /before authentication refused/.test(l.msg)).length, 1);
  // A second queue logs its own line.
  const second = connect(ctx).q;
  assert.equal(propertyGet(ctx, second).status, S_AUTH_REQUIRED);
  assert.equal(lines.filter((l) => /before authentication refused/.test(l.msg)).length, 2);
  // Authenticated: commands run.
  const s1 = authenticate(ctx, q);
  assert.equal(host().success1(s1.subarray(0, 16)).ok, true);
  assert.equal(q.auth!.authenticated, true);
  assert.equal(propertyGet(ctx, q).status, 0);
});

test('a wrong key: the admin queue drains only after AUTH_Failure1 was returned; one log line with the reason', () => {
  const { ctx, lines } = setup();
  const { q } = connect(ctx);
  const h = host(crypto.randomBytes(32));
  authCmd(ctx, q, 5, h.negotiate());
  const ch = authCmd(ctx, q, 6, null);
  authCmd(ctx, q, 5, h.reply(ch.outData!.subarray(0, 48)));
  assert.equal(q.drainedWith, null, 'not before the host received AUTH_Failure1');
  const f = authCmd(ctx, q, 6, null);
  assert.equal(failure1Explanation(f.outData!.subarray(0, 8)), AuthFailure.FAILED);
  assert.match(q.drainedWith ?? '', /authentication failed/);
  const failed = lines.filter((l) => l.level >= 40 && /authentication failed|does not match/.test(l.msg));
  assert.equal(failed.length, 1, JSON.stringify(failed));
  assert.match(failed[0]!.msg, /host response does not match.*controller \d+ torn down/);
  assert.ok(!JSON.stringify(lines).includes(KEY.slice(10, 40)));
});

test('an I/O queue authenticates on its own; its failure ends that queue only', () => {
  const { ctx } = setup();
  const admin = connect(ctx);
  const cntlid = admin.c.dw0 & 0xffff;
  authenticate(ctx, admin.q);
  run(ctx, admin.q, (c) => {
    c.sqe[0] = 0x7f;
    c.sqe[FabricsSqe.fctype] = FabricsType.PropertySet;
    c.sqe.writeUInt32LE(0x14, FabricsSqe.propOffset);
    c.sqe.writeUInt32LE(1 | (6 << 16) | (4 << 20), FabricsSqe.propValue);
  });
  const io = connect(ctx, { qid: 1, cntlid });
  assert.equal(io.c.dw0, cntlid | CONNECT_AUTHREQ_ATR);
  const read = run(ctx, io.q, (c) => {
    c.sqe[0] = 0x02;
    c.sqe.writeUInt32LE(1, 4);
  }, 512);
  assert.equal(read.status, S_AUTH_REQUIRED);
  const h = host(crypto.randomBytes(32), 9);
  authCmd(ctx, io.q, 5, h.negotiate());
  const ch = authCmd(ctx, io.q, 6, null);
  authCmd(ctx, io.q, 5, h.reply(ch.outData!.subarray(0, 48)));
  authCmd(ctx, io.q, 6, null);
  assert.match(io.q.drainedWith ?? '', /authentication failed/);
  assert.equal(admin.q.drainedWith, null, 'the admin queue stays');
});

test('re-authentication: the queue stays usable during a new transaction; Auth commands without a transaction: Command Sequence Error', () => {
  const { ctx } = setup();
  const { q } = connect(ctx);
  authenticate(ctx, q);
  const h = host(SECRET, 11);
  authCmd(ctx, q, 5, h.negotiate());
  assert.equal(q.auth!.state, 'challenge');
  assert.equal(propertyGet(ctx, q).status, 0, 'usable while re-authenticating');
  const ch = authCmd(ctx, q, 6, null);
  authCmd(ctx, q, 5, h.reply(ch.outData!.subarray(0, 48)));
  assert.equal(h.success1(authCmd(ctx, q, 6, null).outData!.subarray(0, 16)).ok, true);
  assert.equal(q.drainedWith, null);
  const other = connect(ctx, { hostnqn: OTHER_HOST }).q;
  assert.equal(authCmd(ctx, other, 5, h.negotiate()).status, S_SEQUENCE_ERROR);
});

test('a transaction without progress is aborted after KATO (120 s when KATO is 0) and the queue ends', () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  try {
    const { ctx } = setup();
    const silent = connect(ctx, { kato: 5000 }).q;
    const stalled = connect(ctx).q;
    authCmd(ctx, stalled, 5, host().negotiate());
    mock.timers.tick(4000);
    assert.equal(silent.drainedWith, null);
    authCmd(ctx, stalled, 6, null); // progress at 4 s: its 120 s start again
    mock.timers.tick(1500);
    assert.match(silent.drainedWith ?? '', /authentication failed/, 'KATO 5 s without a step');
    mock.timers.tick(AUTH_TIMEOUT_NO_KATO_MS - 2000);
    assert.equal(stalled.drainedWith, null);
    mock.timers.tick(1000);
    assert.match(stalled.drainedWith ?? '', /authentication failed/);
    // Finished transactions have no timer left.
    const done = connect(ctx).q;
    authenticate(ctx, done);
    mock.timers.tick(2 * AUTH_TIMEOUT_NO_KATO_MS);
    assert.equal(done.drainedWith, null);
  } finally {
    mock.timers.reset();
  }
});
