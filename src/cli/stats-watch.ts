// `nvmetd stats --watch [--interval S] [--count N]`: asks the control socket every interval for the
// per-thread statistics, the namespaces' counters and the controllers, and prints the rates since the
// previous answer (IOPS, MB/s, errors/s, mean and p99 latency of the sampled commands) per thread,
// per namespace (and per subsystem when it has several) and per controller. On a terminal
// the screen is redrawn in place; otherwise one block per interval is printed, separated by a blank
// line. Ctrl-C (SIGINT) or SIGTERM ends it with exit status 0.
import type { ThreadStatsSnapshot } from '../runtime/stats.js';
import type { NamespaceCounters, LatencyCounters } from '../control/namespaces.js';
import { UsageError } from '../util/exit.js';

export interface WatchSample {
  /** When it was taken (ms, monotonic). */
  at: number;
  mode: string;
  threads: { name: string; cores: string; stats: ThreadStatsSnapshot; queues: string }[];
  namespaces: NamespaceCounters[];
  controllers: { subnqn: string; cntlid: number; hostnqn: string; queues: { qid: number; peer: string; inflight: number | null }[] }[];
}

interface StatsAnswer {
  mode: string;
  main: ThreadStatsSnapshot;
  workers: { index: number; affinity: number[]; queues: { cntlid: number; qid: number }[]; stats: ThreadStatsSnapshot }[];
}

/** One sample from the control socket (three requests: stats, namespaces, controllers). */
export async function takeSample(ask: (method: string) => Promise<unknown>, now: () => number = () => performance.now()): Promise<WatchSample> {
  const [stats, namespaces, controllers] = await Promise.all([ask('stats'), ask('namespaces'), ask('controllers')]);
  const s = stats as StatsAnswer;
  return {
    at: now(),
    mode: s.mode,
    threads: [
      { name: 'main', cores: '-', stats: s.main, queues: 'admin queues' },
      ...s.workers.map((w) => ({ name: `worker${w.index}`, cores: w.affinity.join(',') || '-', stats: w.stats, queues: w.queues.map((q) => `${q.cntlid}/${q.qid}`).join(' ') })),
    ],
    namespaces: namespaces as NamespaceCounters[],
    controllers: controllers as WatchSample['controllers'],
  };
}

/** Upper bound (us) of the bucket holding percentile p of the histogram's counts; 0 when empty. */
export function histogramPercentileUs(hist: readonly number[], p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= total * p) return 2 ** (i + 1);
  }
  return 2 ** hist.length;
}

const diff = (a: readonly number[], b: readonly number[]): number[] => a.map((v, i) => v - (b[i] ?? 0));
const rate = (n: number, seconds: number): string => (seconds > 0 ? Math.round(n / seconds) : 0).toString();
const mbps = (bytes: number, seconds: number): string => (seconds > 0 ? bytes / seconds / 1e6 : 0).toFixed(2);
const meanUs = (sumUs: number, count: number): string => (count > 0 ? (sumUs / count).toFixed(1) : '-');

