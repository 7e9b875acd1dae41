// Asymmetric Namespace Access end to end with our initiator: the ANA log page, a group made
// inaccessible through the JSON-RPC method (and through the core's setAnaState), the ANA change
// event, I/O refused with the path status, and back to optimized. Also with the I/O queue on a
// worker thread, which reads the states from shared memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/index.js';
import type { TargetConfig } from '../../src/config/types.js';
import { runTarget, testConfig } from './helpers.js';
import { withRpcTarget, type RpcRunning } from './rpc-helpers.js';

const ANA_LID = 0x0c;
const AEC_ANA_CHANGE = 1 << 11;
const ANA_CHANGE_EVENT = 0x02 | (0x03 << 8) | (ANA_LID << 16);

/** Two namespaces: nsid 1 in ANA group 1, nsid 2 in group 2. */
function anaConfig(workers = 0): TargetConfig {
  const cfg = testConfig({ namespaces: [{ size: 1 << 20 }, { size: 1 << 20 }], workers });
  cfg.subsystems[0]!.namespaces[1]!.anaGroup = 2;
  return cfg;
}

function listener(t: RpcRunning): { trtype: string; adrfam: string; traddr: string; trsvcid: string } {
  return { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(t.port) };
}

/** The ANA log as [grpid, state, nsids] per descriptor, and the change count. */
async function anaLog(c: Controller): Promise<{ chgcnt: bigint; groups: [number, number, number[]][] }> {
  const r = await c.getLogPage(ANA_LID, 4096);
  assert.ok(r.ok, r.toString());
  const b = r.data!;
  const groups: [number, number, number[]][] = [];
  let at = 16;
  for (let i = 0; i < b.readUInt16LE(8); i++) {
    const n = b.readUInt32LE(at + 4);
    const nsids = Array.from({ length: n }, (_, j) => b.readUInt32LE(at + 32 + 4 * j));
    groups.push([b.readUInt32LE(at), b[at + 16]!, nsids]);
    at += 32 + 4 * n;
  }
  return { chgcnt: b.readBigUInt64LE(0), groups };
}

async function read(c: Controller, nsid: number): Promise<{ sct: number; sc: number; ok: boolean }> {
  return c.read(nsid, 0, 1, Buffer.alloc(512));
}

test('ANA: log page, a group set inaccessible by nvmf_subsystem_listener_set_ana_state, the event, I/O refused, back to optimized', () =>
  withRpcTarget(anaConfig(), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      assert.deepEqual(await anaLog(c), { chgcnt: 0n, groups: [[1, 0x01, [1]], [2, 0x01, [2]]] });
      assert.ok((await c.setFeatures(0x0b, AEC_ANA_CHANGE)).ok);
      const aer = c.asyncEventRequest();
      assert.equal(
        await t.rpc('nvmf_subsystem_listener_set_ana_state', { nqn: t.opts().subnqn, listen_address: listener(t), ana_state: 'inaccessible', anagrpid: 2 }),
        true,
      );
      const ev = await aer;
      assert.ok(ev.ok);
      assert.equal(ev.dw0, ANA_CHANGE_EVENT, 'notice: ANA change, log page 0Ch');
      assert.deepEqual(await anaLog(c), { chgcnt: 1n, groups: [[1, 0x01, [1]], [2, 0x03, [2]]] });
      assert.deepEqual(await t.rpc('nvmf_subsystem_get_listeners', { nqn: t.opts().subnqn }), [
        { address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(t.port) }, ana_states: [{ ana_group: 1, ana_state: 'optimized' }, { ana_group: 2, ana_state: 'inaccessible' }] },
      ]);
      const refused = await read(c, 2);
      assert.deepEqual([refused.sct, refused.sc], [3, 0x02], 'ANA Inaccessible');
      assert.ok((await read(c, 1)).ok, 'group 1 still optimized');
      // Without anagrpid: every group of the subsystem.
      await t.rpc('nvmf_subsystem_listener_set_ana_state', { nqn: t.opts().subnqn, listen_address: listener(t), ana_state: 'optimized' });
      assert.ok((await read(c, 2)).ok, 'back to optimized: I/O succeeds');
      assert.deepEqual((await anaLog(c)).groups.map((g) => g[1]), [0x01, 0x01]);
      // A namespace added by RPC in group 3: in the log, with its ANAGRPID.
      await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 2048, name: 'Malloc9' });
      assert.equal((await t.rpcError('nvmf_subsystem_add_ns', { nqn: t.opts().subnqn, namespace: { bdev_name: 'Malloc9', anagrpid: 129 } })).code, -32602);
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn: t.opts().subnqn, namespace: { bdev_name: 'Malloc9', nsid: 7, anagrpid: 3 } }), 7);
      assert.equal((await c.identifyNamespace(7)).data!.readUInt32LE(92), 3, 'ANAGRPID');
      assert.deepEqual((await anaLog(c)).groups.map((g) => [g[0], g[2]]), [[1, [1]], [2, [2]], [3, [7]]]);
      const bad = await t.rpcError('nvmf_subsystem_listener_set_ana_state', { nqn: t.opts().subnqn, listen_address: listener(t), ana_state: 'asleep' });
      assert.equal(bad.code, -32602);
      const nowhere = { ...listener(t), trsvcid: '1' };
      assert.equal((await t.rpcError('nvmf_subsystem_listener_set_ana_state', { nqn: t.opts().subnqn, listen_address: nowhere, ana_state: 'optimized' })).code, -32602);
    } finally {
      await c.disconnect();
    }
  }));

