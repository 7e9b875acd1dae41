// Pooled data buffers in power-of-two size classes (512 B .. the largest transfer), one pool per
// thread. A buffer returns to its class when released; classes keep a bounded number of free buffers.

const MIN_SHIFT = 9;
const MAX_FREE_BYTES_PER_CLASS = 64 * 1024 * 1024;

export class BufferPool {
  readonly #free: Buffer[][] = [];
  readonly #maxFree: number[] = [];
  /** Buffers handed out and not yet released, for statistics and leak checks. */
  outstanding = 0;

  constructor(readonly maxSize: number) {
    for (let shift = MIN_SHIFT; 1 << shift <= Math.max(maxSize, 1 << MIN_SHIFT); shift++) {
      this.#free.push([]);
      this.#maxFree.push(Math.max(16, Math.floor(MAX_FREE_BYTES_PER_CLASS / (1 << shift))));
    }
  }

  static classOf(n: number): number {
    if (n <= 1 << MIN_SHIFT) return 0;
    return 32 - Math.clz32(n - 1) - MIN_SHIFT;
  }

  /** A buffer of at least n bytes (its length is the class size; use subarray(0, n)). */
  acquire(n: number): Buffer {
    const cls = BufferPool.classOf(n);
    this.outstanding++;
    const list = this.#free[cls];
    if (list === undefined) return Buffer.allocUnsafeSlow(n); // beyond the largest class: not pooled
    return list.pop() ?? Buffer.allocUnsafeSlow(1 << (cls + MIN_SHIFT));
  }

  /** A buffer of at least n bytes, or null when the memory budget is spent (see whenAvailable). */
  tryAcquire(n: number): Buffer | null {
    return this.acquire(n);
  }

  /** Calls cb once memory is released after tryAcquire returned null. */
  whenAvailable(cb: () => void): void {
    queueMicrotask(cb);
  }

  release(buf: Buffer): void {
    this.outstanding--;
    const cls = BufferPool.classOf(buf.length);
    const list = this.#free[cls];
    if (list === undefined || buf.length !== 1 << (cls + MIN_SHIFT)) return;
    if (list.length < this.#maxFree[cls]!) list.push(buf);
  }
}

const threadPools = new Map<number, BufferPool>();

/** The calling thread's pool for transfers up to maxSize bytes (one per thread and size). */
export function threadPool(maxSize: number): BufferPool {
  let p = threadPools.get(maxSize);
  if (!p) {
    p = new BufferPool(maxSize);
    threadPools.set(maxSize, p);
  }
  return p;
}
