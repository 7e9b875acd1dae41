// Per-host namespace masking through our initiator: two hosts on one subsystem, a namespace only one
// of them sees (config `hosts`, or no_auto_visible + nvmf_ns_add_host / nvmf_ns_remove_host live).
// The other host finds its nsid inactive: not in the active list, Identify Namespace all zeroes, no
// descriptors, I/O refused with Invalid Namespace or Format, not in the ANA log. Live changes reach
// the controllers they concern with the Namespace Attribute Changed event and the Changed Namespace
// List, and reach I/O queues on worker threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import type { CommandResult } from '../../src/initiator/result.js';
import { Generic, SCT } from '../../src/spec/status.js';
import { AnaLog, AsyncEvent, LogId } from '../../src/spec/log.js';
import type { TargetConfig } from '../../src/config/types.js';
import { HOSTNQN, SUBNQN, pattern, testConfig } from './helpers.js';
import { withRpcTarget, type RpcRunning } from './rpc-helpers.js';

const HOST_A = HOSTNQN;
const HOST_B = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-1111-4222-8333-944455566677';
const FID_ASYNC_EVENT_CONFIG = 0x0b;
const AEC_NS_ATTR = 1 << 8;

function isInvalidNamespace(r: CommandResult): boolean {
  return r.sct === SCT.GENERIC && r.sc === Generic.INVALID_NAMESPACE;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function activeNsids(c: Controller): Promise<number[]> {
  const r = await c.identifyActiveNsList(0);
  assert.ok(r.ok, `active namespace list: ${r.name}`);
  const out: number[] = [];
  for (let i = 0; i < 1024; i++) {
    const id = r.data!.readUInt32LE(i * 4);
    if (id === 0) break;
    out.push(id);
  }
  return out;
}

/** The nsids the ANA log (0Ch) lists, over every group. */
async function anaNsids(c: Controller): Promise<number[]> {
  const r = await c.getLogPage(LogId.Ana, 4096);
  assert.ok(r.ok, `ANA log: ${r.name}`);
  const b = r.data!;
  const out: number[] = [];
  let at = AnaLog.headerSize;
  for (let g = 0; g < b.readUInt16LE(AnaLog.ngrps); g++) {
    const n = b.readUInt32LE(at + AnaLog.descNnsids);
    at += AnaLog.descSize;
    for (let i = 0; i < n; i++, at += 4) out.push(b.readUInt32LE(at));
  }
  return out.sort((x, y) => x - y);
}

async function changedNsids(c: Controller): Promise<number[]> {
  const r = await c.getLogPage(LogId.ChangedNsList, 4096);
  assert.ok(r.ok, `Changed Namespace List: ${r.name}`);
  const out: number[] = [];
  for (let i = 0; i < 1024 && r.data!.readUInt32LE(i * 4) !== 0; i++) out.push(r.data!.readUInt32LE(i * 4));
  return out;
}

/** Write then read back one block of `nsid` on every I/O queue of `c`. */
async function assertIo(c: Controller, nsid: number, slba: number): Promise<void> {
  for (let q = 0; q < c.io.length; q++) {
    const data = pattern(512, slba + q);
    const w = await c.write(nsid, slba + q, 1, data, { queue: q });
    assert.ok(w.ok, `write nsid ${nsid} on queue ${q}: ${w.name}`);
    const back = Buffer.alloc(512);
    const r = await c.read(nsid, slba + q, 1, back, { queue: q });
    assert.ok(r.ok && back.equals(data), `read back nsid ${nsid} on queue ${q}: ${r.name}`);
  }
}

/** Every way a host could reach `nsid` finds it inactive. */
async function assertMasked(c: Controller, nsid: number): Promise<void> {
  assert.ok(!(await activeNsids(c)).includes(nsid), `nsid ${nsid} is not in the active list`);
  const id = await c.identifyNamespace(nsid);
  assert.ok(id.ok, `Identify Namespace of an inactive nsid succeeds: ${id.name}`);
  assert.ok(id.data!.every((x) => x === 0), 'with an all-zero structure');
  assert.ok(isInvalidNamespace(await c.identifyNsDescriptors(nsid)), 'no descriptors: Invalid Namespace');
  assert.ok(!(await anaNsids(c)).includes(nsid), 'not in the ANA log');
  for (let q = 0; q < c.io.length; q++) {
    const r = await c.read(nsid, 0, 1, Buffer.alloc(512), { queue: q });
    assert.ok(isInvalidNamespace(r), `a read on queue ${q}: ${r.name}`);
    assert.ok(r.dnr, 'with DNR');
    const w = await c.write(nsid, 0, 1, Buffer.alloc(512, 0xee), { queue: q });
    assert.ok(isInvalidNamespace(w), `a write on queue ${q}: ${w.name}`);
  }
}

async function assertVisible(c: Controller, nsid: number, slba: number): Promise<void> {
  assert.ok((await activeNsids(c)).includes(nsid), `nsid ${nsid} is in the active list`);
  assert.ok((await c.namespaceInfo(nsid)).nsze > 0n, 'Identify Namespace describes it');
  assert.ok((await c.identifyNsDescriptors(nsid)).ok, 'descriptors');
  assert.ok((await anaNsids(c)).includes(nsid), 'in the ANA log');
  await assertIo(c, nsid, slba);
}

function twoHostConfig(workers: number, ns2Hosts?: string[]): TargetConfig {
  const cfg = testConfig({ workers, allowAnyHost: false, allowedHosts: [HOST_A, HOST_B], namespaces: [{}, {}] });
  if (ns2Hosts) cfg.subsystems[0]!.namespaces[1]!.hosts = ns2Hosts;
  return cfg;
}

async function connectBoth(t: RpcRunning, workers: number): Promise<[Controller, Controller]> {
  const a = await Controller.connect(t.opts({ ioQueues: 2 }));
  const b = await Controller.connect(t.opts({ hostnqn: HOST_B, ioQueues: 2 }));
  if (workers > 0) {
    const qpairs = (await t.rpc('nvmf_subsystem_get_qpairs', { nqn: SUBNQN })) as { qid: number; thread: string }[];
    const io = qpairs.filter((q) => q.qid > 0);
    assert.equal(io.length, 4);
    assert.ok(io.every((q) => q.thread !== 'nvmf_tgt_poll_group_000'), `every I/O queue on a worker: ${JSON.stringify(qpairs)}`);
  }
  for (const c of [a, b]) assert.ok((await c.setFeatures(FID_ASYNC_EVENT_CONFIG, AEC_NS_ATTR)).ok);
  return [a, b];
}

for (const workers of [0, 2]) {
  const where = workers ? ` (I/O queues on ${workers} worker threads)` : '';

  test(`ns masking: a namespace configured for host A only: A sees it and does I/O; B finds it inactive${where}`, () =>
    withRpcTarget(twoHostConfig(workers, [HOST_A]), async (t) => {
      const [a, b] = await connectBoth(t, workers);
      try {
        assert.deepEqual(await activeNsids(a), [1, 2]);
        assert.deepEqual(await activeNsids(b), [1]);
        await assertVisible(a, 2, 100);
        await assertMasked(b, 2);
        await assertVisible(b, 1, 200);
        assert.deepEqual(await anaNsids(a), [1, 2]);
        assert.deepEqual(await anaNsids(b), [1]);
      } finally {
        await a.disconnect();
        await b.disconnect();
      }
    }));

  test(`ns masking: no_auto_visible + nvmf_ns_add_host / nvmf_ns_remove_host change what a host sees, live, with the event and the Changed Namespace List${where}`, () =>
    withRpcTarget(twoHostConfig(workers), async (t) => {
      const [a, b] = await connectBoth(t, workers);
      try {
        assert.equal(await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 2048, name: 'M' }), 'M');
        assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: 'M', nsid: 5, no_auto_visible: true } }), 5);
        await assertMasked(a, 5);
        await assertMasked(b, 5);
        assert.deepEqual(await changedNsids(a), [], 'a namespace nobody sees changed nothing for A');

        // Visible to A: A is told, B is not.
        let aenA = a.asyncEventRequest();
        const aenB = b.asyncEventRequest();
        assert.equal(await t.rpc('nvmf_ns_add_host', { nqn: SUBNQN, nsid: 5, host: HOST_A }), true);
        const evA = await within(aenA, 3000, 'A: Namespace Attribute Changed');
        assert.equal((evA.dw0 >> 8) & 0xff, AsyncEvent.NOTICE_NS_ATTR_CHANGED);
        assert.equal((evA.dw0 >> 16) & 0xff, LogId.ChangedNsList);
        assert.deepEqual(await changedNsids(a), [5]);
        await assertVisible(a, 5, 300);
        await assertMasked(b, 5);
        assert.deepEqual(await changedNsids(b), [], 'B was not told');

        // Then to B too: B's outstanding request completes now.
        assert.equal(await t.rpc('nvmf_ns_add_host', { nqn: SUBNQN, nsid: 5, host: HOST_B }), true);
        const evB = await within(aenB, 3000, 'B: Namespace Attribute Changed');
        assert.equal((evB.dw0 >> 16) & 0xff, LogId.ChangedNsList);
        assert.deepEqual(await changedNsids(b), [5]);
        await assertVisible(b, 5, 400);
        const back = Buffer.alloc(512);
        assert.ok((await b.read(5, 300, 1, back)).ok);
        assert.ok(back.equals(pattern(512, 300)), 'B reads what A wrote: the same namespace');

        // Hidden from B again: B is told and loses it; A keeps it.
        aenA = a.asyncEventRequest();
        const aenB2 = b.asyncEventRequest();
        assert.equal(await t.rpc('nvmf_ns_remove_host', { nqn: SUBNQN, nsid: 5, host: HOST_B }), true);
        await within(aenB2, 3000, 'B: Namespace Attribute Changed on removal');
        assert.deepEqual(await changedNsids(b), [5]);
        await assertMasked(b, 5);
        await assertVisible(a, 5, 500);
        assert.deepEqual(await changedNsids(a), [], 'A was not told');
        assert.equal(await t.rpc('nvmf_ns_remove_host', { nqn: SUBNQN, nsid: 5, host: HOST_A }), true);
        await within(aenA, 3000, 'A: Namespace Attribute Changed on removal');
        await assertMasked(a, 5);
      } finally {
        await a.disconnect();
        await b.disconnect();
      }
    }));
}

