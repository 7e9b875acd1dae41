// Key interchange formats: DHHC-1 secrets and NVMeTLSkey-1 PSKs. The fixed vectors below were printed
// by nvme-cli 2.3 (libnvme 1.3, Debian 12 package nvme-cli) with the commands quoted next to them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { crc32, decodeBase64Strict } from '../../src/keys/encoding.js';
import { AuthKeyError } from '../../src/keys/errors.js';
import { formatDhchapKey, generateDhchapKey, parseDhchapKey, transformDhchapKey } from '../../src/keys/dhchap-key.js';
import { formatTlsKey, generateTlsKey, parseTlsKey } from '../../src/keys/tls-key.js';

const S64 = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
const S32 = S64.subarray(0, 32);
const S48 = S64.subarray(0, 48);
const NQN = 'nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100';

// nvme gen-dhchap-key --secret=<S> --key-length=<n> --hmac=<h> [--nqn=<NQN>]
const NVME_CLI_DHCHAP = [
  { hmac: 0, secret: S32, text: 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:' },
  { hmac: 0, secret: S48, text: 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vcSEgBQ==:' },
  { hmac: 0, secret: S64, text: 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P4zODhA=:' },
  { hmac: 1, secret: S32, text: 'DHHC-1:01:Fm2CIELwRfD78oTjkx2ymCdhf3el0WFeEhYN4oFanL0eoJ69:' },
  { hmac: 2, secret: S48, text: 'DHHC-1:02:m86TqA71bku/ilvuoXttWzkXCWKMX6uLFCsLmpLRRD1070FP4P2/5bNEpXf9jTOGI4TYkA==:' },
  { hmac: 3, secret: S64, text: 'DHHC-1:03:fKZUIWBl30vQU+qyQoI5SlPMyHWHYXOU1B79aUY4YpucrMsbl5A6cUVmK1QoZEqgjBRJjiGStVEXvVaz1scF3rXwqYQ=:' },
] as const;
const DIGEST = ['', 'sha256', 'sha384', 'sha512'] as const;

// nvme gen-tls-key --hmac=<h> (random keys), each accepted by nvme check-tls-key.
const NVME_CLI_TLS = [
  'NVMeTLSkey-1:01:7+x82RGomcCnHmPsab65JIA7mx7P4o1coSVKvzplsINNf7Ca:',
  'NVMeTLSkey-1:02:wrQwTOQXFiJnoiR6bWtSkKz6JlyqGDF/x7gKP7x+9BvaCJnpGl07tR9l9C3oZunUAkUi1Q==:',
  'NVMeTLSkey-1:01:IaInJ2OSU9mDRSVGI3SpfCqANS5imzR04lKX8J7rXa+PBs2Y:',
  'NVMeTLSkey-1:02:skAdsqitqDrmBjrODlZAeQhztG03ftSgyUzzoOZVzyHg6XkKJsAQu3mW2IlWknlix9ibGg==:',
];

/** The same bytes with a fresh CRC, encoded (to build wrong keys whose only fault is the tested one). */
function encode(prefix: string, key: Uint8Array, crc = crc32(key)): string {
  const raw = Buffer.alloc(key.length + 4);
  raw.set(key);
  raw.writeUInt32LE(crc, key.length);
  return `${prefix}${raw.toString('base64')}:`;
}

function refused(f: () => unknown, message: RegExp, secretText: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof AuthKeyError, String(err));
    assert.match(err.message, message);
    // The base64 part (key material) never appears in the message.
    const b64 = secretText.split(':')[2] ?? '';
    if (b64.length >= 8) assert.ok(!err.message.includes(b64.slice(0, 8)), `message echoes the key: ${err.message}`);
    return true;
  });
}

