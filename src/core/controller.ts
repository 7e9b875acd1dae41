// One controller (dynamic model: created by an admin-queue Connect, gone with its admin queue or when
// its keep-alive timer expires). Owns properties (CC/CSTS), features, keep alive, asynchronous events,
// the error log and the changed-namespace list. Admin command handlers live in admin/.
import type { Logger } from '../util/log.js';
import type { PortConfig, TargetConfig } from '../config/types.js';
import type { Namespace } from './namespace.js';
import type { Subsystem } from './subsystem.js';
import type { AnaTable } from './ana.js';
import { VisibleNamespaces } from './visible-namespaces.js';
import { Cap, Cc, Csts, nvmeVersion, Prop } from '../spec/properties.js';
import { AecBits, AsyncEvent, ERROR_LOG_ENTRY_SIZE, LogId } from '../spec/log.js';
import { Generic, SCT, status } from '../spec/status.js';
import { AEN_RESV_LOG_AVAILABLE, AEN_TYPE_IO_SPECIFIC } from '../spec/reservation.js';
import { ReservationNotices } from './reservations/notices.js';

export const MAX_IO_QUEUES = 128;
/** AERL is 0's based: up to AERL + 1 outstanding Asynchronous Event Requests. */
export const AERL = 3;
/** ELPE is 0's based. */
export const ELPE = 63;
/** Keep alive granularity reported in KAS, in 100 ms units. */
export const KAS = 10;
export const NVME_VERSION = nvmeVersion(1, 3, 0);
/** CAP.TO in 500 ms units: how long a host waits for CSTS.RDY. */
const CAP_TO = 30;
/** Changed Namespace List entries before it overflows to 0xFFFFFFFF. */
const CHANGED_NS_MAX = 1024;
/**
 * Status of Asynchronous Event Requests outstanding when the controller is reset (CC.EN 1 -> 0) or
 * goes away: the spec has them aborted then; Command Aborted due to SQ Deletion is the generic
 * status for a command aborted because its queue ends (not Internal Error: nothing failed).
 */
export const S_AER_ABORTED = status(SCT.GENERIC, Generic.ABORTED_SQ_DELETION);

export interface ErrorLogEntry {
  count: bigint;
  sqid: number;
  cid: number;
  status: number;
  /** Parameter error location: byte in bits 7:0, bit in 10:8. */
  location: number;
  lba: bigint;
  nsid: number;
}

const NO_NAMESPACES = new VisibleNamespaces(new Map<number, Namespace>(), '');

/** What a controller asks of the reservation manager (reservations/manager.ts implements it). */
export interface ControllerReservations {
  hostIndex(hostid: Uint8Array): number;
  /** Persist Through Power Loss state of the namespace (feature 83h). */
  ptpl(ns: Namespace): boolean;
  /** Turns PTPL on or off: the status to answer with. */
  setPtpl(ns: Namespace, on: boolean, log: Logger): Promise<number>;
}

/**
 * What a controller needs of the target it lives in (TargetContext in context.ts provides it): the
 * controller does not depend on the context's module, the context depends on the controller's.
 */
export interface ControllerHost {
  readonly config: TargetConfig;
  readonly log: Logger;
  readonly discoveryNqn: string;
  /** When the target started (SMART power-on hours). */
  readonly startedAt: number;
  readonly observer: { controllerChanged(ctrl: Controller): void } | null;
  /** Discovery log generation counter. */
  readonly genctr: bigint;
  /** ANA group states per port (log page 0Ch). */
  readonly ana: AnaTable;
  /** Reservations (host indexes, feature 83h): what a controller asks of reservations/manager.ts; absent in tests that need none. */
  readonly reservations?: ControllerReservations;
  /** The subsystems a port exposes (discovery log). */
  portSubsystems(port: PortConfig): Subsystem<Controller>[];
  flushNamespaces(subsys: Subsystem<Controller>): Promise<void>;
  removeController(ctrl: Controller): void;
}