test('ns masking: nvmf_ns_add_host / nvmf_ns_remove_host refuse what SPDK refuses, with Invalid Parameters', () =>
  withRpcTarget(twoHostConfig(0, []), async (t) => {
    const bad = async (method: string, params: Record<string, unknown>, why: string): Promise<void> => {
      const e = await t.rpcError(method, params as never);
      assert.equal(e.code, -32602, `${why}: ${JSON.stringify(e)}`);
    };
    for (const m of ['nvmf_ns_add_host', 'nvmf_ns_remove_host']) {
      await bad(m, { nqn: 'nqn.2016-06.io.spdk:nope', nsid: 2, host: HOST_A }, 'unknown subsystem');
      await bad(m, { nqn: SUBNQN, nsid: 0, host: HOST_A }, 'nsid 0');
      await bad(m, { nqn: SUBNQN, nsid: 9, host: HOST_A }, 'no such namespace');
      await bad(m, { nqn: SUBNQN, nsid: 2000, host: HOST_A }, 'nsid past max_namespaces');
      await bad(m, { nqn: SUBNQN, nsid: 1, host: HOST_A }, 'a namespace every host sees has no host list');
      await bad(m, { nqn: SUBNQN, nsid: 2, host: 'not-an-nqn' }, 'a host that is not an NQN');
      await bad(m, { nqn: SUBNQN, nsid: 2 }, 'no host');
      await bad(m, { nqn: SUBNQN, nsid: 2, host: HOST_A, extra: 1 }, 'an unknown parameter');
    }
    // A host the subsystem does not admit (yet) may be listed, as SPDK allows; twice is still once.
    const stranger = 'nqn.2014-08.org.example:stranger';
    assert.equal(await t.rpc('nvmf_ns_add_host', { nqn: SUBNQN, nsid: 2, host: stranger }), true);
    assert.equal(await t.rpc('nvmf_ns_add_host', { nqn: SUBNQN, nsid: 2, host: stranger }), true);
    const ns2 = t.target.ctx.subsystems.get(SUBNQN)!.namespaces.get(2)!;
    assert.deepEqual(ns2.config.hosts, [stranger]);
    assert.equal(await t.rpc('nvmf_ns_remove_host', { nqn: SUBNQN, nsid: 2, host: HOST_B }), true, 'removing an unlisted host changes nothing');
    assert.equal(await t.rpc('nvmf_ns_remove_host', { nqn: SUBNQN, nsid: 2, host: stranger }), true);
    assert.deepEqual(ns2.config.hosts, []);
    assert.ok(((await t.rpc('rpc_get_methods')) as string[]).includes('nvmf_ns_add_host'));
  }));

test('ns masking: with an I/O worker, a re-masked namespace of the config can still be removed and added back over its shared memory', () =>
  withRpcTarget(twoHostConfig(1, [HOST_A]), async (t) => {
    const a = await Controller.connect(t.opts({ ioQueues: 1 }));
    try {
      const data = pattern(512, 77);
      assert.ok((await a.write(2, 77, 1, data)).ok);
      assert.equal(await t.rpc('nvmf_ns_add_host', { nqn: SUBNQN, nsid: 2, host: HOST_B }), true);
      assert.equal(await t.rpc('nvmf_ns_remove_host', { nqn: SUBNQN, nsid: 2, host: HOST_B }), true);
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn: SUBNQN, nsid: 2 }), true);
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: SUBNQN, namespace: { bdev_name: `${SUBNQN}:ns2`, nsid: 2 } }), 2);
      const back = Buffer.alloc(512);
      const r = await a.read(2, 77, 1, back);
      assert.ok(r.ok && back.equals(data), `the data written before is there, on the worker queue: ${r.name}`);
    } finally {
      await a.disconnect();
    }
  }));
