// Stand-ins across the thread boundary.
//   RemoteController: on a worker, what the I/O path sees of a controller that lives on the main thread.
//   RemoteQueue: on the main thread, the entry in a controller's queue map for a queue a worker owns.
import type { HostQueue, IoController } from '../core/command.js';
import type { Controller } from '../core/controller.js';
import type { Namespace } from '../core/namespace.js';
import type { PortConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';
import { CtrlState } from './messages.js';

export interface ErrorRecord {
  subnqn: string;
  cntlid: number;
  sqid: number;
  cid: number;
  status: number;
  nsid: number;
  location: number;
  lba: bigint;
}

export class RemoteController implements IoController {
  readonly cntlid: number;
  readonly log: Logger;
  readonly namespaces: ReadonlyMap<number, Namespace>;
  readonly subnqn: string;
  readonly subsysIndex: number;
  /** This controller's word in the shared state (CtrlState bits), written by the owner. */
  readonly slot: number;
  readonly #words: Int32Array;
  /** Set by traffic(), cleared when the worker reports it on the ring. */
  trafficSeen = false;
  /** Queues of this controller on this worker. */
  queues = 0;
  readonly #report: (rec: ErrorRecord) => void;

  constructor(o: {
    cntlid: number;
    subnqn: string;
    slot: number;
    words: Int32Array;
    subsysIndex: number;
    namespaces: ReadonlyMap<number, Namespace>;
    log: Logger;
    report: (rec: ErrorRecord) => void;
  }) {
    this.cntlid = o.cntlid;
    this.subnqn = o.subnqn;
    this.slot = o.slot;
    this.#words = o.words;
    this.subsysIndex = o.subsysIndex;
    this.namespaces = o.namespaces;
    this.log = o.log;
    this.#report = o.report;
  }

  /** The owner's CSTS.RDY, as of now. */
  get ready(): boolean {
    return (Atomics.load(this.#words, this.slot) & CtrlState.READY) !== 0;
  }

  /** The owner tore the controller down (its queues are being closed). */
  get gone(): boolean {
    return (Atomics.load(this.#words, this.slot) & CtrlState.GONE) !== 0;
  }

  /** CC.SHN was set on the owner. */
  get shuttingDown(): boolean {
    return (Atomics.load(this.#words, this.slot) & CtrlState.SHUTTING_DOWN) !== 0;
  }

  get volatileWriteCache(): boolean {
    return (Atomics.load(this.#words, this.slot) & CtrlState.VOLATILE_WRITE_CACHE) !== 0;
  }

  /** The host's index in reservation snapshots, as the owner set it. */
  get hostIndex(): number {
    return Atomics.load(this.#words, this.slot) >>> CtrlState.HOST_INDEX_SHIFT;
  }

  traffic(): void {
    this.trafficSeen = true;
  }

  recordError(sqid: number, cid: number, status: number, nsid: number, location = 0xffff, lba = 0n): void {
    this.#report({ subnqn: this.subnqn, cntlid: this.cntlid, sqid, cid, status, nsid, location, lba });
  }
}

/** The state word of `ctrl` (CtrlState bits), built on the main thread. */
export function controllerStateWord(ctrl: Controller): number {
  return (
    (ctrl.ready ? CtrlState.READY : 0) |
    (ctrl.shuttingDown ? CtrlState.SHUTTING_DOWN : 0) |
    (ctrl.volatileWriteCache ? CtrlState.VOLATILE_WRITE_CACHE : 0) |
    (ctrl.dead ? CtrlState.GONE : 0) |
    (ctrl.hostIndex << CtrlState.HOST_INDEX_SHIFT)
  );
}

export class RemoteQueue implements HostQueue {
  readonly id: number;
  qid: number;
  ctrl: Controller | null;
  ioCtrl: IoController | null;
  sqEntries: number;
  sqflowDisabled: boolean;
  readonly port: PortConfig;
  readonly peer: string;
  readonly localAddress: string;
  readonly worker: number;
  /** Not known here: the worker reports what it drops when the queue closes ('queue-closed'). */
  readonly inflight = null;
  /** A queue moves to a worker only once it has authenticated: nothing left to check here. */
  auth = null;
  readonly #close: (q: RemoteQueue, reason: string) => void;
  closed = false;
  /** Why the main thread asked the worker to close the queue (null: it has not). */
  closeReason: string | null = null;

  constructor(from: HostQueue, worker: number, close: (q: RemoteQueue, reason: string) => void) {
    this.id = from.id;
    this.qid = from.qid;
    this.ctrl = from.ctrl;
    this.ioCtrl = from.ioCtrl;
    this.sqEntries = from.sqEntries;
    this.sqflowDisabled = from.sqflowDisabled;
    this.port = from.port;
    this.peer = from.peer;
    this.localAddress = from.localAddress;
    this.worker = worker;
    this.#close = close;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.#close(this, reason);
  }

  drain(reason: string): Promise<void> {
    this.close(reason);
    return Promise.resolve();
  }
}
