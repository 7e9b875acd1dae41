// The metrics nvmetd exposes, read from the live target on each scrape (collect callbacks). Labels are
// bounded by the config: subsystem nqn and nsid for namespaces (op: a fixed set of opcode names or
// latency classes), the thread name for threads; nothing per host or per connection.
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { NS_LATENCY_BLOCK, NS_OTHER_OPS, NsLatency, NsStat, type Namespace } from '../core/namespace.js';
import { HIST_BUCKETS, type ThreadStatsSnapshot } from '../runtime/stats.js';
import type { BufferPoolStats } from '../runtime/buffer-pool.js';
import { LatencyHistogram } from './histogram.js';
import type { MetricsSource } from './source.js';

type NsLabel = 'subsystem' | 'nsid';

/** A counter whose value is read from the target on each scrape (monotonic at its source). */
function readCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, v) => this.inc(labels, v));
    },
  });
}

function readGauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, v) => this.set(labels, v));
    },
  });
}

function* namespaces(source: MetricsSource): Generator<{ labels: Record<NsLabel, string>; ns: Namespace }> {
  for (const s of source.ctx.subsystems.values()) {
    for (const ns of s.namespaces.values()) yield { labels: { subsystem: s.nqn, nsid: String(ns.nsid) }, ns };
  }
}

const LATENCY_CLASSES = [
  { op: 'read', at: NsStat.LATENCY + NsLatency.READ * NS_LATENCY_BLOCK },
  { op: 'write', at: NsStat.LATENCY + NsLatency.WRITE * NS_LATENCY_BLOCK },
  { op: 'other', at: NsStat.LATENCY + NsLatency.OTHER * NS_LATENCY_BLOCK },
];

/** A latency class's buckets (block at `at`: sum, count, buckets), summed over threads. */
function nsHistogram(ns: Namespace, at: number): number[] {
  return Array.from({ length: HIST_BUCKETS }, (_, i) => ns.total(at + 2 + i));
}

