// The per-thread runtime services in one place: statistics (stats.ts), the poller (poller.ts) and
// the data buffer pool (buffer-pool.ts) charged to the target-wide memory budget (memory-budget.ts).
// Every thread that does I/O (the main thread in src/server/target.ts, each worker in
// src/shard/worker.ts) calls initThreadRuntime() once, first.
import os from 'node:os';
import type { PollMode } from '../config/types.js';
import { BufferPool, type BufferPoolOptions } from './buffer-pool.js';
import { MemoryBudget } from './memory-budget.js';
import { startPoller } from './poller.js';
import { ThreadStats, setThreadStats, threadStats } from './stats.js';

export interface ThreadRuntimeOptions {
  /** Poll mode of this thread's event loop. */
  mode: PollMode;
  /** Statistics memory another thread reads (a worker's, given by the main thread); default: this thread's own. */
  stats?: SharedArrayBuffer;
  /** Largest transfer (MDTS): the largest pooled buffer. */
  maxTransfer: number;
  /** The target-wide budget (the main thread's MemoryBudget, or its shared memory on a worker). */
  budget: MemoryBudget | SharedArrayBuffer;
}

const DEFAULT_BUDGET_CAP = 4 * 1024 ** 3;

/** The budget when the config sets none: a quarter of the machine's memory, at most 4 GiB. */
export function defaultMemoryBudget(): number {
  return Math.min(DEFAULT_BUDGET_CAP, Math.floor(os.totalmem() / 4));
}

/** The main thread's budget from the config value (bytes; 0: no limit; undefined: the default). */
export function createMemoryBudget(configured: number | undefined): MemoryBudget {
  return new MemoryBudget({ limitBytes: configured ?? defaultMemoryBudget() });
}

/** Sets up this thread's statistics, poller and buffer pool; returns the statistics. */
export function initThreadRuntime(o: ThreadRuntimeOptions): ThreadStats {
  const stats = o.stats ? new ThreadStats(o.stats) : threadStats();
  setThreadStats(stats);
  startPoller(o.mode);
  installThreadBufferPool({ maxSize: o.maxTransfer, budget: o.budget });
  return stats;
}

// The thread's pool (module state is per worker thread).
let threadPool: BufferPool | null = null;

/**
 * Creates this thread's pool (once; later calls return the first one). The main thread makes the
 * MemoryBudget and gives each worker its `sab` to pass here as `budget`.
 */
export function initThreadBufferPool(o: BufferPoolOptions): BufferPool {
  threadPool ??= new BufferPool(o);
  return threadPool;
}

/**
 * Makes a new pool the thread's pool (a target starting: its MDTS and budget). A previous pool stays
 * usable by whoever still holds it (connections of a target being closed) and trims itself away.
 */
export function installThreadBufferPool(o: BufferPoolOptions): BufferPool {
  threadPool = new BufferPool(o);
  return threadPool;
}

/** This thread's pool, or null before initThreadBufferPool. */
export function threadBufferPool(): BufferPool | null {
  return threadPool;
}

/** Closes and forgets the thread's pool (tests, thread exit). */
export function resetThreadBufferPool(): void {
  threadPool?.close();
  threadPool = null;
}
