// Pairing of fused commands on one queue (CDW0 FUSE, SQE byte 1 bits 1:0). A command marked
// FUSE-first waits for the very next capsule of the queue, which must be marked FUSE-second: SQ
// order is capsule order. Each of the two gets its data on its own (in-capsule, or R2T and
// H2CData); the pair goes to the core (executeFused) once both have all of it, and not before.
// Until then neither is EXECUTING, so a queue that closes drops them like any command not started.
//   - next capsule not FUSE-second: the first completes with "Missing Fused Command";
//   - FUSE-second with no first before it: "Missing Fused Command";
//   - one of a pair fails before running (bad SGL, data digest): the other gets "Failed Fused Command";
//   - FUSE 11b (reserved), or FUSE on an admin command: Invalid Field in Command.
// A command aborted here still receives its data first (the host sends it; the stream stays in step).
import type { TargetContext } from '../../core/context.js';
import { executeFused } from '../../core/dispatch.js';
import { AdminOpc } from '../../spec/opcodes.js';
import { Fuse, SQE } from '../../spec/sqe.js';
import { S_FAILED_FUSED, S_INTERNAL_ERROR, S_INVALID_FIELD, S_MISSING_FUSED } from '../../spec/status.js';
import type { Logger } from '../../util/log.js';
import { ReqState, type Request } from './request.js';

/** What the pairing needs of its queue. */
export interface FusedOwner {
  readonly qid: number;
  readonly log: Logger;
  readonly ctx: TargetContext;
  readonly auth: { readonly authenticated: boolean } | null;
  completeRequest(req: Request): void;
  dropRequest(req: Request): void;
}

export class FusedPairing {
  readonly #q: FusedOwner;
  /** The FUSE-first command of this queue waiting for the next capsule. */
  #pending: Request | null = null;
  /** The last FUSE-first command failed before the next capsule came: a FUSE-second one is aborted. */
  #pendingFailed = false;

  constructor(q: FusedOwner) {
    this.#q = q;
  }

  /** A capsule arrived (in SQ order): marks req's part in a fused operation (req.fuse stays 0 when none). */
  arrived(req: Request): void {
    const sqe = req.sqe;
    const fuse = sqe[SQE.flags]! & Fuse.mask;
    const first = this.#pending;
    const firstFailed = this.#pendingFailed;
    if (first === null && !firstFailed && fuse === Fuse.NONE) return; // the common case: one load, one test
    this.#pending = null;
    this.#pendingFailed = false;
    const q = this.#q;
    // Fabrics commands have no FUSE field (byte 1 is reserved there); an unauthenticated queue
    // refuses everything but authentication anyway.
    const pairs = sqe[SQE.opcode] !== AdminOpc.Fabrics && (q.auth === null || q.auth.authenticated);
    if (fuse === Fuse.SECOND && pairs && q.qid > 0) {
      req.fuse = Fuse.SECOND;
      if (first !== null) {
        first.fusedWith = req;
        req.fusedWith = first;
      } else {
        req.fuseAbort = firstFailed ? S_FAILED_FUSED : S_MISSING_FUSED;
        if (!firstFailed) q.log.warn({ cid: req.cid }, 'fused command: second command without a first one before it');
      }
      return;
    }
    if (first !== null) {
      q.log.warn({ cid: first.cid, next: req.cid }, 'fused command: the command after the first one is not its second one');
      this.#abort(first, S_MISSING_FUSED);
    }
    if (fuse === Fuse.NONE || !pairs) return;
    req.fuse = fuse;
    if (q.qid === 0 || fuse === Fuse.RESERVED) {
      q.log.warn({ cid: req.cid, qid: q.qid, fuse }, 'fused command refused: reserved FUSE value or admin queue');
      req.fuseAbort = S_INVALID_FIELD;
      return;
    }
    this.#pending = req;
  }

  /** A fused command has all its data (instead of running it): runs the pair once both are here. */
  ready(req: Request): void {
    const q = this.#q;
    if (req.fuseAbort !== 0) {
      req.status = req.fuseAbort;
      return q.completeRequest(req);
    }
    const partner = req.fusedWith;
    if (partner === null || !partner.fuseWait) {
      req.fuseWait = true;
      return;
    }
    partner.fuseWait = false;
    const first = req.fuse === Fuse.FIRST ? req : partner;
    const second = first === req ? partner : req;
    first.setState(ReqState.EXECUTING);
    second.setState(ReqState.EXECUTING);
    first.fuseRunning = true;
    second.fuseRunning = true;
    try {
      executeFused(first, second, q.ctx);
    } catch (err) {
      q.log.error({ err, cid: first.cid }, 'internal error executing a fused operation');
      for (const r of [first, second]) {
        if (r.state !== ReqState.EXECUTING) continue;
        r.status = S_INTERNAL_ERROR;
        q.completeRequest(r);
      }
    }
  }

  /** A fused command's slot is being freed (`dropped`: without a response, the queue is closing). */
  freed(req: Request, dropped: boolean): void {
    if (this.#pending === req) {
      this.#pending = null;
      this.#pendingFailed = !dropped;
    }
    const partner = req.fusedWith;
    if (partner === null) return;
    req.fusedWith = null;
    partner.fusedWith = null;
    if (partner.state === ReqState.FREE) return;
    // A dropped command takes its partner with it: a pair never outlives its queue by half.
    if (dropped) return this.#q.dropRequest(partner);
    // Completed before the pair ran (it failed on its own): its partner is aborted.
    if (!req.fuseRunning) this.#abort(partner, S_FAILED_FUSED);
  }

  /** Aborts a fused command now if it is waiting, or when its data is in. */
  #abort(req: Request, status: number): void {
    if (req.fuseAbort === 0) req.fuseAbort = status;
    if (req.fuseWait) {
      req.fuseWait = false;
      req.status = req.fuseAbort;
      this.#q.completeRequest(req);
    }
  }
}
