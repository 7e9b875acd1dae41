// Authentication Send/Receive as commands: SQE checks, TL/AL against the data, Receive data
// zero-filled to AL, a whole transaction through the two commands, and the gate for other commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { allowedBeforeAuthentication, executeAuthReceive, executeAuthSend } from '../../src/core/auth/execute.js';
import { AuthTransaction } from '../../src/core/auth/transaction.js';
import { AuthFailure } from '../../src/core/auth/messages.js';
import { S_AUTH_INVALID_FIELD } from '../../src/core/auth/command.js';
import type { HostQueue } from '../../src/core/command.js';
import { FakeCommand } from './core/fakes.js';
import { RefHost, failure1Explanation } from './auth-host.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555';
const SUBNQN = 'nqn.2026-11.io.nvmetd:exec';
const queue = {} as HostQueue;

function authCmd(fctype: 5 | 6, length: number, o: { secp?: number; sgl?: number; data?: Uint8Array } = {}): FakeCommand {
  const c = new FakeCommand(queue, o.sgl ?? length);
  c.sqe[0] = 0x7f;
  c.sqe[4] = fctype;
  c.sqe[41] = 1; // SPSP0
  c.sqe[42] = 1; // SPSP1
  c.sqe[43] = o.secp ?? 0xe9;
  c.sqe.writeUInt32LE(length, 44);
  c.inData = o.data ?? null;
  return c;
}

function pair() {
  const secret = crypto.randomBytes(32);
  const tx = new AuthTransaction({ hostnqn: HOSTNQN, subnqn: SUBNQN, hostKey: { transform: 0, key: secret }, hashes: [1], dhgroups: [1] });
  const host = new RefHost({ hostnqn: HOSTNQN, subnqn: SUBNQN, hostSecret: secret, hostTransform: 0, hashes: [1], dhgroups: [1], tid: 3 });
  return { tx, host };
}

test('a transaction through Authentication Send / Receive commands; Receive data is AL bytes, zero-filled', () => {
  const { tx, host } = pair();
  const neg = host.negotiate();
  const s1 = authCmd(5, neg.length, { data: neg });
  executeAuthSend(s1, tx);
  assert.equal(s1.status, 0);
  assert.equal(s1.completed, 1);
  const r1 = authCmd(6, 4096);
  executeAuthReceive(r1, tx);
  assert.equal(r1.status, 0);
  assert.equal(r1.outData!.length, 4096);
  const challenge = r1.outData!.subarray(0, 16 + 32 + 256);
  assert.ok(r1.outData!.subarray(16 + 32 + 256).every((b) => b === 0));
  const reply = host.reply(challenge);
  const s2 = authCmd(5, reply.length, { data: reply });
  executeAuthSend(s2, tx);
  assert.equal(s2.status, 0);
  const r2 = authCmd(6, 4096);
  executeAuthReceive(r2, tx);
  assert.equal(host.success1(r2.outData!.subarray(0, 16)).ok, true);
  assert.equal(tx.authenticated, true);
});

test('SQE and length checks: Invalid Field in Command, the transaction untouched', () => {
  const { tx, host } = pair();
  const neg = host.negotiate();
  const cases = [
    authCmd(5, neg.length, { data: neg, secp: 0xea }),
    authCmd(5, 0, { data: new Uint8Array(0) }),
    authCmd(5, neg.length, { data: neg, sgl: neg.length + 1 }),
    authCmd(5, neg.length, { data: neg.subarray(0, 40) }),
    authCmd(5, neg.length),
    authCmd(6, 4096, { secp: 0 }),
    authCmd(6, 0),
  ];
  for (const c of cases) {
    if (c.sqe[4] === 5) executeAuthSend(c, tx);
    else executeAuthReceive(c, tx);
    assert.equal(c.status, S_AUTH_INVALID_FIELD);
    assert.equal(c.completed, 1);
    assert.equal(c.outData, null);
    assert.equal(tx.state, 'negotiate');
  }
  // A Receive with no transaction step due is a protocol error, answered with Failure1.
  const r = authCmd(6, 4096);
  executeAuthReceive(r, tx);
  assert.equal(r.status, 0);
  assert.equal(failure1Explanation(r.outData!.subarray(0, 8)), AuthFailure.INCORRECT_MESSAGE);
});

test('before authentication only Connect, Authentication Send/Receive and Disconnect run', () => {
  const sqe = Buffer.alloc(64);
  sqe[0] = 0x7f;
  for (const [fctype, ok] of [[0x01, true], [0x05, true], [0x06, true], [0x08, true], [0x00, false], [0x04, false]] as const) {
    sqe[4] = fctype;
    assert.equal(allowedBeforeAuthentication(sqe), ok, `fctype ${fctype}`);
  }
  for (const opc of [0x06, 0x18, 0x02, 0x01]) {
    const s = Buffer.alloc(64);
    s[0] = opc;
    s[4] = 0x05; // not a fabrics command: byte 4 means nothing here
    assert.equal(allowedBeforeAuthentication(s), false, `opcode ${opc}`);
  }
});
