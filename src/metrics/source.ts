// What the metrics endpoint reads from the running target, on each scrape (no per-I/O work).
import type { TargetContext } from '../core/context.js';
import type { ThreadStatsSnapshot } from '../runtime/stats.js';
import type { BufferPoolStats } from '../runtime/buffer-pool.js';

export interface ThreadSample {
  /** "main", or "worker<index>" for an I/O worker: one label value per thread, bounded by the config. */
  thread: string;
  stats: ThreadStatsSnapshot;
}

export interface MetricsSource {
  readonly ctx: TargetContext;
  /** The main thread's and each I/O worker's statistics. */
  threads(): ThreadSample[];
  /** Open TCP connections (admin and I/O queues), on the main thread and on the workers. */
  connections(): number;
  /** The main thread's buffer pool (the memory budget is shared by every thread's pool), or null. */
  bufferPool(): BufferPoolStats | null;
}
