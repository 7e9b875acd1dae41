// In-band authentication on a queue, as the fabrics layer runs it: Connect starts a transaction for a
// host with a DH-HMAC-CHAP policy (and answers ATR), Authentication Send/Receive drive it, every other
// command waits for it (Authentication Required), a failed transaction ends the queue (the admin
// queue: its controller), and a transaction that stops moving is aborted after KATO (120 s when 0).
import type { Command, HostQueue } from './command.js';
import type { TargetContext } from './context.js';
import type { Controller } from './controller.js';
import type { Logger } from '../util/log.js';
import { StatField, threadStats } from '../runtime/stats.js';
import { FabricsType } from '../spec/opcodes.js';
import { S_SEQUENCE_ERROR } from '../spec/status.js';
import { CONNECT_AUTHREQ_ATR, S_AUTH_REQUIRED } from './auth/command.js';
import { executeAuthReceive, executeAuthSend } from './auth/execute.js';
import { newAuthTransaction } from './auth/policy.js';
import type { AuthLog, AuthTransaction } from './auth/transaction.js';
import type { HostAuthPolicy } from '../keys/policy.js';
import { DEFAULT_DHGROUPS, DEFAULT_HASHES } from '../keys/policy.js';

/** How long a transaction may wait for the host's next step when the controller has no KATO. */
export const AUTH_TIMEOUT_NO_KATO_MS = 120_000;

/** The controller as the queue's transaction needs it, on the thread that owns the queue. */
export interface AuthController {
  readonly cntlid: number;
  /** Keep alive timeout in ms (0: none): how long a transaction may wait for the host. */
  readonly kato: number;
  /** Keep-alive traffic. */
  traffic(): void;
  /** The queue is still one of the controller's (not closed, controller not gone). */
  holds(q: HostQueue): boolean;
}

interface QueueAuth {
  readonly q: HostQueue;
  readonly ctrl: AuthController;
  readonly log: Logger;
  timer: NodeJS.Timeout | null;
  /** Why the transaction refused the host (its log line, held to be logged once with what follows). */
  reason: { obj: object; msg: string } | null;
  /** A command was refused with Authentication Required (logged once per queue). */
  refusedLogged: boolean;
}

const state = new WeakMap<AuthTransaction, QueueAuth>();

/** Stands in for a host whose key is unusable: never used to answer (the transaction refuses first). */
const UNUSABLE_POLICY: HostAuthPolicy = {
  hostKey: { transform: 0, key: Buffer.alloc(32) },
  ctrlKey: null,
  hashes: DEFAULT_HASHES,
  dhgroups: DEFAULT_DHGROUPS,
};

/**
 * Connect of a queue of an NVM subsystem: when the host has a policy, the queue gets a transaction and
 * the Connect response's DW0 gets ATR (authentication transaction required). Returns the AUTHREQ bits.
 */
export function startAuthentication(q: HostQueue, ctx: TargetContext, ctrl: Controller, hostnqn: string, subnqn: string, log: Logger): number {
  const owner: AuthController = {
    cntlid: ctrl.cntlid,
    get kato() {
      return ctrl.kato;
    },
    traffic: () => ctrl.traffic(),
    holds: (x) => !ctrl.dead && ctrl.queues.get(x.qid) === x,
  };
  if (!attach(q, ctx, owner, hostnqn, subnqn, log, false)) return 0;
  log.debug({ cntlid: ctrl.cntlid }, 'Connect: the host must authenticate (DH-HMAC-CHAP)');
  return CONNECT_AUTHREQ_ATR;
}

/**
 * A queue that authenticated on the main thread, adopted by an I/O worker: it gets an authenticated
 * transaction of its own, so that the host can re-authenticate it there. No-op for a host without policy.
 */
export function resumeAuthentication(q: HostQueue, ctx: TargetContext, ctrl: AuthController, hostnqn: string, subnqn: string, log: Logger): void {
  attach(q, ctx, ctrl, hostnqn, subnqn, log, true);
}

