// NVMe/TCP PSK derivations: retained PSK, PSK digest, TLS PSK and identities. The expected values are
// computed here step by step from the definitions (RFC 5869 HKDF and the RFC 8446 HkdfLabel built by
// hand with node:crypto HMAC), and known answers for the generated-PSK path agree with what the Linux
// host computes for the same inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  deriveTlsPsk,
  generatedPsk,
  parseTlsKey,
  pskDigest,
  retainedPsk,
  tlsIdentity,
  tlsPskFromInput,
  type TlsPsk,
} from '../../src/keys/tls-key.js';
import { AuthKeyError } from '../../src/keys/errors.js';

type Digest = 'sha256' | 'sha384';
const LEN: Record<Digest, number> = { sha256: 32, sha384: 48 };

// RFC 5869, written out: PRK = HMAC(salt, IKM); T(i) = HMAC(PRK, T(i-1) || info || i).
function extract(d: Digest, salt: Buffer, ikm: Buffer): Buffer {
  return crypto.createHmac(d, salt.length ? salt : Buffer.alloc(LEN[d])).update(ikm).digest();
}
function expand(d: Digest, prk: Buffer, info: Buffer, length: number): Buffer {
  let t = Buffer.alloc(0);
  const out: Buffer[] = [];
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    t = crypto.createHmac(d, prk).update(Buffer.concat([t, info, Buffer.from([i])])).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}
// RFC 8446 §7.1 HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + Label, opaque context<0..255>.
function hkdfLabel(length: number, label: string, context: string): Buffer {
  const l = Buffer.from(`tls13 ${label}`);
  const c = Buffer.from(context);
  return Buffer.concat([Buffer.from([length >> 8, length & 0xff, l.length]), l, Buffer.from([c.length]), c]);
}
function expandLabel(d: Digest, secret: Buffer, label: string, context: string, length: number): Buffer {
  return expand(d, extract(d, Buffer.alloc(0), secret), hkdfLabel(length, label, context), length);
}

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100';
const SUB = 'nqn.2026-11.io.nvmetd:disk1';

