// The I/O worker threads, seen from the main thread (which owns every controller).
//
// Each worker is a long-lived thread pinned to its core that owns the I/O queues handed to it for
// their whole life. Per-I/O work never crosses threads: the main thread hears from a worker only
// per connection (closed, adoption failed), per error-log entry, and per controller (keep-alive
// traffic on a SharedArrayBuffer ring, drained on a timer); it tells a worker to adopt or close a
// queue and to shut down. The state of each controller with queues on workers (ready, shutting
// down, write cache) is a word in shared memory the main thread updates as it changes.
// piscina's task pool does not fit this: its workers run short stateless tasks, while a shard here
// owns sockets and rings for hours and must not be rebalanced behind the connection's back.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { PortConfig, ShardConfig, SubsystemConfig, TargetConfig } from '../config/types.js';
import type { HostQueue } from '../core/command.js';
import type { ControllerObserver, TargetContext } from '../core/context.js';
import type { Controller } from '../core/controller.js';
import type { QueueMover } from '../transport/tcp/handoff.js';
import { freeDetachedTlsEngine } from '../native/tls-engine.js';
import { nsKey } from '../core/build.js';
import { allocateSharedRam } from '../backend/ram.js';
import { allocateNsStats } from '../core/namespace.js';
import type { Logger } from '../util/log.js';
import type { LiveChange, MainToWorker, QueueHandoff, WorkerInit, WorkerToMain } from './messages.js';
import { CTRL_SLOTS, RingMsg } from './messages.js';
import { SpscRing } from './ring.js';
import { RemoteQueue, controllerStateWord } from './remote.js';
import { ThreadStats, type ThreadStatsSnapshot } from '../runtime/stats.js';
import { sizeWorkerYoungGeneration } from '../runtime/worker-heap.js';
import { S_INVALID_NS, S_SEQUENCE_ERROR } from '../spec/status.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** How often keep-alive traffic reported by workers is applied to the controllers. */
const RING_DRAIN_MS = 100;
const RING_CAPACITY = 1024;
/** How long stop() waits for a worker's own drain (bounded by the same limit) before ending it. */
const STOP_GRACE_MS = 15_000;

interface Shard {
  index: number;
  cores: number[];
  worker: Worker;
  ring: SpscRing;
  stats: ThreadStats;
  queues: Map<number, RemoteQueue>;
  /**
   * TLS sessions handed to this worker with their queue, by queue id: freed here if the worker never
   * adopts them (adopt-failed, the worker died); freeing an adopted one does nothing.
   */
  tlsSessions: Map<number, bigint>;
  tid: number;
  affinity: number[];
  ready: Promise<void>;
  exiting: boolean;
}

export interface ShardInfo {
  index: number;
  tid: number;
  cores: number[];
  affinity: number[];
  queues: { queueId: number; cntlid: number; qid: number; peer: string }[];
  stats: ThreadStatsSnapshot;
}

export class WorkerPool implements QueueMover, ControllerObserver {
  readonly #ctx: TargetContext;
  readonly #cfg: ShardConfig;
  readonly #log: Logger;
  readonly #shards: Shard[] = [];
  readonly #ramShares: Record<string, SharedArrayBuffer[]> = {};
  readonly #nsStats: Record<string, SharedArrayBuffer> = {};
  #rr = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopping = false;
  #stopped: Promise<void> | null = null;
  /** One state word per controller with queues on workers (CtrlState bits), read by the workers. */
  readonly #ctrlWords = new Int32Array(new SharedArrayBuffer(4 * CTRL_SLOTS));
  readonly #ctrlSlots = new Map<Controller, number>();
  readonly #freeSlots: number[] = [];
  #nextSlot = 0;
  /**
   * Subsystem NQNs by their number in keep-alive ring records: those of the config at start, then
   * those made at run time; a deleted one keeps its place (null), so numbers never shift.
   */
  readonly #subsysNqns: (string | null)[];
  /** Changes posted and not yet answered, by request id. */
  readonly #pendingChanges = new Map<number, { shard: number; resolve: (error: string | null) => void }>();
  #nextReq = 1;

  readonly #budget: SharedArrayBuffer;

