// Fused Compare and Write (NVM command set): a Compare (FUSE first) and a Write (FUSE second) of the
// same LBA range, adjacent in one SQ, run as one atomic unit. The transport pairs the two commands
// and hands them here once both have all their data; this module validates the pair, takes the
// namespace's write range lock exclusively (range-lock.ts: no other write, on any thread, touches
// the range meanwhile, and writes already in flight there finish first), compares, and writes only
// on a match. Every backend operation of the pair is carried by the second command, so the pair
// lives and dies with it: the lock is released when the second command is freed.
// Statuses: a mismatch completes the Compare with Compare Failure and the Write with "Command
// Aborted due to Failed Fused Command"; a malformed command gets its own error and the other one
// the failed-fused abort; ranges that differ fail both with Invalid Field in Command.
import type { Command } from './command.js';
import type { TargetContext } from './context.js';
import { NsStat, type Namespace } from './namespace.js';
import { fail, forceUnitAccess } from './io.js';
import { Held } from './range-lock.js';
import { park } from './range-hold.js';
import { errnoToNvmeStatus } from '../backend/errno.js';
import { IoOpc, IoSqe } from '../spec/opcodes.js';
import { sqeNlb, sqeNsid, sqeOpcode, sqeSlba, sqeSlbaBig } from '../spec/sqe.js';
import {
  S_COMPARE_FAILURE,
  S_FAILED_FUSED,
  S_INVALID_FIELD,
  S_INVALID_NS,
  S_LBA_OUT_OF_RANGE,
  S_RESERVATION_CONFLICT,
  S_SEQUENCE_ERROR,
  S_SGL_LENGTH_INVALID,
  S_WRITE_PROTECTED,
} from '../spec/status.js';

/** Completes both commands of a pair that did not run: `a` with its status, `b` with its own. */
function failBoth(a: Command, aStatus: number, b: Command, bStatus: number, nsid: number): void {
  fail(a, aStatus, nsid);
  fail(b, bStatus, nsid);
}

/** Runs a fused pair whose data is all in: `first` is the FUSE-first command, `second` its partner. */
export function executeFused(first: Command, second: Command, ctx: TargetContext): void {
  const ctrl = first.queue.ioCtrl;
  if (ctrl?.gone) return first.queue.close(`controller ${ctrl.cntlid} torn down`);
  if (!ctrl || !ctrl.ready) return failBoth(first, S_SEQUENCE_ERROR, second, S_SEQUENCE_ERROR, 0);
  ctrl.traffic();
  const log = ctrl.log;
  const nsid = sqeNsid(first.sqe);
  if (sqeOpcode(first.sqe) !== IoOpc.Compare || sqeOpcode(second.sqe) !== IoOpc.Write) {
    // Compare and Write is the one fused operation: the command that is not what it must be is refused.
    const firstBad = sqeOpcode(first.sqe) !== IoOpc.Compare;
    log.warn({ first: sqeOpcode(first.sqe), second: sqeOpcode(second.sqe) }, 'fused operation other than Compare and Write');
    if (firstBad) return failBoth(first, S_INVALID_FIELD, second, S_FAILED_FUSED, nsid);
    return failBoth(second, S_INVALID_FIELD, first, S_FAILED_FUSED, nsid);
  }
  const slba = sqeSlba(first.sqe);
  const nlb = sqeNlb(first.sqe);
  if (sqeNsid(second.sqe) !== nsid || sqeSlbaBig(second.sqe) !== sqeSlbaBig(first.sqe) || sqeNlb(second.sqe) !== nlb) {
    log.warn({ nsid, slba: sqeSlbaBig(first.sqe).toString(), nlb, writeNsid: sqeNsid(second.sqe), writeSlba: sqeSlbaBig(second.sqe).toString(), writeNlb: sqeNlb(second.sqe) }, 'Compare and Write: the two commands name different ranges');
    return failBoth(first, S_INVALID_FIELD, second, S_INVALID_FIELD, nsid);
  }
  const ns = ctrl.namespaces.get(nsid);
  if (!ns) {
    log.warn({ nsid }, 'Compare and Write to an unknown namespace');
    return failBoth(first, S_INVALID_NS, second, S_INVALID_NS, nsid);
  }
  const pathStatus = ctx.ana.ioStatus(first.queue.port, ns.anaGroup);
  if (pathStatus !== 0) return failBoth(first, pathStatus, second, pathStatus, nsid);
  // The reservation blocks the pair as it would block each command alone.
  if (ns.resv.conflicts(IoOpc.Compare, ctrl)) return failBoth(first, S_RESERVATION_CONFLICT, second, S_FAILED_FUSED, nsid);
  if (ns.resv.conflicts(IoOpc.Write, ctrl)) return failBoth(second, S_RESERVATION_CONFLICT, first, S_FAILED_FUSED, nsid);
  if (slba + nlb > ns.nlb) {
    log.warn({ nsid, slba: sqeSlbaBig(first.sqe).toString(), nlb, nsze: ns.nlb }, 'Compare and Write: LBA out of range');
    fail(first, S_LBA_OUT_OF_RANGE, nsid, sqeSlbaBig(first.sqe), IoSqe.slba);
    fail(second, S_LBA_OUT_OF_RANGE, nsid, sqeSlbaBig(second.sqe), IoSqe.slba);
    return;
  }
  if (ns.readOnly) return failBoth(second, S_WRITE_PROTECTED, first, S_FAILED_FUSED, nsid);
  const len = nlb << ns.lbaShift;
  if (len > ctx.config.mdts) return failBoth(first, S_INVALID_FIELD, second, S_FAILED_FUSED, nsid);
  if (badData(first, len)) {
    log.warn({ nsid, len, sglLen: first.dataLen }, 'Compare and Write: compare data length differs from the range');
    return failBoth(first, S_SGL_LENGTH_INVALID, second, S_FAILED_FUSED, nsid);
  }
  if (badData(second, len)) {
    log.warn({ nsid, len, sglLen: second.dataLen }, 'Compare and Write: write data length differs from the range');
    return failBoth(second, S_SGL_LENGTH_INVALID, first, S_FAILED_FUSED, nsid);
  }
  first.ns = ns;
  second.ns = ns;
  lockRange(second);
}

