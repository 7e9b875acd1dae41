// The per-thread latency histogram as a Prometheus histogram. The threads keep power-of-two buckets in
// microseconds (bucket i: [2^i, 2^(i+1)) us, the last one open-ended) for one command in eight; this
// turns them into cumulative `le` buckets in seconds. The threads keep no latency sum, so there is no
// _sum series; _count is the number of sampled commands.
import { HIST_BUCKETS } from '../runtime/stats.js';
import type { MetricsSource } from './source.js';

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** Upper bounds (seconds) of buckets 0 .. HIST_BUCKETS-2; the last bucket is +Inf. */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = Array.from({ length: HIST_BUCKETS - 1 }, (_, i) => 2 ** (i + 1) / 1e6);

/** Cumulative buckets and count of one thread's histogram (counts per power-of-two bucket). */
export function latencySamples(name: string, thread: string, hist: readonly number[]): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < HIST_BUCKETS - 1; i++) {
    cumulative += hist[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { thread, le: LATENCY_BOUNDS_SECONDS[i]! }, value: cumulative });
  }
  cumulative += hist[HIST_BUCKETS - 1] ?? 0;
  out.push({ metricName: `${name}_bucket`, labels: { thread, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_count`, labels: { thread }, value: cumulative });
  return out;
}

/**
 * A metric object the prom-client registry renders like its own (name, help, type, get()): prom-client's
 * Histogram only takes single observations, and these buckets are already counted by the threads.
 */
export class LatencyHistogram {
  readonly name = 'nvmetd_thread_command_latency_seconds';
  readonly help = 'Command latency on each thread (one command in 8 is sampled; no _sum is kept)';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #source: MetricsSource;

  constructor(source: MetricsSource) {
    this.#source = source;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values = this.#source.threads().flatMap((t) => latencySamples(this.name, t.thread, t.stats.latencyHistogramUs));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Nothing kept here: every scrape reads the threads' counters.
  }
}
