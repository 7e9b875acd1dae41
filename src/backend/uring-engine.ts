// The per-thread io_uring engine: mode detection, the op slot table, batched submit and drain.
//
// One engine (one ring, two in IOPOLL mode) serves every file/block namespace of a thread. Each operation
// holds a slot: slot index == SQE user_data == index in the completion ring the addon fills. The slot table
// is a set of parallel arrays allocated once, so the data path allocates nothing per I/O.
//
// Completion protocol (single thread, no atomics needed): the addon appends (slot, res) at compl[1] (tail)
// and calls onComplete once per batch; drain() consumes from compl[0] (head), writing head back before
// dispatching each result, so a dispatch that kicks again (and so appends more) is picked up by the same
// loop.
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Logger } from '../util/log.js';
import type { BackendRequest } from './backend.js';
import { RingSlabs } from './uring-slabs.js';
import { loadUringNative, uringLoadError, type NativeRing, type UringNative } from './uring-native.js';

const E = osConstants.errno;

export type UringMode = 'sqpoll' | 'iopoll' | 'interrupt';

export interface EngineOptions {
  /** 'auto' (default): io_uring where it works, else fs. 'fs' forces the thread-pool path. */
  engine?: 'auto' | 'uring' | 'fs';
  /** Wanted ring mode (default interrupt). A refused mode falls back to interrupt. */
  mode?: UringMode;
  /**
   * Ring size (power of two); also the number of operations in flight per thread before further ones wait
   * in a (allocating) overflow queue. Default 1024: several connections' full queues fit.
   */
  entries?: number;
  sqThreadCpu?: number;
  sqThreadIdleMs?: number;
  /**
   * Poll-mode completion wait: after each kick, watch the completion queue for up to this many µs before
   * returning to the event loop (0, the default: rely on the eventfd wake-up). Lower latency, more CPU.
   */
  spinUs?: number;
  /**
   * Interrupt mode: let the kernel defer completion work until this thread collects it
   * (IORING_SETUP_DEFER_TASKRUN, kernel 6.1+; quietly not used where refused). Default true; not with spinUs.
   */
  deferTaskrun?: boolean;
  /**
   * Forced fallbacks for tests: 'unavailable' (as if io_uring_setup failed), 'refuse-sqpoll',
   * 'refuse-iopoll', 'no-direct' (O_DIRECT refused), 'no-fallocate', 'no-blkioctl', 'no-fixed-buffers'.
   */
  simulate?: string[];
}

/** Options from the environment: NVMETD_ENGINE, NVMETD_URING_MODE, NVMETD_URING_ENTRIES, NVMETD_URING_SIMULATE. */
export function engineOptionsFromEnv(base: EngineOptions = {}, env: NodeJS.ProcessEnv = process.env): EngineOptions {
  const o: EngineOptions = { ...base };
  const eng = env.NVMETD_ENGINE;
  if (eng === 'fs' || eng === 'uring' || eng === 'auto') o.engine = eng;
  const mode = env.NVMETD_URING_MODE;
  if (mode === 'sqpoll' || mode === 'iopoll' || mode === 'interrupt') o.mode = mode;
  if (env.NVMETD_URING_ENTRIES) o.entries = Number(env.NVMETD_URING_ENTRIES);
  if (env.NVMETD_URING_SPIN_US) o.spinUs = Number(env.NVMETD_URING_SPIN_US);
  if (env.NVMETD_URING_DEFER_TASKRUN) o.deferTaskrun = env.NVMETD_URING_DEFER_TASKRUN !== '0';
  if (env.NVMETD_URING_SIMULATE) o.simulate = [...(o.simulate ?? []), ...env.NVMETD_URING_SIMULATE.split(',').map((s) => s.trim())];
  return o;
}

