// The configuration lifecycle of a running target: nvmetd_save_config writes what runs (live RPC
// changes included) so that a restart from the file is the same target to a host; nvmetd_reload
// applies a changed file live (a removed host's controller disconnected, a new namespace announced)
// and refuses a broken file or a plan that cannot be applied whole, changing nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call } from '../../src/cli/rpc.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { ConfigFile } from '../../src/config/file-format.js';
import { Controller } from '../../src/initiator/controller.js';
import { parseIdentifyController, parseNsDescriptors, parseNsList } from '../../src/initiator/identify-parse.js';
import type { Json } from '../../src/rpc/json-value.js';
import { startTarget, type Target } from '../../src/server/target.js';
import { AsyncEvent, LogId } from '../../src/spec/log.js';
import { createLogger } from '../../src/util/log.js';
import { HOSTNQN, SUBNQN, assertHealthy, testConfig } from './helpers.js';
import { withRpcTarget } from './rpc-helpers.js';

const NQN_A = 'nqn.2026-11.io.nvmetd:life-a';
const NQN_B = 'nqn.2026-11.io.nvmetd:life-b';
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-1111-4222-8333-944455566677';
const THIRD_HOST = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-3333-4222-8333-944455566677';
const FID_ASYNC_EVENT_CONFIG = 0x0b;
const AEC_NS_ATTR = 1 << 8;

interface Fixture {
  dir: string;
  file: string;
  sock: string;
  target: Target;
  port: number;
  rpc(method: string, params?: Json): Promise<Json>;
  rpcError(method: string, params?: Json): Promise<{ code: number; message: string; data?: string }>;
}

function initialFile(dir: string, workers = 0): ConfigFile {
  return {
    ...(workers > 0 ? { shard: { workers } } : {}),
    logLevel: 'error',
    rpcSocket: path.join(dir, 'rpc.sock'),
    ports: [{ address: '127.0.0.1', port: 0 }],
    subsystems: [
      {
        nqn: NQN_A,
        allowedHosts: [HOSTNQN, OTHER_HOST],
        serial: 'LIFE0001',
        namespaces: [{ backing: { type: 'ram', size: '8MiB' } }],
      },
    ],
  };
}

function writeJson(file: string, v: unknown): void {
  fs.writeFileSync(file, JSON.stringify(v, null, 2));
}

/** Starts a target from `file` the way `serve --config` does (the file is its reload source). */
async function startFrom(dir: string, file: string): Promise<Fixture> {
  const config = await loadConfigFile(file);
  const target = await startTarget(config, createLogger(process.env.NVMETD_TEST_LOG ?? 'silent'), { source: { path: file, load: () => loadConfigFile(file) } });
  const sock = config.rpcSocket!;
  return {
    dir,
    file,
    sock,
    target,
    port: target.addresses[0]!.port,
    rpc: async (method, params) => {
      const a = await call(sock, method, params, 10_000);
      assert.equal(a.error, undefined, `${method}: ${JSON.stringify(a.error)}`);
      return a.result ?? null;
    },
    rpcError: async (method, params) => {
      const a = await call(sock, method, params, 10_000);
      assert.ok(a.error, `${method} should fail; got ${JSON.stringify(a.result)}`);
      return a.error;
    },
  };
}

