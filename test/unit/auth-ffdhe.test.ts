// The ffdhe groups: the primes are the RFC 7919 ones (recomputed here from the RFC's definition) and
// both sides of an exchange agree on a secret padded to the prime size; bad peer values are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { DhGroupId, dhGroupIdByName, dhGroupName, dhPrime } from '../../src/keys/ffdhe.js';
import { DhExchange } from '../../src/core/auth/dhchap.js';
import { AuthFailure, AuthProtocolError } from '../../src/core/auth/messages.js';
import { ffdhePrime } from './auth-host.js';

test('each ffdhe prime is the RFC 7919 one, of b/8 bytes', () => {
  for (const [id, bits] of [[1, 2048], [2, 3072], [3, 4096], [4, 6144], [5, 8192]] as const) {
    const p = dhPrime(id)!;
    assert.equal(p.length, bits / 8, dhGroupName(id));
    assert.ok(p.equals(ffdhePrime(id)), `${dhGroupName(id)} differs from the RFC 7919 definition`);
    assert.equal(dhGroupIdByName(`ffdhe${bits}`), id);
  }
  assert.equal(dhPrime(DhGroupId.NULL), null);
  assert.equal(dhGroupIdByName('null'), 0);
  assert.equal(dhGroupIdByName('modp2048'), undefined);
});

test('an exchange agrees with a peer computing on its own; values and secret are prime-sized', () => {
  const ours = new DhExchange(DhGroupId.FFDHE2048);
  const peer = crypto.createDiffieHellman(ffdhePrime(1), 2);
  peer.generateKeys();
  const pub = ours.publicValue();
  assert.equal(pub.length, 256);
  const theirs = Buffer.alloc(256);
  const pp = peer.getPublicKey();
  pp.copy(theirs, 256 - pp.length);
  const s1 = ours.sharedSecret(theirs);
  const s2 = peer.computeSecret(pub);
  assert.equal(s1.length, 256);
  assert.ok(s1.subarray(256 - s2.length).equals(s2));
  assert.notDeepEqual(new DhExchange(DhGroupId.FFDHE2048).publicValue(), pub, 'a fresh private key each time');
});

test('peer DH values out of range or of the wrong size are refused', () => {
  const ours = new DhExchange(DhGroupId.FFDHE2048);
  const p = ffdhePrime(1);
  const big = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(512, '0'), 'hex');
  const pn = BigInt(`0x${p.toString('hex')}`);
  for (const bad of [0n, 1n, pn - 1n, pn, pn + 5n]) {
    assert.throws(() => ours.sharedSecret(big(bad)), (e: unknown) => e instanceof AuthProtocolError && e.explanation === AuthFailure.DHGROUP_UNUSABLE);
  }
  assert.throws(() => ours.sharedSecret(Buffer.alloc(255, 7)), (e: unknown) => e instanceof AuthProtocolError && e.explanation === AuthFailure.INCORRECT_PAYLOAD);
});