  constructor(ctx: TargetContext, cfg: ShardConfig, log: Logger, budget: SharedArrayBuffer) {
    this.#budget = budget;
    this.#ctx = ctx;
    this.#cfg = cfg;
    this.#log = log.child({ component: 'shards' });
    this.#subsysNqns = ctx.config.subsystems.map((s) => s.nqn);
  }

  /** Shared memory the main thread's namespaces must use too (build them after this). */
  prepareShared(config: TargetConfig): { ramShares: Record<string, SharedArrayBuffer[]>; nsStats: Record<string, SharedArrayBuffer> } {
    for (const sc of config.subsystems) {
      for (const nc of sc.namespaces) {
        const key = nsKey(sc.nqn, nc.nsid);
        if (nc.backing.type === 'ram') this.#ramShares[key] = allocateSharedRam(nc.backing.size - (nc.backing.size % nc.blockSize), !nc.backing.overcommit);
        this.#nsStats[key] = allocateNsStats(this.#cfg.workers + 1);
      }
    }
    return { ramShares: this.#ramShares, nsStats: this.#nsStats };
  }

  /** Shared counters for a namespace added at run time (slot 0: the main thread, worker i: i + 1). */
  namespaceStats(): SharedArrayBuffer {
    return allocateNsStats(this.#cfg.workers + 1);
  }

  /** The shared memory of RAM namespace nsid of subnqn, if the pool holds it. */
  ramShare(subnqn: string, nsid: number): SharedArrayBuffer[] | null {
    return this.#ramShares[nsKey(subnqn, nsid)] ?? null;
  }

  /** A subsystem made at run time (already in the config), on every worker. */
  addSubsystem(config: SubsystemConfig): Promise<void> {
    const index = this.#subsysNqns.push(config.nqn) - 1;
    return this.#broadcast({ op: 'subsystem-add', config, index });
  }

  /** A deleted subsystem (out of the config, its controllers torn down), on every worker. */
  removeSubsystem(subnqn: string): Promise<void> {
    const i = this.#subsysNqns.indexOf(subnqn);
    if (i >= 0) this.#subsysNqns[i] = null;
    for (const key of Object.keys(this.#nsStats)) {
      if (!key.startsWith(`${subnqn}/`)) continue;
      delete this.#nsStats[key];
      delete this.#ramShares[key];
    }
    return this.#broadcast({ op: 'subsystem-remove', subnqn });
  }

  /** A host's run-time keys on a subsystem (already in the config), on every worker. */
  setHostKeys(change: Extract<LiveChange, { op: 'host-keys' }>): Promise<void> {
    return this.#broadcast(change);
  }

  /** A port added at run time (already in the config), before it accepts connections. */
  addPort(port: PortConfig): Promise<void> {
    return this.#broadcast({ op: 'port-add', port });
  }

  /**
   * Applies a namespace change the main thread has made (already in the config) on every worker.
   */
  changeNamespace(change: Extract<LiveChange, { op: 'ns-add' | 'ns-remove' | 'ns-resize' | 'ns-hosts' }>): Promise<void> {
    const key = nsKey(change.subnqn, change.op === 'ns-add' ? change.ns.nsid : change.nsid);
    if (change.op === 'ns-add') {
      if (change.ramShare) this.#ramShares[key] = change.ramShare;
      this.#nsStats[key] = change.nsStats;
    } else if (change.op === 'ns-resize') {
      if (change.ramShare) this.#ramShares[key] = change.ramShare;
    } else if (change.op === 'ns-remove') {
      delete this.#ramShares[key];
      delete this.#nsStats[key];
    }
    return this.#broadcast(change);
  }

  /**
   * Posts a change to every worker; resolves once each has applied it, rejects with the workers'
   * reasons when one could not. A worker that dies meanwhile counts as applied: its replacement
   * builds from the config.
   */
  async #broadcast(change: LiveChange): Promise<void> {
    const errors = await Promise.all(
      this.#shards.map(async (shard) => {
        await shard.ready;
        return new Promise<string | null>((resolve) => {
          const reqId = this.#nextReq++;
          this.#pendingChanges.set(reqId, { shard: shard.index, resolve });
          this.#post(shard, { type: 'change', reqId, change });
        });
      }),
    );
    const failed = errors.map((e, i) => (e === null ? null : `worker ${i}: ${e}`)).filter((e) => e !== null);
    if (failed.length > 0) throw new Error(failed.join('; '));
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.#cfg.workers; i++) this.#spawn(i);
    await Promise.all(this.#shards.map((s) => s.ready));
    this.#timer = setInterval(() => this.#drainRings(), RING_DRAIN_MS);
    this.#timer.unref();
    this.#log.info(
      { mode: this.#cfg.mode, policy: this.#cfg.policy, map: this.#cfg.map },
      `I/O workers: ${this.#shards.map((s) => `worker ${s.index} (tid ${s.tid}) on cores [${s.affinity.join(',')}]`).join('; ')}`,
    );
  }

  #coresFor(index: number): number[] {
    const cores = this.#cfg.cores;
    return cores.length === 0 ? [] : [cores[index % cores.length]!];
  }

