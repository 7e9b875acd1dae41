// JSON-RPC methods that change the running target, driven over the socket and checked from a host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Controller, discover } from '../../src/initiator/controller.js';
import { AsyncEvent, LogId } from '../../src/spec/log.js';
import { HOSTNQN, SUBNQN, assertHealthy, testConfig } from './helpers.js';
import { withRpcTarget, type RpcRunning } from './rpc-helpers.js';
import type { Json } from '../../src/rpc/json-value.js';

const NQN2 = 'nqn.2016-06.io.spdk:cnode1';
const FID_ASYNC_EVENT_CONFIG = 0x0b;
const AEC_NS_ATTR = 1 << 8;

function listener(t: RpcRunning, trsvcid = String(t.port)): { trtype: string; adrfam: string; traddr: string; trsvcid: string } {
  return { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid };
}

test('rpc: malloc bdev -> new subsystem -> namespace -> listener; a host connects and does I/O; teardown in SPDK order', () =>
  withRpcTarget(undefined, async (t) => {
    assert.equal(await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 8192, name: 'Malloc0' }), 'Malloc0');
    assert.equal(await t.rpc('bdev_malloc_create', { block_size: 4096, num_blocks: 256 }), 'Malloc1', 'unnamed malloc bdevs are MallocN');
    assert.deepEqual(await t.rpcError('bdev_malloc_create', { block_size: 512, num_blocks: 8, name: 'Malloc0' }), { code: -17, message: 'File exists', data: 'bdev "Malloc0" exists' });
    assert.equal(await t.rpc('nvmf_create_subsystem', { nqn: NQN2, allow_any_host: true, serial_number: 'SPDK00000000000001' }), true);
    assert.equal((await t.rpcError('nvmf_create_subsystem', { nqn: NQN2 })).message, `Unable to create subsystem ${NQN2}`);
    assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'Malloc0' } }), 1, 'the new nsid is the result');
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: listener(t), secure_channel: false }), true);
    assert.deepEqual(await t.rpcError('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: listener(t) }), { code: -32602, message: 'Invalid parameters', data: 'Listener already exists' });

    const sub = ((await t.rpc('nvmf_get_subsystems', { nqn: NQN2 })) as Record<string, unknown>[])[0]!;
    assert.equal(sub.serial_number, 'SPDK00000000000001');
    assert.equal(sub.model_number, 'SPDK bdev Controller', 'SPDK\'s default model number');
    assert.equal(sub.max_namespaces, 32, 'SPDK\'s default max_namespaces');
    assert.deepEqual(sub.listen_addresses, [{ trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(t.port) }]);
    const malloc0 = ((await t.rpc('bdev_get_bdevs', { name: 'Malloc0' })) as { uuid: string; claimed: boolean }[])[0]!;
    assert.equal(malloc0.claimed, true);
    assert.equal((sub.namespaces as { uuid: string }[])[0]!.uuid, malloc0.uuid, 'the namespace takes the bdev\'s UUID');

    const c = await Controller.connect(t.opts({ subnqn: NQN2, ioQueues: 1 }));
    try {
      const info = await c.namespaceInfo(1);
      assert.equal(info.blockSize, 512);
      assert.equal(Number(info.nsze), 8192);
      await assertHealthy(c, 1, 100);
      // A namespace added while the host is connected is announced by an asynchronous event.
      assert.ok((await c.setFeatures(FID_ASYNC_EVENT_CONFIG, AEC_NS_ATTR)).ok);
      const aen = c.asyncEventRequest();
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'Malloc1', nsid: 5, nguid: '00112233445566778899AABBCCDDEEFF' } }), 5);
      const ev = await aen;
      assert.ok(ev.ok);
      assert.equal(ev.dw0 & 0x7, AsyncEvent.TYPE_NOTICE);
      assert.equal((ev.dw0 >> 8) & 0xff, AsyncEvent.NOTICE_NS_ATTR_CHANGED);
      assert.equal((ev.dw0 >> 16) & 0xff, LogId.ChangedNsList);
      const info5 = await c.namespaceInfo(5);
      assert.equal(info5.blockSize, 4096);
      await assertHealthy(c, 5, 10);
      assert.equal(((await t.rpc('nvmf_get_subsystems', { nqn: NQN2 })) as { namespaces: { nguid: string }[] }[])[0]!.namespaces[1]!.nguid, '00112233445566778899AABBCCDDEEFF');

      // Deleting a bdev that backs a namespace is refused; remove the namespace first.
      assert.equal((await t.rpcError('bdev_malloc_delete', { name: 'Malloc1' })).code, -16);
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn: NQN2, nsid: 5 }), true);
      assert.equal((await t.rpcError('nvmf_subsystem_remove_ns', { nqn: NQN2, nsid: 5 })).code, -32602);
      const list = await c.identifyActiveNsList();
      assert.ok(list.ok);
      assert.equal(list.data!.readUInt32LE(0), 1);
      assert.equal(list.data!.readUInt32LE(4), 0, 'nsid 5 is no longer active');
      assert.equal(await t.rpc('bdev_malloc_delete', { name: 'Malloc1' }), true);
      assert.deepEqual(await t.rpcError('bdev_malloc_delete', { name: 'Malloc1' }), { code: -19, message: 'No such device' });

      await assertHealthy(c, 1, 200);
    } finally {
      await c.disconnect();
    }
    await waitFor(async () => ((await t.rpc('nvmf_subsystem_get_controllers', { nqn: NQN2 })) as unknown[]).length === 0);
    const genctr = t.target.ctx.genctr;
    assert.equal(await t.rpc('nvmf_delete_subsystem', { nqn: NQN2 }), true);
    assert.ok(t.target.ctx.genctr > genctr, 'the discovery log generation changes');
    assert.deepEqual(((await t.rpc('nvmf_get_subsystems')) as { nqn: string }[]).map((s) => s.nqn), ['nqn.2014-08.org.nvmexpress.discovery', SUBNQN]);
    assert.deepEqual(t.target.ctx.config.ports[0]!.subsystems, [SUBNQN]);
    assert.equal(((await t.rpc('bdev_get_bdevs', { name: 'Malloc0' })) as { claimed: boolean }[])[0]!.claimed, false);
    await assert.rejects(Controller.connect(t.opts({ subnqn: NQN2, commandTimeoutMs: 3000 })));
  }));