export function createMetricsRegistry(source: MetricsSource): Registry {
  const registry = new Registry();
  // Process metrics: CPU, resident memory, heap, event-loop lag, open handles.
  collectDefaultMetrics({ register: registry, prefix: 'nvmetd_' });
  // Less three gauges named like counters (`promtool check metrics` refuses them); their per-type
  // versions (nvmetd_nodejs_active_handles{type} ...) stay.
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`nvmetd_nodejs_${name}`);

  // Per namespace: the counters the core keeps for the SMART / Health log, summed over threads.
  const nsLabels: readonly NsLabel[] = ['subsystem', 'nsid'];
  const perNs = (name: string, help: string, field: number, scale: number): void =>
    readCounter(registry, name, help, nsLabels, (set) => {
      for (const { labels, ns } of namespaces(source)) set(labels, ns.total(field) * scale);
    });
  perNs('nvmetd_namespace_reads_total', 'Read commands accepted for the namespace', NsStat.READS, 1);
  perNs('nvmetd_namespace_writes_total', 'Write commands accepted for the namespace', NsStat.WRITES, 1);
  perNs('nvmetd_namespace_read_bytes_total', 'Bytes read from the namespace', NsStat.READ_512, 512);
  perNs('nvmetd_namespace_written_bytes_total', 'Bytes written to the namespace', NsStat.WRITTEN_512, 512);
  perNs('nvmetd_namespace_media_errors_total', 'Commands on the namespace its backend failed', NsStat.MEDIA_ERRORS, 1);
  readCounter(registry, 'nvmetd_namespace_other_commands_total', 'Commands other than Read and Write completed on the namespace, by opcode', ['subsystem', 'nsid', 'op'], (set) => {
    for (const { labels, ns } of namespaces(source)) for (const { op, field } of NS_OTHER_OPS) set({ ...labels, op }, ns.total(field));
  });
  perNs('nvmetd_namespace_command_errors_total', 'Commands on the namespace completed with an error status', NsStat.ERRORS, 1);
  registry.registerMetric(new LatencyHistogram('nvmetd_namespace_command_latency_seconds', 'Command latency on the namespace by class: read, write, other (one command in 8 is sampled)', () =>
    [...namespaces(source)].flatMap(({ labels, ns }) => LATENCY_CLASSES.map(({ op, at }) => ({ labels: { ...labels, op }, hist: nsHistogram(ns, at), sumUs: ns.total(at) })))) as unknown as Metric);
  readCounter(registry, 'nvmetd_subsystem_admin_commands_total', 'Admin commands completed on the subsystem\'s controllers', ['subsystem'], (set) => {
    for (const s of source.ctx.subsystems.values()) set({ subsystem: s.nqn }, s.adminCommands);
  });
  readGauge(registry, 'nvmetd_namespace_size_bytes', 'Size of the namespace', nsLabels, (set) => {
    for (const { labels, ns } of namespaces(source)) set(labels, ns.nlb * ns.blockSize);
  });

  // Per thread: the main thread and each I/O worker.
  const perThread = (kind: 'counter' | 'gauge', name: string, help: string, pick: (s: ThreadStatsSnapshot) => number): void =>
    (kind === 'counter' ? readCounter : readGauge)(registry, name, help, ['thread'], (set) => {
      for (const t of source.threads()) set({ thread: t.thread }, pick(t.stats));
    });
  perThread('counter', 'nvmetd_thread_commands_total', 'Commands completed on the thread', (s) => s.commands);
  perThread('counter', 'nvmetd_thread_read_bytes_total', 'Bytes read by commands completed on the thread', (s) => s.bytesRead);
  perThread('counter', 'nvmetd_thread_written_bytes_total', 'Bytes written by commands completed on the thread', (s) => s.bytesWritten);
  perThread('counter', 'nvmetd_thread_errors_total', 'Commands completed with an error status on the thread', (s) => s.errors);
  perThread('counter', 'nvmetd_thread_auth_failures_total', 'In-band authentication (DH-HMAC-CHAP) transactions that failed on the thread; the queue was closed', (s) => s.authFailures);
  perThread('counter', 'nvmetd_thread_hosts_refused_total', 'Connect commands refused on the thread because the host is not allowed on the subsystem', (s) => s.hostsRefused);
  perThread('gauge', 'nvmetd_thread_queues', 'Queues (connections) served by the thread', (s) => s.queues);
  perThread('gauge', 'nvmetd_thread_inflight_commands', 'Commands in flight on the thread', (s) => s.inflight);
  registry.registerMetric(new LatencyHistogram('nvmetd_thread_command_latency_seconds', 'Command latency on each thread (one command in 8 is sampled)', () =>
    source.threads().map((t) => ({ labels: { thread: t.thread }, hist: t.stats.latencyHistogramUs, sumUs: t.stats.latencySumUs }))) as unknown as Metric);

  // The target.
  readGauge(registry, 'nvmetd_subsystems', 'NVM subsystems served', [], (set) => set({}, source.ctx.subsystems.size));
  readGauge(registry, 'nvmetd_namespaces', 'Namespaces served, all subsystems together', [], (set) => {
    let n = 0;
    for (const s of source.ctx.subsystems.values()) n += s.namespaces.size;
    set({}, n);
  });
  readGauge(registry, 'nvmetd_controllers', 'Live controllers (I/O and discovery)', [], (set) => set({}, source.ctx.controllerCount()));
  readGauge(registry, 'nvmetd_connections', 'Open NVMe/TCP connections (admin and I/O queues)', [], (set) => set({}, source.connections()));
  const pool = (name: string, help: string, pick: (p: BufferPoolStats) => number, kind: 'counter' | 'gauge' = 'gauge'): void =>
    (kind === 'counter' ? readCounter : readGauge)(registry, name, help, [], (set) => {
      const p = source.bufferPool();
      if (!p) return;
      const v = pick(p);
      if (Number.isFinite(v)) set({}, v);
    });
  pool('nvmetd_buffer_budget_bytes', 'Memory budget for data buffers, all threads together (absent: no limit)', (p) => p.budgetBytes);
  pool('nvmetd_buffer_budget_used_bytes', 'Data buffer memory in use, all threads together', (p) => p.budgetUsedBytes);
  pool('nvmetd_buffer_budget_peak_bytes', 'Highest data buffer memory in use since start', (p) => p.budgetPeakBytes);
  pool('nvmetd_buffer_reserve_bytes', 'Part of the budget kept for control-plane buffers', (p) => p.reserveBytes);
  pool('nvmetd_buffer_budget_waits_total', 'Buffer requests that had to wait for memory, all threads together', (p) => p.budgetWaits, 'counter');
  pool('nvmetd_buffer_over_budget_bytes_total', 'Bytes the main thread allocated past the whole budget', (p) => p.overBudgetBytes, 'counter');
  return registry;
}
