// NVMe/TCP over TLS 1.3 end to end with the project's initiator (ConnectOptions.tlsKey) and
// `nvmetd perf --tls-key`: a port that requires TLS, PSKs from hosts[].tlsKey and from the RPC keyring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TargetConfig } from '../../src/config/types.js';
import { formatTlsKey } from '../../src/keys/tls-key.js';
import { Controller } from '../../src/initiator/controller.js';
import { hostTlsPsk } from '../../src/initiator/tls.js';
import { TlsSocket } from '../../src/native/tls-socket.js';
import { parsePerfOptions } from '../../src/perf/options.js';
import { runPerf } from '../../src/perf/run.js';
import { HOSTNQN, MiB, SUBNQN, assertHealthy, pattern, testConfig, withTarget, type Running } from './helpers.js';
import { withRpcTarget } from './rpc-helpers.js';

const KEY = formatTlsKey({ transform: 1, key: crypto.randomBytes(32) });
const OTHER = formatTlsKey({ transform: 1, key: crypto.randomBytes(32) });
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** `nvmetd keys gen-tls --hmac sha384` as a user runs it: the key, then the identities it gives. */
const GEN384 = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'nvmetd.js'), 'keys', 'gen-tls', '--hmac', 'sha384', '--hostnqn', HOSTNQN, '--subnqn', SUBNQN], { encoding: 'utf8', timeout: 20_000 });
const KEY384 = GEN384.stdout.split('\n')[0]!;
const OTHER384 = formatTlsKey({ transform: 2, key: crypto.randomBytes(48) });

function tlsConfig(workers = 0): TargetConfig {
  const c = testConfig({ workers, namespaces: [{ size: 16 * MiB, blockSize: 512 }] });
  c.ports[0]!.tls = 'required';
  c.hosts = [{ nqn: HOSTNQN, tlsKey: KEY }];
  return c;
}

function queuesOnWorkers(t: Running): number {
  return t.target.stats().workers.reduce((n, w) => n + w.queues.length, 0);
}

async function writeReadBack(c: Controller, queue: number, seed: number): Promise<void> {
  const data = pattern(MiB / 8, seed);
  const slba = 256 * seed;
  assert.ok((await c.write(1, slba, data.length / 512, data, { queue })).ok);
  const back = Buffer.alloc(data.length);
  assert.ok((await c.read(1, slba, data.length / 512, back, { queue })).ok);
  assert.ok(back.equals(data), 'reads back what it wrote over TLS');
}

test('initiator TLS: the identity and TLS PSK come from the target-side derivation (version 1, SHA-256)', () => {
  const p = hostTlsPsk(KEY, HOSTNQN, SUBNQN);
  assert.match(p.identity, new RegExp(`^NVMe1R01 ${HOSTNQN} ${SUBNQN} [A-Za-z0-9+/]+=*$`));
  assert.equal(p.psk.length, 32);
  assert.notDeepEqual(hostTlsPsk(OTHER, HOSTNQN, SUBNQN).psk, p.psk);
  assert.equal(p.hash, 1);
});

test('initiator TLS: a SHA-384 key from `nvmetd keys gen-tls --hmac sha384` gives the NVMe1R02 identity it prints, a 48-byte TLS PSK and the SHA-384 hash', () => {
  assert.equal(GEN384.status, 0, GEN384.stderr);
  assert.match(KEY384, /^NVMeTLSkey-1:02:[A-Za-z0-9+/]+=*:$/);
  const p = hostTlsPsk(KEY384, HOSTNQN, SUBNQN);
  assert.ok(GEN384.stdout.includes(`# PSK identity: ${p.identity}\n`), GEN384.stdout);
  assert.match(p.identity, new RegExp(`^NVMe1R02 ${HOSTNQN} ${SUBNQN} [A-Za-z0-9+/]+=*$`));
  assert.equal(p.psk.length, 48);
  assert.equal(p.hash, 2);
});