/** Columns padded to their widest cell; `align`: one letter per column, l (text) or r (numbers). */
function table(head: string[], rows: string[][], align: string): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (align[i] === 'l' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

interface Totals {
  reads: number;
  writes: number;
  other: number;
  readBytes: number;
  writtenBytes: number;
  errors: number;
  latency: LatencyCounters;
}

/** Namespaces' counters added up (every latency class together). */
function totals(list: NamespaceCounters[]): Totals {
  const t: Totals = { reads: 0, writes: 0, other: 0, readBytes: 0, writtenBytes: 0, errors: 0, latency: { sumUs: 0, count: 0, histogramUs: [] } };
  for (const n of list) {
    t.reads += n.reads;
    t.writes += n.writes;
    t.other += Object.values(n.other).reduce((a, b) => a + b, 0);
    t.readBytes += n.readBytes;
    t.writtenBytes += n.writtenBytes;
    t.errors += n.errors;
    for (const l of [n.latency.read, n.latency.write, n.latency.other]) {
      t.latency.sumUs += l.sumUs;
      t.latency.count += l.count;
      l.histogramUs.forEach((v, i) => (t.latency.histogramUs[i] = (t.latency.histogramUs[i] ?? 0) + v));
    }
  }
  return t;
}

/** The block for the interval from `prev` to `cur` (rates over that interval; plain text). */
export function renderWatch(prev: WatchSample, cur: WatchSample, clock: Date = new Date()): string {
  const seconds = (cur.at - prev.at) / 1000;
  const out: string[] = [`nvmetd stats  ${clock.toISOString().slice(11, 19)}  interval ${seconds.toFixed(1)} s  mode ${cur.mode}`, ''];

  const threadRows = cur.threads.map((t) => {
    const p = prev.threads.find((x) => x.name === t.name)?.stats;
    const d = (f: (s: ThreadStatsSnapshot) => number): number => f(t.stats) - (p ? f(p) : 0);
    const hist = diff(t.stats.latencyHistogramUs, p?.latencyHistogramUs ?? []);
    const sampled = hist.reduce((a, b) => a + b, 0);
    return [t.name, t.cores, String(t.stats.queues), rate(d((s) => s.commands), seconds), mbps(d((s) => s.bytesRead), seconds), mbps(d((s) => s.bytesWritten), seconds),
      rate(d((s) => s.errors), seconds), String(t.stats.inflight), meanUs(d((s) => s.latencySumUs ?? 0), sampled), sampled > 0 ? String(histogramPercentileUs(hist, 0.99)) : '-', t.queues];
  });
  out.push(...table(['THREAD', 'CORES', 'QUEUES', 'IOPS', 'READ MB/s', 'WRITE MB/s', 'ERR/s', 'INFLIGHT', 'MEAN us', 'P99 us', 'QUEUES (cntlid/qid)'], threadRows, 'llrrrrrrrrl'));

  out.push('');
  // One row per namespace; a subsystem with several namespaces also gets a total row (SUBNQN/*).
  const nsRow = (label: string, now: NamespaceCounters[]): string[] => {
    const before = now.flatMap((n) => prev.namespaces.filter((x) => x.subnqn === n.subnqn && x.nsid === n.nsid));
    const a = totals(now);
    const b = totals(before);
    const hist = diff(a.latency.histogramUs, b.latency.histogramUs);
    const count = a.latency.count - b.latency.count;
    return [label, rate(a.reads - b.reads, seconds), rate(a.writes - b.writes, seconds), rate(a.other - b.other, seconds), mbps(a.readBytes - b.readBytes, seconds),
      mbps(a.writtenBytes - b.writtenBytes, seconds), rate(a.errors - b.errors, seconds), meanUs(a.latency.sumUs - b.latency.sumUs, count), count > 0 ? String(histogramPercentileUs(hist, 0.99)) : '-'];
  };
  const nsRows: string[][] = [];
  for (const subnqn of new Set(cur.namespaces.map((n) => n.subnqn))) {
    const of = cur.namespaces.filter((n) => n.subnqn === subnqn);
    for (const n of of) nsRows.push(nsRow(`${n.subnqn}/${n.nsid}`, [n]));
    if (of.length > 1) nsRows.push(nsRow(`${subnqn}/*`, of));
  }
  if (nsRows.length === 0) out.push('no namespaces');
  else out.push(...table(['SUBSYSTEM/NSID', 'READ IOPS', 'WRITE IOPS', 'OTHER IOPS', 'READ MB/s', 'WRITE MB/s', 'ERR/s', 'MEAN us', 'P99 us'], nsRows, 'lrrrrrrrr'));

  out.push('');
  const queues = cur.controllers.reduce((n, c) => n + c.queues.length, 0);
  out.push(`CONNECTIONS: ${cur.controllers.length} controller(s), ${queues} queue(s)`);
  if (cur.controllers.length > 0) {
    const ctrlRows = cur.controllers.map((c) => {
      const known = c.queues.filter((q) => q.inflight !== null);
      const inflight = known.length === c.queues.length ? String(known.reduce((n, q) => n + q.inflight!, 0)) : '-';
      const peers = [...new Set(c.queues.map((q) => q.peer))].join(' ');
      return [c.subnqn, String(c.cntlid), c.hostnqn, String(c.queues.length), inflight, peers];
    });
    out.push(...table(['SUBSYSTEM', 'CNTLID', 'HOST', 'QUEUES', 'INFLIGHT', 'PEER'], ctrlRows, 'lrlrrl'));
  }
  return `${out.join('\n')}\n`;
}

export interface WatchOptions {
  interval?: string;
  count?: string;
}

export interface WatchIo {
  ask: (method: string) => Promise<unknown>;
  write: (text: string) => void;
  isTTY: boolean;
  /** Where SIGINT/SIGTERM arrive (process). */
  signals: NodeJS.EventEmitter;
  now?: () => number;
  /** Called once when a signal ends the watch (to abandon questions still out). */
  stopped?: () => void;
}

export function parseWatchOptions(o: WatchOptions): { intervalMs: number; count: number } {
  const interval = o.interval === undefined ? 1 : Number(o.interval);
  if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) throw new UsageError(`--interval ${o.interval}: must be a number of seconds from 0.1 to 3600`);
  const count = o.count === undefined ? Infinity : Number(o.count);
  if (!(count === Infinity || Number.isInteger(count) && count >= 1)) throw new UsageError(`--count ${o.count}: must be a whole number of at least 1`);
  return { intervalMs: Math.round(interval * 1000), count };
}

const CLEAR = '\x1b[H\x1b[2J';

/** Runs the watch loop until `count` blocks are printed or a signal arrives; resolves then. */
export async function watch(o: WatchOptions, io: WatchIo): Promise<void> {
  const { intervalMs, count } = parseWatchOptions(o);
  let stopped = false;
  let wake: () => void = () => {};
  let onStop: () => void = () => {};
  // Resolves to null on a signal: a question the target does not answer does not hold Ctrl-C up.
  const signalled = new Promise<null>((resolve) => (onStop = () => resolve(null)));
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    wake();
    onStop();
    io.stopped?.();
  };
  io.signals.on('SIGINT', stop);
  io.signals.on('SIGTERM', stop);
  const sample = (): Promise<WatchSample | null> => {
    const taking = takeSample(io.ask, io.now);
    taking.catch(() => undefined); // abandoned after a signal: nobody waits for it
    return Promise.race([taking, signalled]);
  };
  try {
    let prev = await sample();
    for (let printed = 0; printed < count && prev !== null && !stopped; ) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) break;
      const cur = await sample();
      if (cur === null) break;
      const block = renderWatch(prev, cur);
      io.write(io.isTTY ? `${CLEAR}${block}` : `${printed > 0 ? '\n' : ''}${block}`);
      prev = cur;
      printed++;
    }
  } finally {
    io.signals.off('SIGINT', stop);
    io.signals.off('SIGTERM', stop);
  }
}
