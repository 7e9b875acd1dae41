// The two fabrics commands of in-band authentication run against a queue's transaction, and the gate
// for everything else: what the fabrics layer calls (see command.ts for the SQE layout).
import type { Command } from '../command.js';
import { AdminOpc, FabricsType } from '../../spec/opcodes.js';
import { S_AUTH_INVALID_FIELD, checkAuthSqe } from './command.js';
import type { AuthTransaction } from './transaction.js';

/** Authentication Send (FCTYPE 05h): the TL bytes of data go to the transaction. */
export function executeAuthSend(cmd: Command, tx: AuthTransaction): void {
  const chk = checkAuthSqe(cmd.sqe, cmd.dataLen);
  const data = cmd.inData;
  if (chk.status !== 0) cmd.status = chk.status;
  else if (!data || data.length !== chk.length) cmd.status = S_AUTH_INVALID_FIELD;
  else cmd.status = tx.onSend(data).status;
  cmd.complete();
}

/** Authentication Receive (FCTYPE 06h): the transaction's next message, zero-filled up to AL bytes. */
export function executeAuthReceive(cmd: Command, tx: AuthTransaction): void {
  const chk = checkAuthSqe(cmd.sqe, cmd.dataLen);
  if (chk.status !== 0) {
    cmd.status = chk.status;
    return cmd.complete();
  }
  const r = tx.onReceive(chk.length);
  cmd.status = r.status;
  if (r.status === 0) {
    const out = cmd.buffer(chk.length);
    out.set(r.data);
    cmd.outData = out;
  }
  cmd.complete();
}

/**
 * Commands a queue accepts before it has authenticated: Connect, Authentication Send/Receive and
 * Disconnect. Every other command gets S_AUTH_REQUIRED while the queue's transaction has not
 * authenticated.
 */
export function allowedBeforeAuthentication(sqe: Uint8Array): boolean {
  if (sqe[0] !== AdminOpc.Fabrics) return false;
  const fctype = sqe[4];
  return (
    fctype === FabricsType.Connect ||
    fctype === FabricsType.AuthenticationSend ||
    fctype === FabricsType.AuthenticationReceive ||
    fctype === FabricsType.Disconnect
  );
}
