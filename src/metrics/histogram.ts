// Latency histograms kept by the threads, as Prometheus histograms. The threads keep power-of-two
// buckets in microseconds (bucket i: [2^i, 2^(i+1)) us, the last one open-ended) and the sum of the
// latencies, for one command in eight; this turns them into cumulative `le` buckets in seconds, a
// _sum in seconds and a _count (sampled commands), so rate(_sum) / rate(_count) is the mean latency.
import { HIST_BUCKETS } from '../runtime/stats.js';

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One labelled histogram as counted: per-bucket counts and the latency sum in microseconds. */
export interface HistogramReading {
  labels: Record<string, string>;
  /** Count per power-of-two bucket (not cumulative), HIST_BUCKETS of them. */
  hist: ArrayLike<number>;
  sumUs: number;
}

/** Upper bounds (seconds) of buckets 0 .. HIST_BUCKETS-2; the last bucket is +Inf. */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = Array.from({ length: HIST_BUCKETS - 1 }, (_, i) => 2 ** (i + 1) / 1e6);

/** Cumulative buckets, sum (seconds) and count of one histogram. */
export function latencySamples(name: string, r: HistogramReading): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < HIST_BUCKETS - 1; i++) {
    cumulative += r.hist[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...r.labels, le: LATENCY_BOUNDS_SECONDS[i]! }, value: cumulative });
  }
  cumulative += r.hist[HIST_BUCKETS - 1] ?? 0;
  out.push({ metricName: `${name}_bucket`, labels: { ...r.labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels: r.labels, value: r.sumUs / 1e6 });
  out.push({ metricName: `${name}_count`, labels: r.labels, value: cumulative });
  return out;
}

/**
 * A metric object the prom-client registry renders like its own (name, help, type, get()): prom-client's
 * Histogram only takes single observations, and these buckets are already counted by the threads.
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => HistogramReading[],
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values = this.read().flatMap((r) => latencySamples(this.name, r));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Nothing kept here: every scrape reads the threads' counters.
  }
}
