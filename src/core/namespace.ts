// A namespace: an LBA-addressed view of a backend, with its identifiers and I/O counters.
import type { Backend } from '../backend/backend.js';
import type { NamespaceConfig } from '../config/types.js';
import { HIST_BUCKETS } from '../runtime/stats.js';
import { RESV_SNAPSHOT_BYTES, ReservationSnapshot } from './reservations/snapshot.js';
import { RANGE_LOCK_BYTES, RangeLock } from './range-lock.js';
import { FailureLog } from './failure-log.js';

export function hexBytes(hex: string, size: number): Uint8Array {
  const clean = hex.replace(/[-:]/g, '');
  const out = new Uint8Array(size);
  for (let i = 0; i < size && i * 2 + 1 < clean.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * I/O counters kept per namespace (SMART / Health log, metrics, `nvmetd stats`), one slot per thread.
 * The first five count commands accepted; the rest are counted at completion (ns-completion.ts).
 */
export const NsStat = {
  READS: 0,
  WRITES: 1,
  /** Data read and written, in 512-byte units. */
  READ_512: 2,
  WRITTEN_512: 3,
  MEDIA_ERRORS: 4,
  /** Completed commands other than Read and Write, one counter per opcode (NS_OTHER_OPS). */
  FLUSHES: 5,
  COMPARES: 6,
  WRITE_ZEROES: 7,
  DSMS: 8,
  VERIFIES: 9,
  COPIES: 10,
  /** Commands completed with a non-zero status. */
  ERRORS: 11,
  /** Latency of the sampled commands, per class (NsLatency): sum (us), count, then HIST_BUCKETS buckets. */
  LATENCY: 12,
  FIELDS: 12 + 3 * (2 + HIST_BUCKETS),
} as const;

/** The latency classes of a namespace's commands; a class's block starts at NsStat.LATENCY + class * NS_LATENCY_BLOCK. */
export const NsLatency = { READ: 0, WRITE: 1, OTHER: 2 } as const;
export const NS_LATENCY_BLOCK = 2 + HIST_BUCKETS;

/** The "other" commands counted per namespace: metric label and counter. */
export const NS_OTHER_OPS: readonly { op: string; field: number }[] = [
  { op: 'flush', field: NsStat.FLUSHES },
  { op: 'compare', field: NsStat.COMPARES },
  { op: 'write_zeroes', field: NsStat.WRITE_ZEROES },
  { op: 'dataset_management', field: NsStat.DSMS },
  { op: 'verify', field: NsStat.VERIFIES },
  { op: 'copy', field: NsStat.COPIES },
];

/**
 * A namespace's memory shared with worker threads: counters for `threads` slots, then its reservation
 * snapshot (reservations/snapshot.ts), then the stripe table of its write range lock (range-lock.ts).
 */
export function allocateNsStats(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(threads * NsStat.FIELDS * 8 + RESV_SNAPSHOT_BYTES + RANGE_LOCK_BYTES);
}

export class Namespace {
  readonly nsid: number;
  readonly blockSize: number;
  readonly lbaShift: number;
  readonly backend: Backend;
  readonly uuid: Uint8Array;
  readonly nguid: Uint8Array;
  readonly eui64: Uint8Array;
  readonly readOnly: boolean;
  /** ANA group id (ANAGRPID). */
  readonly anaGroup: number;
  readonly config: NamespaceConfig;
  /** This thread's counters (NsStat fields): one writer per slot, no atomics needed. */
  readonly stats: Float64Array;
  /** Every thread's slots, summed by total(). */
  readonly #allStats: Float64Array;
  /** The reservation as every thread's I/O path sees it (written by the main thread). */
  readonly resv: ReservationSnapshot;
  /** Keeps plain writes off the range of a Compare and Write, across threads (range-lock.ts). */
  readonly writeLock: RangeLock;
  /** Backend failures of this namespace on this thread, logged once per burst. */
  readonly failures = new FailureLog();
  /** Host NQNs that see the namespace; null: every host the subsystem admits (config `hosts` absent). */
  #hosts: Set<string> | null;

  /** `statsSab`/`slot`: shared counters when I/O queues run on several threads (slot 0: owner). */
  constructor(config: NamespaceConfig, backend: Backend, statsSab?: SharedArrayBuffer, slot = 0) {
    const sab = statsSab ?? new ArrayBuffer(NsStat.FIELDS * 8 + RESV_SNAPSHOT_BYTES);
    const counters = sab.byteLength - RESV_SNAPSHOT_BYTES - (statsSab ? RANGE_LOCK_BYTES : 0);
    this.#allStats = new Float64Array(sab, 0, counters / 8);
    this.resv = new ReservationSnapshot(sab, counters);
    this.stats = this.#allStats.subarray(slot * NsStat.FIELDS, (slot + 1) * NsStat.FIELDS);
    this.config = config;
    this.nsid = config.nsid;
    this.blockSize = config.blockSize;
    this.lbaShift = Math.log2(config.blockSize);
    this.writeLock = statsSab
      ? new RangeLock(new Int32Array(statsSab, statsSab.byteLength - RANGE_LOCK_BYTES, RANGE_LOCK_BYTES / 4), this.lbaShift)
      : RangeLock.private(this.lbaShift);
    this.backend = backend;
    this.uuid = hexBytes(config.uuid, 16);
    this.nguid = hexBytes(config.nguid, 16);
    this.eui64 = hexBytes(config.eui64, 8);
    this.readOnly = config.readOnly;
    this.anaGroup = config.anaGroup ?? 1;
    this.#hosts = config.hosts ? new Set(config.hosts) : null;
  }

  /** Whether host `hostnqn` sees the namespace (it is active for that host's controllers). */
  visibleTo(hostnqn: string): boolean {
    return this.#hosts === null || this.#hosts.has(hostnqn);
  }

  /** Visible to every admitted host (no host list). */
  get autoVisible(): boolean {
    return this.#hosts === null;
  }

  /** Replaces the list of hosts that see it (null: every host); the config follows. */
  setHosts(hosts: readonly string[] | null): void {
    this.#hosts = hosts ? new Set(hosts) : null;
    if (hosts) this.config.hosts = [...hosts];
    else delete this.config.hosts;
  }

  /** A counter summed over every thread. */
  total(field: number): number {
    let n = 0;
    for (let i = field; i < this.#allStats.length; i += NsStat.FIELDS) n += this.#allStats[i]!;
    return n;
  }

  /** Number of logical blocks (NSZE). */
  get nlb(): number {
    return Math.floor(this.backend.sizeBytes / this.blockSize);
  }
}