/** Why io_uring cannot be used in this process, or '' when it can. */
export function uringUnavailableReason(n: UringNative | null, simulate: string[]): string {
  if (simulate.includes('unavailable')) return 'io_uring_setup: ENOSYS (simulated)';
  if (!n) return uringLoadError();
  try {
    const v = fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
    if (v === '2') return 'disabled by /proc/sys/kernel/io_uring_disabled = 2';
  } catch {
    /* older kernels have no such knob */
  }
  const r = n.uringProbe();
  if (r < 0) return `io_uring_setup failed: ${errnoName(-r)}${-r === E.EPERM ? ' (seccomp, or io_uring_disabled)' : -r === E.ENOSYS ? ' (kernel without io_uring)' : ''}`;
  return '';
}

export function errnoName(n: number): string {
  for (const [k, v] of Object.entries(E)) if (v === n) return k;
  return `errno ${n}`;
}

/** What a slot is doing; decides how a result is handled. */
export const enum Stage {
  Free,
  Rw,
  Fsync,
  /** fallocate, trying the methods in the slot's plan one by one. */
  Falloc,
  /** Zeroes written chunk by chunk (the last fallback). */
  ZeroWrites,
  BlkDiscard,
  BlkZeroout,
  /** A result decided at submission (range check, read-only), delivered at the next drain. */
  Immediate,
}

/** Returned by EngineClient.continueOp when it issued more work for the slot. */
export const CONTINUED = 0x7fffffff;

/** A backend as the engine sees it: where a slot's follow-up work goes. */
export interface EngineClient {
  /** For a slot in a multi-step stage: issues the next step (returns CONTINUED) or returns the final result. */
  continueOp(slot: number, res: number): number;
  /** The slot's request was just signalled. */
  released(): void;
}

interface Waiting {
  client: EngineClient;
  req: BackendRequest;
  start: (slot: number) => void;
}

export const ZERO_CHUNK = 1 << 20;
const DEFAULT_ENTRIES = 1024;
/** Completion spins allowed per event-loop turn (EngineOptions.spinUs). */
const SPINS_PER_TURN = 32;

export class UringEngine {
  readonly native: UringNative;
  readonly mode: UringMode;
  readonly capacity: number;
  /** Ring for reads and writes (IOPOLL in iopoll mode). */
  readonly rw: NativeRing;
  /** Ring for everything else: fsync, fallocate (the same ring unless IOPOLL). */
  readonly aux: NativeRing;
  readonly simulate: ReadonlySet<string>;
  readonly log: Logger;
  /** An aligned 1 MiB of zeroes, for zero-writing fallbacks. */
  readonly zeroes: Uint8Array;
  /** See EngineOptions.spinUs. */
  spinUs = 0;

  // Slot table.
  readonly reqs: (BackendRequest | null)[];
  /**
   * The buffer each read/write slot points the kernel at: held here until the slot finishes, so the
   * memory stays alive (and unmoved by the collector's view of it) even if the caller dropped it.
   */
  readonly bufs: (Uint8Array | null)[];
  readonly clients: (EngineClient | null)[];
  readonly stage: Uint8Array;
  /** Free-form per-slot numbers the clients use for multi-step ops. */
  readonly pos: Float64Array;
  readonly left: Float64Array;
  readonly plan: Uint8Array;
  readonly #free: Int32Array;
  #freeTop: number;
  readonly #immRes: Int32Array;
  readonly #imm: Int32Array;
  #immCount = 0;
  readonly #waiting: Waiting[] = [];