async function withFixture(fn: (f: Fixture) => Promise<void>, workers = 0): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-life-'));
  const file = path.join(dir, 'nvmetd.json');
  writeJson(file, initialFile(dir, workers));
  const f = await startFrom(dir, file);
  try {
    await fn(f);
  } finally {
    await f.target.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What a host sees of a subsystem: Identify Controller fields and each namespace's size and identifiers. */
async function hostView(port: number, subnqn: string, hostnqn = HOSTNQN): Promise<unknown> {
  const c = await Controller.connect({ host: '127.0.0.1', port, subnqn, hostnqn, commandTimeoutMs: 10_000 });
  try {
    const id = parseIdentifyController((await c.identifyController()).data!);
    const nsids = parseNsList((await c.identifyActiveNsList()).data!);
    const namespaces = [];
    for (const nsid of nsids) {
      const info = await c.namespaceInfo(nsid);
      const desc = parseNsDescriptors((await c.identifyNsDescriptors(nsid)).data!).map((d) => `${d.nidt}:${d.nid.toString('hex')}`);
      namespaces.push({ nsid, nsze: info.nsze, blockSize: info.blockSize, nguid: info.nguid, eui64: info.eui64, desc });
    }
    return { sn: id.sn, mn: id.mn, fr: id.fr, nn: id.nn, subnqn: id.subnqn, namespaces };
  } finally {
    await c.disconnect();
  }
}

async function refused(port: number, subnqn: string, hostnqn: string): Promise<void> {
  await assert.rejects(Controller.connect({ host: '127.0.0.1', port, subnqn, hostnqn, commandTimeoutMs: 3000 }), `${hostnqn} is not admitted to ${subnqn}`);
}

test('config lifecycle: nvmetd_save_config after live changes; a target started from the saved file is the same to hosts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-life-'));
  const file = path.join(dir, 'nvmetd.json');
  writeJson(file, initialFile(dir));
  let f: Fixture | null = await startFrom(dir, file);
  try {
    // Live changes: a namespace, a host, a second subsystem with its own listener, an ANA state.
    await f.rpc('bdev_malloc_create', { name: 'M0', num_blocks: 1024, block_size: 4096 });
    assert.equal(await f.rpc('nvmf_subsystem_add_ns', { nqn: NQN_A, namespace: { bdev_name: 'M0', nsid: 3, eui64: '1122334455667788' } }), 3);
    await f.rpc('nvmf_subsystem_remove_host', { nqn: NQN_A, host: OTHER_HOST });
    await f.rpc('nvmf_subsystem_add_host', { nqn: NQN_A, host: THIRD_HOST });
    await f.rpc('nvmf_create_subsystem', { nqn: NQN_B, allow_any_host: true, serial_number: 'LIFEB', model_number: 'life model' });
    await f.rpc('bdev_malloc_create', { name: 'M1', num_blocks: 2048, block_size: 512 });
    await f.rpc('nvmf_subsystem_add_ns', { nqn: NQN_B, namespace: { bdev_name: 'M1' } });
    await f.rpc('nvmf_subsystem_add_listener', { nqn: NQN_B, listen_address: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '0' } });
    await f.rpc('nvmetd_namespace_resize', { nqn: NQN_A, nsid: 1, size: 16 * 1024 * 1024 });
    await f.rpc('nvmf_subsystem_listener_set_ana_state', {
      nqn: NQN_A, listen_address: { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(f.port) }, ana_state: 'non_optimized', anagrpid: 1,
    });
    const portB = Number(((await f.rpc('nvmf_get_subsystems', { nqn: NQN_B })) as { listen_addresses: { trsvcid: string }[] }[])[0]!.listen_addresses[0]!.trsvcid);
    const viewA = await hostView(f.port, NQN_A);
    const viewB = await hostView(portB, NQN_B);
    const running = await f.rpc('nvmetd_get_config');

    const saved = (await f.rpc('nvmetd_save_config')) as { path: string; warnings: string[] };
    assert.deepEqual(saved, { path: file, warnings: [] });
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['nvmetd.json', 'rpc.sock']);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), running, 'the file is what nvmetd_get_config shows');
    const port = f.port;
    await f.target.close();
    f = null;

    f = await startFrom(dir, file);
    assert.equal(f.port, port, 'the saved file names the bound TCP port');
    assert.deepEqual(await hostView(f.port, NQN_A), viewA, 'same Identify, namespaces, sizes and identifiers');
    assert.deepEqual(await hostView(portB, NQN_B), viewB);
    assert.deepEqual(await f.rpc('nvmetd_get_config'), running, 'the same running configuration, ANA states included');
    // The same hosts are admitted.
    await hostView(f.port, NQN_A, THIRD_HOST);
    await refused(f.port, NQN_A, OTHER_HOST);
  } finally {
    await f?.target.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('config lifecycle: nvmetd_save_config to another path; a path that cannot be written is an error', () =>
  withFixture(async (f) => {
    const other = path.join(f.dir, 'copy.json');
    const r = (await f.rpc('nvmetd_save_config', { path: other })) as { path: string };
    assert.equal(r.path, other);
    assert.equal((await loadConfigFile(other)).subsystems[0]!.nqn, NQN_A, 'the copy loads');
    assert.deepEqual(JSON.parse(fs.readFileSync(other, 'utf8')), await f.rpc('nvmetd_get_config'));
    const e = await f.rpcError('nvmetd_save_config', { path: path.join(f.dir, 'no-such-dir', 'x.json') });
    assert.match(e.message, /config not saved: .*no-such-dir.*ENOENT/);
  }));

test('config lifecycle: a target started without a config file saves only to a given path and has nothing to reload', () =>
  withRpcTarget(undefined, async (t) => {
    const e = await t.rpcError('nvmetd_save_config');
    assert.equal(e.code, -32602);
    assert.match(e.data ?? '', /not started from a config file/);
    const r = await t.rpcError('nvmetd_reload');
    assert.match(r.message, /^reload refused, nothing changed: the target was not started from a config file/);
    await assert.rejects(t.target.reload(), /not started from a config file/);
  }));

for (const workers of [0, 2]) {
  test(`config lifecycle: nvmetd_reload adds a namespace (AEN to connected hosts) and removes a host (its controller disconnected, the other untouched); ${workers} I/O workers`, () =>
    withFixture(async (f) => {
      const removed = await Controller.connect({ host: '127.0.0.1', port: f.port, subnqn: NQN_A, hostnqn: HOSTNQN, ioQueues: 1, commandTimeoutMs: 10_000 });
      const kept = await Controller.connect({ host: '127.0.0.1', port: f.port, subnqn: NQN_A, hostnqn: OTHER_HOST, ioQueues: 1, commandTimeoutMs: 10_000 });
      try {
        assert.ok((await kept.setFeatures(FID_ASYNC_EVENT_CONFIG, AEC_NS_ATTR)).ok);
        const aen = kept.asyncEventRequest();
        const cfg = initialFile(f.dir, workers);
        cfg.subsystems[0]!.allowedHosts = [OTHER_HOST];
        cfg.subsystems[0]!.namespaces!.push({ nsid: 2, backing: { type: 'ram', size: '4MiB' }, blockSize: 4096 });
        cfg.subsystems[0]!.namespaces![0]!.backing = { type: 'ram', size: '12MiB' };
        // The running port keeps its place (port 0 under the same id); a second one is added.
        cfg.ports!.push({ id: 5, address: '127.0.0.1', port: 0, subsystems: [NQN_A] });
        writeJson(f.file, cfg);
        const r = (await f.rpc('nvmetd_reload')) as { applied: string[]; warnings: string[]; failed: string[] };
        assert.deepEqual(r.applied, [
          `remove host ${HOSTNQN} from ${NQN_A}`,
          `resize namespace 1 of ${NQN_A} from 8388608 to 12582912 bytes`,
          `add namespace 2 to ${NQN_A}`,
          r.applied[3], // the new listener, by its bound port
          `add ${NQN_A} to listener ${r.applied[3]!.replace('listen on ', '')}`,
        ]);
        assert.match(r.applied[3]!, /^listen on 127\.0\.0\.1:\d+$/);
        const port2 = Number(/:(\d+)$/.exec(r.applied[3]!)![1]);
        assert.notEqual(port2, f.port);
        const via2 = await Controller.connect({ host: '127.0.0.1', port: port2, subnqn: NQN_A, hostnqn: OTHER_HOST, ioQueues: 1, commandTimeoutMs: 10_000 });
        await assertHealthy(via2, 2, 20);
        await via2.disconnect();
        assert.deepEqual(r.warnings, []);
        assert.deepEqual(r.failed, []);
        await removed.admin.closed;
        const ev = await aen;
        assert.equal((ev.dw0 >> 8) & 0xff, AsyncEvent.NOTICE_NS_ATTR_CHANGED);
        assert.equal((ev.dw0 >> 16) & 0xff, LogId.ChangedNsList);
        const changed = await kept.getLogPage(LogId.ChangedNsList, 4096);
        const nsids = [0, 1, 2].map((i) => changed.data!.readUInt32LE(4 * i));
        assert.deepEqual(nsids, [1, 2, 0], 'nsids 1 (resized) and 2 (added) are in the Changed Namespace List');
        assert.equal((await kept.namespaceInfo(1)).nsze, BigInt((12 * 1024 * 1024) / 512), 'the new size');
        assert.equal((await kept.namespaceInfo(2)).blockSize, 4096);
        await assertHealthy(kept, 2, 10);
        await assertHealthy(kept, 1, 10);
        await refused(f.port, NQN_A, HOSTNQN);
        // Applied once: the same file again changes nothing.
        assert.deepEqual(((await f.rpc('nvmetd_reload')) as { applied: string[] }).applied, []);
      } finally {
        removed.destroy();
        await kept.disconnect();
      }
    }, workers));
}

test('config lifecycle: a broken file, or a plan that cannot be applied whole, changes nothing and says why', () =>
  withFixture(async (f) => {
    const c = await Controller.connect({ host: '127.0.0.1', port: f.port, subnqn: NQN_A, hostnqn: HOSTNQN, ioQueues: 1, commandTimeoutMs: 10_000 });
    try {
      const before = await f.rpc('nvmetd_get_config');
      const cfg = initialFile(f.dir);
      cfg.subsystems[0]!.allowedHosts = [OTHER_HOST];
      // Not JSON.
      fs.writeFileSync(f.file, '{ "subsystems": [ ');
      let e = await f.rpcError('nvmetd_reload');
      assert.match(e.message, /^reload refused, nothing changed: .*nvmetd\.json:1:\d+: invalid JSON/);
      // JSON, but not a valid config: named by its JSON pointer.
      cfg.subsystems[0]!.namespaces![0]!.blockSize = 1000 as 512;
      writeJson(f.file, cfg);
      e = await f.rpcError('nvmetd_reload');
      assert.match(e.message, /nvmetd\.json: \/subsystems\/0\/namespaces\/0\/blockSize/);
      // Valid, but the RAM namespace would shrink over written data.
      cfg.subsystems[0]!.namespaces![0]!.blockSize = 512;
      assert.ok((await c.write(1, 12000, 1, Buffer.alloc(512, 7))).ok);
      cfg.subsystems[0]!.namespaces![0]!.backing = { type: 'ram', size: '4MiB' };
      writeJson(f.file, cfg);
      e = await f.rpcError('nvmetd_reload');
      assert.match(e.message, /^reload refused, nothing changed: namespace 1 of .*life-a: data is written past 4194304 bytes/);
      // Valid, but a new namespace's file cannot be opened: the host removal is not applied either.
      cfg.subsystems[0]!.namespaces![0]!.backing = { type: 'ram', size: '8MiB' };
      cfg.subsystems[0]!.namespaces!.push({ nsid: 2, backing: { type: 'file', path: path.join(f.dir, 'missing', 'vol.img') } });
      writeJson(f.file, cfg);
      e = await f.rpcError('nvmetd_reload');
      assert.match(e.message, /^reload refused, nothing changed: namespace 2 of .*life-a: /);
      assert.deepEqual(await f.rpc('nvmetd_get_config'), before);
      await assertHealthy(c);
      assert.equal(f.target.ctx.subsystems.get(NQN_A)!.controllers.size, 1, 'the host is still connected');
    } finally {
      await c.disconnect();
    }
  }));

test('config lifecycle: SPDK\'s save_config form (framework_get_subsystems, framework_get_config) replayed on another target rebuilds the subsystems', async () => {
  type Call = { method: string; params: Json };
  let saved: { subsystem: string; config: Call[] }[] = [];
  let before: { subsystems: Json; bdevs: Json } | null = null;
  const nqn2 = 'nqn.2016-06.io.spdk:cnode9';
  const mine = (x: { nqn: string }): boolean => x.nqn === SUBNQN || x.nqn === nqn2;
  await withRpcTarget(undefined, async (t) => {
    await t.rpc('bdev_malloc_create', { name: 'Malloc7', num_blocks: 256, block_size: 4096 });
    await t.rpc('nvmf_create_subsystem', { nqn: nqn2, serial_number: 'SPDK9', max_namespaces: 4 });
    await t.rpc('nvmf_subsystem_add_ns', { nqn: nqn2, namespace: { bdev_name: 'Malloc7', nsid: 2, anagrpid: 3 } });
    await t.rpc('nvmf_subsystem_add_host', { nqn: nqn2, host: OTHER_HOST });
    const listen = { trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: String(t.port) };
    await t.rpc('nvmf_subsystem_add_listener', { nqn: nqn2, listen_address: listen });
    await t.rpc('nvmf_subsystem_listener_set_ana_state', { nqn: nqn2, listen_address: listen, ana_state: 'inaccessible', anagrpid: 3 });
    const subsystems = (await t.rpc('framework_get_subsystems')) as { subsystem: string; depends_on: string[] }[];
    assert.deepEqual(subsystems, [{ subsystem: 'bdev', depends_on: [] }, { subsystem: 'nvmf', depends_on: ['bdev'] }]);
    for (const s of subsystems) saved.push({ subsystem: s.subsystem, config: (await t.rpc('framework_get_config', { name: s.subsystem })) as Call[] });
    const e = await t.rpcError('framework_get_config', { name: 'vhost' });
    assert.deepEqual([e.code, e.message], [-32602, "Subsystem 'vhost' not found"]);
    assert.equal((await t.rpcError('framework_get_subsystems', {})).code, -32602);
    before = {
      subsystems: ((await t.rpc('nvmf_get_subsystems')) as { nqn: string }[]).filter(mine) as unknown as Json,
      bdevs: await t.rpc('bdev_get_bdevs'),
    };
  });
  saved = JSON.parse(JSON.stringify(saved));
  // Replayed as SPDK's load_config does: every call in order, on a target serving another subsystem.
  await withRpcTarget(testConfig({ subnqn: 'nqn.2026-11.io.nvmetd:elsewhere' }), async (t) => {
    for (const s of saved) for (const c of s.config) await t.rpc(c.method, c.params);
    const after = ((await t.rpc('nvmf_get_subsystems')) as { nqn: string }[]).filter(mine);
    assert.deepEqual(after, before!.subsystems, 'same subsystems, listeners, hosts, namespaces and identifiers');
    const bdevs = (await t.rpc('bdev_get_bdevs')) as { name: string }[];
    for (const b of before!.bdevs as { name: string }[]) assert.deepEqual(bdevs.find((x) => x.name === b.name), b);
    const ana = (await t.rpc('nvmf_subsystem_get_listeners', { nqn: nqn2 })) as { ana_states: { ana_group: number; ana_state: string }[] }[];
    assert.deepEqual(ana[0]!.ana_states, [{ ana_group: 3, ana_state: 'inaccessible' }]);
  });
});