async function waitFor(cond: () => Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('rpc: host access — add_host admits, allow_any_host opens, remove_host refuses new connections', () =>
  withRpcTarget(undefined, async (t) => {
    assert.equal(await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 2048, name: 'M' }), 'M');
    assert.equal(await t.rpc('nvmf_create_subsystem', { nqn: NQN2 }), true);
    assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'M' } }), 1);
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: listener(t) }), true);
    await assert.rejects(Controller.connect(t.opts({ subnqn: NQN2, commandTimeoutMs: 3000 })), 'SPDK\'s default: allow_any_host false, no hosts');
    assert.equal(await t.rpc('nvmf_subsystem_add_host', { nqn: NQN2, host: HOSTNQN }), true);
    assert.equal((await t.rpcError('nvmf_subsystem_add_host', { nqn: NQN2, host: HOSTNQN })).code, -32603, 'already allowed');
    assert.equal((await t.rpcError('nvmf_subsystem_add_host', { nqn: NQN2, host: 'not an nqn' })).code, -32603);
    // An unknown PSK name (SPDK: the TCP transport refuses the host: Internal error).
    assert.equal((await t.rpcError('nvmf_subsystem_add_host', { nqn: NQN2, host: HOSTNQN, psk: 'key0' })).code, -32603);
    const c = await Controller.connect(t.opts({ subnqn: NQN2 }));
    await assertHealthy(c, 1, 7);
    await c.disconnect();
    await waitFor(async () => ((await t.rpc('nvmf_subsystem_get_controllers', { nqn: NQN2 })) as unknown[]).length === 0);
    assert.equal(await t.rpc('nvmf_subsystem_remove_host', { nqn: NQN2, host: HOSTNQN }), true);
    assert.deepEqual(((await t.rpc('nvmf_get_subsystems', { nqn: NQN2 })) as { hosts: unknown[] }[])[0]!.hosts, []);
    await assert.rejects(Controller.connect(t.opts({ subnqn: NQN2, commandTimeoutMs: 3000 })));
    assert.equal(await t.rpc('nvmf_subsystem_allow_any_host', { nqn: NQN2, allow_any_host: true }), true);
    const c2 = await Controller.connect(t.opts({ subnqn: NQN2 }));
    await c2.disconnect();
    assert.equal((await t.rpcError('nvmf_subsystem_allow_any_host', { nqn: NQN2 })).code, -32602, 'allow_any_host is required');
  }));

function tcpConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

