// Takes over the thread's buffer pool while fuzzing, so that misuse of pooled buffers shows up in
// the input that caused it, the same way every time:
// - buffers are reused last-in first-out per size class, as the real pool does, and every buffer
//   the pool holds is filled with POISON (new ones too), so what a command finds in a fresh buffer
//   never depends on earlier inputs;
// - a released buffer is poisoned at once: a response still pointing into a buffer that went back
//   to the pool carries 0xdb bytes (and a data digest that no longer matches), and so does one
//   that sends bytes of a buffer nobody wrote;
// - a buffer released twice, or one the pool never handed out, is reported with where it happened
//   and not put back (a buffer twice on a free list would go to two commands at once);
// - buffers still handed out after every connection closed are a leak.
import { BufferPool } from '../../src/runtime/buffer-pool.js';

export const POISON = 0xdb;

export class PoolGuard {
  /** Buffers handed out and not released. */
  readonly out = new Set<Buffer>();
  /** First double release seen since the last reset(). */
  doubleRelease: string | null = null;
  readonly #free: Buffer[][] = [];
  readonly #classes: number;

  constructor(readonly pool: BufferPool) {
    this.#classes = BufferPool.classOf(pool.maxSize) + 1;
    pool.acquire = (n: number): Buffer => this.#acquire(n);
    // No budget while fuzzing: data buffers are granted at once.
    pool.tryAcquire = (n: number): Buffer => this.#acquire(n);
    pool.whenAvailable = (cb: () => void): void => queueMicrotask(cb);
    pool.cancelWait = (): void => undefined;
    pool.release = (b: Uint8Array): void => this.#release(b as Buffer);
  }

  #acquire(n: number): Buffer {
    const cls = BufferPool.classOf(n);
    let b: Buffer | undefined;
    if (cls < this.#classes) b = (this.#free[cls] ??= []).pop() ?? Buffer.alloc(512 << cls, POISON);
    else b = Buffer.alloc(n, POISON);
    this.out.add(b);
    this.pool.outstanding++;
    return b;
  }

  #release(b: Buffer): void {
    if (!this.out.delete(b)) {
      this.doubleRelease ??= new Error(`buffer of ${b.length} bytes released but not handed out (released twice?)`).stack ?? 'double release';
      return;
    }
    this.pool.outstanding--;
    b.fill(POISON);
    const cls = BufferPool.classOf(b.length);
    if (cls < this.#classes && b.length === 512 << cls) (this.#free[cls] ??= []).push(b);
  }

  /** Before each input: nothing handed out (what a failed input left is forgotten), no report pending. */
  reset(): void {
    this.pool.outstanding -= this.out.size;
    this.out.clear();
    this.doubleRelease = null;
  }
}
