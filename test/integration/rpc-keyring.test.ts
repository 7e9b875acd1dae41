// Live key management over the JSON-RPC socket: keyring_file_add_key / remove_key / get_keys, and
// hosts given DH-HMAC-CHAP keys by name (nvmf_subsystem_add_host, nvmf_subsystem_set_keys), against
// the project's initiator. Error answers are SPDK's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { call } from '../../src/cli/rpc.js';
import type { Json } from '../../src/rpc/json-value.js';
import { startTarget } from '../../src/server/target.js';
import { formatDhchapKey } from '../../src/keys/dhchap-key.js';
import { formatTlsKey } from '../../src/keys/tls-key.js';
import { AuthFailure } from '../../src/core/auth/messages.js';
import { AuthenticationError } from '../../src/initiator/auth.js';
import { Controller, discover } from '../../src/initiator/controller.js';
import { DISCOVERY_NQN } from '../../src/spec/discovery.js';
import { HOSTNQN, SUBNQN, assertHealthy, testConfig } from './helpers.js';
import { withRpcTarget, type RpcRunning } from './rpc-helpers.js';

const KEY1 = formatDhchapKey({ transform: 1, key: crypto.randomBytes(32) });
const KEY2 = formatDhchapKey({ transform: 0, key: crypto.randomBytes(48) });
const CKEY = formatDhchapKey({ transform: 2, key: crypto.randomBytes(48) });
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:0e5a7c1d-2b3f-4c6d-8e9f-a0b1c2d3e4f5';
const PSK = formatTlsKey({ transform: 1, key: crypto.randomBytes(32) });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-keyring-it-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, text: string, mode = 0o600): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `${text}\n`, { mode });
  fs.chmodSync(p, mode);
  return p;
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const failedAuth = (e: unknown): boolean => e instanceof AuthenticationError && e.byController && e.explanation === AuthFailure.FAILED;

/** A target that admits no host until the RPC adds it. */
const closedConfig = (workers = 0) => testConfig({ allowAnyHost: false, workers });

async function addKeys(t: RpcRunning): Promise<void> {
  assert.equal(await t.rpc('keyring_file_add_key', { name: 'key1', path: keyFile('key1', KEY1) }), true);
  assert.equal(await t.rpc('keyring_file_add_key', { name: 'key2', path: keyFile('key2', KEY2) }), true);
  assert.equal(await t.rpc('keyring_file_add_key', { name: 'ckey', path: keyFile('ckey', CKEY) }), true);
}

test('keyring: bad files are refused with SPDK errnos; keyring_get_keys lists names and paths, never secrets', async () => {
  await withRpcTarget(closedConfig(), async (t) => {
    const open = await t.rpcError('keyring_file_add_key', { name: 'k', path: keyFile('open', KEY1, 0o644) });
    assert.deepEqual([open.code, open.message], [-1, 'Operation not permitted'], 'a file readable by others');
    const group = await t.rpcError('keyring_file_add_key', { name: 'k', path: keyFile('group', KEY1, 0o640) });
    assert.equal(group.code, -1, 'a file readable by the group');
    const rel = await t.rpcError('keyring_file_add_key', { name: 'k', path: 'key1' });
    assert.equal(rel.code, -1, 'a relative path');
    const missing = await t.rpcError('keyring_file_add_key', { name: 'k', path: path.join(dir, 'nope') });
    assert.deepEqual([missing.code, missing.message], [-2, 'No such file or directory']);
    const junk = await t.rpcError('keyring_file_add_key', { name: 'k', path: keyFile('junk', 'DHHC-1:01:not-base64:') });
    assert.equal(junk.code, -22, 'content that is not a key');
    await addKeys(t);
    const dup = await t.rpcError('keyring_file_add_key', { name: 'key1', path: keyFile('key1b', KEY2) });
    assert.deepEqual([dup.code, dup.message], [-17, 'File exists']);
    const keys = (await t.rpc('keyring_get_keys')) as { name: string; path: string; removed: boolean; refcnt: number }[];
    assert.deepEqual(
      keys.map((k) => [k.name, k.path, k.removed, k.refcnt]),
      [['key1', path.join(dir, 'key1'), false, 1], ['key2', path.join(dir, 'key2'), false, 1], ['ckey', path.join(dir, 'ckey'), false, 1]],
    );
    const text = JSON.stringify(keys);
    for (const k of [KEY1, KEY2, CKEY]) assert.ok(!text.includes(k.slice(10, 30)), 'no secret in the answer');
    const unknown = await t.rpcError('keyring_file_remove_key', { name: 'nokey' });
    assert.deepEqual([unknown.code, unknown.message], [-126, 'Required key not available']);
    assert.equal(await t.rpc('keyring_file_remove_key', { name: 'key2' }), true);
    assert.deepEqual(((await t.rpc('keyring_get_keys')) as { name: string }[]).map((k) => k.name), ['key1', 'ckey'], 'an unused removed key is gone');
  });
});

