// `nvmetd keys ...` as scripts see it: keys on stdout, one-line errors and exit 2 for bad input,
// `check` never printing key material. Runs `node bin/nvmetd.js` after the build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDhchapKey } from '../../src/keys/dhchap-key.js';
import { deriveTlsPsk, parseTlsKey } from '../../src/keys/tls-key.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/nvmetd.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NQN = 'nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100';
const SUB = 'nqn.2026-11.io.nvmetd:disk1';
const S32 = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex');

test('keys gen-dhchap: reproducible with --secret (same text as nvme gen-dhchap-key), random otherwise', () => {
  // nvme gen-dhchap-key --secret=<S32> --key-length=32 --hmac=1 --nqn=<NQN>
  const r = run('keys', 'gen-dhchap', '--hostnqn', NQN, '--hmac', 'sha256', '--secret', S32);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'DHHC-1:01:Fm2CIELwRfD78oTjkx2ymCdhf3el0WFeEhYN4oFanL0eoJ69:\n');
  const a = run('keys', 'gen-dhchap', '--hostnqn', NQN, '--hmac', 'sha512');
  const b = run('keys', 'gen-dhchap', '--hostnqn', NQN, '--hmac', 'sha512');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(parseDhchapKey(a.stdout).key.length, 64);
  assert.notEqual(a.stdout, b.stdout);
  const none = run('keys', 'gen-dhchap', '--hostnqn', NQN, '--key-length', '48');
  assert.equal(parseDhchapKey(none.stdout).transform, 0);
  assert.equal(parseDhchapKey(none.stdout).key.length, 48);
});

test('keys gen-tls: the key and its PSK identities', () => {
  const r = run('keys', 'gen-tls', '--hostnqn', NQN, '--subnqn', SUB, '--hmac', 'sha384');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  const k = parseTlsKey(lines[0]!);
  assert.equal(k.transform, 2);
  assert.equal(k.key.length, 48);
  assert.equal(lines[1], `# PSK identity: ${deriveTlsPsk(k, NQN, SUB, 1).identity}`);
  assert.equal(lines[2], `# PSK identity (version 0): NVMe0R02 ${NQN} ${SUB}`);
  const fixed = run('keys', 'gen-tls', '--hostnqn', NQN, '--subnqn', SUB, '--secret', S32);
  assert.equal(parseTlsKey(fixed.stdout.split('\n')[0]!).key.toString('hex'), S32);
});

test('keys check: kind and hash, never the key; identities on request', () => {
  const dh = 'DHHC-1:02:m86TqA71bku/ilvuoXttWzkXCWKMX6uLFCsLmpLRRD1070FP4P2/5bNEpXf9jTOGI4TYkA==:';
  const r = run('keys', 'check', dh);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'DH-HMAC-CHAP secret (DHHC-1), 48-byte key, transformed with SHA-384: valid\n');
  const tls = 'NVMeTLSkey-1:01:7+x82RGomcCnHmPsab65JIA7mx7P4o1coSVKvzplsINNf7Ca:';
  const t = run('keys', 'check', tls, '--hostnqn', NQN, '--subnqn', SUB);
  assert.equal(t.code, 0, t.stderr);
  const lines = t.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'NVMe/TCP PSK (NVMeTLSkey-1), 32-byte key, retained PSK derived with SHA-256, cipher suite hash SHA-256: valid');
  assert.equal(lines[1], `# PSK identity: ${deriveTlsPsk(parseTlsKey(tls), NQN, SUB, 1).identity}`);
  for (const out of [r.stdout + r.stderr, t.stdout + t.stderr]) {
    assert.ok(!out.includes('m86TqA71') && !out.includes('7+x82RGo'), 'no key material in the output');
  }
});

test('bad keys and arguments: exit 2, one line, no key material', () => {
  const secret = crypto.randomBytes(32);
  const raw = Buffer.concat([secret, Buffer.from([1, 2, 3, 4])]).toString('base64');
  const bad = `DHHC-1:00:${raw}:`;
  const r = run('keys', 'check', bad);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'nvmetd: DH-HMAC-CHAP key: CRC-32 mismatch: the key is mistyped or truncated\n');
  assert.ok(!r.stderr.includes(raw.slice(0, 12)));
  assert.equal(r.stdout, '');
  const cases: [string[], string][] = [
    [['keys', 'check', 'hello'], 'key: not a DH-HMAC-CHAP secret (DHHC-1:...) nor an NVMe/TCP PSK (NVMeTLSkey-1:...)'],
    [['keys', 'gen-dhchap'], '--hostnqn NQN is required'],
    [['keys', 'gen-dhchap', '--hostnqn', NQN, '--hmac', 'md5'], '--hmac md5: must be none, sha256, sha384 or sha512'],
    [['keys', 'gen-dhchap', '--hostnqn', NQN, '--key-length', '40'], '--key-length 40: must be 32, 48 or 64'],
    [['keys', 'gen-dhchap', '--hostnqn', NQN, '--hmac', 'sha256', '--key-length', '64'], 'DH-HMAC-CHAP key: hash sha256 makes 32-byte keys, not 64'],
    [['keys', 'gen-dhchap', '--hostnqn', NQN, '--secret', 'xyz'], '--secret: must be hex digits (an even number of them)'],
    [['keys', 'gen-tls', '--hostnqn', NQN], '--subnqn NQN is required'],
    [['keys', 'gen-tls', '--hostnqn', NQN, '--subnqn', SUB, '--hmac', 'sha512'], '--hmac sha512: must be sha256 or sha384'],
    [['keys', 'gen-tls', '--hostnqn', 'a b', '--subnqn', SUB], '--hostnqn: an NQN has no white space'],
    [['keys', 'gen-tls', '--hostnqn', NQN, '--subnqn', SUB, '--secret', S32 + '00'], 'TLS PSK: the secret must be 32 bytes for sha256, not 33'],
  ];
  for (const [args, message] of cases) {
    const x = run(...args);
    assert.equal(x.code, 2, `${args.join(' ')}: ${x.stderr}`);
    assert.equal(x.stderr, `nvmetd: ${message}\n`);
  }
});
