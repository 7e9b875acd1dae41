// A namespace: an LBA-addressed view of a backend, with its identifiers and I/O counters.
import type { Backend } from '../backend/backend.js';
import type { NamespaceConfig } from '../config/types.js';
import { RANGE_LOCK_BYTES, RangeLock } from './range-lock.js';

export function hexBytes(hex: string, size: number): Uint8Array {
  const clean = hex.replace(/[-:]/g, '');
  const out = new Uint8Array(size);
  for (let i = 0; i < size && i * 2 + 1 < clean.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** I/O counters kept per namespace (for the SMART / Health log), one slot per thread. */
export const NsStat = {
  READS: 0,
  WRITES: 1,
  /** Data read and written, in 512-byte units. */
  READ_512: 2,
  WRITTEN_512: 3,
  MEDIA_ERRORS: 4,
  FIELDS: 5,
} as const;

/**
 * A namespace's memory shared with worker threads: counters for `threads` slots, then the stripe
 * table of its write range lock (range-lock.ts).
 */
export function allocateNsStats(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(threads * NsStat.FIELDS * 8 + RANGE_LOCK_BYTES);
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
  /** Keeps plain writes off the range of a Compare and Write, across threads (range-lock.ts). */
  readonly writeLock: RangeLock;

  /** `statsSab`/`slot`: shared counters when I/O queues run on several threads (slot 0: owner). */
  constructor(config: NamespaceConfig, backend: Backend, statsSab?: SharedArrayBuffer, slot = 0) {
    this.#allStats = statsSab ? new Float64Array(statsSab, 0, (statsSab.byteLength - RANGE_LOCK_BYTES) / 8) : new Float64Array(NsStat.FIELDS);
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