test('keyring: add_host with unknown key names is refused as SPDK does; a refused add_host adds nothing', async () => {
  await withRpcTarget(closedConfig(), async (t) => {
    await addKeys(t);
    assert.equal(await t.rpc('keyring_file_add_key', { name: 'psk0', path: keyFile('psk0', PSK) }), true);
    const e1 = await t.rpcError('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'nokey' });
    assert.deepEqual([e1.code, e1.message], [-32602, 'Invalid parameters'], 'unknown dhchap_key');
    const e2 = await t.rpcError('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1', dhchap_ctrlr_key: 'nokey' });
    assert.equal(e2.code, -32602, 'unknown dhchap_ctrlr_key');
    const e3 = await t.rpcError('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_ctrlr_key: 'ckey' });
    assert.equal(e3.code, -32603, 'a controller key without a host key');
    const e4 = await t.rpcError('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, psk: 'nokey' });
    assert.equal(e4.code, -32603, 'unknown psk');
    const e5 = await t.rpcError('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'psk0' });
    assert.equal(e5.code, -32602, 'a TLS PSK given as a DH-HMAC-CHAP key');
    assert.equal(t.target.ctx.subsystems.get(SUBNQN)!.hostAllowed(HOSTNQN), false, 'nothing was added');
    const e6 = await t.rpcError('nvmf_subsystem_set_keys', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1' });
    assert.deepEqual([e6.code, e6.message], [-22, 'Invalid argument'], 'set_keys for a host not on the subsystem');
  });
});

test('keyring: add_host with dhchap_key: a host without the key is refused, with it admitted; refcnt counts the user', async () => {
  await withRpcTarget(closedConfig(), async (t) => {
    await addKeys(t);
    assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1', dhchap_ctrlr_key: 'ckey' }), true);
    await assert.rejects(Controller.connect(t.opts({ ioQueues: 1 })), 'no key: nothing runs before authentication');
    await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY2 } })), failedAuth);
    const c = await Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY1, ctrlKey: CKEY, dhgroups: ['ffdhe2048'] } }));
    try {
      assert.deepEqual([...c.authRequired].sort(), [0, 1]);
      await assertHealthy(c);
    } finally {
      await c.disconnect();
    }
    const keys = (await t.rpc('keyring_get_keys')) as { name: string; refcnt: number }[];
    assert.deepEqual(keys.map((k) => [k.name, k.refcnt]), [['key1', 2], ['key2', 1], ['ckey', 2]]);
    const sub = ((await t.rpc('nvmf_get_subsystems', { nqn: SUBNQN })) as { hosts: unknown[] }[])[0]!;
    assert.deepEqual(sub.hosts, [{ nqn: HOSTNQN, dhchap_key: 'key1', dhchap_ctrlr_key: 'ckey' }], 'key names, as SPDK lists them');
    // remove_host drops the keys: the same host added again without keys connects without authenticating.
    assert.equal(await t.rpc('nvmf_subsystem_remove_host', { nqn: SUBNQN, host: HOSTNQN }), true);
    assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN }), true);
    const plain = await Controller.connect(t.opts({ ioQueues: 1 }));
    assert.equal(plain.authRequired.size, 0);
    await plain.disconnect();
  });
});

