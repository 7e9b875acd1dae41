// `nvmetd stats --watch`: rates from the deltas of two samples, option checks, one block per interval
// on a pipe (redraw on a terminal), and a clean end on SIGINT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { histogramPercentileUs, parseWatchOptions, renderWatch, watch, type WatchSample } from '../../src/cli/stats-watch.js';
import type { ThreadStatsSnapshot } from '../../src/runtime/stats.js';
import type { NamespaceCounters } from '../../src/control/namespaces.js';
import { UsageError } from '../../src/util/exit.js';
import { statsCommand } from '../../src/cli/stats.js';

const NQN = 'nqn.2026-11.io.nvmetd:watch';
const hist = (at: Record<number, number>): number[] => Array.from({ length: 24 }, (_, i) => at[i] ?? 0);

function thread(commands: number, bytesRead: number, bytesWritten: number, errors: number, latencySumUs: number, h: number[]): ThreadStatsSnapshot {
  return { commands, bytesRead, bytesWritten, errors, queues: 1, inflight: 3, latencySumUs, authFailures: 0, hostsRefused: 0, latencyHistogramUs: h, latencyP50Us: 0, latencyP99Us: 0 };
}

function ns(reads: number, writes: number, flushes: number, readSum: number, readCount: number, readHist: number[]): NamespaceCounters {
  const none = { sumUs: 0, count: 0, histogramUs: hist({}) };
  return {
    subnqn: NQN, nsid: 1, reads, writes, readBytes: reads * 4096, writtenBytes: writes * 8192,
    other: { flush: flushes, compare: 0, write_zeroes: 0, dataset_management: 0, verify: 0, copy: 0 },
    errors: 0, mediaErrors: 0,
    latency: { read: { sumUs: readSum, count: readCount, histogramUs: readHist }, write: none, other: none },
  };
}

function sample(at: number, t: ThreadStatsSnapshot, n: NamespaceCounters): WatchSample {
  return {
    at, mode: 'event',
    threads: [{ name: 'worker0', cores: '2', stats: t, queues: '1/1' }],
    namespaces: [n],
    controllers: [{ subnqn: NQN, cntlid: 1, hostnqn: 'nqn.host', queues: [{ qid: 0, peer: '127.0.0.1:5000', inflight: 0 }, { qid: 1, peer: '127.0.0.1:5001', inflight: 2 }] }],
  };
}

test('renderWatch: IOPS, MB/s, errors/s, mean and p99 latency over the interval', () => {
  const prev = sample(1000, thread(1000, 1e6, 0, 5, 1000, hist({ 3: 10 })), ns(100, 50, 1, 1000, 10, hist({ 3: 10 })));
  // 2 s later: 4000 more commands, 8 MB read, 4 MB written, 2 errors; 100 sampled at 20 us mean,
  // 99 in bucket 4 ([16, 32) us) and 1 in bucket 9 ([512, 1024) us).
  const cur = sample(3000, thread(5000, 9e6, 4e6, 9, 3000, hist({ 3: 10, 4: 99, 9: 1 })), ns(2100, 1050, 5, 3000, 110, hist({ 3: 10, 4: 99, 9: 1 })));
  const text = renderWatch(prev, cur, new Date('2026-11-30T10:20:30Z'));
  const lines = text.split('\n');
  assert.equal(lines[0], 'nvmetd stats  10:20:30  interval 2.0 s  mode event');
  const row = (name: string): string[] => lines.find((l) => l.startsWith(name))!.split(/\s{2,}/);
  // THREAD CORES QUEUES IOPS READ WRITE ERR INFLIGHT MEAN P99 QUEUES
  assert.deepEqual(row('worker0'), ['worker0', '2', '1', '2000', '4.00', '2.00', '2', '3', '20.0', '32', '1/1']);
  // SUBSYSTEM/NSID READ-IOPS WRITE-IOPS OTHER READ-MB/s WRITE-MB/s ERR MEAN P99
  assert.deepEqual(row(`${NQN}/1`), [`${NQN}/1`, '1000', '500', '2', '4.10', '4.10', '0', '20.0', '32']);
  assert.match(text, /^CONNECTIONS: 1 controller\(s\), 2 queue\(s\)$/m);
  assert.deepEqual(row(`${NQN}  `).slice(1), ['1', 'nqn.host', '2', '2', '127.0.0.1:5000 127.0.0.1:5001']);
});

test('renderWatch: nothing sampled shows "-" for latency; a namespace new since the last sample counts from 0', () => {
  const t = thread(10, 0, 0, 0, 0, hist({}));
  const prev = { ...sample(0, t, ns(0, 0, 0, 0, 0, hist({}))), namespaces: [] };
  const cur = sample(1000, t, ns(7, 0, 0, 0, 0, hist({})));
  const lines = renderWatch(prev, cur).split('\n');
  assert.deepEqual(lines.find((l) => l.startsWith('worker0'))!.split(/\s{2,}/).slice(3, 10), ['0', '0.00', '0.00', '0', '3', '-', '-']);
  assert.deepEqual(lines.find((l) => l.startsWith(`${NQN}/1`))!.split(/\s{2,}/).slice(1, 2), ['7']);
});

test('histogramPercentileUs: upper bound of the bucket holding the percentile', () => {
  assert.equal(histogramPercentileUs(hist({}), 0.99), 0);
  assert.equal(histogramPercentileUs(hist({ 0: 99, 10: 1 }), 0.99), 2);
  assert.equal(histogramPercentileUs(hist({ 0: 98, 10: 2 }), 0.99), 2048);
});

