// Control-plane messages between the main thread (controller owner) and the I/O workers.
// Per-I/O traffic never crosses threads; these are per-connection or per-controller events.
import type { PollMode, TargetConfig } from '../config/types.js';
import type { QueueHandoff } from '../transport/tcp/handoff.js';

export type { QueueHandoff };

/** Everything a worker needs to serve I/O queues on its own. */
export interface WorkerInit {
  index: number;
  config: TargetConfig;
  /** Cores this worker is pinned to (empty: not pinned). */
  cores: number[];
  mode: PollMode;
  /** Shared memory of RAM namespaces, by "subnqn/nsid". */
  ramShares: Record<string, SharedArrayBuffer[]>;
  /** Shared namespace counters, by "subnqn/nsid"; this worker writes slot index + 1. */
  nsStats: Record<string, SharedArrayBuffer>;
  /** Worker -> main ring (keep-alive traffic, statistics). */
  ring: SharedArrayBuffer;
  /** Per-worker statistics the main thread reads at any time (see stats.ts). */
  stats: SharedArrayBuffer;
}

export type MainToWorker =
  | { type: 'adopt'; handoff: QueueHandoff }
  | { type: 'close-queue'; queueId: number; reason: string }
  | { type: 'controller-ready'; subnqn: string; cntlid: number; ready: boolean }
  | { type: 'shutdown' };

export type WorkerToMain =
  | { type: 'ready'; index: number; tid: number; affinity: number[] }
  | { type: 'adopted'; queueId: number }
  | { type: 'adopt-failed'; queueId: number; reason: string }
  | { type: 'queue-closed'; queueId: number; reason: string }
  | { type: 'error-record'; subnqn: string; cntlid: number; sqid: number; cid: number; status: number; nsid: number; lba: string }
  | { type: 'idle'; inflight: number }
  | { type: 'shutdown-done' };

/** Ring record types (word 0). */
export const RingMsg = {
  /** [type, cntlid, nqnIndex]: keep-alive traffic on an I/O queue of that controller. */
  TRAFFIC: 1,
} as const;