test('keyring: set_keys re-keys a host live (workers: 2): queues stay, the next re-authentication needs the new key, on every thread', async () => {
  await withRpcTarget(closedConfig(2), async (t) => {
    await addKeys(t);
    assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1' }), true);
    const c = await Controller.connect(t.opts({ ioQueues: 3, dhchap: { key: KEY1, dhgroups: ['null'] } }));
    try {
      await until('the I/O queues on the workers', () => t.target.stats().workers.reduce((n, w) => n + w.queues.length, 0) === 3);
      assert.equal(await t.rpc('nvmf_subsystem_set_keys', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key2', dhchap_ctrlr_key: 'ckey' }), true);
      await assertHealthy(c);
      // Re-authentication on the workers' queues and on the admin queue with the new keys.
      await c.authenticate(1, { key: KEY2, ctrlKey: CKEY, dhgroups: ['ffdhe2048'] });
      await c.authenticate(2, { key: KEY2 });
      await c.authenticate(0, { key: KEY2 });
      // The old key no longer does, on a worker's queue: that queue is closed, the rest stays.
      await assert.rejects(c.authenticate(3, { key: KEY1 }), failedAuth);
      await until('the I/O queue that failed is closed', () => c.io[2]!.isClosed);
      assert.ok((await c.flush(1, { queue: 0 })).ok);
      await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY1 } })), failedAuth);
      const c2 = await Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY2 } }));
      await c2.disconnect();
      const ckeyWithoutKey = await t.rpcError('nvmf_subsystem_set_keys', { nqn: SUBNQN, host: HOSTNQN, dhchap_ctrlr_key: 'ckey' });
      assert.equal(ckeyWithoutKey.code, -22);
      const unknown = await t.rpcError('nvmf_subsystem_set_keys', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'nokey' });
      assert.equal(unknown.code, -32602);
    } finally {
      c.destroy();
    }
  });
});

test('keyring: removing a key in use: listed as removed while used, the host can no longer authenticate until re-keyed', async () => {
  await withRpcTarget(closedConfig(1), async (t) => {
    await addKeys(t);
    assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1' }), true);
    const c = await Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY1 } }));
    try {
      await until('the I/O queue on the worker', () => t.target.stats().workers.reduce((n, w) => n + w.queues.length, 0) === 1);
      assert.equal(await t.rpc('keyring_file_remove_key', { name: 'key1' }), true);
      const keys = (await t.rpc('keyring_get_keys')) as { name: string; removed: boolean; refcnt: number; path?: string }[];
      const k1 = keys.find((k) => k.name === 'key1');
      assert.deepEqual(k1 && [k1.removed, k1.refcnt, k1.path], [true, 1, undefined]);
      await assertHealthy(c);
      await assert.rejects(c.authenticate(1, { key: KEY1 }), failedAuth, 'on the worker too');
      await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY1 } })), failedAuth);
      // The name is free again; re-keying the host makes it usable.
      assert.equal(await t.rpc('keyring_file_add_key', { name: 'key1', path: keyFile('key1', KEY1) }), true);
      assert.equal(await t.rpc('nvmf_subsystem_set_keys', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1' }), true);
      const names = ((await t.rpc('keyring_get_keys')) as { name: string; removed: boolean }[]).map((k) => `${k.name}${k.removed ? ' (removed)' : ''}`);
      assert.deepEqual(names, ['key2', 'ckey', 'key1'], 'the removed key is forgotten once no host uses it');
      const c2 = await Controller.connect(t.opts({ ioQueues: 1, dhchap: { key: KEY1 } }));
      await assertHealthy(c2);
      await c2.disconnect();
    } finally {
      c.destroy();
    }
  });
});