test('rpc: a listener on a new port is a new TCP listener; removing its last subsystem stops it', () =>
  withRpcTarget(undefined, async (t) => {
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: SUBNQN, listen_address: listener(t, '0') }), true);
    const addrs = ((await t.rpc('nvmf_get_subsystems', { nqn: SUBNQN })) as { listen_addresses: { trsvcid: string }[] }[])[0]!.listen_addresses;
    assert.equal(addrs.length, 2);
    const port2 = Number(addrs[1]!.trsvcid);
    assert.ok(port2 > 0 && port2 !== t.port);
    const log = await discover({ host: t.host, port: t.port, hostnqn: HOSTNQN });
    assert.deepEqual(
      log.entries.filter((e) => e.subnqn === SUBNQN).map((e) => e.trsvcid).sort(),
      [String(t.port), String(port2)].sort(),
      'the discovery log shows the new port',
    );
    const listeners = (await t.rpc('nvmf_subsystem_get_listeners', { nqn: SUBNQN })) as { address: unknown; ana_states: { ana_state: string }[] }[];
    assert.deepEqual(listeners.map((l) => l.address), addrs);
    assert.ok(listeners.every((l) => l.ana_states.every((a) => a.ana_state === 'optimized')), 'every ANA group optimized');
    const c = await Controller.connect(t.opts({ port: port2 }));
    await assertHealthy(c);
    await c.disconnect();
    await waitFor(async () => ((await t.rpc('nvmf_subsystem_get_controllers', { nqn: SUBNQN })) as unknown[]).length === 0);
    assert.equal(await t.rpc('nvmf_subsystem_remove_listener', { nqn: SUBNQN, listen_address: listener(t, String(port2)) }), true);
    assert.equal(await tcpConnect(port2), false, 'the new port no longer accepts');
    assert.equal(await tcpConnect(t.port), true, 'the first port still does');
    assert.deepEqual((await t.rpcError('nvmf_subsystem_remove_listener', { nqn: SUBNQN, listen_address: listener(t, String(port2)) })).data, 'Listener not found');
    // A discovery-only listener ('discovery' stands for the discovery NQN, as with SPDK).
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: 'discovery', listen_address: listener(t, '0') }), true);
    const disc = ((await t.rpc('nvmf_get_subsystems')) as { listen_addresses: { trsvcid: string }[] }[])[0]!.listen_addresses;
    assert.equal(disc.length, 2);
    const port3 = Number(disc[1]!.trsvcid);
    const log3 = await discover({ host: t.host, port: port3, hostnqn: HOSTNQN });
    assert.ok(log3.entries.some((e) => e.subnqn === SUBNQN && e.trsvcid === String(t.port)), 'the discovery-only port refers hosts to the subsystem');
    assert.equal((await t.rpcError('nvmf_subsystem_remove_listener', { nqn: 'discovery', listen_address: listener(t) })).code, -32602, 'a port that serves a subsystem stays');
    assert.equal(await t.rpc('nvmf_subsystem_remove_listener', { nqn: 'nqn.2014-08.org.nvmexpress.discovery', listen_address: listener(t, String(port3)) }), true);
    assert.equal(await tcpConnect(port3), false);
    const bads: Json[] = [
      { trtype: 'rdma', traddr: '127.0.0.1', trsvcid: '4420' },
      { trtype: 'tcp', adrfam: 'ipv6', traddr: '127.0.0.1', trsvcid: '4420' },
      { trtype: 'tcp', traddr: '127.0.0.1' },
      { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '70000' },
    ];
    for (const bad of bads) {
      assert.equal((await t.rpcError('nvmf_subsystem_add_listener', { nqn: SUBNQN, listen_address: bad })).code, -32602, JSON.stringify(bad));
    }
  }));

// Transport options are applied on the main thread only (refused while I/O workers run, see docs/rpc.md):
// this runs without workers whatever NVMETD_TEST_WORKERS says.
test('rpc: nvmf_create_transport applies in_capsule_data_size / max_queue_depth / max_io_size to new connections, once', () =>
  withRpcTarget(testConfig({ workers: 0 }), async (t) => {
    assert.equal((await t.rpcError('nvmf_create_transport', { trtype: 'RDMA' })).message, "Invalid transport type 'RDMA'");
    assert.equal((await t.rpcError('nvmf_create_transport', { trtype: 'TCP', in_capsule_data_size: 100 })).code, -32602);
    assert.equal(await t.rpc('nvmf_create_transport', { trtype: 'TCP', in_capsule_data_size: 4096, max_queue_depth: 64, max_io_size: 65536, c2h_success: false, transport_specific_thing: 1 }), true);
    const [tr] = (await t.rpc('nvmf_get_transports')) as Record<string, unknown>[];
    assert.equal(tr!.trtype, 'TCP');
    assert.equal(tr!.in_capsule_data_size, 4096);
    assert.equal(tr!.max_queue_depth, 64);
    assert.equal(tr!.max_io_size, 65536);
    assert.equal(tr!.c2h_success, false, 'stored and shown, though not applied');
    assert.deepEqual(await t.rpcError('nvmf_create_transport', { trtype: 'tcp' }), { code: -32603, message: "Transport type 'tcp' already exists" });
    assert.deepEqual(await t.rpcError('nvmf_get_transports', { trtype: 'RDMA' }), { code: -19, message: 'No such device' });
    // max_queue_depth is now the largest queue a host may ask for.
    await assert.rejects(Controller.connect(t.opts({ ioQueues: 1, queueSize: 128, commandTimeoutMs: 3000 })));
    const c = await Controller.connect(t.opts({ ioQueues: 1, queueSize: 64 }));
    await assertHealthy(c);
    await c.disconnect();
  }));

