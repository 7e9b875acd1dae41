// Namespaces on Ceph RBD images, against a real single-node cluster (test/ceph/cluster.sh brings it up
// from Debian's packages, and takes it down at the end): the command set with data checked, on the main
// thread and on an I/O worker, a resize by `rbd resize` reaching the host as an event, SPDK's
// bdev_rbd_* methods, and librbd's errors as clear failures.
// NVMETD_TEST_CEPH=0 leaves these tests out (for a machine where installing Ceph is not wanted).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller } from '../../src/initiator/controller.js';
import { AsyncEvent, LogId } from '../../src/spec/log.js';
import { Generic, Media, SCT } from '../../src/spec/status.js';
import type { NamespaceConfig, RbdBacking, TargetConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/util/log.js';
import { startTarget } from '../../src/server/target.js';
import { MiB, SUBNQN, assertHealthy, pattern, testConfig, withTarget } from './helpers.js';
import { withRpcTarget } from './rpc-helpers.js';
import { call } from '../../src/cli/rpc.js';
import { HOSTNQN } from './helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = path.join(root, 'test', 'ceph', 'cluster.sh');
const dir = process.env.NVMETD_CEPH_DIR ?? '/tmp/nvmetd-ceph-test';
const conf = path.join(dir, 'ceph.conf');
const POOL = 'nvmetd';
const skip = process.env.NVMETD_TEST_CEPH === '0' ? 'NVMETD_TEST_CEPH=0: the Ceph tests are switched off' : false;

const FID_ASYNC_EVENT_CONFIG = 0x0b;
const AEC_NS_ATTR = 1 << 8;

function rbd(...args: string[]): string {
  return execFileSync('rbd', ['-c', conf, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function image(name: string, size = '64M'): RbdBacking {
  try {
    rbd('rm', '--no-progress', `${POOL}/${name}`);
  } catch {
    /* not there */
  }
  rbd('create', '--size', size, `${POOL}/${name}`);
  return { type: 'rbd', pool: POOL, image: name, cephConf: conf, user: 'admin' };
}

function rbdConfig(backing: RbdBacking, o: { workers?: number; blockSize?: 512 | 4096 } = {}): TargetConfig {
  const c = testConfig({ workers: o.workers ?? 0 });
  const ns: NamespaceConfig = { ...c.subsystems[0]!.namespaces[0]!, backing, blockSize: o.blockSize ?? 512 };
  c.subsystems[0]!.namespaces = [ns];
  return c;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

before(() => {
  if (skip) return;
  execFileSync('bash', [script, 'up', dir], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
});

after(() => {
  if (skip || process.env.NVMETD_CEPH_KEEP === '1') return;
  execFileSync('bash', [script, 'down', dir], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60_000 });
});

/** Write / read / compare / flush / write zeroes / deallocate / out of range, data checked through the target. */
async function exercise(c: Controller, bs: number, blocks: number): Promise<void> {
  const nlb = 16;
  const data = pattern(nlb * bs, bs);
  assert.ok((await c.write(1, 64, nlb, data)).ok, 'write');
  const back = Buffer.alloc(nlb * bs);
  assert.ok((await c.read(1, 64, nlb, back)).ok, 'read');
  assert.ok(back.equals(data), 'read returns what was written');
  assert.ok((await c.compare(1, 64, nlb, data)).ok, 'compare equal');
  const differs = Buffer.from(data);
  differs[5] ^= 1;
  const cmp = await c.compare(1, 64, nlb, differs);
  assert.deepEqual([cmp.sct, cmp.sc], [SCT.MEDIA, Media.COMPARE_FAILURE], 'compare mismatch');
  assert.ok((await c.flush(1)).ok, 'flush');
  assert.ok((await c.writeZeroes(1, 66, 4)).ok, 'write zeroes');
  assert.ok((await c.read(1, 64, nlb, back)).ok);
  assert.ok(back.subarray(0, 2 * bs).equals(data.subarray(0, 2 * bs)), 'before the zeroed range: intact');
  assert.ok(back.subarray(2 * bs, 6 * bs).every((b) => b === 0), 'the zeroed range reads zeroes');
  assert.ok(back.subarray(6 * bs).equals(data.subarray(6 * bs)), 'after the zeroed range: intact');
  assert.ok((await c.dsm(1, [{ slba: 70, nlb: 2 }])).ok, 'deallocate');
  // A large transfer, in many pieces of the image's objects.
  const big = pattern(MiB, 9);
  assert.ok((await c.write(1, blocks - MiB / bs, MiB / bs, big)).ok, '1 MiB write at the end');
  const bigBack = Buffer.alloc(MiB);
  assert.ok((await c.read(1, blocks - MiB / bs, MiB / bs, bigBack)).ok);
  assert.ok(bigBack.equals(big), '1 MiB read back');
  const oob = await c.read(1, blocks, 1, Buffer.alloc(bs));
  assert.deepEqual([oob.sct, oob.sc], [SCT.GENERIC, Generic.LBA_OUT_OF_RANGE], 'past the end: LBA out of range');
  // Many in flight at once.
  const writes = [];
  for (let i = 0; i < 64; i++) writes.push(c.write(1, 1000 + i * 8, 8, pattern(8 * bs, i)));
  for (const r of await Promise.all(writes)) assert.ok(r.ok, `concurrent write: ${r.name}`);
  for (let i = 0; i < 64; i += 9) {
    const b = Buffer.alloc(8 * bs);
    assert.ok((await c.read(1, 1000 + i * 8, 8, b)).ok);
    assert.ok(b.equals(pattern(8 * bs, i)), `concurrent write ${i} reads back`);
  }
}

test('rbd: a namespace on an RBD image serves the command set, data checked (main thread, 512-byte blocks)', { skip }, () =>
  withTarget(rbdConfig(image('it-main')), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const info = await c.namespaceInfo(1);
      assert.equal(info.nsze, BigInt((64 * MiB) / 512), 'the image size');
      await exercise(c, 512, (64 * MiB) / 512);
    } finally {
      await c.disconnect();
    }
  }));

test('rbd: on an I/O worker thread with 4096-byte blocks, two connections share the one image handle', { skip }, () =>
  withTarget(rbdConfig(image('it-worker'), { workers: 2, blockSize: 4096 }), async (t) => {
    const a = await Controller.connect(t.opts({ ioQueues: 1 }));
    const b = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      await exercise(a, 4096, (64 * MiB) / 4096);
      // What one connection (one worker) writes, the other reads.
      const d = pattern(4096 * 4, 77);
      assert.ok((await a.write(1, 500, 4, d)).ok);
      const back = Buffer.alloc(4096 * 4);
      assert.ok((await b.read(1, 500, 4, back)).ok);
      assert.ok(back.equals(d), 'the second connection reads the first one\'s write');
      // One RADOS client per gateway: the lock has exactly one owner.
      const lock = rbd('lock', 'ls', `${POOL}/it-worker`);
      assert.ok(!/There are 2/.test(lock), `one lock owner: ${lock}`);
    } finally {
      await a.disconnect();
      await b.disconnect();
    }
  }));

test('rbd: `rbd resize` of the image reaches the host (Namespace Attribute Changed, new size), also with a worker', { skip }, () =>
  withTarget(rbdConfig(image('it-resize', '32M'), { workers: 1 }), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const old = (32 * MiB) / 512;
      const past = await c.write(1, old + 8, 1, pattern(512, 1));
      assert.equal(past.sc, Generic.LBA_OUT_OF_RANGE, 'past the end before the resize');
      assert.ok((await c.setFeatures(FID_ASYNC_EVENT_CONFIG, AEC_NS_ATTR)).ok);
      const aen = c.asyncEventRequest();
      rbd('resize', '--no-progress', '--size', '48M', `${POOL}/it-resize`);
      const ev = await within(aen, 15_000, 'the Namespace Attribute Changed event');
      assert.equal((ev.dw0 >> 8) & 0xff, AsyncEvent.NOTICE_NS_ATTR_CHANGED);
      assert.equal((ev.dw0 >> 16) & 0xff, LogId.ChangedNsList);
      assert.equal((await c.namespaceInfo(1)).nsze, BigInt((48 * MiB) / 512), 'Identify shows the new size');
      await assertHealthy(c, 1, old + 8);
    } finally {
      await c.disconnect();
    }
  }));