  readonly #complRw: Int32Array;
  readonly #complAux: Int32Array;
  #draining = false;
  #dirtyRw = false;
  #dirtyAux = false;
  #pollScheduled = false;
  #inflightRw = 0;
  #closed = false;
  readonly #pollLoop = (): void => this.#iopoll();
  #spins = 0;
  /** The thread's pooled slabs, registered with the ring(s) as fixed buffers. */
  #slabs: RingSlabs | null = null;
  readonly #resetSpins = (): void => {
    this.#spins = 0;
  };

  private constructor(n: UringNative, mode: UringMode, rw: NativeRing, aux: NativeRing, complRw: Int32Array, complAux: Int32Array, capacity: number, simulate: ReadonlySet<string>, log: Logger) {
    this.native = n;
    this.mode = mode;
    this.rw = rw;
    this.aux = aux;
    this.capacity = capacity;
    this.simulate = simulate;
    this.log = log;
    this.#complRw = complRw;
    this.#complAux = complAux;
    this.reqs = new Array<BackendRequest | null>(capacity).fill(null);
    this.bufs = new Array<Uint8Array | null>(capacity).fill(null);
    this.clients = new Array<EngineClient | null>(capacity).fill(null);
    this.stage = new Uint8Array(capacity);
    this.pos = new Float64Array(capacity);
    this.left = new Float64Array(capacity);
    this.plan = new Uint8Array(capacity);
    this.#free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.#free[i] = capacity - 1 - i;
    this.#freeTop = capacity;
    this.#imm = new Int32Array(capacity);
    this.#immRes = new Int32Array(capacity);
    this.zeroes = new Uint8Array(n.allocAligned(ZERO_CHUNK));
  }

  /** Pooled slabs registered with the ring now. */
  get registeredSlabs(): number {
    return this.#slabs?.size ?? 0;
  }
  /**
   * Creates an engine, trying the wanted mode and falling back to interrupt mode when it is refused.
   * Returns null (after one log line) when io_uring cannot be used at all.
   */
  static async create(o: EngineOptions, log: Logger): Promise<UringEngine | null> {
    const simulate = new Set(o.simulate ?? []);
    const n = await loadUringNative();
    const why = uringUnavailableReason(n, [...simulate]);
    if (why || !n) {
      log.warn({ reason: why }, `io_uring unavailable (${why}); file and block namespaces use the fs thread pool`);
      return null;
    }
    let capacity = o.entries ?? DEFAULT_ENTRIES;
    if (!Number.isInteger(capacity) || capacity < 2 || capacity > 32768 || (capacity & (capacity - 1)) !== 0) capacity = DEFAULT_ENTRIES;
    const wanted: UringMode = o.mode ?? 'interrupt';
    const order: UringMode[] = wanted === 'interrupt' ? ['interrupt'] : [wanted, 'interrupt'];
    let engine: UringEngine | null = null;
    for (const mode of order) {
      const complRw = new Int32Array(4 + 2 * capacity);
      const complAux = mode === 'iopoll' ? new Int32Array(4 + 2 * capacity) : complRw;
      let rw: NativeRing | null = null;
      try {
        if (simulate.has(`refuse-${mode}`)) throw Object.assign(new Error(`io_uring_setup: EINVAL (simulated refusal of ${mode})`), { errno: E.EINVAL });
        const self: { e: UringEngine | null } = { e: null };
        rw = new n.Ring({
          entries: capacity,
          sqpoll: mode === 'sqpoll',
          sqThreadIdle: o.sqThreadIdleMs ?? 1000,
          sqThreadCpu: o.sqThreadCpu,
          iopoll: mode === 'iopoll',
          deferTaskrun: mode === 'interrupt' && !(o.spinUs! > 0) && o.deferTaskrun !== false,
          completions: complRw,
          onComplete: () => self.e?.drain(),
        });
        const aux = mode === 'iopoll' ? new n.Ring({ entries: capacity, completions: complAux, onComplete: () => self.e?.drain() }) : rw;
        engine = new UringEngine(n, mode, rw, aux, complRw, complAux, capacity, simulate, log);
        self.e = engine;
        if (!simulate.has('no-fixed-buffers')) engine.#slabs = RingSlabs.watch(rw, aux, log);
      } catch (err) {
        rw?.close();
        log.warn({ mode, err: (err as Error).message }, `io_uring ${mode} mode refused (${(err as Error).message}); trying the next mode`);
        continue;
      }
      break;
    }
    if (!engine) {
      log.warn('io_uring: no ring mode could be set up; file and block namespaces use the fs thread pool');
      return null;
    }
    engine.spinUs = Math.max(0, Math.min(1000, Math.floor(o.spinUs ?? 0)));
    const info = engine.rw.info();
    log.info(
      { mode: engine.mode, entries: info.sqEntries, registeredFiles: info.registeredFiles, deferTaskrun: info.deferTaskrun, features: info.features, spinUs: engine.spinUs },
      `io_uring engine ready: ${engine.mode} mode, ${info.sqEntries} entries${engine.spinUs ? `, completion spin ${engine.spinUs}µs` : ''}`,
    );
    return engine;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * A page-aligned region registered with the ring(s) as a fixed buffer (when the kernel allows), so
   * reads and writes whose buffers lie inside it use READ_FIXED/WRITE_FIXED. Kept for benchmarks and
   * tests; the data path uses the thread's BufferPool, whose slabs are registered as they are made.
   */
  bufferPool(bytes: number): Buffer {
    const ab = this.native.allocAligned(bytes);
    if (!this.simulate.has('no-fixed-buffers')) {
      const r = this.rw.registerBuffers(ab);
      if (this.aux !== this.rw) this.aux.registerBuffers(ab);
      if (r < 0) this.log.warn({ errno: -r }, `io_uring: fixed buffers refused (${errnoName(-r)}); the pool is used unregistered`);
    }
    return Buffer.from(ab);
  }

  /** Takes a free slot for `client`, or -1 when all are busy. */
  take(client: EngineClient, req: BackendRequest, stage: Stage): number {
    if (this.#freeTop === 0) return -1;
    const slot = this.#free[--this.#freeTop]!;
    this.reqs[slot] = req;
    this.clients[slot] = client;
    this.stage[slot] = stage;
    return slot;
  }

  /** Runs `start(slot)` when a slot frees up (overload path; allocates). */
  wait(client: EngineClient, req: BackendRequest, start: (slot: number) => void): void {
    this.#waiting.push({ client, req, start });
  }

  /** A result known at submission time, delivered at the next drain (never from inside submit*). */
  immediate(req: BackendRequest, res: number, client: EngineClient): void {
    const slot = this.take(client, req, Stage.Immediate);
    if (slot < 0) {
      this.wait(client, req, (s) => {
        this.stage[s] = Stage.Immediate;
        this.#pushImm(s, res);
      });
      return;
    }
    this.#pushImm(slot, res);
  }

  #pushImm(slot: number, res: number): void {
    const i = this.#immCount++;
    this.#imm[i] = slot;
    this.#immRes[i] = res;
  }

  /** Marks that SQEs were queued on the rw (or aux) ring. */
  queuedRw(): void {
    this.#dirtyRw = true;
    if (this.rw !== this.aux) this.#inflightRw++;
  }
  queuedAux(): void {
    this.#dirtyAux = true;
  }

  /** Submits everything queued (one io_uring_enter per ring at most) and delivers what is already done. */
  kick(): void {
    // Also after close: results decided at submission (-EBADF) still have to be delivered.
    if (this.spinUs > 0 && this.#spins < SPINS_PER_TURN) {
      // Poll mode: submit (if anything is queued) and watch for completions for up to spinUs. Bounded per
      // event-loop turn, so a chain of completion -> resubmit -> kick cannot starve the sockets.
      if (this.#spins++ === 0) setImmediate(this.#resetSpins);
      this.#dirtyRw = false;
      this.rw.submit(this.spinUs);
    } else if (this.#dirtyRw) {
      this.#dirtyRw = false;
      this.rw.submit();
    }
    if (this.#dirtyAux) {
      this.#dirtyAux = false;
      this.aux.submit();
    }
    this.drain();
    if (this.mode === 'iopoll' && this.#inflightRw > 0 && !this.#pollScheduled) {
      this.#pollScheduled = true;
      setImmediate(this.#pollLoop);
    }
  }

  #iopoll(): void {
    this.#pollScheduled = false;
    if (this.#closed) return;
    this.rw.reap(true);
    this.drain();
    if (this.#inflightRw > 0 && !this.#pollScheduled) {
      this.#pollScheduled = true;
      setImmediate(this.#pollLoop);
    }
  }

  /** Delivers every result waiting in the completion rings. Re-entrant calls return at once. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        let any = false;
        if (this.#immCount > 0) {
          any = true;
          // Results may queue more immediates while being delivered: walk by index, then compact.
          for (let i = 0; i < this.#immCount; i++) this.finish(this.#imm[i]!, this.#immRes[i]!);
          this.#immCount = 0;
        }
        if (this.#drainRing(this.#complRw, true)) any = true;
        if (this.#complAux !== this.#complRw && this.#drainRing(this.#complAux, false)) any = true;
        if (this.#dirtyRw || this.#dirtyAux) {
          // Fallback steps issued during dispatch: hand them to the kernel now.
          if (this.#dirtyRw) {
            this.#dirtyRw = false;
            this.rw.submit();
          }
          if (this.#dirtyAux) {
            this.#dirtyAux = false;
            this.aux.submit();
          }
          any = true;
        }
        if (!any) break;
      }
    } finally {
      this.#draining = false;
    }
  }

  #drainRing(c: Int32Array, isRw: boolean): boolean {
    let head = c[0]!;
    if (head === c[1]) return false;
    const mask = c[2]!;
    while (head !== c[1]) {
      const i = 4 + 2 * (head & mask);
      const slot = c[i]!;
      const res = c[i + 1]!;
      head = (head + 1) | 0;
      c[0] = head; // consumed before dispatch: a nested append sees the space
      if (isRw && this.rw !== this.aux) this.#inflightRw--;
      this.#dispatch(slot, res);
    }
    return true;
  }

  #dispatch(slot: number, res: number): void {
    const st = this.stage[slot]!;
    if (st === Stage.Rw || st === Stage.Immediate) return this.finish(slot, res);
    const r = this.clients[slot]!.continueOp(slot, res);
    if (r !== CONTINUED) this.finish(slot, r);
  }

  /** Frees the slot and signals its request. */
  finish(slot: number, res: number): void {
    const req = this.reqs[slot]!;
    const client = this.clients[slot]!;
    this.reqs[slot] = null;
    this.bufs[slot] = null;
    this.clients[slot] = null;
    this.stage[slot] = Stage.Free;
    if (this.#waiting.length > 0) {
      const w = this.#waiting.shift()!;
      this.reqs[slot] = w.req;
      this.clients[slot] = w.client;
      w.start(slot);
    } else {
      this.#free[this.#freeTop++] = slot;
    }
    client.released();
    req.backendDone(res);
  }

  /** Slots in use (for tests and statistics). */
  get busy(): number {
    return this.capacity - this.#freeTop;
  }

  /** Waits (polling in IOPOLL mode) until every slot is free. */
  async idle(): Promise<void> {
    while (this.busy > 0 || this.#immCount > 0) {
      this.kick();
      if (this.mode === 'iopoll') this.#iopoll();
      await new Promise((r) => setImmediate(r));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#slabs?.close();
    this.#slabs = null;
    this.rw.close();
    if (this.aux !== this.rw) this.aux.close();
    if (sharedEngine === this) sharedEngine = undefined;
  }
}

// One engine per thread (module state is per worker thread, as is the addon's instance data).
let sharedEngine: Promise<UringEngine | null> | UringEngine | null | undefined;
let sharedKey = '';

/** The thread's engine, created on first use with the first caller's options. */
export async function sharedUringEngine(o: EngineOptions, log: Logger): Promise<UringEngine | null> {
  const key = JSON.stringify([o.mode ?? 'interrupt', o.entries ?? DEFAULT_ENTRIES, o.spinUs ?? 0, o.simulate ?? []]);
  if (sharedEngine !== undefined && key !== sharedKey) {
    log.warn({ wanted: key, have: sharedKey }, 'io_uring: this thread already has an engine with other options; reusing it');
  }
  if (sharedEngine === undefined) {
    sharedKey = key;
    sharedEngine = UringEngine.create(o, log);
    sharedEngine = await sharedEngine;
  }
  const e = await sharedEngine;
  if (e && e.closed) {
    sharedEngine = undefined;
    return sharedUringEngine(o, log);
  }
  return e;
}

/** Forgets the thread's engine (tests). */
export function resetSharedUringEngine(): void {
  if (sharedEngine instanceof UringEngine) sharedEngine.close();
  sharedEngine = undefined;
}
