// The PSK lookup by identity: which identities find a key, and the one reason given for the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPskLookup, type PskMatch } from '../../../src/transport/tcp/tls-psk.js';
import { deriveTlsPsk, generateTlsKey } from '../../../src/keys/tls-key.js';
import { HashId } from '../../../src/keys/hash.js';

const SUB = 'nqn.2026-11.io.nvmetd:psk';
const A = 'nqn.2026-11.io.nvmetd:host a';
const AB = 'nqn.2026-11.io.nvmetd:host a b';
const KA = generateTlsKey(HashId.SHA256, Buffer.alloc(32, 1));
const KAB = generateTlsKey(HashId.SHA256, Buffer.alloc(32, 2));
const lookup = hostPskLookup(
  [
    { hostnqn: A, key: KA },
    { hostnqn: AB, key: KAB },
  ],
  (n) => n === SUB || n === `b ${SUB}`,
);

function refusal(identity: string): string {
  const v = lookup(identity);
  assert.ok('refused' in v, `accepted: ${identity}`);
  return v.refused;
}

test('tls-psk: v0 and v1 identities find the TLS PSK of their host and subsystem', () => {
  for (const version of [0, 1] as const) {
    const d = deriveTlsPsk(KA, A, SUB, version);
    const v = lookup(d.identity) as PskMatch;
    assert.ok(!('refused' in v), JSON.stringify(v));
    assert.deepEqual([v.hostnqn, v.subnqn, v.version], [A, SUB, version]);
    assert.deepEqual(v.psk, d.psk);
  }
});

test('tls-psk: host NQNs with spaces: an identity two hosts could have sent is refused, one only one could is found', () => {
  // "NVMe0R01 <host a b> <sub>" also reads as host "host a" with subsystem "b <sub>" (served here too).
  const d = deriveTlsPsk(KAB, AB, SUB, 0);
  assert.match(refusal(d.identity), /ambiguous identity/);
  const only = hostPskLookup([{ hostnqn: AB, key: KAB }], (n) => n === SUB || n === `b ${SUB}`);
  const v = only(d.identity) as PskMatch;
  assert.ok(!('refused' in v), JSON.stringify(v));
  assert.deepEqual([v.hostnqn, v.subnqn], [AB, SUB]);
  assert.deepEqual(v.psk, d.psk);
});

test('tls-psk: refusals name the reason', () => {
  assert.match(refusal('Client_identity'), /not an NVMe\/TCP PSK identity/);
  assert.match(refusal(`NVMe0G01 ${A} ${SUB}`), /generated PSKs/);
  // A SHA-384 identity for a host whose key is SHA-256: the hashes differ (and the reverse).
  assert.match(refusal(`NVMe0R02 ${A} ${SUB}`), /offers a sha384 PSK but the key configured for host .* is sha256/);
  assert.match(refusal(`NVMe0R03 ${A} ${SUB}`), /unknown PSK hash 03/);
  assert.match(refusal(`NVMe0R01 nqn.other ${SUB}`), /no TLS key is configured/);
  assert.match(refusal(`NVMe0R01 ${A} nqn.2026-11.io.nvmetd:not-here`), /not offered on this port/);
  const v1 = deriveTlsPsk(KA, A, SUB, 1).identity;
  assert.match(refusal(`${v1.slice(0, -4)}AAA=`), /PSK digest differs/);
  const sha384 = hostPskLookup([{ hostnqn: A, key: generateTlsKey(HashId.SHA384, Buffer.alloc(48, 3)) }], () => true);
  const r = sha384(`NVMe0R01 ${A} ${SUB}`);
  assert.ok('refused' in r && /offers a sha256 PSK but the key configured for host .* is sha384/.test(r.refused), JSON.stringify(r));
});

test('tls-psk: a SHA-384 key finds its NVMe0R02/NVMe1R02 identities, with a 48-byte TLS PSK and the SHA-384 hash', () => {
  const k = generateTlsKey(HashId.SHA384, Buffer.alloc(48, 4));
  const l = hostPskLookup([{ hostnqn: A, key: k }], (n) => n === SUB);
  for (const version of [0, 1] as const) {
    const d = deriveTlsPsk(k, A, SUB, version);
    assert.match(d.identity, version === 0 ? /^NVMe0R02 / : /^NVMe1R02 /);
    const v = l(d.identity) as PskMatch;
    assert.ok(!('refused' in v), JSON.stringify(v));
    assert.deepEqual([v.hostnqn, v.subnqn, v.version, v.hash, v.psk.length], [A, SUB, version, HashId.SHA384, 48]);
    assert.deepEqual(v.psk, d.psk);
  }
  const v = lookup(deriveTlsPsk(KA, A, SUB, 0).identity) as PskMatch;
  assert.equal(v.hash, HashId.SHA256);
});