test('rbd: SPDK\'s bdev_rbd_create / bdev_rbd_resize / bdev_rbd_delete, with a registered cluster', { skip }, () =>
  withRpcTarget(testConfig(), async (t) => {
    image('it-rpc', '16M');
    assert.equal(await t.rpc('bdev_rbd_register_cluster', { name: 'c1', user_id: 'admin', config_file: conf }), 'c1');
    const name = await t.rpc('bdev_rbd_create', { pool_name: POOL, rbd_name: 'it-rpc', block_size: 512, cluster_name: 'c1' });
    assert.equal(name, 'Ceph0', 'SPDK\'s default name');
    const [bdev] = (await t.rpc('bdev_get_bdevs', { name: 'Ceph0' })) as { product_name: string; num_blocks: number; driver_specific: { rbd: { pool_name: string; rbd_name: string } } }[];
    assert.equal(bdev!.product_name, 'Ceph Rbd Disk');
    assert.equal(bdev!.num_blocks, (16 * MiB) / 512);
    assert.deepEqual([bdev!.driver_specific.rbd.pool_name, bdev!.driver_specific.rbd.rbd_name], [POOL, 'it-rpc']);
    assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: 'Ceph0', nsid: 2 } }), 2);
    const c = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const d = pattern(4096, 5);
      assert.ok((await c.write(2, 8, 8, d)).ok);
      const back = Buffer.alloc(4096);
      assert.ok((await c.read(2, 8, 8, back)).ok);
      assert.ok(back.equals(d));
      assert.ok((await c.setFeatures(FID_ASYNC_EVENT_CONFIG, AEC_NS_ATTR)).ok);
      const aen = c.asyncEventRequest();
      aen.catch(() => undefined);
      assert.equal(await t.rpc('bdev_rbd_resize', { name: 'Ceph0', new_size: 24 }), true);
      await within(aen, 15_000, 'the event after bdev_rbd_resize');
      assert.equal((await c.namespaceInfo(2)).nsze, BigInt((24 * MiB) / 512));
      assert.equal((await t.rpcError('bdev_rbd_delete', { name: 'Ceph0' })).code, -16, 'in use by a namespace');
      assert.equal((await t.rpcError('bdev_rbd_unregister_cluster', { name: 'c1' })).code, -16, 'in use by a bdev');
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn: SUBNQN, nsid: 2 }), true);
      assert.equal(await t.rpc('bdev_rbd_delete', { name: 'Ceph0' }), true);
      assert.equal(await t.rpc('bdev_rbd_unregister_cluster', { name: 'c1' }), true);
      const e = await t.rpcError('bdev_rbd_create', { pool_name: POOL, rbd_name: 'no-such-image', block_size: 512, config: { config_file: conf } });
      assert.equal(e.code, -22);
      assert.match(e.data ?? e.message, /no-such-image.*No such file/, 'librbd\'s reason is in the answer');
    } finally {
      await c.disconnect();
    }
  }));