/** One of the controller's queues (a TCP connection, or the main thread's stand-in for a worker's). */
export interface ControllerQueue {
  /** The connection's id (statistics). */
  readonly id: number;
  readonly qid: number;
  /** Entries in the SQ (Connect SQSIZE + 1). */
  readonly sqEntries: number;
  readonly port: PortConfig;
  readonly peer: string;
  readonly localAddress: string;
  /** Commands outstanding; null when another thread owns the queue. */
  readonly inflight: number | null;
  close(reason: string): void;
}

/** An Asynchronous Event Request held until an event occurs. */
export interface AerCommand {
  readonly sqe: Buffer;
  status: number;
  dw0: number;
  complete(): void;
}

/** Implements IoController (command.ts) for the queues on its own thread. */
export class Controller {
  readonly cntlid: number;
  readonly subsys: Subsystem<Controller> | null;
  readonly ctx: ControllerHost;
  readonly hostnqn: string;
  readonly hostid: Uint8Array;
  readonly queues = new Map<number, ControllerQueue>();
  readonly log: Logger;
  /** MQES + 1 of this controller: the port's max queue size. */
  readonly maxQueueEntries: number;
  /** The host's index in reservation snapshots (0: none). */
  readonly hostIndex: number;
  /** Reservation Notification log (80h) and mask feature (82h). */
  readonly resvNotices = new ReservationNotices();
  /** The subsystem's namespaces this controller's host sees (per-host masking). */
  readonly namespaces: VisibleNamespaces;

  cc = 0;
  csts = 0;
  /** Keep alive timeout in ms (0: none). */
  kato: number;
  /** Negotiated with Set Features / Number of Queues (count of I/O queues, not 0's based). */
  ioQueues = MAX_IO_QUEUES;
  ioQueuesSet = false;
  /** Async Event Configuration (feature 0x0B). */
  aec = 0;
  #volatileWriteCache = true;
  /** Other features kept as plain dwords, keyed by FID. */
  readonly featureDw = new Map<number, number>();
  /** Timestamp feature: host-set ms value and when it was set. */
  timestampBase = 0;
  timestampSetAt = 0;

  readonly #aerCmds: AerCommand[] = [];
  readonly #pendingEvents: number[] = [];
  /** Log pages whose event was reported and not yet read (masks further events of the kind). */
  readonly #maskedLogs = new Set<number>();
  #changedNs: number[] = [];
  readonly errorLog: ErrorLogEntry[] = [];
  errorCount = 0n;
  #kaTimer: NodeJS.Timeout | null = null;
  #lastTraffic = 0;
  #trafficSeen = false;
  #dead = false;

  constructor(opts: {
    cntlid: number;
    subsys: Subsystem<Controller> | null;
    ctx: ControllerHost;
    hostnqn: string;
    hostid: Uint8Array;
    kato: number;
    maxQueueEntries: number;
  }) {
    this.cntlid = opts.cntlid;
    this.subsys = opts.subsys;
    this.ctx = opts.ctx;
    this.hostnqn = opts.hostnqn;
    this.hostid = opts.hostid;
    this.kato = opts.kato;
    this.maxQueueEntries = opts.maxQueueEntries;
    this.hostIndex = opts.subsys ? (opts.ctx.reservations?.hostIndex(opts.hostid) ?? 0) : 0;
    this.namespaces = opts.subsys ? new VisibleNamespaces(opts.subsys.namespaces, opts.hostnqn) : NO_NAMESPACES;
    this.log = opts.ctx.log.child({ cntlid: this.cntlid, subnqn: this.subsysNqn, hostnqn: this.hostnqn });
    this.#startKeepAlive();
  }

  get isDiscovery(): boolean {
    return this.subsys === null;
  }

