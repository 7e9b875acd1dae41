// Latency histogram with logarithmic buckets split linearly (the HDR histogram layout): values below
// 256 ns have a bucket each; above, every power of two [2^e, 2^(e+1)) is cut into 128 equal buckets,
// so a bucket is at most 1/128 (0.8%) of its value wide. The counts array is allocated once;
// record() is a few integer operations and never allocates. Exact min, max and sum are kept aside.

/** Linear buckets below 2^LINEAR_BITS, then SUB buckets per power of two. */
const LINEAR_BITS = 8;
const LINEAR = 1 << LINEAR_BITS; // 256
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128
/** Largest exponent kept: 2^46 ns is about 19 hours; longer values land in the last bucket. */
const MAX_EXP = 46;
export const HISTOGRAM_BUCKETS = LINEAR + (MAX_EXP - LINEAR_BITS + 1) * SUB;

/** Bucket index of a value in nanoseconds (non-negative). */
export function bucketOf(ns: number): number {
  if (ns < LINEAR) return ns < 0 ? 0 : Math.floor(ns);
  const v = Math.floor(ns);
  // floor(log2(v)): clz32 while v fits 32 bits, Math.log2 above (4.3 s and more, rare).
  const e = v < 0x1_0000_0000 ? 31 - Math.clz32(v) : Math.floor(Math.log2(v));
  if (e > MAX_EXP) return HISTOGRAM_BUCKETS - 1;
  const shift = e - SUB_BITS;
  const sub = Math.floor(v / 2 ** shift) - SUB; // 0..127
  return LINEAR + (e - LINEAR_BITS) * SUB + sub;
}

/** Lowest value that falls into bucket `i`. */
export function bucketLow(i: number): number {
  if (i < LINEAR) return i;
  const k = i - LINEAR;
  const e = LINEAR_BITS + Math.floor(k / SUB);
  const sub = k % SUB;
  return (SUB + sub) * 2 ** (e - SUB_BITS);
}

/** Highest value that falls into bucket `i`. */
export function bucketHigh(i: number): number {
  if (i < LINEAR) return i;
  if (i >= HISTOGRAM_BUCKETS - 1) return Number.MAX_SAFE_INTEGER;
  return bucketLow(i + 1) - 1;
}

/** The plain-data form that crosses worker boundaries (postMessage) and goes into JSON reports. */
export interface HistogramData {
  counts: Float64Array;
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  /** Records one value in nanoseconds. */
  record(ns: number): void {
    this.counts[bucketOf(ns)]!++;
    this.count++;
    this.sum += ns;
    if (ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }

  /** Adds another histogram's values (another queue or worker). */
  add(o: Histogram | HistogramData): void {
    const c = this.counts;
    const oc = o.counts;
    for (let i = 0; i < c.length; i++) c[i]! += oc[i]!;
    this.count += o.count;
    this.sum += o.sum;
    if (o.count > 0) {
      if (o.min < this.min) this.min = o.min;
      if (o.max > this.max) this.max = o.max;
    }
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * The value at percentile p (0..100): the highest value of the bucket holding the
   * ceil(p% of count)-th smallest value, clamped to the exact min and max (p0 is the min). 0 when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p <= 0) return this.min;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.count));
    let seen = 0;
    const c = this.counts;
    for (let i = 0; i < c.length; i++) {
      seen += c[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketHigh(i)));
    }
    return this.max;
  }

  toData(): HistogramData {
    return { counts: new Float64Array(this.counts), count: this.count, sum: this.sum, min: this.min, max: this.max };
  }

  static fromData(d: HistogramData): Histogram {
    const h = new Histogram();
    h.add(d);
    return h;
  }
}