  #spawn(index: number): Shard {
    const ring = new SpscRing(RING_CAPACITY);
    const stats = new ThreadStats();
    const cores = this.#coresFor(index);
    const init: WorkerInit = {
      index,
      config: this.#ctx.config,
      cores,
      mode: this.#cfg.mode,
      subsysIndex: Object.fromEntries(this.#subsysNqns.flatMap((nqn, i) => (nqn === null ? [] : [[nqn, i]]))),
      ramShares: this.#ramShares,
      nsStats: this.#nsStats,
      ring: ring.sab,
      stats: stats.sab,
      ctrlState: this.#ctrlWords.buffer as SharedArrayBuffer,
      memoryBudget: this.#budget,
      anaState: this.#ctx.ana.sab,
    };
    // Before the thread's heap is configured: its young generation as large as the main thread's.
    sizeWorkerYoungGeneration();
    const worker = new Worker(fileURLToPath(WORKER_URL), { workerData: init, name: `nvmetd-io-${index}` });
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    const shard: Shard = { index, cores, worker, ring, stats, queues: new Map(), tlsSessions: new Map(), tid: 0, affinity: [], ready, exiting: false };
    this.#shards[index] = shard;
    worker.on('message', (m: WorkerToMain) => {
      if (m.type === 'ready') {
        shard.tid = m.tid;
        shard.affinity = m.affinity;
        resolveReady();
      } else {
        this.#onMessage(shard, m);
      }
    });
    worker.on('error', (err) => {
      this.#log.error({ worker: index, err }, 'I/O worker failed');
      rejectReady(err);
    });
    worker.on('exit', (code) => this.#onExit(shard, code));
    return shard;
  }

  #onMessage(shard: Shard, m: WorkerToMain): void {
    switch (m.type) {
      case 'queue-closed': {
        const rq = shard.queues.get(m.queueId);
        this.#dropTlsSession(shard, m.queueId);
        if (!rq) return;
        shard.queues.delete(m.queueId);
        if (m.dropped > 0 || rq.closeReason) {
          // The closing side of Controller.teardown's count: what this worker dropped.
          this.#log.info(
            { worker: shard.index, cntlid: rq.ctrl?.cntlid, qid: rq.qid, dropped: m.dropped, reason: rq.closeReason ?? m.reason },
            `I/O queue on worker ${shard.index} closed: ${m.dropped} in-flight command(s) dropped`,
          );
        }
        rq.closed = true;
        rq.ctrl?.detachQueue(rq);
        this.#releaseSlot(rq.ctrl);
        return;
      }
      case 'adopt-failed': {
        const rq = shard.queues.get(m.queueId);
        this.#log.error({ worker: shard.index, queueId: m.queueId, reason: m.reason }, 'worker could not adopt a queue');
        this.#dropTlsSession(shard, m.queueId);
        if (rq) {
          shard.queues.delete(m.queueId);
          rq.closed = true;
          rq.ctrl?.detachQueue(rq);
          this.#releaseSlot(rq.ctrl);
        }
        return;
      }
      case 'change-applied': {
        const p = this.#pendingChanges.get(m.reqId);
        if (!p) return;
        this.#pendingChanges.delete(m.reqId);
        p.resolve(m.error);
        return;
      }
      case 'resv': {
        this.#runReservation(shard, m);
        return;
      }
      case 'error-record': {
        const ctrl = this.#ctx.subsystems.get(m.subnqn)?.controllers.get(m.cntlid);
        ctrl?.recordError(m.sqid, m.cid, m.status, m.nsid, m.location, BigInt(m.lba));
        return;
      }
      default:
        return;
    }
  }

  /** A reservation command from a worker's queue: run on this thread, which owns the state. */
  #runReservation(shard: Shard, m: Extract<WorkerToMain, { type: 'resv' }>): void {
    const subsys = this.#ctx.subsystems.get(m.subnqn);
    const ctrl = subsys?.controllers.get(m.cntlid);
    const ns = subsys?.namespaces.get(m.nsid);
    if (!ctrl || !ns) {
      this.#post(shard, { type: 'resv-done', reqId: m.reqId, status: ctrl ? S_INVALID_NS : S_SEQUENCE_ERROR, out: null });
      return;
    }
    void this.#ctx.reservations.run(ctrl, ns, m.sqe, m.data, m.dataLen).then((r) => this.#post(shard, { type: 'resv-done', reqId: m.reqId, status: r.status, out: r.out }));
  }

  #onExit(shard: Shard, code: number): void {
    if (shard.exiting || this.#stopping) return;
    // A worker died: its connections died with it. The hosts see their I/O queues drop; the
    // controllers they belonged to are torn down so the hosts reconnect every queue cleanly.
    this.#log.error({ worker: shard.index, code, queues: shard.queues.size }, 'I/O worker exited unexpectedly: failing its controllers and starting a new worker');
    const ctrls = new Set<NonNullable<RemoteQueue['ctrl']>>();
    for (const rq of shard.queues.values()) {
      rq.closed = true;
      if (rq.ctrl) ctrls.add(rq.ctrl);
    }
    shard.queues.clear();
    for (const id of [...shard.tlsSessions.keys()]) this.#dropTlsSession(shard, id);
    for (const [reqId, p] of this.#pendingChanges) {
      if (p.shard !== shard.index) continue;
      this.#pendingChanges.delete(reqId);
      p.resolve(null);
    }
    for (const c of ctrls) {
      c.teardown(`I/O worker ${shard.index} failed`);
      this.#releaseSlot(c);
    }
    const fresh = this.#spawn(shard.index);
    fresh.ready.then(
      () => this.#log.info({ worker: fresh.index, tid: fresh.tid, cores: fresh.affinity }, 'replacement I/O worker ready'),
      (err: unknown) => this.#log.error({ err }, 'replacement I/O worker failed to start'),
    );
  }

  #drainRings(): void {
    for (const s of this.#shards) {
      s.ring.drain((w, at) => {
        if (w[at] === RingMsg.TRAFFIC) {
          const nqn = this.#subsysNqns[w[at + 2]!];
          if (nqn) this.#ctx.subsystems.get(nqn)?.controllers.get(w[at + 1]!)?.traffic();
        }
      });
    }
  }

  // --- QueueMover ---------------------------------------------------------------------------

  shouldMove(): boolean {
    // A controller needs a state slot to have queues on workers (CTRL_SLOTS controllers at most).
    return !this.#stopping && this.#shards.length > 0 && this.#ctrlSlots.size < CTRL_SLOTS;
  }

  #place(qid: number, cntlid: number): number {
    const n = this.#shards.length;
    if (this.#cfg.policy === 'map') {
      const w = this.#cfg.map[String(qid)];
      if (w !== undefined && w < n) return w;
    } else if (this.#cfg.policy === 'per-controller') {
      return cntlid % n;
    }
    return this.#rr++ % n;
  }

  move(from: object, _fd: number, state: QueueHandoff): void {
    const queue = from as HostQueue;
    const index = this.#place(state.qid, state.cntlid);
    const shard = this.#shards[index]!;
    const rq = new RemoteQueue(queue, index, (q, reason) => this.#closeRemote(q, reason));
    shard.queues.set(state.queueId, rq);
    // The controller's queue map now points at the stand-in.
    queue.ctrl?.queues.set(state.qid, rq);
    // The controller's state word is current before the worker can read it.
    const ctrl = queue.ctrl!;
    let slot = this.#ctrlSlots.get(ctrl);
    if (slot === undefined) {
      slot = this.#freeSlots.pop() ?? this.#nextSlot++;
      this.#ctrlSlots.set(ctrl, slot);
      Atomics.store(this.#ctrlWords, slot, controllerStateWord(ctrl));
    }
    if (state.tls !== null) shard.tlsSessions.set(state.queueId, state.tls.engine);
    this.#post(shard, { type: 'adopt', handoff: state, ctrlSlot: slot });
    this.#log.info({ cntlid: state.cntlid, qid: state.qid, worker: index, cores: shard.affinity, peer: state.peer, tls: state.tls !== null }, 'I/O queue placed on a worker');
  }

  /**
   * The state of `ctrl` changed: its word is rewritten at once, so a worker sees the change on the
   * next command it executes (the host can only send that after the change's completion).
   */
  controllerChanged(ctrl: Controller): void {
    const slot = this.#ctrlSlots.get(ctrl);
    if (slot !== undefined) Atomics.store(this.#ctrlWords, slot, controllerStateWord(ctrl));
  }

  /** Frees the state slot of a controller none of whose queues remain on a worker. */
  #releaseSlot(ctrl: Controller | null): void {
    if (!ctrl) return;
    const slot = this.#ctrlSlots.get(ctrl);
    if (slot === undefined) return;
    for (const s of this.#shards) for (const rq of s.queues.values()) if (rq.ctrl === ctrl) return;
    this.#ctrlSlots.delete(ctrl);
    this.#freeSlots.push(slot);
  }

  #closeRemote(q: RemoteQueue, reason: string): void {
    const shard = this.#shards[q.worker];
    if (!shard) return;
    // It leaves shard.queues when the worker says it closed (with what it dropped).
    this.#post(shard, { type: 'close-queue', queueId: q.id, reason });
  }

  /** The queue's TLS session, if the worker never adopted it, is freed (adopted: nothing happens). */
  #dropTlsSession(shard: Shard, queueId: number): void {
    const handle = shard.tlsSessions.get(queueId);
    if (handle === undefined) return;
    shard.tlsSessions.delete(queueId);
    freeDetachedTlsEngine(handle);
  }

  #post(shard: Shard, m: MainToWorker): void {
    shard.worker.postMessage(m);
  }

  // --- statistics and shutdown ----------------------------------------------------------------

  info(): ShardInfo[] {
    return this.#shards.map((s) => ({
      index: s.index,
      tid: s.tid,
      cores: s.cores,
      affinity: s.affinity,
      queues: [...s.queues.values()].filter((q) => !q.closed).map((q) => ({ queueId: q.id, cntlid: q.ctrl?.cntlid ?? 0, qid: q.qid, peer: q.peer })),
      stats: s.stats.snapshot(),
    }));
  }

  /**
   * Fault injection (tests, operators checking their hosts' recovery): stops a worker abruptly, as
   * if it had crashed. Its connections drop; it is replaced like any dead worker.
   */
  async terminateWorker(index: number): Promise<void> {
    const s = this.#shards[index];
    if (s) await s.worker.terminate();
  }

  /** Resolves once worker `index` (after a replacement) is running. */
  workerReady(index: number): Promise<void> {
    return this.#shards[index]?.ready ?? Promise.resolve();
  }

  /**
   * Each worker drains its queues (no new commands, in-flight ones complete, FIN), flushes and
   * closes its backends, then exits. A worker that does not finish in time is ended.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all(
      this.#shards.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.exiting = true;
            const grace = setTimeout(() => {
              this.#log.warn({ worker: s.index }, 'I/O worker did not finish its shutdown in time: ending it');
              void s.worker.terminate();
            }, STOP_GRACE_MS);
            s.worker.once('exit', () => {
              clearTimeout(grace);
              resolve();
            });
            s.worker.on('message', (m: WorkerToMain) => {
              if (m.type === 'shutdown-done') void s.worker.terminate();
            });
            this.#post(s, { type: 'shutdown' });
          }),
      ),
    );
    // Sessions handed over but never adopted (the worker exited first).
    for (const s of this.#shards) for (const id of [...s.tlsSessions.keys()]) this.#dropTlsSession(s, id);
  }
}
