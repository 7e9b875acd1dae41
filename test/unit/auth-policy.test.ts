// A host's authentication settings from the config: checked once, errors name the setting and never
// the key; the policy drives a transaction end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DHGROUPS, DEFAULT_HASHES, hostAuthPolicy } from '../../src/keys/policy.js';
import { newAuthTransaction } from '../../src/core/auth/policy.js';
import { AuthKeyError } from '../../src/keys/errors.js';
import { formatDhchapKey, generateDhchapKey } from '../../src/keys/dhchap-key.js';
import { RefHost } from './auth-host.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const SUBNQN = 'nqn.2026-11.io.nvmetd:policy';
const hostKey = generateDhchapKey({ transform: 1, hostnqn: HOSTNQN });
const ctrlKey = generateDhchapKey({ transform: 0, hostnqn: HOSTNQN, keyLen: 48 });
const HOST = formatDhchapKey(hostKey);
const CTRL = formatDhchapKey(ctrlKey);

function refused(f: () => unknown, message: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof AuthKeyError);
    assert.equal(err.message, message);
    assert.ok(!err.message.includes(HOST.slice(10, 30)) && !err.message.includes(CTRL.slice(10, 30)));
    return true;
  });
}

test('defaults: all hashes; DH groups from ffdhe2048 up, NULL last', () => {
  const p = hostAuthPolicy({ dhchapKey: HOST }, '/hosts/0');
  assert.deepEqual(p.hashes, DEFAULT_HASHES);
  assert.deepEqual(p.dhgroups, DEFAULT_DHGROUPS);
  assert.deepEqual(p.dhgroups, [1, 2, 3, 4, 5, 0]);
  assert.equal(p.ctrlKey, null);
  assert.deepEqual(p.hostKey.key, hostKey.key);
});

test('names: ours and the kernel target\'s hmac(...) spelling, in the order given', () => {
  const p = hostAuthPolicy({ dhchapKey: HOST, dhchapCtrlKey: CTRL, dhchapHashes: ['hmac(sha512)', 'sha256'], dhchapDhgroups: ['null', 'ffdhe4096'] }, '/hosts/0');
  assert.deepEqual(p.hashes, [3, 1]);
  assert.deepEqual(p.dhgroups, [0, 3]);
  assert.deepEqual(p.ctrlKey?.key, ctrlKey.key);
});

test('bad settings: which one and why', () => {
  refused(() => hostAuthPolicy({ dhchapKey: HOST.slice(0, -2) + ':' }, '/hosts/1'), '/hosts/1/dhchapKey: DH-HMAC-CHAP key: the key part is not valid (padded) base64');
  refused(() => hostAuthPolicy({ dhchapKey: HOST, dhchapCtrlKey: 'secret' }, '/hosts/1'), '/hosts/1/dhchapCtrlKey: DH-HMAC-CHAP key: must start with "DHHC-1:"');
  refused(() => hostAuthPolicy({ dhchapKey: HOST, dhchapCtrlKey: HOST }, '/hosts/1'), '/hosts/1/dhchapCtrlKey: must differ from dhchapKey');
  refused(() => hostAuthPolicy({ dhchapKey: HOST, dhchapHashes: ['md5'] }, '/hosts/1'), '/hosts/1/dhchapHashes: "md5" is not one of sha256, sha384, sha512');
  refused(() => hostAuthPolicy({ dhchapKey: HOST, dhchapHashes: [] }, '/hosts/1'), '/hosts/1/dhchapHashes: lists nothing (allowed: sha256, sha384, sha512)');
  refused(() => hostAuthPolicy({ dhchapKey: HOST, dhchapDhgroups: ['ffdhe2048', 'ffdhe2048'] }, '/hosts/1'), '/hosts/1/dhchapDhgroups: "ffdhe2048" is listed twice');
  refused(() => hostAuthPolicy({ dhchapKey: HOST, dhchapDhgroups: ['modp2048'] }, '/hosts/1'), '/hosts/1/dhchapDhgroups: "modp2048" is not one of null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192');
});

test('a transaction made from the policy authenticates a host holding the same secrets, both ways', () => {
  const p = hostAuthPolicy({ dhchapKey: HOST, dhchapCtrlKey: CTRL }, '/hosts/0');
  const ctrl = newAuthTransaction(p, HOSTNQN, SUBNQN);
  const host = new RefHost({ hostnqn: HOSTNQN, subnqn: SUBNQN, hostSecret: hostKey.key, hostTransform: 1, ctrlSecret: ctrlKey.key, ctrlTransform: 0, hashes: [1, 2, 3], dhgroups: [0, 1, 2, 3, 4, 5], tid: 1 });
  assert.equal(ctrl.onSend(host.negotiate()).status, 0);
  const ch = ctrl.onReceive(4096).data;
  assert.equal(ch[9], 1, 'ffdhe2048: the first default group the host offers');
  assert.equal(ctrl.onSend(host.reply(ch)).status, 0);
  assert.equal(host.success1(ctrl.onReceive(4096).data).ok, true);
  assert.equal(ctrl.onSend(host.success2()).status, 0);
  assert.equal(ctrl.authenticated, true);
});