function attach(q: HostQueue, ctx: TargetContext, ctrl: AuthController, hostnqn: string, subnqn: string, log: Logger, authenticated: boolean): boolean {
  const now = ctx.hostAuth(hostnqn, subnqn);
  if (now === null) return false;
  // Asked again at each AUTH_Negotiate: a re-authentication uses the keys set since (RPC set_keys).
  const current = (): HostAuthPolicy | string => {
    const p = ctx.hostAuth(hostnqn, subnqn);
    if (p === null) return 'the host has no DH-HMAC-CHAP key any more (keys cleared)';
    return 'unusable' in p ? p.unusable : p;
  };
  // A host whose key was removed must authenticate and cannot: its transaction refuses at AUTH_Negotiate.
  const policy = 'unusable' in now ? UNUSABLE_POLICY : now;
  const s: QueueAuth = { q, ctrl, log, timer: null, reason: null, refusedLogged: false };
  // The transaction's refusal is held and logged by failed(), in one line with its consequence.
  const txLog: AuthLog = {
    info: (o, m) => log.info(o, m),
    debug: (o, m) => log.debug(o, m),
    warn: (o, m) => {
      if (m.startsWith('authentication failed') || m.includes('AUTH_Failure2')) s.reason = { obj: o, msg: m };
      else log.warn(o, m);
    },
  };
  const tx = newAuthTransaction(policy, hostnqn, subnqn, txLog, authenticated, current);
  q.auth = tx;
  state.set(tx, s);
  if (!authenticated) armTimer(tx, s);
  return true;
}

/** Authentication Send (05h) / Receive (06h) on a connected queue. */
export function executeAuthentication(cmd: Command, fctype: number): void {
  const q = cmd.queue;
  const tx = q.auth;
  const s = tx ? state.get(tx) : undefined;
  if (!tx || !s) {
    cmd.status = S_SEQUENCE_ERROR;
    (q.ctrl?.log ?? q.ioCtrl?.log ?? null)?.warn({ qid: q.qid, fctype }, 'Authentication Send/Receive on a queue that has no authentication transaction');
    return cmd.complete();
  }
  s.ctrl.traffic();
  if (fctype === FabricsType.AuthenticationSend) executeAuthSend(cmd, tx);
  else executeAuthReceive(cmd, tx);
  if (tx.state === 'failed') return failed(tx, s);
  if (tx.state === 'done') {
    clearTimer(s);
    s.refusedLogged = false;
    return;
  }
  armTimer(tx, s);
}

/**
 * The gate: a command other than Connect, Authentication Send/Receive and Disconnect on a queue that
 * has not authenticated. Completes it with Authentication Required; logs once per queue.
 */
export function refuseUnauthenticated(cmd: Command): void {
  const q = cmd.queue;
  const s = q.auth ? state.get(q.auth) : undefined;
  if (s && !s.refusedLogged) {
    s.refusedLogged = true;
    s.log.warn({ opcode: `0x${cmd.sqe[0]!.toString(16)}` }, 'command before authentication refused (Authentication Required); further ones on this queue are not logged');
  }
  cmd.status = S_AUTH_REQUIRED;
  cmd.complete();
}

/** The transaction failed: the queue ends once its last response (AUTH_Failure1) is sent. */
function failed(tx: AuthTransaction, s: QueueAuth): void {
  clearTimer(s);
  const q = s.q;
  const what = q.qid === 0 ? `controller ${s.ctrl.cntlid} torn down` : `I/O queue ${q.qid} closed`;
  const r = s.reason ?? { obj: {}, msg: 'authentication failed' };
  s.reason = null;
  threadStats().f[StatField.AUTH_FAILURES]++;
  s.log.warn({ ...r.obj, cntlid: s.ctrl.cntlid, explanation: tx.failureExplanation }, `${r.msg}; ${what}`);
  // The admin queue's close tears its controller down (Controller.detachQueue).
  void q.drain(`authentication failed (AUTH_Failure reason code explanation ${tx.failureExplanation})`);
}

function armTimer(tx: AuthTransaction, s: QueueAuth): void {
  clearTimer(s);
  const ms = s.ctrl.kato > 0 ? s.ctrl.kato : AUTH_TIMEOUT_NO_KATO_MS;
  s.timer = setTimeout(() => {
    s.timer = null;
    // Closed meanwhile (or the controller is gone): nothing to end.
    if (!s.ctrl.holds(s.q)) return;
    if (tx.state === 'done' || tx.state === 'failed') return;
    tx.abort(`no progress within ${ms} ms`);
    failed(tx, s);
  }, ms);
  s.timer.unref();
}

function clearTimer(s: QueueAuth): void {
  if (s.timer) clearTimeout(s.timer);
  s.timer = null;
}
