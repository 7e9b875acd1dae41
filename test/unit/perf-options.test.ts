// `nvmetd perf` option parsing: defaults, sizes, workloads, mixes and the usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePerfOptions, PERF_DEFAULTS } from '../../src/perf/options.js';
import { UsageError } from '../../src/util/exit.js';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'nvmetd.js');

test('defaults', () => {
  const o = parsePerfOptions({});
  assert.equal(o.address, '127.0.0.1');
  assert.equal(o.port, 4420);
  assert.equal(o.nqn, PERF_DEFAULTS.nqn);
  assert.equal(o.queueDepth, 32);
  assert.equal(o.ioSize, 4096);
  assert.equal(o.workload, 'randread');
  assert.equal(o.rwmixread, 100, 'a read workload is 100% reads');
  assert.equal(o.connections, 1);
  assert.equal(o.workers, 1);
  assert.equal(o.verify, false);
  assert.equal(o.progress, true);
  assert.equal(o.hostnqn, undefined);
});

test('sizes, times and the mix', () => {
  const o = parsePerfOptions({ ioSize: '128k', workload: 'randrw', rwmixread: '70', time: '2.5', warmup: '0', queueDepth: '16', connections: '4', workers: '2', span: '64MiB', json: true });
  assert.equal(o.ioSize, 131072);
  assert.equal(o.rwmixread, 70);
  assert.equal(o.time, 2.5);
  assert.equal(o.warmup, 0);
  assert.equal(o.queueDepth, 16);
  assert.equal(o.connections, 4);
  assert.equal(o.workers, 2);
  assert.equal(o.span, 64 * 1024 * 1024);
  assert.equal(o.progress, false, '--json turns the progress line off');
  assert.equal(parsePerfOptions({ workload: 'write' }).rwmixread, 0);
  assert.equal(parsePerfOptions({ ioSize: '4KiB' }).ioSize, 4096);
  assert.equal(parsePerfOptions({ time: '3s' }).time, 3);
});

test('usage errors', () => {
  const bad: [Parameters<typeof parsePerfOptions>[0], RegExp][] = [
    [{ workload: 'sequential' }, /--workload must be one of/],
    [{ ioSize: '1000' }, /multiple of 512/],
    [{ ioSize: 'big' }, /--io-size/],
    [{ queueDepth: '0' }, /--queue-depth must be from 1/],
    [{ queueDepth: '8.5' }, /whole number/],
    [{ rwmixread: '50' }, /randrw and rw workloads only/],
    [{ workload: 'randrw', rwmixread: '101' }, /--rwmixread must be from 0 to 100/],
    [{ time: '0' }, /--time/],
    [{ time: 'soon' }, /--time/],
    [{ port: '70000' }, /--port/],
    [{ span: '1k' }, /--span/],
  ];
  for (const [args, re] of bad) {
    assert.throws(() => parsePerfOptions(args), (e: unknown) => e instanceof UsageError && re.test((e as Error).message), JSON.stringify(args));
  }
});

test('the command line maps short options and exits 2 on bad usage', () => {
  const r = spawnSync(process.execPath, [BIN, 'perf', '-w', 'sideways', '-q', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--workload must be one of read, write, randread/);
  const h = spawnSync(process.execPath, [BIN, 'perf', '--help'], { encoding: 'utf8' });
  assert.equal(h.status, 0);
  for (const opt of ['-a, --address', '-s, --port', '-n, --nqn', '-q, --queue-depth', '-o, --io-size', '-w, --workload', '-M, --rwmixread', '-t, --time', '--connections', '--workers', '--verify', '--json', '--hdgst', '--ddgst']) {
    assert.ok(h.stdout.includes(opt), `help lists ${opt}`);
  }
});
