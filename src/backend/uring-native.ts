// Typed view of the io_uring half of the native addon (native/uring.cc), loaded lazily so that a missing
// or broken addon is a fallback to the fs engine, not a crash at import time.

/** Kernel-side ring in one thread. Slots are indices into the caller's op table (< capacity). */
export interface NativeRing {
  read(slot: number, file: number, dst: Uint8Array, offset: number): void;
  write(slot: number, file: number, src: Uint8Array, offset: number, fua: boolean): void;
  /** fdatasync */
  fsync(slot: number, file: number): void;
  fallocate(slot: number, file: number, mode: number, offset: number, length: number): void;
  /** which: 0 BLKDISCARD, 1 BLKZEROOUT; runs on the libuv thread pool. */
  blkIoctl(slot: number, fd: number, which: 0 | 1, offset: number, length: number): void;
  /**
   * Publishes queued SQEs (one io_uring_enter at most) and collects inline completions; with spinUs > 0,
   * first watches the completion queue for up to that long when nothing has completed yet.
   */
  submit(spinUs?: number): number;
  /** Collects completions; poll=true polls the device first (IOPOLL). */
  reap(poll?: boolean): number;
  /** memAlign: non-zero when the descriptor is O_DIRECT (buffers must be aligned to it). */
  registerFile(fd: number, memAlign: number): number;
  unregisterFile(index: number): void;
  /** 0, or -errno when the kernel refused to pin the pool. */
  registerBuffers(pool: ArrayBuffer): number;
  /**
   * Registers a slab in the ring's buffer table (a sparse table of 16384 entries, kernel 5.13+): its
   * index, or -errno (ENOSPC table full, ENOMEM over RLIMIT_MEMLOCK, EINVAL/EFAULT on older kernels).
   * Reads and writes whose buffer lies inside a registered slab use READ_FIXED/WRITE_FIXED.
   */
  registerSlab(slab: ArrayBuffer): number;
  /** Empties a buffer-table entry (the kernel unpins it once no request uses it). */
  unregisterSlab(index: number): void;
  close(): void;
  info(): RingInfo;
}

export interface RingInfo {
  sqEntries: number;
  features: number;
  sqpoll: boolean;
  iopoll: boolean;
  deferTaskrun: boolean;
  registeredFiles: boolean;
  /** Some memory is registered as fixed buffers. */
  fixedBuffers: boolean;
  /** Ranges in the buffer table. */
  registeredBuffers: number;
  inflight: number;
  /** Reads/writes submitted as READ_FIXED/WRITE_FIXED, through a bounce buffer, or plainly (since start). */
  fixedOps: number;
  bounceOps: number;
  plainOps: number;
}

export interface RingOptions {
  entries: number;
  sqpoll?: boolean;
  sqThreadIdle?: number;
  sqThreadCpu?: number;
  iopoll?: boolean;
  /** IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them (not with sqpoll). */
  deferTaskrun?: boolean;
  /** [head, tail, mask, _, (slot, res) * capacity]; capacity a power of two. */
  completions: Int32Array;
  /** Called once per batch of completions (from the event loop's poll phase). */
  onComplete: () => void;
}

export interface UringNative {
  Ring: new (o: RingOptions) => NativeRing;
  /** 0 when io_uring_setup works here, else -errno. */
  uringProbe(): number;
  blockDeviceSize(fd: number): number;
  blockLogicalSize(fd: number): number;
  dioAlign(fd: number): [number, number];
  allocAligned(bytes: number): ArrayBuffer;
  /** A page-aligned anonymous mapping (null when refused); see src/runtime/slab-memory.ts. */
  allocSlab(bytes: number): ArrayBuffer | null;
  /** MADV_DONTNEED over the slab: 0 or -errno. */
  discardSlab(slab: ArrayBuffer): number;
  /** Resident bytes of a page-aligned ArrayBuffer (mincore), or -errno. */
  residentBytes(ab: ArrayBuffer): number;
}

let loaded: UringNative | null | undefined;
let loadError = '';

/** The addon's io_uring functions, or null (with loadError() saying why). */
export async function loadUringNative(): Promise<UringNative | null> {
  if (loaded !== undefined) return loaded;
  try {
    const mod = (await import('../native/addon.js')) as { native: unknown };
    const n = mod.native as Partial<UringNative>;
    if (typeof n.Ring !== 'function' || typeof n.uringProbe !== 'function') {
      loadError = 'the native addon was built without the io_uring engine (rebuild with `npx node-gyp rebuild`)';
      loaded = null;
    } else {
      loaded = n as UringNative;
    }
  } catch (err) {
    loadError = `the native addon did not load: ${(err as Error).message}`;
    loaded = null;
  }
  return loaded;
}

export function uringLoadError(): string {
  return loadError;
}

/** fallocate(2) modes. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;
