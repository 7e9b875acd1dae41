// One short `nvmetd perf` run against a real in-process target, with --verify: the load generator
// must do I/O and find every block it reads to be the one last written there. Correctness only;
// speed is measured in bench/, never asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPerf } from '../../src/perf/run.js';
import { parsePerfOptions } from '../../src/perf/options.js';
import { runTarget, testConfig, SUBNQN } from '../integration/helpers.js';

const MiB = 1024 * 1024;

test('perf --verify randrw against a RAM namespace: I/O done, zero errors, zero mismatches', async () => {
  const t = await runTarget(testConfig({ namespaces: [{ size: 16 * MiB, blockSize: 512 }] }));
  try {
    const o = parsePerfOptions({
      address: t.host,
      port: String(t.port),
      nqn: SUBNQN,
      workload: 'randrw',
      rwmixread: '50',
      ioSize: '8k',
      queueDepth: '8',
      connections: '2',
      time: '1',
      warmup: '0.2',
      verify: true,
      quiet: true,
    });
    const r = await runPerf(o);
    assert.equal(r.errors, 0, `errors: ${r.firstError}`);
    assert.equal(r.verifyErrors, 0, `verify: ${r.firstVerifyError}`);
    assert.ok(r.reads > 0 && r.writes > 0, `reads ${r.reads}, writes ${r.writes}`);
    assert.ok(r.verifiedBlocks >= r.reads * 16, 'every block of every read was checked');
    assert.equal(r.ios, r.reads + r.writes);
    assert.ok(r.latencyUs.p50 > 0 && r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.max);
    assert.equal(r.target.blockSize, 512);
  } finally {
    await t.close();
  }
});

test('perf --verify of a read workload writes the span first, then every read checks out', async () => {
  const t = await runTarget(testConfig({ namespaces: [{ size: 8 * MiB, blockSize: 4096 }] }));
  try {
    const o = parsePerfOptions({
      address: t.host, port: String(t.port), nqn: SUBNQN, workload: 'read', ioSize: '16k', queueDepth: '4',
      time: '0.5', warmup: '0', verify: true, quiet: true, hdgst: true, ddgst: true,
    });
    const r = await runPerf(o);
    assert.equal(r.errors, 0, `errors: ${r.firstError}`);
    assert.equal(r.verifyErrors, 0, `verify: ${r.firstVerifyError}`);
    assert.ok(r.reads > 0);
    assert.equal(r.writes, 0, 'the prefill is not counted as measured I/O');
  } finally {
    await t.close();
  }
});

test('a wrong NQN fails the run with the Connect status, not a hang', async () => {
  const t = await runTarget(testConfig());
  try {
    const o = parsePerfOptions({ address: t.host, port: String(t.port), nqn: 'nqn.2026-11.io.nvmetd:nope', time: '0.2', quiet: true });
    await assert.rejects(runPerf(o), /Connect/);
  } finally {
    await t.close();
  }
});

test('two worker threads with two connections each: every job does I/O, verify holds across workers', async () => {
  const t = await runTarget(testConfig({ namespaces: [{ size: 16 * MiB, blockSize: 512 }] }));
  try {
    const o = parsePerfOptions({
      address: t.host, port: String(t.port), nqn: SUBNQN, workload: 'randrw', ioSize: '4k', queueDepth: '4',
      connections: '2', workers: '2', time: '0.8', warmup: '0.2', verify: true, quiet: true,
    });
    const r = await runPerf(o);
    assert.equal(r.errors, 0, `errors: ${r.firstError}`);
    assert.equal(r.verifyErrors, 0, `verify: ${r.firstVerifyError}`);
    assert.equal(r.jobs.length, 2);
    for (const j of r.jobs) assert.ok(j.ios > 0, `worker ${j.worker} did ${j.ios} I/Os`);
    assert.equal(r.ios, r.jobs[0]!.ios + r.jobs[1]!.ios);
  } finally {
    await t.close();
  }
});
