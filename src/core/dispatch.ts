// The one entry point of the controller logic: a command that fully arrived goes to the fabrics,
// admin or I/O path, chosen by its queue and opcode. The transport calls only this.
import type { Command } from './command.js';
import type { TargetContext } from './context.js';
import { executeAdmin } from './admin/dispatch.js';
import { executeFabrics } from './fabrics.js';
import { refuseUnauthenticated } from './authentication.js';
import { allowedBeforeAuthentication } from './auth/execute.js';
import { executeIo } from './io.js';
import { AdminOpc } from '../spec/opcodes.js';

export function execute(cmd: Command, ctx: TargetContext): void {
  const q = cmd.queue;
  // A queue that must authenticate runs nothing else until it has (one null check otherwise).
  const auth = q.auth;
  if (auth !== null && !auth.authenticated && !allowedBeforeAuthentication(cmd.sqe)) return refuseUnauthenticated(cmd);
  // Before Connect (no controller yet) and on the admin queue: admin set (fabrics included).
  if (q.qid === 0 || q.ioCtrl === null) return executeAdmin(cmd, ctx);
  if (cmd.sqe[0] === AdminOpc.Fabrics) return executeFabrics(cmd, ctx);
  executeIo(cmd, ctx);
}

/** A fused pair (Compare and Write) whose two commands have all their data: the core runs both. */
export { executeFused } from './fused.js';
