// Where pooled buffers live: slabs, each an ArrayBuffer on its own page-aligned anonymous mapping from
// the addon (so every buffer carved at a multiple of 4 KiB is aligned for O_DIRECT), given back to the
// system with MADV_DONTNEED when a pool trims it. A missing addon, or one built without these functions,
// falls back to ordinary (unaligned) ArrayBuffers, given back when collected (O_DIRECT then bounces).
import { optionalAddon } from '../native/addon-optional.js';

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
    const n = optionalAddon<SlabNative>(['allocSlab', 'discardSlab', 'residentBytes']);
    defaultSource = n ? new NativeSlabSource(n) : new HeapSlabSource();
  }
  return defaultSource;
}
