// Pooled data buffers, one pool per thread, shared by the transport and the io_uring engine.
//
//  - Size classes: powers of two from 512 B to the largest transfer (MDTS). Buffers are carved from
//    slabs (slab-memory.ts): page-aligned mappings, so every buffer of 4 KiB or more starts on a 4 KiB
//    boundary (smaller ones on their own size) and O_DIRECT needs no bounce copy. A slab holds one class:
//    64 buffers, between 64 KiB and maxSlabBytes (1 MiB); classes from maxSlabBytes up get a slab each.
//  - Budget: every slab is charged to a MemoryBudget, which may be shared by the pools of all threads
//    (a SharedArrayBuffer counter). tryAcquire never grows the pools past limit - reserve: it returns
//    null, and the caller waits with whenAvailable(cb) (called once memory is released here, trimmed
//    here, or given back by a pool in another thread). acquire always returns a buffer: it may also use
//    the reserve (control-plane buffers: admin responses, error data), and past the whole limit it still
//    allocates, counted in stats().overBudgetBytes (a caller that should have used tryAcquire).
//  - Shrinking: free memory beyond lowWaterBytes that the last trim period did not need goes back to the
//    system (slab unregistered from io_uring, MADV_DONTNEED, budget credited) after trimIdleMs, on an
//    unref'd timer. While another pool waits for memory, free slabs go back at once.
import { MemoryBudget } from './memory-budget.js';
import { defaultSlabSource, type SlabSource } from './slab-memory.js';
import { slabCreated, slabDestroyed } from './slab-registry.js';

const MIN_SHIFT = 9;
const PAGE = 4096;
const BUFS_PER_SLAB = 64;
const MIN_SLAB = 64 * 1024;
const DEFAULT_MAX_SLAB = 1024 * 1024;
const DEFAULT_LOW_WATER = 4 * 1024 * 1024;
const DEFAULT_TRIM_MS = 1000;
/** Slab.cls of a one-off slab for a request larger than the largest class. */
const ONE_OFF = -1;

export interface BufferPoolOptions {
  /** Largest pooled buffer (MDTS); larger requests get a one-off buffer, freed on release. */
  maxSize: number;
  /**
   * The budget this pool charges: a MemoryBudget, its SharedArrayBuffer (from another thread), or a
   * limit in bytes for a budget of this pool alone. Omitted: no limit.
   */
  budget?: MemoryBudget | SharedArrayBuffer | number;
  /** Free bytes kept after a burst (default 4 MiB). */
  lowWaterBytes?: number;
  /** Idle period before free memory beyond the low-water mark goes back (default 1000 ms; 0: never). */
  trimIdleMs?: number;
  /** Largest slab for the classes below it (a power of two from 4 KiB; default 1 MiB). */
  maxSlabBytes?: number;
  /** Where slabs come from (default: the addon's aligned mappings). */
  slabs?: SlabSource;
}

export interface BufferPoolStats {
  /** Bytes of slabs this pool holds (free + handed out). */
  allocatedBytes: number;
  /** Bytes of buffers handed out (whole classes). */
  outstandingBytes: number;
  freeBytes: number;
  /** Buffers handed out. */
  outstanding: number;
  slabs: number;
  /** The shared budget: limit (Infinity when none), reserve, all pools' bytes now and at the peak. */
  budgetBytes: number;
  reserveBytes: number;
  budgetUsedBytes: number;
  budgetPeakBytes: number;
  /** tryAcquire calls answered null here, and in every pool sharing the budget. */
  waits: number;
  budgetWaits: number;
  /** Bytes acquire() allocated past the whole limit (since start). */
  overBudgetBytes: number;
  /** Bytes given back to the system by trims (since start). */
  trimmedBytes: number;
  /** Releases of buffers this pool did not hand out (or released twice): ignored. */
  badReleases: number;
}

