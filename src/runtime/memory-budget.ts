// The target-wide memory budget for pooled buffers, shared by the buffer pools of every thread.
//
// One SharedArrayBuffer holds the accounting; each thread's pool wraps the same memory (the main thread
// creates the budget and hands `sab` to its workers). Counts are in 4 KiB pages so that an Int32 covers
// 8 TiB and every update is a single Atomics operation; pools charge whole slabs (multiples of 4 KiB).
//
// Layout (Int32): used pages, limit pages, reserve pages, release generation, pools waiting, waits, peak.

const PAGE = 4096;
const I_USED = 0;
const I_LIMIT = 1;
const I_RESERVE = 2;
/** Bumped (and notified) whenever pooled memory is given back: waiting pools in other threads retry. */
const I_GEN = 3;
/** Pools that have callers waiting for memory: the others give free memory back at once. */
const I_PRESSURE = 4;
const I_WAITS = 5;
const I_PEAK = 6;
const WORDS = 8;
/** No limit: the largest page count an Int32 holds. */
const UNLIMITED = 0x7fffffff;

/** Atomics.waitAsync (Node 16+; not in the ES2022 library typings this project compiles against). */
type WaitAsync = (a: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export interface MemoryBudgetOptions {
  /** Bytes of pooled memory (free + handed out) all pools together may hold; omitted or 0: no limit. */
  limitBytes?: number;
  /**
   * The part of the limit only BufferPool.acquire (control-plane buffers) may use: tryAcquire stops
   * growing at limit - reserve. Default: min(4 MiB, limit / 16).
   */
  reserveBytes?: number;
}

function pagesOf(bytes: number): number {
  return Math.ceil(bytes / PAGE);
}

export class MemoryBudget {
  /** Hand this to worker threads: `new MemoryBudget(sab)` there shares the same accounting. */
  readonly sab: SharedArrayBuffer;
  readonly #a: Int32Array;

  constructor(from: MemoryBudgetOptions | SharedArrayBuffer = {}) {
    if (from instanceof SharedArrayBuffer) {
      if (from.byteLength < WORDS * 4) throw new RangeError('MemoryBudget: the shared buffer is too small');
      this.sab = from;
      this.#a = new Int32Array(from, 0, WORDS);
      return;
    }
    const limit = from.limitBytes ?? 0;
    if (!Number.isFinite(limit) || limit < 0) throw new RangeError(`MemoryBudget: bad limit ${limit}`);
    this.sab = new SharedArrayBuffer(WORDS * 4);
    this.#a = new Int32Array(this.sab);
    const limitPages = limit === 0 ? UNLIMITED : Math.min(UNLIMITED - 1, pagesOf(limit));
    const reserve = from.reserveBytes ?? (limit === 0 ? 0 : Math.min(4 << 20, Math.floor(limit / 16)));
    if (!Number.isFinite(reserve) || reserve < 0 || (limit > 0 && reserve > limit)) throw new RangeError(`MemoryBudget: bad reserve ${reserve}`);
    this.#a[I_LIMIT] = limitPages;
    this.#a[I_RESERVE] = limit === 0 ? 0 : pagesOf(reserve);
  }

  get limited(): boolean {
    return Atomics.load(this.#a, I_LIMIT) !== UNLIMITED;
  }
  /** The limit in bytes (Infinity when there is none). */
  get limitBytes(): number {
    const l = Atomics.load(this.#a, I_LIMIT);
    return l === UNLIMITED ? Infinity : l * PAGE;
  }
  get reserveBytes(): number {
    return Atomics.load(this.#a, I_RESERVE) * PAGE;
  }
  /** Pooled bytes all threads hold now. */
  get usedBytes(): number {
    return Atomics.load(this.#a, I_USED) * PAGE;
  }
  get peakBytes(): number {
    return Atomics.load(this.#a, I_PEAK) * PAGE;
  }
  /** Times a pool refused to grow (tryAcquire returned null), all threads together. */
  get waits(): number {
    return Atomics.load(this.#a, I_WAITS);
  }
  /** Pools that have callers waiting for memory now. */
  get pressure(): number {
    return Atomics.load(this.#a, I_PRESSURE);
  }
  get generation(): number {
    return Atomics.load(this.#a, I_GEN);
  }

  /**
   * Takes `bytes` (a multiple of 4 KiB) from the budget if that keeps the total within the limit
   * (control: the whole limit; else the limit less the reserve). All or nothing.
   */
  tryCharge(bytes: number, control: boolean): boolean {
    const n = pagesOf(bytes);
    const a = this.#a;
    const limit = Atomics.load(a, I_LIMIT);
    const cap = control || limit === UNLIMITED ? limit : limit - Atomics.load(a, I_RESERVE);
    for (;;) {
      const used = Atomics.load(a, I_USED);
      if (used + n > cap) return false;
      if (Atomics.compareExchange(a, I_USED, used, used + n) === used) {
        this.#notePeak(used + n);
        return true;
      }
    }
  }

  /** Takes `bytes` whatever the limit (BufferPool.acquire when even the reserve is used up). */
  charge(bytes: number): void {
    const used = Atomics.add(this.#a, I_USED, pagesOf(bytes)) + pagesOf(bytes);
    this.#notePeak(used);
  }

  /** Gives `bytes` back and wakes pools waiting in any thread. */
  credit(bytes: number): void {
    Atomics.sub(this.#a, I_USED, pagesOf(bytes));
    Atomics.add(this.#a, I_GEN, 1);
    if (Atomics.load(this.#a, I_PRESSURE) > 0) Atomics.notify(this.#a, I_GEN);
  }

  countWait(): void {
    Atomics.add(this.#a, I_WAITS, 1);
  }

  /** A pool got its first waiting caller (+1) or its last one left (-1). */
  addPressure(d: 1 | -1): void {
    Atomics.add(this.#a, I_PRESSURE, d);
  }

  /**
   * Resolves once the release generation differs from `gen` (memory was given back somewhere), at once
   * when it already does. Does not keep the event loop alive.
   */
  changed(gen: number): Promise<unknown> {
    const r = waitAsync(this.#a, I_GEN, gen);
    return r.async ? r.value : Promise.resolve(r.value);
  }

  #notePeak(used: number): void {
    for (;;) {
      const peak = Atomics.load(this.#a, I_PEAK);
      if (used <= peak || Atomics.compareExchange(this.#a, I_PEAK, peak, used) === peak) return;
    }
  }
}