  get subsysNqn(): string {
    return this.subsys ? this.subsys.nqn : this.ctx.discoveryNqn;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Torn down (IoController). */
  get gone(): boolean {
    return this.#dead;
  }

  get ready(): boolean {
    return (this.csts & Csts.RDY) !== 0;
  }

  /** CC.SHN was set: shutdown processing or complete. */
  get shuttingDown(): boolean {
    return (this.csts & Csts.shstMask) !== 0;
  }

  /** Volatile Write Cache feature (FID 06h). */
  get volatileWriteCache(): boolean {
    return this.#volatileWriteCache;
  }

  set volatileWriteCache(on: boolean) {
    if (on === this.#volatileWriteCache) return;
    this.#volatileWriteCache = on;
    this.#stateChanged();
  }

  /** Ready, shutting down or the write cache changed: threads owning a queue of this controller must know. */
  #stateChanged(): void {
    if (!this.#dead) this.ctx.observer?.controllerChanged(this);
  }

  // --- properties ---------------------------------------------------------------------------

  /** CAP as two dwords [lo, hi]. */
  cap(): [number, number] {
    const mqes = (this.maxQueueEntries - 1) & Cap.mqesMask;
    const lo = mqes | Cap.CQR | (CAP_TO << Cap.toShift);
    const hi = Cap.hiCssNvm; // DSTRD 0, MPSMIN 0 (4 KiB), MPSMAX 0
    return [lo >>> 0, hi >>> 0];
  }

  /** Returns [lo, hi] or null for an unknown offset. */
  propertyGet(offset: number, size8: boolean): [number, number] | null {
    switch (offset) {
      case Prop.CAP:
        return size8 ? this.cap() : [this.cap()[0], 0];
      case Prop.VS:
        return [NVME_VERSION, 0];
      case Prop.CC:
        return [this.cc >>> 0, 0];
      case Prop.CSTS:
        return [this.csts >>> 0, 0];
      case Prop.INTMS:
      case Prop.INTMC:
      case Prop.NSSR:
        return [0, 0];
      default:
        return null;
    }
  }

  /** Returns false for an offset that is not writable. */
  propertySet(offset: number, value: number): boolean {
    if (offset !== Prop.CC) return false;
    const old = this.cc;
    this.cc = value >>> 0;
    const enable = (value & Cc.EN) !== 0;
    if (enable && !(old & Cc.EN)) {
      const iosqes = (value & Cc.iosqesMask) >>> Cc.iosqesShift;
      const iocqes = (value & Cc.iocqesMask) >>> Cc.iocqesShift;
      const mps = (value & Cc.mpsMask) >>> Cc.mpsShift;
      const css = (value & Cc.cssMask) >>> Cc.cssShift;
      const valid = (this.isDiscovery || (iosqes === 6 && iocqes === 4)) && mps === 0 && (css === 0 || css === 6 || css === 7);
      if (!valid) {
        this.log.warn({ cc: value.toString(16) }, 'CC.EN set with invalid CC fields: controller fatal status');
        this.csts |= Csts.CFS;
        return true;
      }
      this.csts = (this.csts & ~Csts.shstMask) | Csts.RDY;
      this.log.info('controller enabled');
      this.#stateChanged();
    } else if (!enable && old & Cc.EN) {
      this.csts &= ~(Csts.RDY | Csts.CFS);
      this.log.info('controller disabled');
      // A controller reset aborts the outstanding Asynchronous Event Requests.
      this.failAers('controller reset (CC.EN cleared)');
      this.#stateChanged();
    }
    const shn = (value & Cc.shnMask) >>> Cc.shnShift;
    if (shn !== 0 && ((old & Cc.shnMask) >>> Cc.shnShift) === 0) this.#shutdown();
    return true;
  }

  #shutdown(): void {
    this.csts = (this.csts & ~Csts.shstMask) | Csts.SHST_OCCURRING;
    this.log.info('shutdown requested: flushing namespaces');
    this.#stateChanged();
    const done = (): void => {
      this.csts = (this.csts & ~(Csts.shstMask | Csts.RDY)) | Csts.SHST_COMPLETE;
      this.#stateChanged();
    };
    if (!this.subsys) return done();
    this.ctx.flushNamespaces(this.subsys).then(done, (err: unknown) => {
      this.log.error({ err }, 'flush during shutdown failed');
      done();
    });
  }

  // --- keep alive -----------------------------------------------------------------------------

  /** Any command on any of the controller's queues counts as keep-alive traffic (CTRATT.TBKAS). */
  traffic(): void {
    // A flag, not a clock read: this runs for every command; the keep-alive tick reads the clock.
    this.#trafficSeen = true;
  }

  setKato(ms: number): void {
    this.kato = ms;
    this.#startKeepAlive();
  }

  #startKeepAlive(): void {
    if (this.#kaTimer) clearInterval(this.#kaTimer);
    this.#kaTimer = null;
    this.#lastTraffic = Date.now();
    if (this.kato === 0) return;
    // Hosts send a Keep Alive every KATO/2 (or KATO on older hosts); allow KATO plus a half on top.
    const limit = this.kato + Math.max(this.kato / 2, 1000);
    const tick = Math.max(100, Math.min(1000, this.kato / 4));
    this.#kaTimer = setInterval(() => {
      const now = Date.now();
      if (this.#trafficSeen) {
        this.#trafficSeen = false;
        this.#lastTraffic = now;
      }
      if (now - this.#lastTraffic > limit) {
        this.log.warn({ kato: this.kato }, 'keep alive timeout expired: tearing down the controller');
        this.teardown('keep alive timeout');
      }
    }, tick);
    this.#kaTimer.unref();
  }

  // --- queues and teardown ------------------------------------------------------------------

  attachQueue(q: ControllerQueue): void {
    this.queues.set(q.qid, q);
  }

  detachQueue(q: ControllerQueue): void {
    if (this.queues.get(q.qid) !== q) return;
    this.queues.delete(q.qid);
    if (q.qid === 0) this.teardown('admin queue closed');
  }

  /**
   * Closes every queue and forgets the controller. Outstanding AERs are aborted first (their
   * completions go out if the admin queue can still send); other in-flight commands are dropped
   * with their queues, and counted in the log (a worker counts those of the queues it owns).
   */
  teardown(reason: string): void {
    if (this.#dead) return;
    this.failAers(reason);
    // Gone: I/O queues still open on workers stop executing commands, and answer none, before they
    // are closed (the host retries them on another path, as when a connection drops).
    this.csts &= ~Csts.RDY;
    this.#dead = true;
    this.ctx.observer?.controllerChanged(this);
    if (this.#kaTimer) clearInterval(this.#kaTimer);
    this.#kaTimer = null;
    this.ctx.removeController(this);
    let inflight = 0;
    let onWorkers = 0;
    for (const q of this.queues.values()) {
      if (q.inflight === null) onWorkers++;
      else inflight += q.inflight;
    }
    for (const q of [...this.queues.values()]) q.close(`controller ${this.cntlid} torn down: ${reason}`);
    this.queues.clear();
    const where = onWorkers > 0 ? ` on its main-thread queues (${onWorkers} queue(s) on I/O workers report their own)` : '';
    this.log.info({ reason, inflight, queuesOnWorkers: onWorkers }, `controller removed: ${inflight} in-flight command(s) dropped${where}`);
  }

  // --- asynchronous events --------------------------------------------------------------------

  /** Queues an AER command; returns false when the limit is exceeded. */
  addAer(cmd: AerCommand): boolean {
    if (this.#aerCmds.length > AERL) return false;
    this.#aerCmds.push(cmd);
    this.#deliverEvents();
    return true;
  }

  /**
   * Completes every outstanding Asynchronous Event Request with S_AER_ABORTED (controller reset,
   * teardown, target shutdown). Returns how many there were.
   */
  failAers(reason: string): number {
    const n = this.#aerCmds.length;
    if (n === 0) return 0;
    for (const cmd of this.#aerCmds.splice(0)) {
      cmd.status = S_AER_ABORTED;
      cmd.dw0 = 0;
      cmd.complete();
    }
    this.log.debug({ reason, count: n }, 'outstanding Asynchronous Event Requests aborted');
    return n;
  }

  /** Takes an outstanding AER out of the queue (for Abort). */
  takeAer(cid: number): AerCommand | null {
    const i = this.#aerCmds.findIndex((c) => c.sqe.readUInt16LE(2) === cid);
    if (i < 0) return null;
    return this.#aerCmds.splice(i, 1)[0]!;
  }

  /** `enableBit`: the AEC feature bit that enables the event (0: always enabled). */
  #raise(type: number, info: number, logPage: number, enableBit: number): void {
    if (enableBit !== 0 && !(this.aec & enableBit)) return;
    if (this.#maskedLogs.has(logPage)) return;
    this.#maskedLogs.add(logPage);
    this.#pendingEvents.push((type & 7) | ((info & 0xff) << 8) | ((logPage & 0xff) << 16));
    this.#deliverEvents();
  }

  #deliverEvents(): void {
    while (this.#pendingEvents.length > 0 && this.#aerCmds.length > 0) {
      const cmd = this.#aerCmds.shift()!;
      cmd.dw0 = this.#pendingEvents.shift()!;
      cmd.complete();
    }
  }

  /** Reading a log page (without RAE) re-arms its event. */
  logPageRead(lid: number, retain: boolean): void {
    if (retain) return;
    this.#maskedLogs.delete(lid);
    if (lid === LogId.ChangedNsList) this.#changedNs = [];
    // Notices left after the one just read: announced again.
    if (lid === LogId.ReservationNotification && this.resvNotices.pending > 0) this.#raiseReservationLog();
  }

  /** A reservation notice for this controller's host (NoticeType) on namespace nsid. */
  reservationNotice(type: number, nsid: number): void {
    if (this.resvNotices.add(type, nsid)) this.#raiseReservationLog();
  }

  #raiseReservationLog(): void {
    this.#raise(AEN_TYPE_IO_SPECIFIC, AEN_RESV_LOG_AVAILABLE, LogId.ReservationNotification, 0);
  }

  namespaceChanged(nsid: number): void {
    if (this.#changedNs.length < CHANGED_NS_MAX) {
      if (!this.#changedNs.includes(nsid)) this.#changedNs.push(nsid);
    } else {
      this.#changedNs = [0xffffffff];
    }
    this.#raise(AsyncEvent.TYPE_NOTICE, AsyncEvent.NOTICE_NS_ATTR_CHANGED, LogId.ChangedNsList, AecBits.NS_ATTR);
  }

  /** An ANA group's state changed on this controller's port: ANA change notice, log page 0Ch. */
  anaChanged(): void {
    this.#raise(AsyncEvent.TYPE_NOTICE, AsyncEvent.NOTICE_ANA_CHANGE, LogId.Ana, AecBits.ANA_CHANGE);
  }

  discoveryChanged(): void {
    this.#raise(AsyncEvent.TYPE_NOTICE, AsyncEvent.NOTICE_DISC_LOG_CHANGE, LogId.Discovery, AecBits.DISC_LOG_CHANGE);
  }

  changedNamespaces(): readonly number[] {
    return this.#changedNs;
  }

  // --- error log ------------------------------------------------------------------------------

  recordError(sqid: number, cid: number, status: number, nsid: number, location = 0xffff, lba = 0n): void {
    this.errorCount++;
    this.errorLog.unshift({ count: this.errorCount, sqid, cid, status, location, lba, nsid });
    if (this.errorLog.length > ELPE + 1) this.errorLog.length = ELPE + 1;
  }
}

export { ERROR_LOG_ENTRY_SIZE };
