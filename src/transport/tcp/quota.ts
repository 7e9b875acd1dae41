// A connection's share of its thread's buffer pool. The target-wide budget bounds all connections
// together; this bounds one: a host that stops reading can hold at most its quota (its queued reads
// and the buffers of its commands in flight), so it cannot take the whole budget from the others.
// Past its quota the connection's commands wait for its own memory to come back, not for others'.
import type { BufferPool } from '../../runtime/buffer-pool.js';

/** What the transport needs of a pool (the thread's BufferPool, or a connection's quota of it). */
export interface DataPool {
  /** Always a buffer (control-plane data: admin responses, in-capsule data within its small limit). */
  acquire(n: number): Buffer;
  /** A data buffer, or null when no memory is free for it now (then whenAvailable says when). */
  tryAcquire(n: number): Buffer | null;
  release(buf: Uint8Array): void;
  /** Calls cb once, when memory may be available again after tryAcquire returned null. */
  whenAvailable(cb: () => void): void;
  cancelWait(cb: () => void): void;
}

export class ConnectionQuota implements DataPool {
  readonly #pool: BufferPool;
  /** Bytes this connection may hold. */
  readonly limit: number;
  #held = 0;
  /** tryAcquire failed on the quota (not on the budget): the waiter runs on our own releases. */
  #blockedHere = false;
  #waiter: (() => void) | null = null;

  constructor(pool: BufferPool, limit: number) {
    this.#pool = pool;
    this.limit = limit;
  }

  /** Bytes of pooled buffers this connection holds now. */
  get held(): number {
    return this.#held;
  }

  acquire(n: number): Buffer {
    const b = this.#pool.acquire(n);
    this.#held += b.length;
    return b;
  }

  tryAcquire(n: number): Buffer | null {
    // One command always fits when the connection holds nothing (the quota is at least a few MDTS).
    if (this.#held > 0 && this.#held + n > this.limit) {
      this.#blockedHere = true;
      return null;
    }
    this.#blockedHere = false;
    const b = this.#pool.tryAcquire(n);
    if (b !== null) this.#held += b.length;
    return b;
  }

  release(buf: Uint8Array): void {
    this.#held -= buf.length;
    this.#pool.release(buf);
    if (this.#waiter !== null && this.#blockedHere) {
      const cb = this.#waiter;
      this.#waiter = null;
      this.#blockedHere = false;
      queueMicrotask(cb);
    }
  }

  whenAvailable(cb: () => void): void {
    if (this.#blockedHere) this.#waiter = cb;
    else this.#pool.whenAvailable(cb);
  }

  cancelWait(cb: () => void): void {
    if (this.#waiter === cb) this.#waiter = null;
    this.#pool.cancelWait(cb);
  }
}

/** A connection's quota: 1/16 of the budget, at least 4 transfers of the largest size. */
export function quotaFor(pool: BufferPool, mdts: number): number {
  const budget = pool.budget.limitBytes;
  return Number.isFinite(budget) ? Math.max(4 * mdts, Math.floor(budget / 16)) : Infinity;
}
