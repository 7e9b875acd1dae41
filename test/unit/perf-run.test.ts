// One short `nvmetd perf` run against a real in-process target, with --verify: the load generator
// must do I/O and find every block it reads to be the one last written there. Correctness only;
// speed is measured in bench/, never asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { droppedLine, runPerf } from '../../src/perf/run.js';
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

test('a target closed during the run: the window ends where the connection dropped, the report says when and how many I/Os were lost', { timeout: 30000 }, async () => {
  const t = await runTarget(testConfig({ namespaces: [{ size: 16 * MiB, blockSize: 512 }] }));
  let closed: Promise<void> | null = null;
  try {
    const o = parsePerfOptions({
      address: t.host, port: String(t.port), nqn: SUBNQN, workload: 'randread', ioSize: '4k', queueDepth: '8',
      connections: '2', time: '4', warmup: '0.2', quiet: true,
    });
    const started = performance.now();
    const timer = setTimeout(() => (closed = t.close()), 1200);
    const r = await runPerf(o);
    clearTimeout(timer);
    const wallSec = (performance.now() - started) / 1000;
    assert.ok(r.dropped, 'the report says a connection dropped');
    assert.ok(r.dropped.atSec > 0.8 && r.dropped.atSec < 3, `dropped at t=${r.dropped.atSec}`);
    assert.ok(r.dropped.lost > 0, `lost ${r.dropped.lost}`);
    assert.match(r.dropped.reason, /closed|ECONNRESET|socket/);
    // Measured from the end of the warmup to the drop, not the nominal 4 s.
    assert.ok(r.elapsedSec < 3, `elapsed ${r.elapsedSec} s`);
    assert.ok(Math.abs(r.elapsedSec - (r.dropped.atSec - 0.2)) < 0.3, `window ${r.elapsedSec} s for a drop at t=${r.dropped.atSec} s after 0.2 s of warmup`);
    assert.ok(r.ios > 0);
    assert.ok(Math.abs(r.iops - r.ios / r.elapsedSec) <= 0.02 * r.iops + 1, `IOPS ${r.iops} is I/Os ${r.ios} over ${r.elapsedSec} s`);
    assert.ok(wallSec < 3.5, `the run stops once every connection is gone (took ${wallSec.toFixed(2)} s of 4.2)`);
    assert.match(droppedLine(r)!, /^nvmetd perf: connection to 127\.0\.0\.1:\d+ dropped at t=\d+\.\d\d s \(.+\); \d+ I\/Os in flight lost; the report covers \d+\.\d\d s of measured I\/O$/);
  } finally {
    await (closed ?? t.close());
  }
});

test('nvmetd perf against a target closed midway exits 1 with one line saying when the connection dropped', { timeout: 30000 }, async () => {
  const t = await runTarget(testConfig({ namespaces: [{ size: 16 * MiB, blockSize: 512 }] }));
  let closed: Promise<void> | null = null;
  try {
    const bin = fileURLToPath(new URL('../../../bin/nvmetd.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'perf', '-a', t.host, '-s', String(t.port), '-n', SUBNQN, '-w', 'randread', '-q', '4', '-t', '4', '--warmup', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Close once I/O has been flowing for a while (the child needs a moment to start and connect).
    const connected = (): boolean => (t.target.ctx.subsystems.get(SUBNQN)?.controllers.size ?? 0) > 0;
    for (let i = 0; i < 1000 && !connected(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(connected(), `perf connected: ${stderr}`);
    await new Promise((r) => setTimeout(r, 1000));
    closed = t.close();
    assert.equal(await exit, 1, `stdout: ${stdout}\nstderr: ${stderr}`);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^nvmetd perf: connection to 127\.0\.0\.1:\d+ dropped at t=\d+\.\d\d s \(.*\); \d+ I\/Os? in flight lost; the report covers \d+\.\d\d s of measured I\/O$/);
    const measured = Number(/, (\d+\.\d\d) s measured/.exec(stdout)![1]);
    assert.ok(measured < 3.5, `summary says ${measured} s measured for a 4 s run cut short`);
  } finally {
    await (closed ?? t.close());
  }
});
