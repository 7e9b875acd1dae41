// The /metrics endpoint of a running target: a known number of reads and writes through our initiator
// moves the namespace and thread counters by exactly that I/O; the endpoint goes with the target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTarget } from '../../src/server/target.js';
import { createLogger } from '../../src/util/log.js';
import { Controller } from '../../src/initiator/controller.js';
import crypto from 'node:crypto';
import { formatDhchapKey } from '../../src/keys/dhchap-key.js';
import { AuthenticationError } from '../../src/initiator/auth.js';
import { HOSTNQN, SUBNQN, pattern, testConfig, withTarget } from './helpers.js';

/** A port that is free now (the system picks it; the listener is closed again). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

function sum(m: Map<string, number>, prefix: string): number {
  let n = 0;
  for (const [k, v] of m) if (k.startsWith(prefix)) n += v;
  return n;
}

for (const workers of [0, 1]) {
  test(`metrics: counters move by exactly the I/O done (workers: ${workers})`, async () => {
    const port = await freePort();
    const config = { ...testConfig({ workers }), metrics: `127.0.0.1:${port}` };
    await withTarget(config, async (t) => {
      assert.deepEqual(t.target.metrics, { host: '127.0.0.1', port });
      const c = await Controller.connect(t.opts());
      try {
        const before = await scrape(port);
        const ns = `{subsystem="${SUBNQN}",nsid="1"}`;
        assert.equal(before.get('nvmetd_controllers'), 1);
        assert.equal(before.get('nvmetd_connections'), 2, 'admin queue and one I/O queue');
        assert.equal(before.get(`nvmetd_namespace_size_bytes${ns}`), 64 * 1024 * 1024);
        const threads = [...before.keys()].filter((k) => k.startsWith('nvmetd_thread_commands_total')).sort();
        assert.deepEqual(threads, workers ? ['nvmetd_thread_commands_total{thread="main"}', 'nvmetd_thread_commands_total{thread="worker0"}'] : ['nvmetd_thread_commands_total{thread="main"}']);

        const WRITES = 5;
        const READS = 3;
        for (let i = 0; i < WRITES; i++) assert.ok((await c.write(1, i * 8, 8, pattern(8 * 512, i))).ok);
        const back = Buffer.alloc(4 * 512);
        for (let i = 0; i < READS; i++) assert.ok((await c.read(1, i * 8, 4, back)).ok);

        const after = await scrape(port);
        const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
        assert.equal(delta(`nvmetd_namespace_reads_total${ns}`), READS);
        assert.equal(delta(`nvmetd_namespace_writes_total${ns}`), WRITES);
        assert.equal(delta(`nvmetd_namespace_read_bytes_total${ns}`), READS * 4 * 512);
        assert.equal(delta(`nvmetd_namespace_written_bytes_total${ns}`), WRITES * 8 * 512);
        assert.equal(delta(`nvmetd_namespace_media_errors_total${ns}`), 0);
        // The I/O queue's thread: with a worker the I/O is counted there, not on the main thread.
        const io = workers ? 'worker0' : 'main';
        assert.equal(delta(`nvmetd_thread_read_bytes_total{thread="${io}"}`), READS * 4 * 512);
        assert.equal(delta(`nvmetd_thread_written_bytes_total{thread="${io}"}`), WRITES * 8 * 512);
        assert.equal(delta(`nvmetd_thread_errors_total{thread="${io}"}`), 0);
        const ioCommands = delta(`nvmetd_thread_commands_total{thread="${io}"}`);
        if (workers) assert.equal(ioCommands, READS + WRITES, 'the worker serves only the I/O queue');
        else assert.ok(ioCommands >= READS + WRITES, `main thread commands ${ioCommands}`);
        assert.equal(after.get(`nvmetd_thread_queues{thread="${io}"}`), workers ? 1 : 2);
        assert.equal(after.get(`nvmetd_thread_inflight_commands{thread="${io}"}`), 0);
        // Latency: sampled commands in the histogram, +Inf equal to _count.
        const h = 'nvmetd_thread_command_latency_seconds';
        assert.equal(after.get(`${h}_bucket{thread="${io}",le="+Inf"}`), after.get(`${h}_count{thread="${io}"}`));
        assert.ok(sum(after, `${h}_count`) >= sum(before, `${h}_count`));
        // Per namespace: read/write latency histograms whose +Inf equals _count, and a _sum.
        for (const op of ['read', 'write']) {
          const l = `{subsystem="${SUBNQN}",nsid="1",op="${op}"}`;
          const lb = `{subsystem="${SUBNQN}",nsid="1",op="${op}",le="+Inf"}`;
          assert.equal(after.get(`nvmetd_namespace_command_latency_seconds_bucket${lb}`), after.get(`nvmetd_namespace_command_latency_seconds_count${l}`));
          assert.ok(after.has(`nvmetd_namespace_command_latency_seconds_sum${l}`), `${op} latency _sum`);
        }
        // Every I/O command is sampled once in 8 per queue: 8 commands, so exactly one sample per queue.
        const nsCount = (a: Map<string, number>): number => sum(a, `nvmetd_namespace_command_latency_seconds_count{subsystem="${SUBNQN}",nsid="1"`);
        assert.equal(nsCount(after) - nsCount(before), 1, 'one of the 8 I/O commands sampled');
        assert.ok((after.get('nvmetd_buffer_budget_bytes') ?? 0) > 0, 'the default budget is finite');
        assert.ok((after.get('nvmetd_process_resident_memory_bytes') ?? 0) > 0);
      } finally {
        await c.disconnect();
      }
      const gone = await scrape(port);
      assert.equal(gone.get('nvmetd_controllers'), 0);
    });
    // Closed with the target: the port takes no connections any more.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  });
}

for (const workers of [0, 1]) {
  test(`metrics: other commands, errors and admin commands counted per namespace / subsystem (workers: ${workers})`, async () => {
    await withTarget({ ...testConfig({ workers }), metrics: '127.0.0.1:0' }, async (t) => {
      const port = t.target.metrics!.port;
      const c = await Controller.connect(t.opts());
      try {
        const before = await scrape(port);
        const ns = `subsystem="${SUBNQN}",nsid="1"`;
        const other = (op: string): string => `nvmetd_namespace_other_commands_total{${ns},op="${op}"}`;
        assert.ok((await c.flush(1)).ok);
        assert.ok((await c.flush(1)).ok);
        assert.ok((await c.writeZeroes(1, 0, 8)).ok);
        assert.ok((await c.dsm(1, [{ slba: 0, nlb: 8 }])).ok);
        assert.ok((await c.verify(1, 0, 8)).ok);
        assert.ok((await c.copy(1, 64, [{ slba: 0, nlb: 8 }])).ok);
        assert.ok((await c.compare(1, 0, 1, Buffer.alloc(512))).ok, 'zeroed block compares equal');
        assert.ok(!(await c.compare(1, 0, 1, Buffer.alloc(512, 1))).ok, 'compare mismatch: an error status');
        assert.ok(!(await c.read(1, 1 << 30, 1, Buffer.alloc(512))).ok, 'LBA out of range: an error status');
        await c.identifyController();
        await c.identifyNamespace(1);
        const after = await scrape(port);
        const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
        assert.equal(delta(other('flush')), 2);
        assert.equal(delta(other('write_zeroes')), 1);
        assert.equal(delta(other('dataset_management')), 1);
        assert.equal(delta(other('verify')), 1);
        assert.equal(delta(other('copy')), 1);
        assert.equal(delta(other('compare')), 2);
        assert.equal(delta(`nvmetd_namespace_command_errors_total{${ns}}`), 2);
        // The 10 I/O commands: latency samples by class sum to the sampled count.
        const count = (a: Map<string, number>, op: string): number => a.get(`nvmetd_namespace_command_latency_seconds_count{${ns},op="${op}"}`) ?? 0;
        const sampled = ['read', 'write', 'other'].reduce((n, op) => n + count(after, op) - count(before, op), 0);
        assert.ok(sampled >= 1 && sampled <= 2, `10 commands on one queue, one in 8 sampled: ${sampled}`);
        assert.equal(delta(`nvmetd_subsystem_admin_commands_total{subsystem="${SUBNQN}"}`), 2, 'the two Identify commands');
      } finally {
        await c.disconnect();
      }
    });
  });
}

test('metrics: other paths get 404, other methods 405; port 0 binds a free port', async () => {
  await withTarget({ ...testConfig({ workers: 0 }), metrics: '127.0.0.1:0' }, async (t) => {
    const port = t.target.metrics!.port;
    assert.ok(port > 0);
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' })).status, 405);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics?x=1`)).status, 200);
  });
});

test('metrics: a target without the option serves none', async () => {
  await withTarget(testConfig(), async (t) => {
    assert.equal(t.target.metrics, null);
  });
});

test('metrics: a port in use refuses the start with one message, and what had started is closed again', async () => {
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as net.AddressInfo).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-metrics-it-'));
  const rpcSocket = path.join(dir, 'rpc.sock');
  const controlSocket = path.join(dir, 'control.sock');
  try {
    await assert.rejects(startTarget({ ...testConfig({ workers: 0 }), rpcSocket, controlSocket, metrics: `127.0.0.1:${port}` }, createLogger('silent')), {
      message: `metrics 127.0.0.1:${port}: address in use`,
    });
    // The RPC and control sockets started before the metrics endpoint are closed (their files removed).
    assert.equal(fs.existsSync(controlSocket), false, 'control socket closed');
    assert.equal(fs.existsSync(rpcSocket), false, 'RPC socket closed');
  } finally {
    await new Promise((resolve) => busy.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('metrics: a host refused at Connect and a failed authentication are counted', async () => {
  const config = { ...testConfig({ workers: 0, allowAnyHost: false, allowedHosts: [HOSTNQN] }), metrics: '127.0.0.1:0' };
  config.hosts = [{ nqn: HOSTNQN, dhchap: { key: formatDhchapKey({ transform: 1, key: crypto.randomBytes(32) }), hashes: ['sha256'], dhgroups: ['null'] } }];
  await withTarget(config, async (t) => {
    const port = t.target.metrics!.port;
    const before = await scrape(port);
    // A host that is not on the allow list.
    await assert.rejects(Controller.connect(t.opts({ hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000dead' })));
    // The allowed host with the wrong key.
    await assert.rejects(Controller.connect(t.opts({ dhchap: { key: formatDhchapKey({ transform: 1, key: crypto.randomBytes(32) }) } })), AuthenticationError);
    const after = await scrape(port);
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta('nvmetd_thread_hosts_refused_total{thread="main"}'), 1);
    let failures = 0;
    for (let i = 0; i < 50 && failures === 0; i++) {
      // The failure is counted when the target ends the transaction (right after its AUTH_Failure1).
      failures = ((await scrape(port)).get('nvmetd_thread_auth_failures_total{thread="main"}') ?? 0) - (before.get('nvmetd_thread_auth_failures_total{thread="main"}') ?? 0);
      if (failures === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(failures, 1);
  });
});