test('ANA: persistent loss and change through the core setAnaState; the I/O queue on a worker thread sees each state', async () => {
  const t = await runTarget(anaConfig(1));
  const c = await Controller.connect(t.opts());
  try {
    const ctx = t.target.ctx;
    const expect = async (state: Parameters<typeof ctx.setAnaState>[2], sc: number | null): Promise<void> => {
      ctx.setAnaState(1, 2, state);
      const r = await read(c, 2);
      if (sc === null) assert.ok(r.ok, `${state}: I/O allowed`);
      else assert.deepEqual([r.sct, r.sc], [3, sc], state);
    };
    await expect('persistent-loss', 0x01);
    await expect('change', 0x03);
    await expect('inaccessible', 0x02);
    await expect('non-optimized', null);
    await expect('optimized', null);
    assert.ok((await read(c, 1)).ok);
  } finally {
    await c.disconnect();
    await t.close();
  }
});

test('ANA: a listener added by RPC, made inaccessible: its I/O queue on a worker thread refuses I/O with the path status', () =>
  withRpcTarget(anaConfig(1), async (t) => {
    const nqn = t.opts().subnqn;
    assert.equal(await t.rpc('nvmf_subsystem_add_listener', { nqn, listen_address: { ...listener(t), trsvcid: '0' } }), true);
    const addrs = ((await t.rpc('nvmf_get_subsystems', { nqn })) as { listen_addresses: { trsvcid: string }[] }[])[0]!.listen_addresses;
    const port2 = Number(addrs[1]!.trsvcid);
    const second = { ...listener(t), trsvcid: String(port2) };
    const c = await Controller.connect(t.opts({ port: port2 }));
    try {
      assert.ok((await read(c, 2)).ok);
      assert.equal(await t.rpc('nvmf_subsystem_listener_set_ana_state', { nqn, listen_address: second, ana_state: 'inaccessible', anagrpid: 2 }), true);
      const refused = await read(c, 2);
      assert.deepEqual([refused.sct, refused.sc], [3, 0x02], 'ANA Inaccessible on the I/O worker');
      assert.ok((await read(c, 1)).ok, 'group 1 stays optimized on that port');
      assert.deepEqual((await anaLog(c)).groups.map((g) => g[1]), [0x01, 0x03], 'the log page agrees');
      await t.rpc('nvmf_subsystem_listener_set_ana_state', { nqn, listen_address: second, ana_state: 'optimized' });
      assert.ok((await read(c, 2)).ok, 'back to optimized');
    } finally {
      await c.disconnect();
    }
  }));
