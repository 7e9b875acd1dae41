// Stand-ins across the thread boundary.
//   RemoteController: on a worker, what the I/O path sees of a controller that lives on the main thread.
//   RemoteQueue: on the main thread, the entry in a controller's queue map for a queue a worker owns.
import type { HostQueue, IoController } from '../core/command.js';
import type { Controller } from '../core/controller.js';
import type { Namespace } from '../core/namespace.js';
import type { PortConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';

export class RemoteController implements IoController {
  readonly cntlid: number;
  readonly log: Logger;
  readonly namespaces: ReadonlyMap<number, Namespace>;
  readonly subnqn: string;
  readonly subsysIndex: number;
  ready = true;
  /** Set Features 06h WCE on the owning controller (posted by the main thread when it changes). */
  volatileWriteCache = true;
  /** Set by traffic(), cleared when the worker reports it on the ring. */
  trafficSeen = false;
  /** Queues of this controller on this worker. */
  queues = 0;
  readonly #report: (rec: { subnqn: string; cntlid: number; sqid: number; cid: number; status: number; nsid: number; lba: bigint }) => void;

  constructor(o: {
    cntlid: number;
    subnqn: string;
    subsysIndex: number;
    namespaces: ReadonlyMap<number, Namespace>;
    log: Logger;
    report: RemoteController['report'];
  }) {
    this.cntlid = o.cntlid;
    this.subnqn = o.subnqn;
    this.subsysIndex = o.subsysIndex;
    this.namespaces = o.namespaces;
    this.log = o.log;
    this.#report = o.report;
  }

  get report(): (rec: { subnqn: string; cntlid: number; sqid: number; cid: number; status: number; nsid: number; lba: bigint }) => void {
    return this.#report;
  }

  traffic(): void {
    this.trafficSeen = true;
  }

  recordError(sqid: number, cid: number, status: number, nsid: number, _location = 0xffff, lba = 0n): void {
    this.#report({ subnqn: this.subnqn, cntlid: this.cntlid, sqid, cid, status, nsid, lba });
  }
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
  readonly #close: (q: RemoteQueue, reason: string) => void;
  closed = false;

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
    this.#close(this, reason);
  }
}
