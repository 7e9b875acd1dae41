// Authentication Send/Receive SQE checks, the Connect AUTHREQ bits, the Authentication Required
// status, and the byte layout of the messages the controller sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthSqe,
  CONNECT_AUTHREQ_ASCR,
  CONNECT_AUTHREQ_ATR,
  S_AUTH_INVALID_FIELD,
  S_AUTH_REQUIRED,
  checkAuthSqe,
} from '../../src/core/auth/command.js';
import { AuthFailure, encodeChallenge, encodeFailure1, encodeSuccess1 } from '../../src/core/auth/messages.js';

function sqe(o: { secp?: number; spsp0?: number; spsp1?: number; len?: number } = {}): Buffer {
  const b = Buffer.alloc(64);
  b[0] = 0x7f;
  b[4] = 0x05;
  // CDW10: SECP (31:24) | SPSP1 (23:16) | SPSP0 (15:8) | NSSF (7:0); CDW11: TL / AL.
  b.writeUInt32LE((((o.secp ?? 0xe9) << 24) | ((o.spsp1 ?? 1) << 16) | ((o.spsp0 ?? 1) << 8)) >>> 0, 40);
  b.writeUInt32LE(o.len ?? 72, 44);
  return b;
}

test('Authentication Send/Receive SQE: SECP E9h, SPSP0/SPSP1 01h, TL/AL non-zero and equal to the SGL length', () => {
  assert.deepEqual(checkAuthSqe(sqe(), 72), { status: 0, field: -1, length: 72 });
  const bad: [Buffer, number, number][] = [
    [sqe({ secp: 0xea }), 72, AuthSqe.secp],
    [sqe({ spsp0: 0 }), 72, AuthSqe.spsp0],
    [sqe({ spsp1: 2 }), 72, AuthSqe.spsp1],
    [sqe({ len: 0 }), 0, AuthSqe.length],
    [sqe({ len: 72 }), 4096, AuthSqe.length],
  ];
  for (const [s, sgl, field] of bad) {
    const r = checkAuthSqe(s, sgl);
    assert.equal(r.status, S_AUTH_INVALID_FIELD);
    assert.equal(r.field, field);
  }
  assert.deepEqual([AuthSqe.secp, AuthSqe.spsp1, AuthSqe.spsp0, AuthSqe.nssf, AuthSqe.length], [43, 42, 41, 40, 44]);
});

test('Connect AUTHREQ bits and the Authentication Required status', () => {
  assert.equal(CONNECT_AUTHREQ_ATR, 0x20000);
  assert.equal(CONNECT_AUTHREQ_ASCR, 0x40000);
  // SCT 1h, SC 91h, DNR.
  assert.equal(S_AUTH_REQUIRED, 0x4000 | (1 << 8) | 0x91);
  assert.equal(S_AUTH_INVALID_FIELD, 0x4000 | 0x02);
});

test('controller message layouts', () => {
  const c1 = Buffer.alloc(32, 0xc1);
  const ch = encodeChallenge({ tid: 0x1234, hashId: 1, dhgroup: 1, seqnum: 0xdeadbeef, c1, dhValue: Buffer.alloc(256, 0xdd) });
  assert.equal(ch.length, 16 + 32 + 256);
  assert.deepEqual([...ch.subarray(0, 16)], [0x01, 0x01, 0, 0, 0x34, 0x12, 32, 0, 1, 1, 0x00, 0x01, 0xef, 0xbe, 0xad, 0xde]);
  assert.ok(ch.subarray(16, 48).equals(c1));
  assert.equal(ch[48], 0xdd);
  const s1 = encodeSuccess1(7, 48, Buffer.alloc(48, 0x5a));
  assert.deepEqual([...s1.subarray(0, 16)], [0x01, 0x03, 0, 0, 7, 0, 48, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(s1.length, 64);
  assert.deepEqual([...encodeSuccess1(7, 48, null)], [0x01, 0x03, 0, 0, 7, 0, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeFailure1(0xabcd, AuthFailure.HASH_UNUSABLE)], [0x00, 0xf1, 0, 0, 0xcd, 0xab, 0x01, 0x04]);
});