interface Slab {
  readonly ab: ArrayBuffer;
  readonly bytes: number;
  readonly cls: number;
  /** Buffer size (the class size; the requested length for a one-off). */
  readonly size: number;
  readonly count: number;
  free: number;
  /** The ids of its buffers. */
  readonly ids: number[];
}

type Waiter = () => void;

export class BufferPool {
  readonly maxSize: number;
  readonly budget: MemoryBudget;
  readonly aligned: boolean;
  readonly #source: SlabSource;
  // Every buffer has an id: an index into #bufs (the Buffer), #slabOf and #out (1 while handed out).
  // Lookups by id are array reads; release finds the id with one Map lookup on the Buffer itself.
  readonly #bufs: (Buffer | null)[] = [];
  readonly #slabOf: (Slab | null)[] = [];
  readonly #out: number[] = [];
  readonly #idOf = new Map<Uint8Array, number>();
  readonly #spareIds: number[] = [];
  /** Free buffer ids per class (a stack). */
  readonly #free: number[][] = [];
  readonly #slabs: Slab[][] = [];
  #slabCount = 0;
  readonly #lowWater: number;
  readonly #trimMs: number;
  readonly #maxSlab: number;
  /** Buffers handed out and not yet released, for statistics and leak checks. */
  outstanding = 0;
  #allocated = 0;
  #outBytes = 0;
  /** Least free bytes since the trim timer was armed, and whether anything was acquired since. */
  #minFree = 0;
  #acquiredSinceArm = false;
  #timer: NodeJS.Timeout | null = null;
  #waiters: Waiter[] = [];
  #wakeScheduled = false;
  /** This pool counts in the budget's pressure (it has waiters). */
  #pressured = false;
  #watching = false;
  /** The budget's release generation read before the last refused growth (no wake-up is missed). */
  #failGen = 0;
  #reclaimScheduled = false;
  #closed = false;
  #waits = 0;
  #overBudget = 0;
  #trimmed = 0;
  #badReleases = 0;
  readonly #wakeBound = (): void => this.#wake();
  readonly #reclaimBound = (): void => {
    this.#reclaimScheduled = false;
    this.#freeSlabs(Infinity, this.#lowWater);
  };
  readonly #tickBound = (): void => this.#trimTick();

  constructor(o: number | BufferPoolOptions) {
    const opts: BufferPoolOptions = typeof o === 'number' ? { maxSize: o } : o;
    this.maxSize = opts.maxSize;
    const b = opts.budget;
    this.budget = b instanceof MemoryBudget ? b : b instanceof SharedArrayBuffer ? new MemoryBudget(b) : new MemoryBudget({ limitBytes: b ?? 0 });
    this.#source = opts.slabs ?? defaultSlabSource();
    this.aligned = this.#source.aligned;
    this.#lowWater = Math.max(0, opts.lowWaterBytes ?? DEFAULT_LOW_WATER);
    this.#trimMs = opts.trimIdleMs ?? DEFAULT_TRIM_MS;
    const maxSlab = opts.maxSlabBytes ?? DEFAULT_MAX_SLAB;
    if (!Number.isInteger(maxSlab) || maxSlab < PAGE || (maxSlab & (maxSlab - 1)) !== 0) throw new RangeError(`BufferPool: maxSlabBytes must be a power of two from 4096 (got ${maxSlab})`);
    this.#maxSlab = maxSlab;
    for (let shift = MIN_SHIFT; 1 << shift <= Math.max(this.maxSize, 1 << MIN_SHIFT); shift++) {
      this.#free.push([]);
      this.#slabs.push([]);
    }
  }

  static classOf(n: number): number {
    if (n <= 1 << MIN_SHIFT) return 0;
    return 32 - Math.clz32(n - 1) - MIN_SHIFT;
  }

  /** Size of the buffers of class `cls`. */
  static classSize(cls: number): number {
    return 2 ** (cls + MIN_SHIFT);
  }

  /** Bytes of free buffers in this pool. */
  get freeBytes(): number {
    return this.#allocated - this.#outBytes;
  }
  get allocatedBytes(): number {
    return this.#allocated;
  }

  /**
   * A buffer of at least n bytes (its length is the class size; use subarray(0, n)), or null when the
   * pool would have to grow past the budget (less its reserve): then whenAvailable(cb) says when to retry.
   */
  tryAcquire(n: number): Buffer | null {
    return this.#take(n, false);
  }

  /**
   * A buffer of at least n bytes, always: for control-plane buffers. Uses the budget's reserve, and
   * past the whole budget allocates anyway (counted in stats().overBudgetBytes).
   */
  acquire(n: number): Buffer {
    return this.#take(n, true)!;
  }

  /** Gives a buffer from acquire/tryAcquire back (the whole buffer, not a subarray of it). */
  release(buf: Uint8Array): void {
    const id = this.#idOf.get(buf);
    if (id === undefined || this.#out[id] !== 1) {
      this.#badReleases++;
      return;
    }
    this.#out[id] = 0;
    const slab = this.#slabOf[id]!;
    slab.free++;
    this.outstanding--;
    if (slab.cls === ONE_OFF) {
      this.#removeSlab(slab);
    } else {
      this.#outBytes -= slab.size;
      this.#free[slab.cls]!.push(id);
      if (this.freeBytes > this.#lowWater) {
        if (this.#timer === null) this.#armTrim();
        if (!this.#reclaimScheduled && this.#waiters.length === 0 && this.budget.pressure > 0) {
          // Another pool waits for memory: hand back what is free here now, not after the idle period.
          this.#reclaimScheduled = true;
          setImmediate(this.#reclaimBound);
        }
      }
    }
    if (this.#waiters.length > 0) this.#scheduleWake();
  }

  /**
   * Calls `cb` once, soon after memory may have become available (a release or trim in this pool, or
   * memory given back by any pool sharing the budget). The caller then retries tryAcquire (and waits
   * again if it still gets null).
   */
  whenAvailable(cb: () => void): void {
    if (!this.#pressured) {
      this.#pressured = true;
      this.budget.addPressure(1);
    }
    this.#waiters.push(cb);
    this.#watchBudget();
  }

  /** Withdraws a callback given to whenAvailable that has not been called yet (a queue closing). */
  cancelWait(cb: () => void): void {
    const i = this.#waiters.indexOf(cb);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    if (this.#waiters.length === 0 && this.#pressured) {
      this.#pressured = false;
      this.budget.addPressure(-1);
    }
  }

  /** Frees every free slab and stops the trim timer (thread exit, tests). Buffers still out stay valid. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#freeSlabs(Infinity, 0);
  }

  /**
   * Gives free memory beyond `keepBytes` (default: the low-water mark) back now. Returns bytes freed.
   * Only whole free slabs can go; one partly in use stays.
   */
  trim(keepBytes = this.#lowWater): number {
    return this.#freeSlabs(Infinity, keepBytes);
  }

  /** Resident bytes of this pool's slabs (-1 when the slab source cannot tell): tests and diagnostics. */
  residentBytes(): number {
    let n = 0;
    for (const slabs of this.#slabs) {
      for (const s of slabs) {
        const r = this.#source.resident(s.ab);
        if (r < 0) return -1;
        n += r;
      }
    }
    return n;
  }

  stats(): BufferPoolStats {
    const b = this.budget;
    return {
      allocatedBytes: this.#allocated,
      outstandingBytes: this.#outBytes,
      freeBytes: this.freeBytes,
      outstanding: this.outstanding,
      slabs: this.#slabCount,
      budgetBytes: b.limitBytes,
      reserveBytes: b.reserveBytes,
      budgetUsedBytes: b.usedBytes,
      budgetPeakBytes: b.peakBytes,
      waits: this.#waits,
      budgetWaits: b.waits,
      overBudgetBytes: this.#overBudget,
      trimmedBytes: this.#trimmed,
      badReleases: this.#badReleases,
    };
  }

  #take(n: number, control: boolean): Buffer | null {
    if (n > this.maxSize) return this.#oneOff(n, control);
    const cls = BufferPool.classOf(n);
    const list = this.#free[cls];
    if (list === undefined) return this.#oneOff(n, control);
    let id = list.pop();
    if (id === undefined) {
      if (!this.#grow(cls, control)) return null;
      id = list.pop()!;
    }
    const slab = this.#slabOf[id]!;
    this.#out[id] = 1;
    slab.free--;
    this.outstanding++;
    this.#outBytes += slab.size;
    const free = this.freeBytes;
    if (free < this.#minFree) this.#minFree = free;
    this.#acquiredSinceArm = true;
    return this.#bufs[id]!;
  }

  /** Adds a slab to class `cls`; false when the budget (or the system) has no room. */
  #grow(cls: number, control: boolean): boolean {
    const size = BufferPool.classSize(cls);
    const bytes = size >= this.#maxSlab ? Math.max(size, PAGE) : Math.min(this.#maxSlab, Math.max(MIN_SLAB, size * BUFS_PER_SLAB));
    const ab = this.#charge(bytes, control);
    if (!ab) return false;
    const count = Math.floor(bytes / size);
    const slab: Slab = { ab, bytes, cls, size, count, free: count, ids: [] };
    for (let i = 0; i < count; i++) slab.ids.push(this.#newId(slab, Buffer.from(ab, i * size, size), 0));
    this.#addSlab(slab);
    this.#slabs[cls]!.push(slab);
    const list = this.#free[cls]!;
    for (let i = count - 1; i >= 0; i--) list.push(slab.ids[i]!);
    return true;
  }

  /** A request above the largest class: a slab of its own, freed on release. */
  #oneOff(n: number, control: boolean): Buffer | null {
    const bytes = Math.max(PAGE, Math.ceil(n / PAGE) * PAGE);
    const ab = this.#charge(bytes, control);
    if (!ab) return null;
    const slab: Slab = { ab, bytes, cls: ONE_OFF, size: n, count: 1, free: 0, ids: [] };
    const buf = Buffer.from(ab, 0, n);
    slab.ids.push(this.#newId(slab, buf, 1));
    this.#addSlab(slab);
    this.outstanding++;
    return buf;
  }

  /** Budget for `bytes`, then the memory; null (nothing charged) when either is refused. */
  #charge(bytes: number, control: boolean): ArrayBuffer | null {
    const gen = this.budget.generation;
    if (!this.budget.tryCharge(bytes, control)) {
      // Free slabs of other classes here may make room.
      if (this.freeBytes >= bytes) this.#freeSlabs(Infinity, 0);
      if (!this.budget.tryCharge(bytes, control)) {
        if (!control) {
          this.#failGen = gen;
          this.#waits++;
          this.budget.countWait();
          return null;
        }
        this.budget.charge(bytes);
        this.#overBudget += bytes;
      }
    }
    const ab = this.#source.alloc(bytes);
    if (!ab) {
      this.budget.credit(bytes);
      if (!control) return null;
      throw new RangeError(`BufferPool: out of memory for a ${bytes}-byte slab`);
    }
    return ab;
  }

  #newId(slab: Slab, buf: Buffer, out: number): number {
    const id = this.#spareIds.pop() ?? this.#bufs.length;
    this.#bufs[id] = buf;
    this.#slabOf[id] = slab;
    this.#out[id] = out;
    this.#idOf.set(buf, id);
    return id;
  }

  #addSlab(slab: Slab): void {
    this.#slabCount++;
    this.#allocated += slab.bytes;
    if (slab.cls === ONE_OFF) this.#outBytes += slab.bytes;
    if (this.aligned) slabCreated(slab.ab);
  }

  /** Unregisters, discards and uncharges a slab (its buffers are already off the free list). */
  #removeSlab(slab: Slab): void {
    for (const id of slab.ids) {
      this.#idOf.delete(this.#bufs[id]!);
      this.#bufs[id] = null;
      this.#slabOf[id] = null;
      this.#out[id] = 0;
      this.#spareIds.push(id);
    }
    this.#slabCount--;
    if (slab.cls === ONE_OFF) this.#outBytes -= slab.bytes;
    this.#allocated -= slab.bytes;
    if (this.aligned) slabDestroyed(slab.ab);
    this.#source.discard(slab.ab);
    this.budget.credit(slab.bytes);
    if (slab.cls !== ONE_OFF) this.#trimmed += slab.bytes;
    if (this.#waiters.length > 0) this.#scheduleWake();
  }

  /** Frees whole free slabs, largest classes first, up to `maxBytes` and while free memory exceeds keepBytes. */
  #freeSlabs(maxBytes: number, keepBytes: number): number {
    let freed = 0;
    let free = this.freeBytes;
    for (let cls = this.#slabs.length - 1; cls >= 0; cls--) {
      const slabs = this.#slabs[cls]!;
      let gone: Set<Slab> | null = null;
      for (let i = slabs.length - 1; i >= 0; i--) {
        const s = slabs[i]!;
        if (s.free !== s.count || freed + s.bytes > maxBytes || free - s.bytes < keepBytes) continue;
        slabs.splice(i, 1);
        (gone ??= new Set()).add(s);
        freed += s.bytes;
        free -= s.bytes;
      }
      if (!gone) continue;
      // Off the free list first: #removeSlab recycles the ids.
      const list = this.#free[cls]!;
      let w = 0;
      for (let r = 0; r < list.length; r++) if (!gone.has(this.#slabOf[list[r]!]!)) list[w++] = list[r]!;
      list.length = w;
      for (const s of gone) this.#removeSlab(s);
    }
    return freed;
  }

  #armTrim(): void {
    if (this.#trimMs <= 0 || this.#closed) return;
    this.#minFree = this.freeBytes;
    this.#acquiredSinceArm = false;
    this.#timer = setTimeout(this.#tickBound, this.#trimMs);
    this.#timer.unref();
  }

  /**
   * Free memory no acquire needed since the timer was armed (all of it when nothing was acquired) goes
   * back, down to the low-water mark.
   */
  #trimTick(): void {
    this.#timer = null;
    const busy = this.#acquiredSinceArm;
    const excess = (busy ? Math.min(this.#minFree, this.freeBytes) : this.freeBytes) - this.#lowWater;
    const freed = excess > 0 ? this.#freeSlabs(excess, this.#lowWater) : 0;
    if (this.freeBytes > this.#lowWater && (freed > 0 || busy)) this.#armTrim();
  }

  #scheduleWake(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    queueMicrotask(this.#wakeBound);
  }

  #wake(): void {
    this.#wakeScheduled = false;
    const ws = this.#waiters;
    if (ws.length === 0) return;
    this.#waiters = [];
    for (const cb of ws) cb();
    // Those still short of memory have queued again.
    if (this.#waiters.length === 0 && this.#pressured) {
      this.#pressured = false;
      this.budget.addPressure(-1);
    }
  }

  /** While callers wait, listen for memory given back in other threads. */
  #watchBudget(): void {
    if (this.#watching) return;
    this.#watching = true;
    // Memory given back since the refusal wakes the waiters at once.
    void this.budget.changed(this.#failGen).then(() => {
      this.#watching = false;
      // The next wait is for a change after this one (unless a refusal says otherwise).
      this.#failGen = this.budget.generation;
      if (this.#waiters.length === 0) return;
      this.#wake();
      if (this.#waiters.length > 0) this.#watchBudget();
    });
  }
}