test('keyring: a host added to the discovery NQN with a key must authenticate to the discovery controller; other hosts need not', async () => {
  await withRpcTarget(closedConfig(), async (t) => {
    await addKeys(t);
    const where = { host: t.host, port: t.port, commandTimeoutMs: 5000 };
    assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: DISCOVERY_NQN, host: HOSTNQN, dhchap_key: 'key1' }), true);
    await assert.rejects(discover({ ...where, hostnqn: HOSTNQN }), 'no key: the discovery log is not readable before authentication');
    await assert.rejects(discover({ ...where, hostnqn: HOSTNQN, dhchap: { key: KEY2 } }), failedAuth);
    const log = await discover({ ...where, hostnqn: HOSTNQN, dhchap: { key: KEY1 } });
    assert.ok(log.entries.length > 0);
    await discover({ ...where, hostnqn: OTHER_HOST });
    // Re-keyed, then removed: the host discovers without a key again.
    assert.equal(await t.rpc('nvmf_subsystem_set_keys', { nqn: DISCOVERY_NQN, host: HOSTNQN, dhchap_key: 'key2' }), true);
    await assert.rejects(discover({ ...where, hostnqn: HOSTNQN, dhchap: { key: KEY1 } }), failedAuth);
    await discover({ ...where, hostnqn: HOSTNQN, dhchap: { key: KEY2 } });
    assert.equal(await t.rpc('nvmf_subsystem_remove_host', { nqn: DISCOVERY_NQN, host: HOSTNQN }), true);
    await discover({ ...where, hostnqn: HOSTNQN });
    assert.equal((await t.rpcError('nvmf_subsystem_add_host', { nqn: DISCOVERY_NQN, host: HOSTNQN, psk: 'key1' })).code, -32602);
  });
});

test('keyring: secrets never reach the log (add, add_host, set_keys, a refused host, remove), each refusal one line', async () => {
  const text: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text.push(chunk.toString('utf8'));
      cb();
    },
  });
  const sock = path.join(dir, 'log.sock');
  const target = await startTarget({ ...closedConfig(), rpcSocket: sock }, pino({ level: 'debug' }, sink));
  const rpc = async (method: string, params: Json): Promise<unknown> => {
    const r = await call(sock, method, params, 10_000);
    return r.error ?? r.result;
  };
  try {
    const a = target.addresses[0]!;
    assert.equal(await rpc('keyring_file_add_key', { name: 'key1', path: keyFile('lkey1', KEY1) }), true);
    assert.equal(await rpc('keyring_file_add_key', { name: 'key2', path: keyFile('lkey2', KEY2) }), true);
    await rpc('keyring_file_add_key', { name: 'bad', path: keyFile('lbad', KEY2, 0o644) });
    assert.equal(await rpc('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key1' }), true);
    await assert.rejects(Controller.connect({ host: a.address, port: a.port, subnqn: SUBNQN, hostnqn: HOSTNQN, ioQueues: 1, dhchap: { key: KEY2 } }), failedAuth);
    assert.equal(await rpc('nvmf_subsystem_set_keys', { nqn: SUBNQN, host: HOSTNQN, dhchap_key: 'key2' }), true);
    assert.equal(await rpc('keyring_file_remove_key', { name: 'key1' }), true);
  } finally {
    await target.close();
  }
  const all = text.join('');
  for (const k of [KEY1, KEY2]) assert.ok(!all.includes(k.slice(10, 40)), 'no secret in the logs');
  assert.equal(all.split('\n').filter((l) => l.includes('keyring_file_add_key refused')).length, 1, 'the bad file: one line');
  assert.match(all, /key added to the keyring/);
});