test('rbd: a namespace on a missing image or pool stops the start with the reason', { skip }, async () => {
  const log = createLogger('silent');
  const missing = rbdConfig({ type: 'rbd', pool: POOL, image: 'not-there', cephConf: conf, user: 'admin' });
  await assert.rejects(startTarget(missing, log), /rbd:nvmetd\/not-there: image nvmetd\/not-there: No such file or directory/);
  const noPool = rbdConfig({ type: 'rbd', pool: 'no-pool', image: 'x', cephConf: conf, user: 'admin' });
  await assert.rejects(startTarget(noPool, log), /pool no-pool: No such file or directory/);
  assert.ok(fs.existsSync(conf));
});

/** One gateway as its own process (a config file, an RPC socket), as an operator runs it. */
interface Gateway {
  child: ChildProcess;
  port: number;
  sock: string;
  exited: Promise<number | null>;
  rpc(method: string, params: Record<string, unknown>): Promise<unknown>;
}

const BIN = path.join(root, 'bin', 'nvmetd.js');
const HA_NQN = 'nqn.2026-11.io.nvmetd:rbd-ha';

async function startGateway(name: string, cntlidMin: number, workDir: string): Promise<Gateway> {
  const sock = path.join(workDir, `${name}.sock`);
  const cfg = {
    rpcSocket: sock,
    logLevel: 'info',
    ports: [{ address: '127.0.0.1', port: 0 }],
    subsystems: [
      {
        nqn: HA_NQN,
        serial: 'RBDHA0001',
        cntlidMin,
        cntlidMax: cntlidMin + 999,
        namespaces: [{ nsid: 1, uuid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427', backing: { type: 'rbd', pool: POOL, image: 'it-ha', cephConf: conf } }],
      },
    ],
  };
  const file = path.join(workDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(cfg));
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:([0-9]+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`gateway ${name} exited ${code}: ${out}`)));
  });
  return {
    child,
    port,
    sock,
    exited,
    rpc: async (method, params) => {
      const a = await call(sock, method, params as never, 60_000);
      if (a.error) throw new Error(`${name} ${method}: ${JSON.stringify(a.error)}`);
      return a.result;
    },
  };
}

