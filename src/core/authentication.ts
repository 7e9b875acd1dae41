// In-band authentication on a queue, as the fabrics layer runs it: Connect starts a transaction for a
// host with a DH-HMAC-CHAP policy (and answers ATR), Authentication Send/Receive drive it, every other
// command waits for it (Authentication Required), a failed transaction ends the queue (the admin
// queue: its controller), and a transaction that stops moving is aborted after KATO (120 s when 0).
import type { Command, HostQueue } from './command.js';
import type { TargetContext } from './context.js';
import type { Controller } from './controller.js';
import type { Logger } from '../util/log.js';
import { FabricsType } from '../spec/opcodes.js';
import { S_SEQUENCE_ERROR } from '../spec/status.js';
import { CONNECT_AUTHREQ_ATR, S_AUTH_REQUIRED } from './auth/command.js';
import { executeAuthReceive, executeAuthSend } from './auth/execute.js';
import { newAuthTransaction } from './auth/policy.js';
import type { AuthLog, AuthTransaction } from './auth/transaction.js';

/** How long a transaction may wait for the host's next step when the controller has no KATO. */
export const AUTH_TIMEOUT_NO_KATO_MS = 120_000;

interface QueueAuth {
  readonly q: HostQueue;
  readonly ctrl: Controller;
  readonly log: Logger;
  timer: NodeJS.Timeout | null;
  /** Why the transaction refused the host (its log line, held to be logged once with what follows). */
  reason: { obj: object; msg: string } | null;
  /** A command was refused with Authentication Required (logged once per queue). */
  refusedLogged: boolean;
}

const state = new WeakMap<AuthTransaction, QueueAuth>();

/**
 * Connect of a queue of an NVM subsystem: when the host has a policy, the queue gets a transaction and
 * the Connect response's DW0 gets ATR (authentication transaction required). Returns the AUTHREQ bits.
 */
export function startAuthentication(q: HostQueue, ctx: TargetContext, ctrl: Controller, hostnqn: string, subnqn: string, log: Logger): number {
  const policy = ctx.hostAuth(hostnqn);
  if (policy === null) return 0;
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
  const tx = newAuthTransaction(policy, hostnqn, subnqn, txLog);
  q.auth = tx;
  state.set(tx, s);
  armTimer(tx, s);
  log.debug({ cntlid: ctrl.cntlid }, 'Connect: the host must authenticate (DH-HMAC-CHAP)');
  return CONNECT_AUTHREQ_ATR;
}

/** Authentication Send (05h) / Receive (06h) on a connected queue. */
export function executeAuthentication(cmd: Command, fctype: number): void {
  const q = cmd.queue;
  const tx = q.auth;
  const s = tx ? state.get(tx) : undefined;
  if (!tx || !s) {
    cmd.status = S_SEQUENCE_ERROR;
    (q.ctrl?.log ?? q.ioCtrl?.log)?.warn({ qid: q.qid, fctype }, 'Authentication Send/Receive on a queue that has no authentication transaction');
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
    if (s.ctrl.dead || s.ctrl.queues.get(s.q.qid) !== s.q) return;
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
