// Per-thread I/O statistics in a SharedArrayBuffer, written by the thread that does the I/O and read
// by the main thread at any time (plain Float64 stores; a reader may see a value one update old).

export const StatField = {
  COMMANDS: 0,
  BYTES_READ: 1,
  BYTES_WRITTEN: 2,
  ERRORS: 3,
  QUEUES: 4,
  INFLIGHT: 5,
  /** Sum of the sampled commands' latencies (us): with the histogram's count, the mean latency. */
  LATENCY_SUM_US: 6,
  /** In-band authentication transactions that failed on this thread (the queue was closed). */
  AUTH_FAILURES: 7,
  /** Connect commands refused because the host is not allowed on the subsystem. */
  HOSTS_REFUSED: 8,
  /** Latency histogram (one command in 8 is sampled): bucket i counts latencies in [2^i, 2^(i+1)) us. */
  HIST: 10,
} as const;
export const HIST_BUCKETS = 24;
/** Where the last (open) bucket starts: a constant, not a power computed per call. */
const TOP_BUCKET_US = 2 ** (HIST_BUCKETS - 1);

/** The histogram bucket of a latency: i for [2^i, 2^(i+1)) us, under 1 us in 0, the last one open. */
export function latencyBucket(latencyUs: number): number {
  // Math.clz32 reads its argument modulo 2^32: test the top bucket first.
  if (latencyUs >= TOP_BUCKET_US) return HIST_BUCKETS - 1;
  return latencyUs < 1 ? 0 : 31 - Math.clz32(latencyUs);
}
const FIELDS = StatField.HIST + HIST_BUCKETS;

export class ThreadStats {
  readonly sab: SharedArrayBuffer;
  readonly f: Float64Array;

  constructor(sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(FIELDS * 8);
    this.f = new Float64Array(this.sab);
  }

  /** Records one completed command; latencyUs < 0: not sampled. */
  complete(latencyUs: number, bytesRead: number, bytesWritten: number, failed: boolean): void {
    const f = this.f;
    f[StatField.COMMANDS]++;
    f[StatField.BYTES_READ] += bytesRead;
    f[StatField.BYTES_WRITTEN] += bytesWritten;
    if (failed) f[StatField.ERRORS]++;
    if (latencyUs < 0) return;
    f[StatField.LATENCY_SUM_US] += latencyUs;
    f[StatField.HIST + latencyBucket(latencyUs)]++;
  }

  snapshot(): ThreadStatsSnapshot {
    const f = this.f;
    const hist: number[] = [];
    for (let i = 0; i < HIST_BUCKETS; i++) hist.push(f[StatField.HIST + i]!);
    return {
      commands: f[StatField.COMMANDS]!,
      bytesRead: f[StatField.BYTES_READ]!,
      bytesWritten: f[StatField.BYTES_WRITTEN]!,
      errors: f[StatField.ERRORS]!,
      queues: f[StatField.QUEUES]!,
      inflight: f[StatField.INFLIGHT]!,
      latencySumUs: f[StatField.LATENCY_SUM_US]!,
      authFailures: f[StatField.AUTH_FAILURES]!,
      hostsRefused: f[StatField.HOSTS_REFUSED]!,
      latencyHistogramUs: hist,
      latencyP50Us: percentile(hist, 0.5),
      latencyP99Us: percentile(hist, 0.99),
    };
  }
}

export interface ThreadStatsSnapshot {
  commands: number;
  bytesRead: number;
  bytesWritten: number;
  errors: number;
  queues: number;
  inflight: number;
  /** Sum of the sampled latencies (us); the sampled count is the histogram's total. */
  latencySumUs: number;
  authFailures: number;
  hostsRefused: number;
  /** Bucket i: completions with latency in [2^i, 2^(i+1)) us. */
  latencyHistogramUs: number[];
  /** Upper bound of the bucket holding the percentile (us). */
  latencyP50Us: number;
  latencyP99Us: number;
}

function percentile(hist: number[], p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= total * p) return 2 ** (i + 1);
  }
  return 2 ** hist.length;
}

/** This thread's statistics (main thread or a worker), created on first use. */
let current: ThreadStats | null = null;
export function threadStats(): ThreadStats {
  return (current ??= new ThreadStats());
}
export function setThreadStats(s: ThreadStats): void {
  current = s;
}