function anaState(g: Gateway, state: string): Promise<unknown> {
  return g.rpc('nvmf_subsystem_listener_set_ana_state', { nqn: HA_NQN, listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(g.port) }, ana_state: state });
}

test('rbd: two gateways on one image; the optimized one is SIGKILLed, the other takes the image over without the lock timeout; planned move back', { skip, timeout: 180_000 }, async () => {
  image('it-ha', '64M');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rbd-ha-'));
  let a: Gateway | null = await startGateway('a', 1, workDir);
  const b = await startGateway('b', 1001, workDir);
  const opts = (g: Gateway) => ({ host: '127.0.0.1', port: g.port, subnqn: HA_NQN, hostnqn: HOSTNQN, ioQueues: 1, commandTimeoutMs: 60_000 });
  try {
    await anaState(b, 'inaccessible');
    await anaState(a, 'optimized');
    const ca = await Controller.connect(opts(a));
    const cb = await Controller.connect(opts(b));
    assert.notEqual(ca.cntlid, cb.cntlid, 'disjoint controller ids');
    const idA = await ca.namespaceInfo(1);
    const idB = await cb.namespaceInfo(1);
    assert.equal(Buffer.from(idA.nguid).toString('hex'), Buffer.from(idB.nguid).toString('hex'), 'the same NGUID through both gateways');
    const p1 = pattern(64 * 1024, 21);
    assert.ok((await ca.write(1, 0, 128, p1)).ok, 'write through gateway a');

    // Gateway a dies while it holds the image's exclusive lock.
    a.child.kill('SIGKILL');
    await a.exited;
    a = null;
    const t0 = Date.now();
    await anaState(b, 'optimized');
    const back = Buffer.alloc(64 * 1024);
    assert.ok((await cb.read(1, 0, 128, back)).ok);
    assert.ok(back.equals(p1), 'gateway b reads what was acknowledged through a');
    const p2 = pattern(64 * 1024, 22);
    assert.ok((await cb.write(1, 128, 128, p2)).ok, 'write through gateway b');
    const took = Date.now() - t0;
    assert.ok(took < 20_000, `the takeover waited for the dead client's lock (${took} ms): it must break it`);
    const locks = rbd('lock', 'ls', `${POOL}/it-ha`);
    assert.match(locks, /There is 1 exclusive lock/, `one owner: ${locks}`);
    await ca.disconnect().catch(() => undefined);

    // a comes back, optimized by default while b owns the image: a's writes are a path error (the host
    // goes to b), not a failed write.
    a = await startGateway('a', 1, workDir);
    const early = await Controller.connect(opts(a));
    const refused = await early.write(1, 512, 8, pattern(4096, 25));
    assert.deepEqual([refused.sct, refused.sc], [3, 0x02], `a write through the gateway that does not own the image: ANA Inaccessible, not ${refused.toString()}`);
    await early.disconnect();
    // Planned move to a: b gives the lock up, a takes it without blocklisting b.
    await anaState(a, 'inaccessible');
    await anaState(b, 'inaccessible');
    await anaState(a, 'optimized');
    const ca2 = await Controller.connect(opts(a));
    const both = Buffer.alloc(128 * 1024);
    assert.ok((await ca2.read(1, 0, 256, both)).ok);
    assert.ok(both.equals(Buffer.concat([p1, p2])), 'gateway a reads both writes after the move back');
    assert.ok((await ca2.write(1, 256, 8, pattern(4096, 23))).ok);
    // b was not blocklisted by the planned move: made optimized again, it serves I/O.
    await anaState(a, 'inaccessible');
    await anaState(b, 'optimized');
    assert.ok((await cb.write(1, 264, 8, pattern(4096, 24))).ok, 'b still writes after a planned move away and back');
    await ca2.disconnect();
    await cb.disconnect();
  } finally {
    a?.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([a?.exited, b.exited]);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
});
