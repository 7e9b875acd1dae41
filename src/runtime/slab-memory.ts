// Where pooled buffers live: slabs, each an ArrayBuffer on its own page-aligned anonymous mapping from
// the addon (so every buffer carved at a multiple of 4 KiB is aligned for O_DIRECT), given back to the
// system with MADV_DONTNEED when a pool trims it. An addon built without these functions falls back to
// ordinary (unaligned) ArrayBuffers, given back when collected; the io_uring engine then bounces.
//
// The slabs alive in this thread are announced to observers (the thread's io_uring engine registers
// each one with its ring as a fixed buffer, and unregisters it before it is given back).
import { native } from '../native/addon.js';

export interface SlabSource {
  /** Whether slabs start on a 4 KiB boundary. */
  readonly aligned: boolean;
  /** A slab of `bytes` (a multiple of 4 KiB), or null when the system has no memory for it. */
  alloc(bytes: number): ArrayBuffer | null;
  /** Gives the slab's memory back now (or as soon as it is collected); the slab is not used again. */
  discard(slab: ArrayBuffer): void;
  /** Bytes of the slab in memory, when the source can tell (-1 when not). */
  resident(slab: ArrayBuffer): number;
}

interface SlabNative {
  allocSlab(bytes: number): ArrayBuffer | null;
  discardSlab(slab: ArrayBuffer): number;
  residentBytes(ab: ArrayBuffer): number;
}

function slabNative(): SlabNative | null {
  const n = native as unknown as Partial<SlabNative>;
  return typeof n.allocSlab === 'function' && typeof n.discardSlab === 'function' && typeof n.residentBytes === 'function' ? (n as SlabNative) : null;
}

/** Page-aligned mappings from the addon. */
export class NativeSlabSource implements SlabSource {
  readonly aligned = true;
  readonly #n: SlabNative;
  constructor(n: SlabNative) {
    this.#n = n;
  }
  alloc(bytes: number): ArrayBuffer | null {
    return this.#n.allocSlab(bytes);
  }
  discard(slab: ArrayBuffer): void {
    this.#n.discardSlab(slab);
  }
  resident(slab: ArrayBuffer): number {
    return this.#n.residentBytes(slab);
  }
}

/** Ordinary ArrayBuffers (no alignment guarantee): memory goes back when the collector frees them. */
export class HeapSlabSource implements SlabSource {
  readonly aligned = false;
  alloc(bytes: number): ArrayBuffer | null {
    const b = Buffer.allocUnsafeSlow(bytes);
    return b.buffer as ArrayBuffer;
  }
  discard(_slab: ArrayBuffer): void {
    /* dropped by the pool; collected later */
  }
  resident(_slab: ArrayBuffer): number {
    return -1;
  }
}

let defaultSource: SlabSource | undefined;

/** The addon's aligned slabs where the addon has them, else heap slabs. */
export function defaultSlabSource(): SlabSource {
  if (!defaultSource) {
    const n = slabNative();
    defaultSource = n ? new NativeSlabSource(n) : new HeapSlabSource();
  }
  return defaultSource;
}

/** Told about every slab of this thread's pools: added once it exists, removed before it is discarded. */
export interface SlabObserver {
  slabAdded(slab: ArrayBuffer): void;
  slabRemoved(slab: ArrayBuffer): void;
}

// Per thread (module state is per worker thread).
const liveSlabs = new Set<ArrayBuffer>();
const observers = new Set<SlabObserver>();

/** Starts telling `o` about this thread's slabs (those alive now first). Returns the way to stop. */
export function watchSlabs(o: SlabObserver): () => void {
  observers.add(o);
  for (const s of liveSlabs) o.slabAdded(s);
  return () => void observers.delete(o);
}

/** A pool made a slab (aligned slabs only: those are the ones worth registering for I/O). */
export function slabCreated(slab: ArrayBuffer): void {
  liveSlabs.add(slab);
  for (const o of observers) o.slabAdded(slab);
}

/** A pool is about to discard a slab. */
export function slabDestroyed(slab: ArrayBuffer): void {
  if (!liveSlabs.delete(slab)) return;
  for (const o of observers) o.slabRemoved(slab);
}
