// Read-only JSON-RPC methods over the socket, against a live target (SPDK's JSON shapes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import net from 'node:net';
import { startTarget } from '../../src/server/target.js';
import { createLogger } from '../../src/util/log.js';
import { HOSTNQN, MiB, SUBNQN, testConfig, assertHealthy } from './helpers.js';
import { withRpcTarget } from './rpc-helpers.js';
import { ALL_METHODS } from '../../src/rpc/methods/index.js';

test('rpc: spdk_get_version and rpc_get_methods (current= as SPDK: what can be called now)', () =>
  withRpcTarget(undefined, async (t) => {
    const v = (await t.rpc('spdk_get_version')) as { version: string; fields: { major: number; minor: number; patch: number; suffix: string } };
    assert.match(v.version, /^nvmetd v\d+\.\d+\.\d+/);
    assert.equal(typeof v.fields.major, 'number');
    const e = await t.rpcError('spdk_get_version', {});
    assert.deepEqual(e, { code: -32602, message: 'spdk_get_version method requires no parameters' });
    const all = (await t.rpc('rpc_get_methods')) as string[];
    assert.deepEqual(all, ALL_METHODS.map((m) => m.name));
    for (const name of ['nvmf_get_subsystems', 'bdev_malloc_create', 'nvmf_subsystem_add_ns', 'nvmf_get_stats']) assert.ok(all.includes(name), name);
    assert.deepEqual(await t.rpc('rpc_get_methods', { current: true }), all, 'without workers every method can be called now');
    const bad = await t.rpcError('rpc_get_methods', { current: 'yes' });
    assert.equal(bad.code, -32602);
    assert.equal(bad.message, 'Invalid parameters');
    assert.deepEqual(await t.rpcError('no_such_method'), { code: -32601, message: 'Method not found' });
    assert.equal(await t.rpc('framework_wait_init'), true);
  }));

test('rpc: nvmf_get_subsystems and bdev_get_bdevs describe the config in SPDK\'s shape', () =>
  withRpcTarget(testConfig({ namespaces: [{ size: 64 * MiB }, { blockSize: 4096, size: 16 * MiB }], allowAnyHost: false, allowedHosts: [HOSTNQN] }), async (t) => {
    const subs = (await t.rpc('nvmf_get_subsystems')) as Record<string, unknown>[];
    assert.equal(subs.length, 2);
    const port = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(t.port) };
    assert.deepEqual(subs[0], { nqn: 'nqn.2014-08.org.nvmexpress.discovery', subtype: 'Discovery', listen_addresses: [port], allow_any_host: true, hosts: [] });
    const s = subs[1]! as { namespaces: Record<string, unknown>[] } & Record<string, unknown>;
    assert.equal(s.nqn, SUBNQN);
    assert.equal(s.subtype, 'NVMe');
    assert.deepEqual(s.listen_addresses, [port]);
    assert.equal(s.allow_any_host, false);
    assert.deepEqual(s.hosts, [{ nqn: HOSTNQN }]);
    assert.equal(s.serial_number, 'NVMETDTEST0001');
    assert.equal(s.model_number, 'nvmetd test');
    assert.equal(s.max_namespaces, 1024);
    assert.equal(s.namespaces.length, 2);
    const cfg = t.target.ctx.config.subsystems[0]!.namespaces[1]!;
    assert.deepEqual(s.namespaces[1], {
      nsid: 2,
      bdev_name: `${SUBNQN}:ns2`,
      name: `${SUBNQN}:ns2`,
      nguid: cfg.nguid.toUpperCase(),
      eui64: cfg.eui64.toUpperCase(),
      uuid: cfg.uuid,
    });
    assert.deepEqual(await t.rpc('nvmf_get_subsystems', { nqn: SUBNQN }), [s]);
    assert.deepEqual(await t.rpcError('nvmf_get_subsystems', { nqn: 'nqn.2026-11.io.x:none' }), { code: -32602, message: "Subsystem with NQN 'nqn.2026-11.io.x:none' not found" });
    assert.deepEqual(await t.rpcError('nvmf_get_subsystems', { tgt_name: 'other' }), { code: -32602, message: "NVMf target 'other' not found" });

    const bdevs = (await t.rpc('bdev_get_bdevs')) as Record<string, unknown>[];
    assert.equal(bdevs.length, 2);
    const b = bdevs[1]!;
    assert.equal(b.name, `${SUBNQN}:ns2`);
    assert.equal(b.product_name, 'Malloc disk');
    assert.equal(b.block_size, 4096);
    assert.equal(b.num_blocks, (16 * MiB) / 4096);
    assert.equal(b.uuid, cfg.uuid);
    assert.equal(b.claimed, true);
    assert.deepEqual(await t.rpc('bdev_get_bdevs', { name: cfg.uuid }), [b], 'a bdev is also found by its UUID');
    assert.deepEqual(await t.rpcError('bdev_get_bdevs', { name: 'nope' }), { code: -19, message: 'No such device' });
    const e = await t.rpcError('bdev_get_bdevs', { name: 5 });
    assert.equal(e.code, -32603);
    assert.equal(e.message, 'spdk_json_decode_object failed');
  }));

