// One load-generating job: a controller session with its I/O queues, driven from one thread (the
// main thread, or one worker thread per job).
//
// The hot loop allocates nothing. Each I/O queue has a QueueRunner holding, per command slot (the
// CID is the slot index), one preallocated data buffer, its submit time and the unit it covers.
// Commands go out through the initiator's callback path (acquire, fill the SQE in place, send); a
// completion records its latency and schedules one refill microtask per queue, so every completion
// parsed from one socket read is replaced in one batch, and the queue's cork/uncork turns that batch
// into one socket write.
import { performance } from 'node:perf_hooks';
import { Controller, type CommandSlot, type HostQueue } from '../initiator/index.js';
import { readWrite } from '../initiator/sqe-build.js';
import { IoOpc } from '../spec/opcodes.js';
import { Histogram, type HistogramData } from './histogram.js';
import type { PerfOptions } from './options.js';
import { BlockCheck, CHECK_NAMES, checkBlock, fillBlocks } from './verify.js';
import { Rng } from './rng.js';

/** Bytes of the reused receive buffer of each I/O connection. */
const READ_BUFFER_SIZE = 256 * 1024;

/** Largest generation table kept for --verify (one u32 per I/O unit of the span). */
const MAX_VERIFY_UNITS = 64 * 1024 * 1024;

export interface JobReady {
  worker: number;
  connections: number;
  blockSize: number;
  /** Namespace size in blocks. */
  nsBlocks: number;
  /** I/O units (ioSize each) the run covers. */
  spanUnits: number;
  model: string;
}

export interface JobResult {
  worker: number;
  /** Measured window. */
  elapsedSec: number;
  ios: number;
  bytes: number;
  reads: number;
  writes: number;
  errors: number;
  firstError: string | null;
  /** Blocks compared by --verify, and how many were wrong (by kind). */
  verifiedBlocks: number;
  verifyErrors: number;
  firstVerifyError: string | null;
  /** Event loop utilization of this job's thread over the measured window (1 = saturated). */
  elu: number;
  hist: HistogramData;
  /** The first connection loss: when (ms since the epoch, comparable across threads), why, and commands lost with it. */
  dropped: JobDrop | null;
}

export interface JobDrop {
  atEpochMs: number;
  reason: string;
  /** Commands that were in flight on a connection when it failed. */
  lost: number;
}

/** Milliseconds since the epoch, from the monotonic clock of this thread. */
export function epochMs(perfNow: number): number {
  return performance.timeOrigin + perfNow;
}

/** Counters shared by the runners of one job. */
class JobStats {
  measuring = false;
  /** Every completion, warmup included (the progress line). */
  totalIos = 0;
  totalBytes = 0;
  ios = 0;
  bytes = 0;
  reads = 0;
  writes = 0;
  errors = 0;
  firstError: string | null = null;
  verifiedBlocks = 0;
  verifyErrors = 0;
  firstVerifyError: string | null = null;
  /** performance.now() of the first connection loss (0: none), its reason, commands lost on failed connections. */
  dropAt = 0;
  dropReason = '';
  lost = 0;
  /** performance.now() where a lost connection closed the measured window (0: it did not). */
  windowEnd = 0;
  readonly hist = new Histogram();

  resetMeasured(): void {
    this.ios = 0;
    this.bytes = 0;
    this.reads = 0;
    this.writes = 0;
    this.hist.reset();
  }

  error(msg: string): void {
    this.errors++;
    this.firstError ??= msg;
  }
}

/** How the units of the span are handed out. */
interface Layout {
  nsid: number;
  ioSize: number;
  blockSize: number;
  /** Blocks per I/O. */
  nlb: number;
  spanUnits: number;
  random: boolean;
  rwmixread: number;
  verify: boolean;
  /** --verify: units per command slot (each slot owns a disjoint stripe, so no two I/Os overlap). */
  stripeUnits: number;
  /** --verify: generation last written to each unit by this job (0 = not written yet). */
  lastGen: Uint32Array | null;
}

