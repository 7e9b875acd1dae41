// The /metrics text: every line a comment or `name{labels} value`, counters read from the namespace and
// thread counters, the latency histogram cumulative; and (where promtool is installed) promtool's check.
import { test } from 'node:test';
import { haveTool } from './needs-tool.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createMetricsRegistry, type MetricsSource } from '../../src/metrics/index.js';
import { Namespace, NsStat, allocateNsStats } from '../../src/core/namespace.js';
import type { Backend } from '../../src/backend/backend.js';
import type { NamespaceConfig } from '../../src/config/types.js';
import type { TargetContext } from '../../src/core/context.js';
import { ThreadStats, latencyBucket } from '../../src/runtime/stats.js';
import { nsCompleted } from '../../src/core/ns-completion.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { parseMetricsAddress } from '../../src/config/metrics-address.js';

const NQN = 'nqn.2026-11.io.nvmetd:metrics';

function fixture(): { source: MetricsSource; main: ThreadStats; worker: ThreadStats; ns: Namespace; other: Namespace } {
  const nsConfig = (nsid: number): NamespaceConfig => ({
    nsid,
    backing: { type: 'ram', size: 1 << 20 },
    blockSize: 512,
    uuid: '00000000-0000-4000-8000-000000000001',
    nguid: '00'.repeat(16),
    eui64: '00'.repeat(8),
    readOnly: false,
    enabled: true,
  });
  const backend = { sizeBytes: 1 << 20 } as unknown as Backend;
  // Two thread slots, as with one I/O worker: the metric is their sum.
  const sab = allocateNsStats(2);
  const ns = new Namespace(nsConfig(1), backend, sab, 0);
  const onWorker = new Namespace(nsConfig(1), backend, sab, 1);
  const other = new Namespace(nsConfig(7), backend);
  ns.stats[NsStat.READS] = 3;
  onWorker.stats[NsStat.READS] = 4;
  ns.stats[NsStat.READ_512] = 10;
  onWorker.stats[NsStat.WRITES] = 2;
  onWorker.stats[NsStat.WRITTEN_512] = 16;
  other.stats[NsStat.MEDIA_ERRORS] = 1;
  const ctx = {
    subsystems: new Map([[NQN, { nqn: NQN, namespaces: new Map([[1, ns], [7, other]]), adminCommands: 9 }]]),
    controllerCount: () => 2,
  } as unknown as TargetContext;
  const main = new ThreadStats();
  const worker = new ThreadStats();
  main.complete(0.5, 4096, 0, false); // bucket 0
  main.complete(3, 0, 8192, true); // bucket 1
  worker.complete(-1, 512, 0, false); // not sampled
  worker.complete(1e9, 0, 0, false); // beyond the last bound: +Inf only
  const source: MetricsSource = {
    ctx,
    threads: () => [{ thread: 'main', stats: main.snapshot() }, { thread: 'worker0', stats: worker.snapshot() }],
    connections: () => 5,
    bufferPool: () => null,
  };
  return { source, main, worker, ns, other };
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+-]+|[+-]Inf|[Nn][Aa][Nn])$/;