test('--interval and --count are checked', () => {
  assert.deepEqual(parseWatchOptions({}), { intervalMs: 1000, count: Infinity });
  assert.deepEqual(parseWatchOptions({ interval: '0.25', count: '3' }), { intervalMs: 250, count: 3 });
  for (const bad of [{ interval: '0' }, { interval: 'x' }, { interval: '-1' }, { count: '0' }, { count: '1.5' }]) {
    assert.throws(() => parseWatchOptions(bad), UsageError, JSON.stringify(bad));
  }
});

/** A control socket stand-in whose counters grow by 100 commands per call. */
function fakeTarget(): (method: string) => Promise<unknown> {
  let calls = 0;
  return async (method) => {
    if (method === 'stats') {
      calls++;
      return { mode: 'event', main: thread(calls * 100, 0, 0, 0, 0, hist({})), workers: [] };
    }
    if (method === 'namespaces') return [];
    if (method === 'controllers') return [];
    throw new Error(`unexpected ${method}`);
  };
}

test('watch on a pipe: one block per interval, separated by a blank line, no terminal codes', async () => {
  const out: string[] = [];
  await watch({ interval: '0.1', count: '3' }, { ask: fakeTarget(), write: (t) => out.push(t), isTTY: false, signals: new EventEmitter() });
  assert.equal(out.length, 3);
  assert.ok(!out.join('').includes('\x1b'), 'no escape sequences on a pipe');
  assert.ok(out[0]!.startsWith('nvmetd stats '));
  assert.ok(out[1]!.startsWith('\nnvmetd stats '));
  for (const block of out) assert.match(block, /^main\s+-\s+1\s+[1-9]\d*\s/m, 'a rate from the deltas');
});

test('watch on a terminal: each block redraws the screen', async () => {
  const out: string[] = [];
  await watch({ interval: '0.1', count: '2' }, { ask: fakeTarget(), write: (t) => out.push(t), isTTY: true, signals: new EventEmitter() });
  assert.equal(out.length, 2);
  for (const block of out) assert.ok(block.startsWith('\x1b[H\x1b[2Jnvmetd stats '));
});

test('watch: SIGINT ends it at once, cleanly, and removes its handlers', async () => {
  const signals = new EventEmitter();
  const out: string[] = [];
  const started = Date.now();
  const done = watch({ interval: '60' }, { ask: fakeTarget(), write: (t) => out.push(t), isTTY: false, signals });
  setTimeout(() => signals.emit('SIGINT'), 100);
  await done;
  assert.ok(Date.now() - started < 5000, 'did not wait for the 60 s interval');
  assert.equal(out.length, 0);
  assert.equal(signals.listenerCount('SIGINT'), 0);
  assert.equal(signals.listenerCount('SIGTERM'), 0);
});

test('stats: --watch refuses --json/--method; --interval/--count need --watch', async () => {
  await assert.rejects(statsCommand({ control: '/nonexistent/c.sock', watch: true, json: true }), /--watch prints rates as text/);
  await assert.rejects(statsCommand({ control: '/nonexistent/c.sock', watch: true, method: 'stats' }), /--watch prints rates as text/);
  await assert.rejects(statsCommand({ control: '/nonexistent/c.sock', interval: '1' }), /--interval and --count go with --watch/);
});

test('watch: SIGINT ends it even while the target does not answer, and abandons the question', async () => {
  const signals = new EventEmitter();
  let abandoned = 0;
  const done = watch({ interval: '0.1' }, { ask: () => new Promise(() => {}), write: () => {}, isTTY: false, signals, stopped: () => abandoned++ });
  setTimeout(() => signals.emit('SIGINT'), 50);
  await done;
  assert.equal(abandoned, 1);
});

test('nvmetd stats --watch: Ctrl-C exits 0 at once against a control socket that never answers', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-hung-'));
  const socket = path.join(dir, 'c.sock');
  const held: net.Socket[] = [];
  const server = net.createServer((s) => void held.push(s)); // reads nothing, answers nothing
  await new Promise<void>((r) => server.listen(socket, r));
  try {
    const child = spawn(process.execPath, ['bin/nvmetd.js', 'stats', '--control', socket, '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((r) => server.once('connection', () => r()));
    const started = Date.now();
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    clearTimeout(killer);
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 3000, `exited in ${Date.now() - started} ms`);
  } finally {
    for (const s of held) s.destroy();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('renderWatch: a subsystem with several namespaces gets a total row', () => {
  const t = thread(0, 0, 0, 0, 0, hist({}));
  const two = (a: number, b: number): NamespaceCounters[] => [ns(a, 0, 0, 0, 0, hist({})), { ...ns(b, 0, 0, 0, 0, hist({})), nsid: 2 }];
  const prev = { ...sample(0, t, ns(0, 0, 0, 0, 0, hist({}))), namespaces: two(100, 200) };
  const cur = { ...sample(1000, t, ns(0, 0, 0, 0, 0, hist({}))), namespaces: two(150, 230) };
  const lines = renderWatch(prev, cur).split('\n');
  const readIops = (label: string): string => lines.find((l) => l.startsWith(`${label} `))!.split(/\s{2,}/)[1]!;
  assert.equal(readIops(`${NQN}/1`), '50');
  assert.equal(readIops(`${NQN}/2`), '30');
  assert.equal(readIops(`${NQN}/*`), '80');
  const one = renderWatch(sample(0, t, ns(0, 0, 0, 0, 0, hist({}))), sample(1000, t, ns(5, 0, 0, 0, 0, hist({}))));
  assert.ok(!one.includes(`${NQN}/*`), 'no total row for a single namespace');
});