test('TLS end to end with a SHA-384 PSK: TLS_AES_256_GCM_SHA384, 1 MiB written and read back; a SHA-256 host on the same port still works', async () => {
  const c0 = tlsConfig(0);
  const HOST256 = 'nqn.2014-08.org.nvmexpress:uuid:25625625-6256-2562-5625-625625625625';
  c0.hosts = [{ nqn: HOSTNQN, tlsKey: KEY384 }, { nqn: HOST256, tlsKey: KEY }];
  await withTarget(c0, async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1, tlsKey: KEY384 }));
    try {
      await assertHealthy(c);
      const data = pattern(MiB, 7);
      assert.ok((await c.write(1, 0, data.length / 512, data, { queue: 0 })).ok);
      const back = Buffer.alloc(data.length);
      assert.ok((await c.read(1, 0, data.length / 512, back, { queue: 0 })).ok);
      assert.ok(back.equals(data), 'reads back the 1 MiB it wrote over TLS_AES_256_GCM_SHA384');
      for (const q of [c.admin, c.ioQueue(0)]) {
        assert.ok(q.socket instanceof TlsSocket, 'the queue runs over the TLS engine');
        assert.equal(q.socket.cipher, 'TLS_AES_256_GCM_SHA384');
      }
      const c256 = await Controller.connect({ ...t.opts({ ioQueues: 1, tlsKey: KEY }), hostnqn: HOST256 });
      await writeReadBack(c256, 0, 3);
      await c256.disconnect();
      await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, tlsKey: OTHER384 })), 'a different SHA-384 PSK');
      await assertHealthy(c);
    } finally {
      await c.disconnect();
    }
  });
});

for (const workers of [0, 2]) {
  test(`TLS end to end (workers: ${workers}): I/O over TLS on a required port, I/O queues on the workers when there are some; plain and wrong-key hosts refused`, async () => {
    await withTarget(tlsConfig(workers), async (t) => {
      const c = await Controller.connect(t.opts({ ioQueues: 3, tlsKey: KEY }));
      try {
        await assertHealthy(c);
        for (let q = 0; q < 3; q++) await writeReadBack(c, q, q + 1);
        assert.equal(queuesOnWorkers(t), workers === 0 ? 0 : 3, 'TLS I/O queues are handed to the workers with their session');
        await assert.rejects(Controller.connect({ ...t.opts({ ioQueues: 1 }), connectTimeoutMs: 2000 } as never), 'plain TCP to a port that requires TLS');
        await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, tlsKey: OTHER })), 'a different PSK');
        await assertHealthy(c);
      } finally {
        await c.disconnect();
      }
    });
  });
}

test('TLS with a PSK from the RPC keyring: secure_channel listener + nvmf_subsystem_add_host psk', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-tls-it-'));
  try {
    const file = path.join(dir, 'psk0');
    fs.writeFileSync(file, KEY, { mode: 0o600 });
    const c0 = testConfig({ allowAnyHost: false, namespaces: [{ size: 16 * MiB, blockSize: 512 }] });
    await withRpcTarget(c0, async (t) => {
      assert.equal(await t.rpc('keyring_file_add_key', { name: 'psk0', path: file }), true);
      assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: SUBNQN, listen_address: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '0' }, secure_channel: true }), true);
      const port = t.target.ctx.config.ports.find((p) => p.tls === 'required')!.port;
      const o = { ...t.opts({ ioQueues: 1, tlsKey: KEY }), port };
      await assert.rejects(Controller.connect(o), 'the host has no PSK yet');
      assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: SUBNQN, host: HOSTNQN, psk: 'psk0' }), true);
      const c = await Controller.connect(o);
      try {
        await assertHealthy(c);
      } finally {
        await c.disconnect();
      }
      // The PSK was taken when the host was added (as SPDK does): removing the key does not change TLS.
      assert.equal(await t.rpc('keyring_file_remove_key', { name: 'psk0' }), true);
      const c2 = await Controller.connect(o);
      await c2.disconnect();
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nvmetd perf --tls-key: a short randrw --verify run over TLS, zero errors', async () => {
  await withTarget(tlsConfig(), async (t) => {
    assert.throws(() => parsePerfOptions({ tlsKey: KEY }), /--hostnqn/);
    const o = parsePerfOptions({
      address: t.host,
      port: String(t.port),
      nqn: SUBNQN,
      hostnqn: HOSTNQN,
      tlsKey: KEY,
      workload: 'randrw',
      ioSize: '8k',
      queueDepth: '8',
      connections: '2',
      time: '0.5',
      warmup: '0',
      verify: true,
      quiet: true,
    });
    const r = await runPerf(o);
    assert.equal(r.errors, 0, `errors: ${r.firstError}`);
    assert.equal(r.verifyErrors, 0);
    assert.ok(r.reads > 0 && r.writes > 0);
    const plain = parsePerfOptions({ address: t.host, port: String(t.port), nqn: SUBNQN, hostnqn: HOSTNQN, time: '0.2', warmup: '0', quiet: true });
    await assert.rejects(runPerf(plain), 'without --tls-key the required port refuses');
  });
});