/** Every sample line as name + labels -> value; throws on a line that is neither a comment nor a sample. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = LINE.exec(line);
    assert.ok(m, `not a comment or a sample: ${JSON.stringify(line)}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]!.replace('+Inf', 'Infinity')));
  }
  return out;
}

test('metrics text: every line is a comment or a sample, values read from the target', async () => {
  const { source } = fixture();
  const text = await createMetricsRegistry(source).metrics();
  const m = parse(text);
  const ns1 = `{subsystem="${NQN}",nsid="1"}`;
  const ns7 = `{subsystem="${NQN}",nsid="7"}`;
  assert.equal(m.get(`nvmetd_namespace_reads_total${ns1}`), 7, 'both thread slots summed');
  assert.equal(m.get(`nvmetd_namespace_writes_total${ns1}`), 2);
  assert.equal(m.get(`nvmetd_namespace_read_bytes_total${ns1}`), 10 * 512);
  assert.equal(m.get(`nvmetd_namespace_written_bytes_total${ns1}`), 16 * 512);
  assert.equal(m.get(`nvmetd_namespace_media_errors_total${ns7}`), 1);
  assert.equal(m.get(`nvmetd_namespace_size_bytes${ns7}`), 1 << 20);
  assert.equal(m.get('nvmetd_thread_commands_total{thread="main"}'), 2);
  assert.equal(m.get('nvmetd_thread_commands_total{thread="worker0"}'), 2);
  assert.equal(m.get('nvmetd_thread_read_bytes_total{thread="main"}'), 4096);
  assert.equal(m.get('nvmetd_thread_written_bytes_total{thread="main"}'), 8192);
  assert.equal(m.get('nvmetd_thread_errors_total{thread="main"}'), 1);
  assert.equal(m.get('nvmetd_controllers'), 2);
  assert.equal(m.get('nvmetd_connections'), 5);
  assert.equal(m.get('nvmetd_subsystems'), 1);
  assert.equal(m.get('nvmetd_namespaces'), 2);
  // Histogram: cumulative, in seconds; bucket 0 (< 2 us) has the 0.5 us command, le 4e-6 both.
  const h = 'nvmetd_thread_command_latency_seconds';
  assert.equal(m.get(`${h}_bucket{thread="main",le="0.000002"}`), 1);
  assert.equal(m.get(`${h}_bucket{thread="main",le="0.000004"}`), 2);
  assert.equal(m.get(`${h}_bucket{thread="main",le="+Inf"}`), 2);
  assert.equal(m.get(`${h}_count{thread="main"}`), 2);
  assert.equal(m.get(`${h}_bucket{thread="worker0",le="4.194304"}`), 0, 'the 1000 s command is past the last bound');
  assert.equal(m.get(`${h}_bucket{thread="worker0",le="+Inf"}`), 1, 'the unsampled command is not in the histogram');
  assert.match(text, /^# TYPE nvmetd_thread_command_latency_seconds histogram$/m);
  assert.match(text, /^# TYPE nvmetd_namespace_reads_total counter$/m);
  assert.match(text, /^nvmetd_process_resident_memory_bytes \d+/m, 'process metrics');
  // Buckets never decrease.
  for (const thread of ['main', 'worker0']) {
    const values = [...m].filter(([k]) => k.startsWith(`${h}_bucket{thread="${thread}"`)).map(([, v]) => v);
    assert.equal(values.length, 24);
    for (let i = 1; i < values.length; i++) assert.ok(values[i]! >= values[i - 1]!, `${thread} bucket ${i}`);
  }
  // Labels are bounded: only subsystem/nsid, thread, and le.
  for (const key of m.keys()) {
    for (const [, label] of key.matchAll(/([a-zA-Z_]+)="/g)) assert.ok(['subsystem', 'nsid', 'op', 'thread', 'le', 'version', 'major', 'minor', 'patch', 'kind', 'space', 'type'].includes(label!), `label ${label} in ${key}`);
  }
});

test('metrics text: a scrape reads the counters as they are now', async () => {
  const { source, ns, main } = fixture();
  const registry = createMetricsRegistry(source);
  await registry.metrics();
  ns.stats[NsStat.READS] += 5;
  main.complete(10, 0, 0, false);
  const m = parse(await registry.metrics());
  assert.equal(m.get(`nvmetd_namespace_reads_total{subsystem="${NQN}",nsid="1"}`), 12);
  assert.equal(m.get('nvmetd_thread_commands_total{thread="main"}'), 3);
});

test('metrics text: promtool check metrics accepts it', async (t) => {
  if (!haveTool(t, 'promtool', 'prometheus')) return;
  const text = await createMetricsRegistry(fixture().source).metrics();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
});

test('metrics address: HOST:PORT with an IPv4 or bracketed IPv6 address', () => {
  assert.deepEqual(parseMetricsAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.equal(typeof parseMetricsAddress('::1:9464'), 'string');
  assert.equal(typeof parseMetricsAddress('127.0.0.1:'), 'string');
  assert.equal(typeof parseMetricsAddress('127.0.0.1:99999'), 'string');
});

test('metrics text: other commands by opcode, errors, per-namespace latency histogram with _sum, admin commands', async () => {
  const { source, ns, main } = fixture();
  nsCompleted(ns.stats, IoOpc.Flush, -1, false);
  nsCompleted(ns.stats, IoOpc.Flush, 3, true); // other class, bucket 1
  nsCompleted(ns.stats, IoOpc.DatasetManagement, -1, false);
  nsCompleted(ns.stats, IoOpc.Read, 0.5, false); // read class, bucket 0
  nsCompleted(ns.stats, IoOpc.Read, 100, false); // bucket 6: [64, 128)
  nsCompleted(ns.stats, IoOpc.Write, -1, true);
  const m = parse(await createMetricsRegistry(source).metrics());
  const l = `subsystem="${NQN}",nsid="1"`;
  assert.equal(m.get(`nvmetd_namespace_other_commands_total{${l},op="flush"}`), 2);
  assert.equal(m.get(`nvmetd_namespace_other_commands_total{${l},op="dataset_management"}`), 1);
  assert.equal(m.get(`nvmetd_namespace_other_commands_total{${l},op="copy"}`), 0);
  assert.equal(m.get(`nvmetd_namespace_command_errors_total{${l}}`), 2);
  const h = 'nvmetd_namespace_command_latency_seconds';
  assert.equal(m.get(`${h}_count{${l},op="read"}`), 2);
  assert.equal(m.get(`${h}_sum{${l},op="read"}`), 100.5 / 1e6);
  assert.equal(m.get(`${h}_bucket{${l},op="read",le="0.000002"}`), 1);
  assert.equal(m.get(`${h}_bucket{${l},op="read",le="0.000064"}`), 1);
  assert.equal(m.get(`${h}_bucket{${l},op="read",le="0.000128"}`), 2);
  assert.equal(m.get(`${h}_count{${l},op="write"}`), 0, 'not sampled');
  assert.equal(m.get(`${h}_count{${l},op="other"}`), 1);
  assert.equal(m.get(`${h}_sum{${l},op="other"}`), 3 / 1e6);
  assert.equal(m.get(`nvmetd_subsystem_admin_commands_total{subsystem="${NQN}"}`), 9);
  // The thread histogram has a _sum too: main completed 0.5 us and 3 us commands.
  assert.equal(m.get('nvmetd_thread_command_latency_seconds_sum{thread="main"}'), 3.5 / 1e6);
  main.complete(10, 0, 0, false);
  const again = parse(await createMetricsRegistry(source).metrics());
  assert.equal(again.get('nvmetd_thread_command_latency_seconds_sum{thread="main"}'), 13.5 / 1e6);
});

test('latency buckets: a latency past 2^32 us lands in the last bucket, not before the histogram', () => {
  assert.equal(latencyBucket(0), 0);
  assert.equal(latencyBucket(1), 0);
  assert.equal(latencyBucket(2), 1);
  assert.equal(latencyBucket(2 ** 22), 22);
  assert.equal(latencyBucket(2 ** 23), 23);
  assert.equal(latencyBucket(2 ** 32), 23);
  assert.equal(latencyBucket(2 ** 33 + 5), 23);
  const s = new ThreadStats();
  s.complete(2 ** 32, 0, 0, false);
  assert.equal(s.snapshot().latencyHistogramUs[23], 1);
});