test('the test HKDF is RFC 5869 (test case 1)', () => {
  const okm = expand('sha256', extract('sha256', Buffer.from('000102030405060708090a0b0c', 'hex'), Buffer.alloc(22, 0x0b)), Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'), 42);
  assert.equal(okm.toString('hex'), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
});

for (const [hh, d] of [[1, 'sha256'], [2, 'sha384']] as const) {
  test(`configured PSK ${hh === 1 ? '01 (SHA-256)' : '02 (SHA-384)'} -> retained PSK -> digest -> identity and TLS PSK, by the definitions`, () => {
    const key = Buffer.from(Array.from({ length: LEN[d] }, (_, i) => (i * 7 + 3) & 0xff));
    const k: TlsPsk = { transform: hh, key };
    // Retained PSK = HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN", NQNh, L)
    const retained = expandLabel(d, key, 'HostNQN', HOST, LEN[d]);
    assert.deepEqual(retainedPsk(k, HOST), retained);
    // PSK digest = base64(HMAC(retained, NQNh " " NQNc " NVMe-over-Fabrics"))
    const digest = crypto.createHmac(d, retained).update(`${HOST} ${SUB} NVMe-over-Fabrics`).digest('base64');
    assert.equal(pskDigest(hh, retained, HOST, SUB), digest);
    assert.equal(digest.length, hh === 1 ? 44 : 64);
    // Version 1: identity with the digest, TLS PSK context "<hh> <digest>".
    const v1 = deriveTlsPsk(k, HOST, SUB, 1);
    assert.equal(v1.identity, `NVMe1R0${hh} ${HOST} ${SUB} ${digest}`);
    assert.deepEqual(v1.psk, expandLabel(d, retained, 'nvme-tls-psk', `0${hh} ${digest}`, LEN[d]));
    // Version 0: identity without digest, TLS PSK context = the identity.
    const v0 = deriveTlsPsk(k, HOST, SUB, 0);
    assert.equal(v0.identity, `NVMe0R0${hh} ${HOST} ${SUB}`);
    assert.deepEqual(v0.psk, expandLabel(d, retained, 'nvme-tls-psk', v0.identity, LEN[d]));
    assert.notDeepEqual(v0.psk, v1.psk);
    // Each input matters.
    assert.notDeepEqual(deriveTlsPsk(k, `${HOST}x`, SUB, 1).psk, v1.psk);
    assert.notDeepEqual(deriveTlsPsk(k, HOST, `${SUB}x`, 1).psk, v1.psk);
  });
}

// libnvme before 1.16 (nvme-cli 2.13 of Debian 13 and the like) builds the HKDF info without the RFC 8446
// length bytes and with a little-endian length: uint16le L || "tls13 " Label || Context.
function compatInfo(length: number, label: string, context: string): Buffer {
  return Buffer.concat([Buffer.from([length & 0xff, length >> 8]), Buffer.from(`tls13 ${label}`), Buffer.from(context)]);
}
function expandLabelCompat(d: Digest, secret: Buffer, label: string, context: string, length: number): Buffer {
  return expand(d, extract(d, Buffer.alloc(0), secret), compatInfo(length, label, context), length);
}

for (const [hh, d] of [[1, 'sha256'], [2, 'sha384']] as const) {
  test(`compat derivation (libnvme before 1.16), configured PSK 0${hh}: retained and TLS PSKs by that definition, identities unchanged`, () => {
    const key = Buffer.from(Array.from({ length: LEN[d] }, (_, i) => (i * 5 + 1) & 0xff));
    const k: TlsPsk = { transform: hh, key };
    const retained = expandLabelCompat(d, key, 'HostNQN', HOST, LEN[d]);
    assert.deepEqual(retainedPsk(k, HOST, 'compat'), retained);
    assert.notDeepEqual(retainedPsk(k, HOST), retained);
    const v0 = deriveTlsPsk(k, HOST, SUB, 0, 'compat');
    assert.equal(v0.identity, deriveTlsPsk(k, HOST, SUB, 0).identity);
    assert.deepEqual(v0.psk, expandLabelCompat(d, retained, 'nvme-tls-psk', v0.identity, LEN[d]));
    const digest = crypto.createHmac(d, retained).update(`${HOST} ${SUB} NVMe-over-Fabrics`).digest('base64');
    const v1 = deriveTlsPsk(k, HOST, SUB, 1, 'compat');
    assert.equal(v1.identity, `NVMe1R0${hh} ${HOST} ${SUB} ${digest}`);
    assert.deepEqual(v1.psk, expandLabelCompat(d, retained, 'nvme-tls-psk', `0${hh} ${digest}`, LEN[d]));
  });
}

// Known answer generated here: nvme-cli 2.13 / libnvme 1.13 (Debian 13, the interop suite's trixie guest)
// ran `nvme check-tls-key --keydata <key> --hostnqn H --subsysnqn S --identity 0 --insert`, and
// `nvme tls-key --export` printed the TLS PSK it put into the .nvme keyring (NVMeTLSkey-0:01:...).
test('compat derivation equals what libnvme 1.13 (nvme-cli 2.13) inserts into the keyring; rfc8446 does not', () => {
  const k = parseTlsKey('NVMeTLSkey-1:01:z8yjClL+kjjY4o8yqZ7M5okIAY2BMb+zH94d/OXe6sDRmuPj:');
  const host = 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e05';
  const exported = Buffer.from('7WSLF3qBgEkDS/ksQGZ8tTckoGBH/AFnziU45uRH3v3LlR34', 'base64').subarray(0, 32);
  const compat = deriveTlsPsk(k, host, 'nqn.2026-11.io.nvmetd:interop-tls', 0, 'compat');
  assert.equal(compat.identity, `NVMe0R01 ${host} nqn.2026-11.io.nvmetd:interop-tls`);
  assert.deepEqual(compat.psk, exported);
  assert.notDeepEqual(deriveTlsPsk(k, host, 'nqn.2026-11.io.nvmetd:interop-tls', 0).psk, exported);
  const disc = Buffer.from('uqbkZokRC4B4Hc6JCUQGyM+ZlNGiP5up0zZ7qYuFvJ8Ex21S', 'base64').subarray(0, 32);
  assert.deepEqual(deriveTlsPsk(k, host, 'nqn.2014-08.org.nvmexpress.discovery', 0, 'compat').psk, disc);
});

test('a 00 configured PSK is its own retained PSK; its hash follows the key length', () => {
  for (const [len, d, hh] of [[32, 'sha256', 1], [48, 'sha384', 2]] as const) {
    const key = crypto.randomBytes(len);
    const k: TlsPsk = { transform: 0, key };
    assert.deepEqual(retainedPsk(k, HOST), key);
    const digest = crypto.createHmac(d, key).update(`${HOST} ${SUB} NVMe-over-Fabrics`).digest('base64');
    const v1 = deriveTlsPsk(k, HOST, SUB, 1);
    assert.equal(v1.identity, `NVMe1R0${hh} ${HOST} ${SUB} ${digest}`);
    assert.deepEqual(v1.psk, expandLabel(d, key, 'nvme-tls-psk', `0${hh} ${digest}`, len));
  }
});

test('an nvme-cli key (nvme gen-tls-key --hmac=1) derives like any other', () => {
  const k = parseTlsKey('NVMeTLSkey-1:01:7+x82RGomcCnHmPsab65JIA7mx7P4o1coSVKvzplsINNf7Ca:');
  const retained = expandLabel('sha256', k.key, 'HostNQN', HOST, 32);
  const digest = crypto.createHmac('sha256', retained).update(`${HOST} ${SUB} NVMe-over-Fabrics`).digest('base64');
  assert.equal(deriveTlsPsk(k, HOST, SUB, 1).identity, `NVMe1R01 ${HOST} ${SUB} ${digest}`);
});

test('generated PSK (secure channel concatenation path): HMAC(KS, C1 || C2), digest and TLS PSK known answers', () => {
  const cases = [
    {
      hh: 1 as const,
      len: 32,
      psk: '1733c59fa7f48fcf37f5f26fc4ff0268ad4f78e030f4f3b0bfd1d47e7bb1447a',
      digest: 'OldoKuTfKddMuyCznAZojkWD7P4D9/AtzDzLimtOxqI=',
      tls: '3c17da628474a04d2247c4cab47968c915388193f7c071bd9489cc3666cd7cc8',
    },
    {
      hh: 2 as const,
      len: 48,
      psk: 'f14b2dd3234c459694d3bc63f8968bd6b37c2c6de849e22e118749001ce4bbe8640b9e3a748cb11ce4b1d71d359cce39',
      digest: 'cffMWk8TSS7HOQebjgYEIkrPrjWPV4JE5cdPB8WhEvY4JBW5YynKyv66XscN4A9n',
      tls: '2774753233537b3fa50eb7d16a8e43457d85f4906c005b2236616c5d80939d0898fff15bb8b77119d2be0aac423e7590',
    },
  ];
  for (const c of cases) {
    const ks = Buffer.from(Array.from({ length: c.len }, (_, i) => 0x41 + i));
    const c1 = Buffer.from(Array.from({ length: c.len }, (_, i) => i));
    const c2 = Buffer.from(Array.from({ length: c.len }, (_, i) => 0xff - i));
    const psk = generatedPsk(c.hh, ks, c1, c2);
    assert.equal(psk.toString('hex'), c.psk);
    const digest = pskDigest(c.hh, psk, 'hostnqn', 'subsysnqn');
    assert.equal(digest, c.digest);
    assert.equal(tlsPskFromInput(c.hh, psk, `0${c.hh} ${digest}`).toString('hex'), c.tls);
  }
  const ks = Buffer.from(Array.from({ length: 64 }, (_, i) => 0x41 + i));
  const c1 = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
  const c2 = Buffer.from(Array.from({ length: 64 }, (_, i) => 0xff - i));
  assert.equal(
    generatedPsk(3, ks, c1, c2).toString('hex'),
    '9c9f089a618b47d2d75f4b6c28070424487b445dd96e70c4c09b55e8b6000152a3363c3454043f38f0b85036ded40655350aa87b8b6a282b5c1acae16233dd5b',
  );
});

test('identity strings and limits', () => {
  assert.equal(tlsIdentity(0, 2, 'h', 's'), 'NVMe0R02 h s');
  assert.equal(tlsIdentity(1, 1, 'h', 's', 'D='), 'NVMe1R01 h s D=');
  assert.throws(() => tlsIdentity(1, 1, 'h', 's'), AuthKeyError);
  // A version 0 context is the identity itself: more than 255 bytes cannot be encoded.
  const long = `nqn.2014-08.org.example:${'x'.repeat(190)}`;
  const k: TlsPsk = { transform: 1, key: crypto.randomBytes(32) };
  assert.throws(() => deriveTlsPsk(k, long, long, 0), /at most 255 fit/);
  assert.match(deriveTlsPsk(k, long, long, 1).identity, /^NVMe1R01 /);
  assert.throws(() => tlsPskFromInput(1, crypto.randomBytes(48), 'x'), /32 bytes, not 48/);
});