class QueueRunner {
  readonly #q: HostQueue;
  readonly #stats: JobStats;
  readonly #l: Layout;
  readonly #rng: Rng;
  readonly #depth: number;
  readonly #bufs: Buffer[] = [];
  readonly #u32: Uint32Array[] = [];
  readonly #start: Float64Array;
  readonly #unit: Float64Array;
  readonly #isWrite: Uint8Array;
  /** Sequential cursor of the queue (non-verify), or per slot within its stripe (verify). */
  #cursor: number;
  readonly #slotCursor: Float64Array;
  /** First stripe index of this queue's slots (verify). */
  readonly #stripeBase: number;
  #gen: { value: number };
  #inflight = 0;
  #stopping = false;
  /** Prefill pass (verify of read workloads): the queue writes each unit of its stripes once. */
  #prefill = false;
  #prefillNext = 0;
  #prefillEnd = 0;
  #refillQueued = false;
  #idle: (() => void) | null = null;
  readonly #onDone = (slot: CommandSlot): void => this.#complete(slot);
  readonly #refill = (): void => {
    this.#refillQueued = false;
    this.fill();
  };

  constructor(q: HostQueue, stats: JobStats, l: Layout, seed: number, index: number, runners: number, stripeBase: number, gen: { value: number }) {
    this.#q = q;
    this.#stats = stats;
    this.#l = l;
    this.#rng = new Rng(seed);
    this.#depth = q.depth;
    this.#start = new Float64Array(this.#depth);
    this.#unit = new Float64Array(this.#depth);
    this.#isWrite = new Uint8Array(this.#depth);
    this.#slotCursor = new Float64Array(this.#depth);
    this.#stripeBase = stripeBase;
    this.#gen = gen;
    // Sequential queues start spread over the span so they do not read the same blocks.
    this.#cursor = Math.floor((index * l.spanUnits) / runners);
    for (let i = 0; i < this.#depth; i++) {
      // A whole ArrayBuffer per slot: aligned, so the Uint32Array view for --verify fits.
      const b = Buffer.from(new ArrayBuffer(l.ioSize));
      const u = new Uint32Array(b.buffer, 0, l.ioSize >>> 2);
      // Non-verify writes send a constant, non-zero pattern.
      for (let w = 0; w < u.length; w++) u[w] = (w * 0x01000193 + i) >>> 0;
      this.#bufs.push(b);
      this.#u32.push(u);
    }
  }

  get inflight(): number {
    return this.#inflight;
  }

  get dead(): boolean {
    return this.#q.failure !== null;
  }

  /** Issues commands until the queue is full. */
  fill(): void {
    const q = this.#q;
    while (!this.#stopping && (!this.#prefill || this.#prefillNext < this.#prefillEnd)) {
      const slot = q.acquire();
      if (slot === null) break;
      this.#issue(slot);
    }
  }

  #issue(slot: CommandSlot): void {
    const l = this.#l;
    const k = slot.cid;
    let unit: number;
    let write: boolean;
    if (this.#prefill) {
      unit = this.#prefillNext++;
      write = true;
    } else {
      write = l.rwmixread === 100 ? false : l.rwmixread === 0 ? true : this.#rng.next() * 100 >= l.rwmixread;
      if (l.verify) {
        const off = l.random ? Math.floor(this.#rng.next() * l.stripeUnits) : this.#slotCursor[k]!++ % l.stripeUnits;
        unit = (this.#stripeBase + k) * l.stripeUnits + off;
      } else if (l.random) {
        unit = Math.floor(this.#rng.next() * l.spanUnits);
      } else {
        unit = this.#cursor;
        if (++this.#cursor === l.spanUnits) this.#cursor = 0;
      }
    }
    const slba = unit * l.nlb;
    readWrite(slot.sqe, write ? IoOpc.Write : IoOpc.Read, l.nsid, slba, l.nlb);
    const buf = this.#bufs[k]!;
    if (write) {
      if (l.verify) {
        const gen = (this.#gen.value = (this.#gen.value % 0xffffffff) + 1);
        fillBlocks(this.#u32[k]!, 0, l.blockSize >>> 2, l.nlb, slba, gen);
        l.lastGen![unit] = gen;
      }
      slot.dataOut = buf;
    } else {
      if (l.verify) {
        // Clear the tags so bytes left from this slot's previous I/O cannot pass as new data.
        const u = this.#u32[k]!;
        for (let w = 0; w < u.length; w += l.blockSize >>> 2) u[w] = u[w + 1] = u[w + 2] = u[w + 3] = 0xffffffff;
      }
      slot.dataIn = buf;
    }
    this.#unit[k] = unit;
    this.#isWrite[k] = write ? 1 : 0;
    this.#inflight++;
    this.#start[k] = performance.now();
    // Timeout 0: no per-command deadline (no Date.now(), no timer); the job's end bounds the run.
    this.#q.send(slot, this.#onDone, 0);
  }

  #complete(slot: CommandSlot): void {
    const k = slot.cid;
    const ns = (performance.now() - this.#start[k]!) * 1e6;
    const st = this.#stats;
    const l = this.#l;
    this.#inflight--;
    const write = this.#isWrite[k] === 1;
    if (slot.error !== null) {
      // The connection failed with this command on it: lost, and the measured window ends there.
      st.error(slot.error.message);
      st.lost++;
      if (st.dropAt === 0) {
        st.dropAt = performance.now();
        st.dropReason = slot.error.message;
        if (st.measuring) {
          st.measuring = false;
          st.windowEnd = st.dropAt;
        }
      }
    } else if ((slot.status & 0x7ff) !== 0) {
      st.error(`${write ? 'write' : 'read'} of unit ${this.#unit[k]} failed with status 0x${slot.status.toString(16)}`);
    } else {
      if (l.verify && !write) this.#verify(k);
      st.totalIos++;
      st.totalBytes += l.ioSize;
      if (st.measuring) {
        st.hist.record(ns);
        st.ios++;
        st.bytes += l.ioSize;
        if (write) st.writes++;
        else st.reads++;
      }
    }
    if (this.#stopping || this.#q.failure !== null) {
      this.#stopping = true;
      if (this.#inflight === 0) this.#signalIdle();
    } else if (this.#prefill && this.#prefillNext === this.#prefillEnd) {
      if (this.#inflight === 0) this.#signalIdle();
    } else if (!this.#refillQueued) {
      this.#refillQueued = true;
      queueMicrotask(this.#refill);
    }
  }

  #verify(k: number): void {
    const l = this.#l;
    const unit = this.#unit[k]!;
    const words = l.blockSize >>> 2;
    const u = this.#u32[k]!;
    const expect = l.lastGen![unit]!;
    const st = this.#stats;
    for (let b = 0; b < l.nlb; b++) {
      const lba = unit * l.nlb + b;
      const r = checkBlock(u, b * words, words, lba, expect);
      st.verifiedBlocks++;
      if (r !== BlockCheck.OK && r !== BlockCheck.UNWRITTEN) {
        st.verifyErrors++;
        st.firstVerifyError ??= `LBA ${lba}: ${CHECK_NAMES[r]} (expected generation ${expect}, block has magic 0x${u[b * words]!.toString(16)} LBA ${u[b * words + 1]} generation ${u[b * words + 3]})`;
      }
    }
  }

  #signalIdle(): void {
    const r = this.#idle;
    this.#idle = null;
    if (r) r();
  }

  #whenIdle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((r) => (this.#idle = r));
  }

  /** Writes every unit of this queue's stripes once (verify of read workloads). */
  prefill(): Promise<void> {
    this.#prefill = true;
    // This queue's slots own stripes stripeBase .. stripeBase + depth - 1, which are contiguous.
    this.#prefillNext = this.#stripeBase * this.#l.stripeUnits;
    this.#prefillEnd = (this.#stripeBase + this.#depth) * this.#l.stripeUnits;
    this.fill();
    return this.#whenIdle().then(() => {
      this.#prefill = false;
      this.#slotCursor.fill(0);
      if (this.#q.failure !== null) throw this.#q.failure;
    });
  }

  start(): void {
    this.#stopping = false;
    this.fill();
  }

  stop(): Promise<void> {
    this.#stopping = true;
    return this.#whenIdle();
  }
}

export class PerfJob {
  readonly #o: PerfOptions;
  readonly #worker: number;
  readonly #stats = new JobStats();
  #ctrl: Controller | null = null;
  #runners: QueueRunner[] = [];
  #measureStart = 0;
  #measureEnd = 0;
  #elu0: ReturnType<typeof performance.eventLoopUtilization> | null = null;
  #elu = 0;

  constructor(o: PerfOptions, worker: number) {
    this.#o = o;
    this.#worker = worker;
  }

  /** Connects, reads the namespace geometry and prepares the runners (and prefills for --verify). */
  async connect(): Promise<JobReady> {
    const o = this.#o;
    const ctrl = await Controller.connect({
      host: o.address,
      port: o.port,
      subnqn: o.nqn,
      ...(o.hostnqn !== undefined ? { hostnqn: o.hostnqn } : {}),
      ...(o.tlsKey !== undefined ? { tlsKey: o.tlsKey } : {}),
      hdgst: o.hdgst,
      ddgst: o.ddgst,
      ioQueues: o.connections,
      queueSize: o.queueDepth + 1,
      disableSqFlowControl: o.disableSqflow,
      commandTimeoutMs: 10_000,
      // Receive into one reused buffer per connection: no 64 KiB allocation per socket read.
      ioReadBufferSize: READ_BUFFER_SIZE,
    });
    this.#ctrl = ctrl;
    try {
      if (ctrl.io.length < o.connections) {
        throw new Error(`the controller granted ${ctrl.io.length} I/O queues, ${o.connections} were asked for`);
      }
      const info = await ctrl.namespaceInfo(o.nsid);
      if (info.nsze === 0n) throw new Error(`namespace ${o.nsid} is not active on ${o.nqn}`);
      const bs = info.blockSize;
      if (o.ioSize % bs !== 0) throw new Error(`--io-size ${o.ioSize} is not a multiple of the namespace's ${bs}-byte blocks`);
      const mdts = ctrl.id!.mdts === 0 ? Infinity : 4096 * 2 ** ctrl.id!.mdts;
      if (o.ioSize > mdts) throw new Error(`--io-size ${o.ioSize} is beyond the controller's MDTS (${mdts} bytes)`);
      const nsBlocks = Number(info.nsze);
      const nsBytes = nsBlocks * bs;
      if (o.span > nsBytes) throw new Error(`--span ${o.span} is beyond the namespace (${nsBytes} bytes)`);
      const spanUnits = Math.floor((o.span || nsBytes) / o.ioSize);
      if (spanUnits < 1) throw new Error(`the namespace (${nsBytes} bytes) is smaller than one I/O of ${o.ioSize} bytes`);
      const slots = o.workers * o.connections * o.queueDepth;
      const stripeUnits = o.verify ? Math.floor(spanUnits / slots) : 0;
      if (o.verify && stripeUnits < 1) {
        throw new Error(`--verify gives each outstanding command its own part of the span: ${spanUnits} I/O units for ${slots} commands is too few`);
      }
      if (o.verify && spanUnits > MAX_VERIFY_UNITS) throw new Error(`--verify tracks every I/O unit: limit the span with --span (at most ${MAX_VERIFY_UNITS} units)`);
      const layout: Layout = {
        nsid: o.nsid,
        ioSize: o.ioSize,
        blockSize: bs,
        nlb: o.ioSize / bs,
        spanUnits,
        random: o.workload.startsWith('rand'),
        rwmixread: o.rwmixread,
        verify: o.verify,
        stripeUnits,
        lastGen: o.verify ? new Uint32Array(spanUnits) : null,
      };
      const gen = { value: 0 };
      const runners = o.workers * o.connections;
      this.#runners = ctrl.io.map((q, i) => {
        const index = this.#worker * o.connections + i;
        return new QueueRunner(q, this.#stats, layout, (o.seed + index * 0x632be5ab) >>> 0, index, runners, index * o.queueDepth, gen);
      });
      if (o.verify && o.rwmixread > 0) await Promise.all(this.#runners.map((r) => r.prefill()));
      return { worker: this.#worker, connections: ctrl.io.length, blockSize: bs, nsBlocks, spanUnits, model: ctrl.id!.mn };
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Starts I/O on every queue (the warmup runs until measure()). */
  start(): void {
    for (const r of this.#runners) r.start();
  }

  measure(): void {
    this.#stats.resetMeasured();
    this.#measureStart = performance.now();
    this.#elu0 = performance.eventLoopUtilization();
    // A connection lost during the warmup leaves nothing to measure: an empty window.
    if (this.#stats.dropAt !== 0) this.#stats.windowEnd = this.#measureStart;
    else this.#stats.measuring = true;
  }

  /** Ends the measured window, stops submitting and waits for outstanding commands. */
  async end(): Promise<JobResult> {
    const st = this.#stats;
    // The window closes now, or closed where a connection was lost.
    if (st.measuring || st.windowEnd !== 0) {
      this.#measureEnd = st.measuring ? performance.now() : st.windowEnd;
      st.measuring = false;
      if (this.#elu0) this.#elu = performance.eventLoopUtilization(this.#elu0).utilization;
    }
    // Commands still on the wire are not counted; wait for them (bounded) before disconnecting.
    const drained = Promise.all(this.#runners.map((r) => r.stop()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    return this.result();
  }

  /** Totals including the warmup, for the progress line. */
  progress(): { ios: number; bytes: number; errors: number; dead: boolean } {
    return { ios: this.#stats.totalIos, bytes: this.#stats.totalBytes, errors: this.#stats.errors, dead: this.dead };
  }

  result(): JobResult {
    const st = this.#stats;
    return {
      worker: this.#worker,
      elapsedSec: Math.max(0, this.#measureEnd - this.#measureStart) / 1000,
      ios: st.ios,
      bytes: st.bytes,
      reads: st.reads,
      writes: st.writes,
      errors: st.errors,
      firstError: st.firstError,
      verifiedBlocks: st.verifiedBlocks,
      verifyErrors: st.verifyErrors,
      firstVerifyError: st.firstVerifyError,
      elu: this.#elu,
      hist: st.hist.toData(),
      dropped: st.dropAt !== 0 ? { atEpochMs: epochMs(st.dropAt), reason: st.dropReason, lost: st.lost } : null,
    };
  }

  /** True when every queue has failed (nothing more will complete). */
  get dead(): boolean {
    return this.#runners.length > 0 && this.#runners.every((r) => r.dead);
  }

  async close(): Promise<void> {
    const c = this.#ctrl;
    this.#ctrl = null;
    if (c === null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([c.disconnect(), new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    c.destroy();
  }
}