function badData(c: Command, len: number): boolean {
  return c.inData === null || c.inData.length !== len || c.dataLen !== len;
}

/** Takes the range exclusively and waits for writes in flight on it, parked meanwhile; then compares. */
function lockRange(second: Command): void {
  const ns = second.ns!;
  const slba = sqeSlba(second.sqe);
  const nlb = sqeNlb(second.sqe);
  if (second.held === Held.NONE) {
    if (!ns.writeLock.tryExclusive(slba, nlb)) return park(second, lockRange);
    second.held = Held.EXCLUSIVE;
    second.heldSlba = slba;
    second.heldNlb = nlb;
  }
  if (!ns.writeLock.drained(slba, nlb)) return park(second, lockRange);
  const offset = slba * ns.blockSize;
  const len = second.inData!.length;
  ns.stats[NsStat.READS]++;
  ns.stats[NsStat.READ_512] += len / 512;
  const view = ns.backend.view(offset, len);
  if (view) return compared(second, ns, view);
  // The stored data is read into a buffer of the second command, which carries every backend step.
  second.auxData = second.buffer(len);
  second.onBackend = onCompareRead;
  ns.backend.submitRead(second, offset, second.auxData);
  ns.backend.kick();
}

function onCompareRead(second: Command, result: number): void {
  const stored = second.auxData!;
  second.auxData = null;
  const ns = second.ns!;
  if (result < 0) {
    ns.stats[NsStat.MEDIA_ERRORS]++;
    ns.failures.report(second.queue.ioCtrl?.log, { nsid: ns.nsid, errno: -result, op: 'read' }, 'backend I/O failed');
    return finish(second, errnoToNvmeStatus(-result, 'read'), S_FAILED_FUSED);
  }
  compared(second, ns, stored);
}

function compared(second: Command, ns: Namespace, stored: Uint8Array): void {
  const first = second.fusedWith;
  if (first === null || Buffer.compare(first.inData!, stored) !== 0) {
    second.queue.ioCtrl?.log.debug({ nsid: ns.nsid }, 'Compare and Write: compare mismatch, write aborted');
    return finish(second, S_COMPARE_FAILURE, S_FAILED_FUSED);
  }
  const data = second.inData!;
  ns.stats[NsStat.WRITES]++;
  ns.stats[NsStat.WRITTEN_512] += data.length / 512;
  second.onBackend = onWritten;
  ns.backend.submitWrite(second, sqeSlba(second.sqe) * ns.blockSize, data, forceUnitAccess(second));
  ns.backend.kick();
}

function onWritten(second: Command, result: number): void {
  if (result < 0) {
    const ns = second.ns!;
    ns.stats[NsStat.MEDIA_ERRORS]++;
    ns.failures.report(second.queue.ioCtrl?.log, { nsid: ns.nsid, errno: -result, op: 'write' }, 'backend I/O failed');
    // The compare succeeded: its status is unaffected by the write's failure.
    return finish(second, 0, errnoToNvmeStatus(-result, 'write'));
  }
  finish(second, 0, 0);
}

/** Completes the compare (first) and then the write (second); the range is released with the second. */
function finish(second: Command, firstStatus: number, secondStatus: number): void {
  const first = second.fusedWith;
  const nsid = second.ns!.nsid;
  if (first !== null) {
    if (firstStatus !== 0) fail(first, firstStatus, nsid, sqeSlbaBig(first.sqe));
    else first.complete();
  }
  if (secondStatus !== 0) fail(second, secondStatus, nsid, sqeSlbaBig(second.sqe));
  else second.complete();
}
