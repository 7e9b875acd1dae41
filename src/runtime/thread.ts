// The per-thread runtime services in one place: statistics (stats.ts), the poller (poller.ts) and
// the data buffer pools (buffer-pool.ts). Every thread that does I/O (the main thread in
// src/server/target.ts, each worker in src/shard/worker.ts) calls initThreadRuntime() once, first.
import type { PollMode } from '../config/types.js';
import { BufferPool } from './buffer-pool.js';
import { startPoller } from './poller.js';
import { ThreadStats, setThreadStats, threadStats } from './stats.js';

export interface ThreadRuntimeOptions {
  /** Poll mode of this thread's event loop. */
  mode: PollMode;
  /** Statistics memory another thread reads (a worker's, given by the main thread); default: this thread's own. */
  stats?: SharedArrayBuffer;
}

/** Sets up this thread's statistics and poller; returns the statistics. */
export function initThreadRuntime(o: ThreadRuntimeOptions): ThreadStats {
  const stats = o.stats ? new ThreadStats(o.stats) : threadStats();
  setThreadStats(stats);
  startPoller(o.mode);
  return stats;
}

const pools = new Map<number, BufferPool>();

/** This thread's buffer pool for transfers of up to `maxSize` bytes (one per size, per thread). */
export function threadBufferPool(maxSize: number): BufferPool {
  let p = pools.get(maxSize);
  if (!p) {
    p = new BufferPool(maxSize);
    pools.set(maxSize, p);
  }
  return p;
}
