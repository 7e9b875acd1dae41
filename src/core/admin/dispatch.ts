// Admin queue dispatch: checks the controller state, then hands the command to its handler.
import type { Command } from '../command.js';
import type { TargetContext } from '../context.js';
import { executeFabrics } from '../fabrics.js';
import { identify } from './identify.js';
import { getLogPage } from './log-pages.js';
import { getFeatures, setFeatures } from './features.js';
import { AdminOpc } from '../../spec/opcodes.js';
import { sqeCdw10, sqeCid, sqeNsid, sqeOpcode } from '../../spec/sqe.js';
import { S_ABORT_REQUESTED, S_AER_LIMIT, S_INVALID_OPCODE, S_SEQUENCE_ERROR } from '../../spec/status.js';

/** Admin opcodes a discovery controller accepts. */
const DISCOVERY_OPCODES = new Set<number>([
  AdminOpc.Identify,
  AdminOpc.GetLogPage,
  AdminOpc.GetFeatures,
  AdminOpc.SetFeatures,
  AdminOpc.KeepAlive,
  AdminOpc.AsyncEventRequest,
  AdminOpc.Abort,
]);

export function executeAdmin(cmd: Command, ctx: TargetContext): void {
  const opcode = sqeOpcode(cmd.sqe);
  if (opcode === AdminOpc.Fabrics) return executeFabrics(cmd, ctx);
  const ctrl = cmd.queue.ctrl;
  if (!ctrl) {
    cmd.status = S_SEQUENCE_ERROR;
    ctx.log.warn({ peer: cmd.queue.peer, opcode }, 'admin command before Connect');
    return cmd.complete();
  }
  ctrl.traffic();
  if (!ctrl.ready) {
    cmd.status = S_SEQUENCE_ERROR;
    ctrl.log.warn({ opcode }, 'admin command while the controller is not enabled (CC.EN=0)');
    return cmd.complete();
  }
  if (ctrl.isDiscovery && !DISCOVERY_OPCODES.has(opcode)) return invalidOpcode(cmd, ctx, opcode);
  switch (opcode) {
    case AdminOpc.Identify:
      return identify(cmd, ctrl);
    case AdminOpc.GetLogPage:
      return getLogPage(cmd, ctrl);
    case AdminOpc.GetFeatures:
      return getFeatures(cmd, ctrl);
    case AdminOpc.SetFeatures:
      return setFeatures(cmd, ctrl);
    case AdminOpc.KeepAlive:
      return cmd.complete();
    case AdminOpc.AsyncEventRequest:
      if (!ctrl.addAer(cmd)) {
        cmd.status = S_AER_LIMIT;
        cmd.complete();
      }
      return;
    case AdminOpc.Abort: {
      // cdw10: SQID 15:0, CID 31:16. Only a queued AER can be aborted; anything else has already
      // been handed to a backend and completes on its own (dw0 bit 0 = not aborted).
      const cdw10 = sqeCdw10(cmd.sqe);
      const sqid = cdw10 & 0xffff;
      const cid = cdw10 >>> 16;
      const aer = sqid === 0 ? ctrl.takeAer(cid) : null;
      if (aer) {
        aer.status = S_ABORT_REQUESTED;
        aer.complete();
        cmd.dw0 = 0;
      } else {
        cmd.dw0 = 1;
      }
      return cmd.complete();
    }
    default:
      return invalidOpcode(cmd, ctx, opcode);
  }
}

function invalidOpcode(cmd: Command, ctx: TargetContext, opcode: number): void {
  cmd.status = S_INVALID_OPCODE;
  const ctrl = cmd.queue.ctrl;
  (ctrl?.log ?? ctx.log).warn({ opcode: `0x${opcode.toString(16)}` }, 'unsupported admin opcode');
  ctrl?.recordError(0, sqeCid(cmd.sqe), S_INVALID_OPCODE, sqeNsid(cmd.sqe), 0);
  cmd.complete();
}