test('rpc: bdev_aio_create over a file; parameter checks with SPDK\'s codes', () =>
  withRpcTarget(undefined, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-aio-'));
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(1024 * 1024));
    try {
      assert.equal(await t.rpc('bdev_aio_create', { name: 'aio0', filename: file, block_size: 4096 }), 'aio0');
      const [b] = (await t.rpc('bdev_get_bdevs', { name: 'aio0' })) as { product_name: string; num_blocks: number; block_size: number; driver_specific: { aio: { filename: string } } }[];
      assert.equal(b!.product_name, 'AIO disk');
      assert.equal(b!.block_size, 4096);
      assert.equal(b!.num_blocks, 256);
      assert.equal(b!.driver_specific.aio.filename, file);
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: 'aio0' } }), 2);
      const c = await Controller.connect(t.opts({ ioQueues: 1 }));
      await assertHealthy(c, 2, 3);
      await c.disconnect();
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn: SUBNQN, nsid: 2 }), true);
      assert.equal(await t.rpc('bdev_aio_delete', { name: 'aio0' }), true);
      assert.deepEqual(await t.rpcError('bdev_aio_create', { name: 'x', filename: path.join(dir, 'missing') }), { code: -2, message: 'No such file or directory', data: path.join(dir, 'missing') });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // bdev_* decode failures: -32603 "spdk_json_decode_object failed"; nvmf_*: -32602 "Invalid parameters".
    for (const [method, params] of [
      ['bdev_malloc_create', { block_size: 512 }],
      ['bdev_malloc_create', { block_size: 512, num_blocks: 8, bogus: 1 }],
      ['bdev_malloc_create', { block_size: '512', num_blocks: 8 }],
      ['bdev_aio_create', { name: 'x' }],
      ['bdev_uring_create', { filename: '/dev/null' }],
      ['bdev_malloc_delete', {}],
    ] as [string, Json][]) {
      const e = await t.rpcError(method, params);
      assert.deepEqual([e.code, e.message], [-32603, 'spdk_json_decode_object failed'], `${method} ${JSON.stringify(params)}`);
    }
    for (const [method, params] of [
      ['nvmf_create_subsystem', {}],
      ['nvmf_create_subsystem', { nqn: NQN2, bogus: true }],
      ['nvmf_create_subsystem', { nqn: NQN2, min_cntlid: 70000 }],
      ['nvmf_subsystem_add_ns', { nqn: SUBNQN }],
      ['nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { nsid: 3 } }],
      ['nvmf_subsystem_remove_ns', { nqn: SUBNQN, nsid: -1 }],
      ['nvmf_subsystem_add_host', { nqn: SUBNQN }],
      ['nvmf_subsystem_remove_host', { nqn: SUBNQN, host: HOSTNQN, extra: 1 }],
      ['nvmf_subsystem_add_listener', { nqn: SUBNQN, listen_address: { traddr: '127.0.0.1' } }],
      ['nvmf_delete_subsystem', ['nqn']],
    ] as [string, Json][]) {
      const e = await t.rpcError(method, params);
      assert.deepEqual([e.code, e.message], [-32602, 'Invalid parameters'], `${method} ${JSON.stringify(params)}`);
    }
    assert.deepEqual(await t.rpcError('nvmf_create_subsystem', { nqn: NQN2, min_cntlid: 10, max_cntlid: 5 }), { code: -32602, message: 'Invalid cntlid range [10-5]' });
    assert.deepEqual(await t.rpcError('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: `${SUBNQN}:ns1`, nguid: 'xyz' } }), { code: -32602, message: 'Invalid nguid' });
  }));
