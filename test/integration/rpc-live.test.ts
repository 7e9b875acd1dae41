// Live management through the JSON-RPC socket: taking access away disconnects (remove_host,
// remove_listener, delete_subsystem), and namespace changes reach the I/O worker threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Controller } from '../../src/initiator/controller.js';
import { RawConnection } from '../../src/initiator/raw.js';
import { Generic, SCT } from '../../src/spec/status.js';
import { AsyncEvent, LogId } from '../../src/spec/log.js';
import { HOSTNQN, MiB, SUBNQN, assertHealthy, pattern, rawIoQueue, testConfig } from './helpers.js';
import { withRpcTarget, type RpcRunning } from './rpc-helpers.js';

const NQN2 = 'nqn.2016-06.io.spdk:cnode2';
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-1111-4222-8333-944455566677';

function listener(trsvcid: number): { trtype: string; adrfam: string; traddr: string; trsvcid: string } {
  return { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(trsvcid) };
}

/** Resolves when `p` settles; fails the test past `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function controllers(t: RpcRunning, nqn: string): Promise<{ hostnqn: string }[]> {
  return (await t.rpc('nvmf_subsystem_get_controllers', { nqn })) as { hostnqn: string }[];
}

const FID_ASYNC_EVENT_CONFIG = 0x0b;
const AEC_NS_ATTR = 1 << 8;

function isLbaOutOfRange(r: { sct: number; sc: number }): boolean {
  return r.sct === SCT.GENERIC && r.sc === Generic.LBA_OUT_OF_RANGE;
}

function isInvalidNamespace(r: { sct: number; sc: number }): boolean {
  return r.sct === SCT.GENERIC && r.sc === Generic.INVALID_NAMESPACE;
}

test('rpc live: nvmf_subsystem_remove_host disconnects that host\'s controllers and only those', () =>
  withRpcTarget(testConfig({ allowAnyHost: false, allowedHosts: [HOSTNQN, OTHER_HOST] }), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    const other = await Controller.connect(t.opts({ hostnqn: OTHER_HOST, ioQueues: 1 }));
    try {
      await assertHealthy(c);
      const genctr = t.target.ctx.genctr;
      assert.equal(await t.rpc('nvmf_subsystem_remove_host', { nqn: SUBNQN, host: HOSTNQN }), true);
      await within(c.admin.closed, 3000, 'the removed host\'s admin queue closes');
      await within(c.io[0]!.closed, 3000, 'the removed host\'s I/O queue closes');
      assert.ok(t.target.ctx.genctr > genctr, 'the discovery log generation changes');
      assert.deepEqual((await controllers(t, SUBNQN)).map((x) => x.hostnqn), [OTHER_HOST]);
      await assertHealthy(other);
      await assert.rejects(Controller.connect(t.opts({ commandTimeoutMs: 3000 })), 'the removed host cannot come back');
    } finally {
      c.destroy();
      await other.disconnect();
    }
  }));

test('rpc live: nvmf_subsystem_remove_listener tears down controllers that came through it and closes I/O queues on it', () =>
  withRpcTarget(undefined, async (t) => {
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: SUBNQN, listen_address: listener(0) }), true);
    const addrs = ((await t.rpc('nvmf_get_subsystems', { nqn: SUBNQN })) as { listen_addresses: { trsvcid: string }[] }[])[0]!.listen_addresses;
    const port2 = Number(addrs[1]!.trsvcid);
    // A controller whose admin queue came through the second port.
    const via2 = await Controller.connect(t.opts({ port: port2, ioQueues: 1 }));
    // A controller on the first port with one more I/O queue through the second.
    const c = await Controller.connect(t.opts({ ioQueues: 1, extraIoQueues: 1 }));
    const raw = await rawIoQueue({ ...t, raw: () => RawConnection.open(t.host, port2) }, c, 2);
    try {
      await assertHealthy(via2);
      assert.equal(await t.rpc('nvmf_subsystem_remove_listener', { nqn: SUBNQN, listen_address: listener(port2) }), true);
      await within(via2.admin.closed, 3000, 'the admin queue that came through the removed listener closes');
      const end = await raw.termination(3000);
      assert.equal(end.closed, true, 'the I/O queue that came through the removed listener closes');
      await assertHealthy(c);
      const left = await controllers(t, SUBNQN);
      assert.equal(left.length, 1, 'the controller of the first port stays');
    } finally {
      via2.destroy();
      raw.close();
      await c.disconnect();
    }
  }));

test('rpc live: nvmf_delete_subsystem disconnects its connected hosts', () =>
  withRpcTarget(undefined, async (t) => {
    assert.equal(await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 2048, name: 'M' }), 'M');
    assert.equal(await t.rpc('nvmf_create_subsystem', { nqn: NQN2, allow_any_host: true }), true);
    assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'M' } }), 1);
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: listener(t.port) }), true);
    const c = await Controller.connect(t.opts({ subnqn: NQN2, ioQueues: 1 }));
    const stays = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      await assertHealthy(c, 1, 7);
      const genctr = t.target.ctx.genctr;
      assert.equal(await t.rpc('nvmf_delete_subsystem', { nqn: NQN2 }), true);
      await within(c.admin.closed, 3000, 'the deleted subsystem\'s admin queue closes');
      await within(c.io[0]!.closed, 3000, 'the deleted subsystem\'s I/O queue closes');
      assert.ok(t.target.ctx.genctr > genctr);
      assert.deepEqual(((await t.rpc('nvmf_get_subsystems')) as { nqn: string }[]).map((s) => s.nqn), ['nqn.2014-08.org.nvmexpress.discovery', SUBNQN]);
      assert.equal(((await t.rpc('bdev_get_bdevs', { name: 'M' })) as { claimed: boolean }[])[0]!.claimed, false);
      await assertHealthy(stays);
    } finally {
      c.destroy();
      await stays.disconnect();
    }
  }));

test('rpc live: with an I/O worker, a removed namespace fails with Invalid Namespace on the worker queue, in-flight commands complete; re-added it has its data', () =>
  withRpcTarget(testConfig({ workers: 1 }), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const qpairs = (await t.rpc('nvmf_subsystem_get_qpairs', { nqn: SUBNQN })) as { qid: number; thread: string }[];
      assert.deepEqual(qpairs.map((q) => [q.qid, q.thread]), [[0, 'nvmf_tgt_poll_group_000'], [1, 'nvmf_tgt_poll_group_001']], 'the I/O queue is on the worker');
      const data = pattern(512, 42);
      assert.ok((await c.write(1, 42, 1, data)).ok);
      // Commands in flight while the namespace goes: each completes, with success or Invalid Namespace.
      const inflight = Array.from({ length: 16 }, (_, i) => c.read(1, i * 8, 8, Buffer.alloc(4096)));
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn: SUBNQN, nsid: 1 }), true);
      for (const r of await within(Promise.all(inflight), 5000, 'in-flight reads complete')) assert.ok(r.ok || isInvalidNamespace(r), `in-flight read: ${r.name}`);
      const r = await c.read(1, 42, 1, Buffer.alloc(512));
      assert.ok(isInvalidNamespace(r), `a read of the removed namespace on the worker queue: ${r.name}`);
      const w = await c.write(1, 42, 1, data);
      assert.ok(isInvalidNamespace(w), `a write too: ${w.name}`);
      // The bdev of the config's namespace is free again; added back, it serves the same memory.
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: `${SUBNQN}:ns1`, nsid: 1 } }), 1);
      const back = Buffer.alloc(512);
      assert.ok((await c.read(1, 42, 1, back)).ok);
      assert.ok(back.equals(data), 'the data written before the removal is there');
    } finally {
      await c.disconnect();
    }
  }));

test('rpc live: with an I/O worker, malloc and file namespaces added by RPC serve I/O on the worker queue', () =>
  withRpcTarget(testConfig({ workers: 1 }), async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-live-'));
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, 4 * 1024 * 1024);
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const current = (await t.rpc('rpc_get_methods', { current: true })) as string[];
      assert.ok(current.includes('nvmf_subsystem_add_ns') && current.includes('nvmf_subsystem_remove_ns'), 'namespace changes are callable with workers');
      assert.equal(await t.rpc('bdev_malloc_create', { block_size: 4096, num_blocks: 256, name: 'M' }), 'M');
      assert.equal(await t.rpc('bdev_aio_create', { name: 'F', filename: file, block_size: 512 }), 'F');
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: 'M' } }), 2);
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: 'F', nsid: 7 } }), 7);
      await assertHealthy(c, 2, 100);
      await assertHealthy(c, 7, 1000);
      // The file namespace's data reached the file (the worker's own descriptor).
      const onDisk = Buffer.alloc(512);
      const fd = fs.openSync(file, 'r');
      fs.readSync(fd, onDisk, 0, 512, 1000 * 512);
      fs.closeSync(fd);
      assert.ok(onDisk.equals(pattern(512, 1000)));
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn: SUBNQN, nsid: 7 }), true);
      assert.ok(isInvalidNamespace(await c.read(7, 0, 1, Buffer.alloc(512))));
      assert.equal(await t.rpc('bdev_aio_delete', { name: 'F' }), true);
      await assertHealthy(c, 2, 101);
      await assertHealthy(c, 1, 5);
    } finally {
      await c.disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }));

test('rpc live: nvmetd_namespace_resize grows a RAM namespace (event, Changed Namespace List, Identify); shrinking past data needs force', () =>
  withRpcTarget(testConfig({ namespaces: [{ size: 8 * MiB }] }), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const oldBlocks = (8 * MiB) / 512;
      const data = pattern(512, 9);
      assert.ok((await c.write(1, 100, 1, data)).ok);
      assert.ok(isLbaOutOfRange(await c.write(1, oldBlocks + 10, 1, data)), 'past the end before the resize');
      assert.ok((await c.setFeatures(FID_ASYNC_EVENT_CONFIG, AEC_NS_ATTR)).ok);
      const aen = c.asyncEventRequest();
      assert.equal(await t.rpc('nvmetd_namespace_resize', { nqn: SUBNQN, nsid: 1, size: 16 * MiB }), true);
      const ev = await within(aen, 3000, 'the Namespace Attribute Changed event');
      assert.equal((ev.dw0 >> 8) & 0xff, AsyncEvent.NOTICE_NS_ATTR_CHANGED);
      assert.equal((ev.dw0 >> 16) & 0xff, LogId.ChangedNsList);
      const changed = await c.getLogPage(LogId.ChangedNsList, 4096);
      assert.ok(changed.ok);
      assert.equal(changed.data!.readUInt32LE(0), 1, 'nsid 1 is in the Changed Namespace List');
      assert.equal((await c.namespaceInfo(1)).nsze, BigInt((16 * MiB) / 512), 'Identify shows the new size');
      assert.deepEqual(((await t.rpc('bdev_get_bdevs', { name: `${SUBNQN}:ns1` })) as { num_blocks: number }[])[0]!.num_blocks, (16 * MiB) / 512);
      await assertHealthy(c, 1, oldBlocks + 10);
      const back = Buffer.alloc(512);
      assert.ok((await c.read(1, 100, 1, back)).ok);
      assert.ok(back.equals(data), 'what was written before the resize is kept');
      const e = await t.rpcError('nvmetd_namespace_resize', { nqn: SUBNQN, nsid: 1, size: 8 * MiB });
      assert.equal(e.code, -16, 'data past the new end: refused without force');
      assert.equal((await t.rpcError('nvmetd_namespace_resize', { nqn: SUBNQN, nsid: 1, size: 1000 })).code, -32602, 'not a multiple of the block size');
      assert.equal(await t.rpc('nvmetd_namespace_resize', { nqn: SUBNQN, nsid: 1, size: 8 * MiB, force: true }), true);
      assert.equal((await c.namespaceInfo(1)).nsze, BigInt(oldBlocks));
      assert.equal(await t.rpc('nvmetd_namespace_resize', { nqn: SUBNQN, nsid: 1, size: 16 * MiB }), true);
      const cut = Buffer.alloc(512, 0xff);
      assert.ok((await c.read(1, oldBlocks + 10, 1, cut)).ok);
      assert.ok(cut.equals(Buffer.alloc(512)), 'the range cut off reads as zeroes when grown again');
    } finally {
      await c.disconnect();
    }
  }));

test('rpc live: with an I/O worker, a grown RAM namespace and a rescanned grown file serve I/O past their old end on the worker queue', () =>
  withRpcTarget(testConfig({ workers: 1, namespaces: [{ size: 8 * MiB }] }), async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-resize-'));
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, 4 * MiB);
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const data = pattern(512, 3);
      assert.ok((await c.write(1, 7, 1, data)).ok);
      const past = (8 * MiB) / 512 + 100;
      assert.ok(isLbaOutOfRange(await c.read(1, past, 1, Buffer.alloc(512))));
      assert.equal(await t.rpc('nvmetd_namespace_resize', { nqn: SUBNQN, nsid: 1, size: 12 * MiB }), true);
      assert.equal((await c.namespaceInfo(1)).nsze, BigInt((12 * MiB) / 512));
      await assertHealthy(c, 1, past);
      const back = Buffer.alloc(512);
      assert.ok((await c.read(1, 7, 1, back)).ok);
      assert.ok(back.equals(data), 'the worker still maps the same memory');

      assert.equal(await t.rpc('bdev_aio_create', { name: 'F', filename: file, block_size: 512 }), 'F');
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: 'F', nsid: 2 } }), 2);
      const filePast = (4 * MiB) / 512 + 5;
      assert.ok(isLbaOutOfRange(await c.write(2, filePast, 1, data)));
      fs.truncateSync(file, 6 * MiB);
      assert.equal(await t.rpc('bdev_aio_rescan', { name: 'F' }), true);
      assert.equal((await c.namespaceInfo(2)).nsze, BigInt((6 * MiB) / 512), 'Identify shows the grown file');
      await assertHealthy(c, 2, filePast);
      fs.truncateSync(file, 5 * MiB);
      assert.equal((await t.rpcError('bdev_aio_rescan', { name: 'F' })).code, -16, 'a namespace\'s file may not shrink under it');
    } finally {
      await c.disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }));

test('rpc live: with an I/O worker, a subsystem made by RPC behind a new listener serves I/O on the worker; deleting it disconnects the host', () =>
  withRpcTarget(testConfig({ workers: 1 }), async (t) => {
    assert.equal(await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 4096, name: 'M' }), 'M');
    assert.equal(await t.rpc('nvmf_create_subsystem', { nqn: NQN2, allow_any_host: true }), true);
    assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'M' } }), 1);
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: listener(0) }), true);
    const addrs = ((await t.rpc('nvmf_get_subsystems', { nqn: NQN2 })) as { listen_addresses: { trsvcid: string }[] }[])[0]!.listen_addresses;
    const c = await Controller.connect(t.opts({ subnqn: NQN2, port: Number(addrs[0]!.trsvcid), ioQueues: 1 }));
    try {
      const qpairs = (await t.rpc('nvmf_subsystem_get_qpairs', { nqn: NQN2 })) as { qid: number; thread: string }[];
      assert.deepEqual(qpairs.map((q) => [q.qid, q.thread]), [[0, 'nvmf_tgt_poll_group_000'], [1, 'nvmf_tgt_poll_group_001']], 'the I/O queue is on the worker');
      await assertHealthy(c, 1, 9);
      assert.equal(await t.rpc('nvmf_delete_subsystem', { nqn: NQN2 }), true);
      await within(c.io[0]!.closed, 3000, 'the worker closes the deleted subsystem\'s I/O queue');
      await within(c.admin.closed, 3000, 'the admin queue closes');
      // The bdev is free again; the original subsystem still serves I/O on the worker.
      assert.equal(await t.rpc('bdev_malloc_delete', { name: 'M' }), true);
      const c0 = await Controller.connect(t.opts({ ioQueues: 1 }));
      await assertHealthy(c0);
      await c0.disconnect();
    } finally {
      c.destroy();
    }
  }));

test('rpc live: with an I/O worker, I/O on a subsystem made after another was deleted still counts as keep-alive traffic', () =>
  withRpcTarget(testConfig({ workers: 1 }), async (t) => {
    const NQN_A = 'nqn.2016-06.io.spdk:cnode-a';
    assert.equal(await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 2048, name: 'M' }), 'M');
    assert.equal(await t.rpc('nvmf_create_subsystem', { nqn: NQN_A, allow_any_host: true }), true);
    assert.equal(await t.rpc('nvmf_create_subsystem', { nqn: NQN2, allow_any_host: true }), true);
    // The deleted subsystem was before NQN2 in the list: NQN2's keep-alive records keep their number.
    assert.equal(await t.rpc('nvmf_delete_subsystem', { nqn: NQN_A }), true);
    assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'M' } }), 1);
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: listener(t.port) }), true);
    const c = await Controller.connect(t.opts({ subnqn: NQN2, ioQueues: 1, kato: 1000, sendKeepAlives: false }));
    try {
      // No Keep Alive commands: only I/O on the worker's queue, for well past KATO and its slack.
      const until = Date.now() + 3500;
      while (Date.now() < until) {
        assert.ok((await c.read(1, 0, 1, Buffer.alloc(512))).ok);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok((await c.identifyController()).ok, 'the controller is alive: the worker\'s traffic reached it');
      assert.equal((await controllers(t, NQN2)).length, 1);
    } finally {
      await c.disconnect();
    }
  }));

test('rpc live: a controller torn down under I/O on a worker answers nothing more with a DNR status: its queue just closes (the host retries elsewhere)', () =>
  withRpcTarget(testConfig({ workers: 1, allowAnyHost: false, allowedHosts: [HOSTNQN] }), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    const statuses: string[] = [];
    let stop = false;
    // Keep 32 reads in flight until the queue closes under them.
    const loop = async (): Promise<void> => {
      while (!stop) {
        try {
          const r = await c.read(1, 0, 8, Buffer.alloc(4096));
          if (!r.ok) statuses.push(`sct ${r.sct} sc 0x${r.sc.toString(16)}${r.dnr ? ' DNR' : ''}`);
        } catch {
          return; // the connection closed: what a host sees when a path goes away
        }
      }
    };
    const loops = Array.from({ length: 32 }, loop);
    try {
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await t.rpc('nvmf_subsystem_remove_host', { nqn: SUBNQN, host: HOSTNQN }), true);
      await within(c.io[0]!.closed, 5000, 'the I/O queue on the worker closes');
      stop = true;
      await within(Promise.all(loops), 5000, 'the reads end');
      assert.deepEqual(statuses, [], 'no command was answered with an error status after the teardown');
    } finally {
      stop = true;
      c.destroy();
    }
  }));