test('CRC-32 is the IEEE/zlib CRC (check value of "123456789")', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('DHHC-1 secrets printed by nvme-cli parse to the expected key and format back to the same text', () => {
  for (const v of NVME_CLI_DHCHAP) {
    const k = parseDhchapKey(v.text);
    assert.equal(k.transform, v.hmac, v.text);
    // nvme-cli prints the secret itself (hmac 0) or the secret already transformed with the NQN.
    const expected = v.hmac === 0 ? v.secret : crypto.createHmac(DIGEST[v.hmac]!, v.secret).update(NQN).update('NVMe-over-Fabrics').digest();
    assert.deepEqual(k.key, Buffer.from(expected), v.text);
    assert.equal(formatDhchapKey(k), v.text);
  }
});

test('generating with a given secret reproduces nvme-cli gen-dhchap-key exactly', () => {
  for (const v of NVME_CLI_DHCHAP) {
    const k = generateDhchapKey({ transform: v.hmac, hostnqn: NQN, secret: v.secret });
    assert.equal(formatDhchapKey(k), v.text);
  }
  const r1 = generateDhchapKey({ transform: 0, hostnqn: NQN, keyLen: 48 });
  const r2 = generateDhchapKey({ transform: 0, hostnqn: NQN, keyLen: 48 });
  assert.equal(r1.key.length, 48);
  assert.notDeepEqual(r1.key, r2.key, 'random keys differ');
  assert.throws(() => generateDhchapKey({ transform: 1, hostnqn: NQN, keyLen: 48 }), /makes 32-byte keys, not 48/);
});

test('the key transformation is HMAC(key, NQN || "NVMe-over-Fabrics") with the hash of <hh>; 00 is the key itself', () => {
  const k0 = parseDhchapKey(NVME_CLI_DHCHAP[0].text);
  assert.deepEqual(transformDhchapKey(k0, NQN), Buffer.from(S32));
  for (const v of NVME_CLI_DHCHAP.slice(3)) {
    const k = parseDhchapKey(v.text);
    const want = crypto.createHmac(DIGEST[v.hmac]!, k.key).update(Buffer.concat([Buffer.from(NQN), Buffer.from('NVMe-over-Fabrics')])).digest();
    assert.deepEqual(transformDhchapKey(k, NQN), want);
    assert.notDeepEqual(transformDhchapKey(k, `${NQN}x`), want, 'bound to the NQN');
  }
});

test('DHHC-1 refusals name the wrong part and never echo the key', () => {
  const good = NVME_CLI_DHCHAP[3].text;
  const b64 = good.split(':')[2]!;
  refused(() => parseDhchapKey(good.replace('DHHC-1', 'DHHC-2')), /must start with "DHHC-1:"/, good);
  refused(() => parseDhchapKey(good.replace(':01:', ':04:')), /hash field .* must be 00 \(none\), 01/, good);
  refused(() => parseDhchapKey(good.replace(':01:', ':1:')), /hash field/, good);
  refused(() => parseDhchapKey(good.slice(0, -1)), /must end with ":"/, good);
  refused(() => parseDhchapKey(`DHHC-1:01:${b64.slice(0, 10)}*${b64.slice(11)}:`), /not valid \(padded\) base64/, good);
  refused(() => parseDhchapKey(`DHHC-1:00:${b64.slice(0, -1)}:`), /not valid \(padded\) base64/, good);
  // Non-zero padding bits: a second spelling of the same bytes.
  const padded = NVME_CLI_DHCHAP[1].text; // ends with "BQ==:"
  refused(() => parseDhchapKey(padded.replace('BQ==:', 'BR==:')), /not valid \(padded\) base64/, padded);
  refused(() => parseDhchapKey(encode('DHHC-1:00:', S64.subarray(0, 40))), /decodes to 44 bytes; it must be a 32, 48 or 64-byte key/, good);
  const flipped = Buffer.from(S32);
  flipped[5]! ^= 1;
  refused(() => parseDhchapKey(encode('DHHC-1:00:', flipped, crc32(S32))), /CRC-32 mismatch/, good);
  refused(() => parseDhchapKey(encode('DHHC-1:01:', S48)), /hash 01 \(sha256\) needs a 32-byte key, this one has 48/, good);
  refused(() => parseDhchapKey(encode('DHHC-1:03:', S32)), /hash 03 \(sha512\) needs a 64-byte key, this one has 32/, good);
  // White space around the key is not part of it.
  assert.equal(parseDhchapKey(`  ${good}\n`).transform, 1);
});

test('NVMeTLSkey-1 keys printed by nvme-cli parse, and format back to the same text', () => {
  for (const text of NVME_CLI_TLS) {
    const k = parseTlsKey(text);
    assert.equal(k.key.length, k.transform === 1 ? 32 : 48);
    assert.equal(formatTlsKey(k), text);
  }
});

test('TLS PSK: 00 takes 32 or 48 bytes, 01 only 32, 02 only 48; generated keys have the hash length', () => {
  assert.equal(parseTlsKey(encode('NVMeTLSkey-1:00:', S32)).key.length, 32);
  assert.equal(parseTlsKey(encode('NVMeTLSkey-1:00:', S48)).key.length, 48);
  const sample = encode('NVMeTLSkey-1:01:', S32);
  refused(() => parseTlsKey(encode('NVMeTLSkey-1:01:', S48)), /hash 01 \(sha256\) needs a 32-byte key, this one has 48/, sample);
  refused(() => parseTlsKey(encode('NVMeTLSkey-1:02:', S32)), /hash 02 \(sha384\) needs a 48-byte key, this one has 32/, sample);
  refused(() => parseTlsKey(encode('NVMeTLSkey-1:00:', S64)), /decodes to 68 bytes; it must be a 32 or 48-byte key/, sample);
  refused(() => parseTlsKey(sample.replace(':01:', ':03:')), /hash field .* must be 00 \(none\), 01 \(SHA-256\) or 02/, sample);
  refused(() => parseTlsKey(sample.replace('NVMeTLSkey-1', 'NVMeTLSkey-2')), /must start with "NVMeTLSkey-1:"/, sample);
  refused(() => parseTlsKey(sample.slice(0, -1)), /must end with ":"/, sample);
  refused(() => parseTlsKey(encode('NVMeTLSkey-1:01:', S32, (crc32(S32) ^ 0x100) >>> 0)), /CRC-32 mismatch/, sample);
  assert.equal(generateTlsKey(1).key.length, 32);
  assert.equal(generateTlsKey(2).key.length, 48);
  assert.equal(formatTlsKey(generateTlsKey(2, S48)), encode('NVMeTLSkey-1:02:', S48));
  assert.throws(() => generateTlsKey(1, S48), /must be 32 bytes for sha256, not 48/);
});

test('strict base64: canonical padded text only', () => {
  assert.deepEqual(decodeBase64Strict('AAEC'), Buffer.from([0, 1, 2]));
  assert.equal(decodeBase64Strict('AAE'), null);
  assert.equal(decodeBase64Strict('AA=C'), null);
  assert.deepEqual(decodeBase64Strict('AAE='), Buffer.from([0, 1]));
  assert.equal(decodeBase64Strict('AAF='), null, 'non-zero padding bits');
  assert.equal(decodeBase64Strict('AA E'), null);
});