// Every queue on the main thread (one poll group) whatever NVMETD_TEST_WORKERS says: the next test is the
// same with I/O workers.
test('rpc: controllers, qpairs and stats of a connected host', () =>
  withRpcTarget(testConfig({ workers: 0 }), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 2 }));
    try {
      await assertHealthy(c);
      const ctrls = (await t.rpc('nvmf_subsystem_get_controllers', { nqn: SUBNQN })) as Record<string, unknown>[];
      assert.deepEqual(ctrls, [{ cntlid: c.cntlid, cntrltype: 'io', hostnqn: HOSTNQN, hostid: Buffer.from(c.hostid).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'), num_io_qpairs: 2 }]);
      const qpairs = (await t.rpc('nvmf_subsystem_get_qpairs', { nqn: SUBNQN })) as { qid: number; cntlid: number; state: string; thread: string; hostnqn: string; listen_address: { trsvcid: string }; peer_address: { traddr: string; trsvcid: string } }[];
      assert.deepEqual(qpairs.map((q) => q.qid), [0, 1, 2]);
      for (const q of qpairs) {
        assert.equal(q.cntlid, c.cntlid);
        assert.equal(q.state, 'enabled');
        assert.equal(q.thread, 'nvmf_tgt_poll_group_000');
        assert.equal(q.hostnqn, HOSTNQN);
        assert.equal(q.listen_address.trsvcid, String(t.port));
        assert.equal(q.peer_address.traddr, '127.0.0.1');
        assert.match(q.peer_address.trsvcid, /^\d+$/);
      }
      const stats = (await t.rpc('nvmf_get_stats')) as { tick_rate: number; poll_groups: Record<string, unknown>[] };
      assert.equal(stats.poll_groups.length, 1);
      const g = stats.poll_groups[0]!;
      assert.equal(g.name, 'nvmf_tgt_poll_group_000');
      assert.equal(g.current_admin_qpairs, 1);
      assert.equal(g.current_io_qpairs, 2);
      assert.ok((g.completed_nvme_io as number) >= 2, 'the write and the read are counted');
      assert.deepEqual(g.transports, [{ trtype: 'TCP' }]);
      const e = await t.rpcError('nvmf_subsystem_get_controllers', {});
      assert.deepEqual(e.code, -32602);
    } finally {
      await c.disconnect();
    }
  }));

test('rpc: with I/O workers, every method can be called (changes reach the workers); reads show the worker threads', () =>
  withRpcTarget(testConfig({ workers: 1 }), async (t) => {
    const current = (await t.rpc('rpc_get_methods', { current: true })) as string[];
    assert.deepEqual(current, await t.rpc('rpc_get_methods'));
    assert.equal((await t.rpc('nvmf_get_subsystems')) instanceof Array, true);
    // The transport options: accepted when they change nothing the workers hold.
    assert.equal((await t.rpcError('nvmf_create_transport', { trtype: 'TCP', in_capsule_data_size: 4096 })).code, -1);
    assert.equal(await t.rpc('nvmf_create_transport', { trtype: 'TCP', in_capsule_data_size: 8192, zcopy: false }), true);
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      await assertHealthy(c);
      const qpairs = (await t.rpc('nvmf_subsystem_get_qpairs', { nqn: SUBNQN })) as { qid: number; thread: string }[];
      assert.deepEqual(qpairs.map((q) => [q.qid, q.thread]), [[0, 'nvmf_tgt_poll_group_000'], [1, 'nvmf_tgt_poll_group_001']]);
      const stats = (await t.rpc('nvmf_get_stats')) as { poll_groups: { name: string; current_io_qpairs: number }[] };
      assert.deepEqual(stats.poll_groups.map((g) => [g.name, g.current_io_qpairs]), [['nvmf_tgt_poll_group_000', 0], ['nvmf_tgt_poll_group_001', 1]]);
    } finally {
      await c.disconnect();
    }
  }));

test('rpc: a socket path that cannot be bound fails the start, and what was started is closed', async () => {
  const config = testConfig();
  // A fixed free port, so that we can check it is free again afterwards.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  config.ports[0]!.port = port;
  await assert.rejects(startTarget({ ...config, rpcSocket: '/nonexistent-dir/rpc.sock' }, createLogger('silent')));
  const again = net.createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(port, '127.0.0.1', resolve);
  });
  await new Promise<void>((r) => again.close(() => r()));
});
