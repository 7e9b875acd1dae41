// NVM I/O commands: Read, Write, Flush, Compare, Write Zeroes, Dataset Management, Verify, Copy.
// Each validates, submits to the namespace backend, and completes from the backend's callback.
// No allocation per I/O: data buffers come from the command slot's pool, callbacks are module-level.
import type { Command } from './command.js';
import type { TargetContext } from './context.js';
import { NsStat, type Namespace } from './namespace.js';
import { errnoToNvmeStatus } from '../backend/errno.js';
import { holdShared, park } from './range-hold.js';
import { CopyCmd, Dsm, IoOpc, IoSqe } from '../spec/opcodes.js';
import { SQE, sqeCdw10, sqeCdw11, sqeCdw12, sqeCid, sqeFua, sqeNlb, sqeNsid, sqeOpcode, sqeSlba, sqeSlbaBig } from '../spec/sqe.js';
import {
  S_CMD_SIZE_LIMIT,
  S_COMPARE_FAILURE,
  S_INVALID_FIELD,
  S_INVALID_NS,
  S_INVALID_OPCODE,
  S_LBA_OUT_OF_RANGE,
  S_RESERVATION_CONFLICT,
  S_SEQUENCE_ERROR,
  S_SGL_LENGTH_INVALID,
  S_WRITE_PROTECTED,
} from '../spec/status.js';

const NSID_ALL = 0xffffffff;

export function executeIo(cmd: Command, ctx: TargetContext): void {
  const ctrl = cmd.queue.ioCtrl;
  if (!ctrl) {
    cmd.status = S_SEQUENCE_ERROR;
    return cmd.complete();
  }
  ctrl.traffic();
  if (!ctrl.ready) {
    if (ctrl.gone) return cmd.queue.close(`controller ${ctrl.cntlid} torn down`);
    cmd.status = S_SEQUENCE_ERROR;
    return cmd.complete();
  }
  const sqe = cmd.sqe;
  const opcode = sqeOpcode(sqe);
  const nsid = sqeNsid(sqe);
  if (opcode === IoOpc.Flush && nsid === NSID_ALL) return flushAll(cmd);
  const ns = ctrl.namespaces.get(nsid);
  if (!ns) {
    ctrl.log.warn({ nsid, opcode }, 'I/O to an unknown namespace');
    return fail(cmd, S_INVALID_NS, nsid, 0n, SQE.nsid);
  }
  // The path's ANA state for the namespace's group (one word read while every path allows I/O).
  const pathStatus = ctx.ana.ioStatus(cmd.queue.port, ns.anaGroup);
  if (pathStatus !== 0) return fail(cmd, pathStatus, nsid);
  // The namespace's reservation, from shared memory (one word read while there is none).
  if (ns.resv.conflicts(opcode, ctrl)) return fail(cmd, S_RESERVATION_CONFLICT, nsid, 0n, SQE.opcode);
  cmd.ns = ns;
  switch (opcode) {
    case IoOpc.ReservationRegister:
    case IoOpc.ReservationReport:
    case IoOpc.ReservationAcquire:
    case IoOpc.ReservationRelease:
      return ctx.reservationCommands.execute(cmd, ns);
    case IoOpc.Read:
      return read(cmd, ns, ctx);
    case IoOpc.Write:
      return write(cmd, ns, ctx);
    case IoOpc.Flush:
      cmd.onBackend = onFlushDone;
      ns.backend.submitFlush(cmd);
      return;
    case IoOpc.Compare:
      return compare(cmd, ns, ctx);
    case IoOpc.WriteZeroes:
      return writeZeroes(cmd, ns);
    case IoOpc.DatasetManagement:
      return datasetManagement(cmd, ns);
    case IoOpc.Verify:
      return verify(cmd, ns, ctx);
    case IoOpc.Copy:
      return copy(cmd, ns, ctx);
    default:
      ctrl.log.warn({ opcode: `0x${opcode.toString(16)}`, nsid }, 'unsupported I/O opcode');
      return fail(cmd, S_INVALID_OPCODE, nsid, 0n, SQE.opcode);
  }
}

/** `location`: the SQE byte the error is in, for the error log (0xFFFF: not tied to a field). */
export function fail(cmd: Command, status: number, nsid: number, lba = 0n, location = 0xffff): void {
  cmd.status = status;
  cmd.queue.ioCtrl?.recordError(cmd.queue.qid, sqeCid(cmd.sqe), status, nsid, location, lba);
  cmd.complete();
}

/** The SLBA the last lbaRange() call checked (valid until the next call: read it right after). */
let rangeSlba = 0;

/** Validates SLBA/NLB against the namespace; returns the byte length, or -1 after failing the command. */
function lbaRange(cmd: Command, ns: Namespace, checkMdts: boolean, ctx: TargetContext): number {
  const slba = sqeSlba(cmd.sqe);
  rangeSlba = slba;
  const nlb = sqeNlb(cmd.sqe);
  if (slba + nlb > ns.nlb) {
    const lba = sqeSlbaBig(cmd.sqe);
    cmd.queue.ioCtrl?.log.warn({ nsid: ns.nsid, slba: lba.toString(), nlb, nsze: ns.nlb }, 'LBA out of range');
    fail(cmd, S_LBA_OUT_OF_RANGE, ns.nsid, lba, IoSqe.slba);
    return -1;
  }
  const len = nlb << ns.lbaShift;
  if (checkMdts) {
    if (len > ctx.config.mdts) {
      fail(cmd, S_INVALID_FIELD, ns.nsid, BigInt(slba));
      return -1;
    }
    if (len !== cmd.dataLen) {
      cmd.queue.ioCtrl?.log.warn({ nsid: ns.nsid, len, sglLen: cmd.dataLen }, 'transfer length differs from the SGL length');
      fail(cmd, S_SGL_LENGTH_INVALID, ns.nsid, BigInt(slba));
      return -1;
    }
  }
  return len;
}

function offsetOf(cmd: Command, ns: Namespace): number {
  return sqeSlba(cmd.sqe) * ns.blockSize;
}

function backendFailed(cmd: Command, result: number, op: 'read' | 'write' | 'other'): boolean {
  if (result >= 0) return false;
  const ns = cmd.ns!;
  ns.stats[NsStat.MEDIA_ERRORS]++;
  ns.failures.report(cmd.queue.ioCtrl?.log, { nsid: ns.nsid, errno: -result, op }, 'backend I/O failed');
  fail(cmd, errnoToNvmeStatus(-result, op), ns.nsid, sqeSlbaBig(cmd.sqe));
  return true;
}

// --- Read -------------------------------------------------------------------------------------

function read(cmd: Command, ns: Namespace, ctx: TargetContext): void {
  const len = lbaRange(cmd, ns, true, ctx);
  if (len < 0) return;
  ns.stats[NsStat.READS]++;
  ns.stats[NsStat.READ_512] += len / 512;
  const offset = rangeSlba * ns.blockSize;
  const view = ns.backend.view(offset, len);
  if (view) {
    // Zero-copy from the namespace's memory: a later write may change these bytes before they are sent.
    cmd.outData = view;
    cmd.outShared = true;
    return cmd.complete();
  }
  const buf = cmd.dataBuffer(len);
  cmd.outData = buf;
  cmd.onBackend = onReadDone;
  ns.backend.submitRead(cmd, offset, buf);
}

function onReadDone(cmd: Command, result: number): void {
  if (backendFailed(cmd, result, 'read')) {
    cmd.outData = null;
    return;
  }
  cmd.complete();
}

// --- Write ------------------------------------------------------------------------------------

/**
 * Whether a write (or Write Zeroes) must be durable before it completes: FUA set in the command, or
 * the controller's volatile write cache disabled (Set Features 06h, WCE=0).
 */
export function forceUnitAccess(cmd: Command): boolean {
  return sqeFua(cmd.sqe) || cmd.queue.ioCtrl?.volatileWriteCache === false;
}

function write(cmd: Command, ns: Namespace, ctx: TargetContext): void {
  if (ns.readOnly) return fail(cmd, S_WRITE_PROTECTED, ns.nsid);
  const len = lbaRange(cmd, ns, true, ctx);
  if (len < 0) return;
  const data = cmd.inData;
  if (!data || data.length !== len) return fail(cmd, S_SGL_LENGTH_INVALID, ns.nsid);
  startWrite(cmd);
}

/** Enters the namespace's write range lock (or waits out a Compare and Write on the range) and writes. */
function startWrite(cmd: Command): void {
  const ns = cmd.ns!;
  const slba = sqeSlba(cmd.sqe);
  if (!holdShared(cmd, ns, slba, sqeNlb(cmd.sqe))) {
    // Lent data does not outlive this call: the write waits with a copy of its own.
    if (cmd.inLent) cmd.keepInData();
    return park(cmd, startWrite);
  }
  // Only a backend that is done with the source when submitWrite() returns (RAM) may read lent
  // data; any other keeps the buffer until its completion.
  if (cmd.inLent && ns.backend.writeSourceReleasedOnSubmit !== true) cmd.keepInData();
  const data = cmd.inData!;
  ns.stats[NsStat.WRITES]++;
  ns.stats[NsStat.WRITTEN_512] += data.length / 512;
  cmd.onBackend = onWriteDone;
  ns.backend.submitWrite(cmd, slba * ns.blockSize, data, forceUnitAccess(cmd));
}

function onWriteDone(cmd: Command, result: number): void {
  if (backendFailed(cmd, result, 'write')) return;
  cmd.complete();
}

// --- Flush ------------------------------------------------------------------------------------

function onFlushDone(cmd: Command, result: number): void {
  if (backendFailed(cmd, result, 'other')) return;
  cmd.complete();
}

function flushAll(cmd: Command): void {
  const namespaces = cmd.queue.ioCtrl!.namespaces;
  if (namespaces.size === 0) return cmd.complete();
  cmd.stage = namespaces.size;
  cmd.onBackend = onMultiDone;
  for (const ns of namespaces.values()) {
    ns.backend.submitFlush(cmd);
    ns.backend.kick();
  }
}

/** Completion of a command made of several backend operations (cmd.stage counts them down). */
function onMultiDone(cmd: Command, result: number): void {
  if (result < 0 && cmd.status === 0) {
    cmd.status = errnoToNvmeStatus(-result, 'write');
    cmd.queue.ioCtrl?.log.error({ errno: -result }, 'backend operation failed');
  }
  if (--cmd.stage === 0) cmd.complete();
}

// --- Compare ----------------------------------------------------------------------------------

function compare(cmd: Command, ns: Namespace, ctx: TargetContext): void {
  const len = lbaRange(cmd, ns, true, ctx);
  if (len < 0) return;
  const data = cmd.inData;
  if (!data || data.length !== len) return fail(cmd, S_SGL_LENGTH_INVALID, ns.nsid);
  const offset = offsetOf(cmd, ns);
  const view = ns.backend.view(offset, len);
  if (view) return finishCompare(cmd, view);
  const buf = cmd.buffer(len);
  cmd.outData = null;
  cmd.stage = 0;
  // The stored data is read into the command's second buffer (no closure, no side table).
  cmd.auxData = buf;
  cmd.onBackend = onCompareRead;
  ns.backend.submitRead(cmd, offset, buf);
}

function onCompareRead(cmd: Command, result: number): void {
  const buf = cmd.auxData!;
  cmd.auxData = null;
  if (backendFailed(cmd, result, 'read')) return;
  finishCompare(cmd, buf);
}

function finishCompare(cmd: Command, stored: Uint8Array): void {
  const data = cmd.inData!;
  if (Buffer.compare(data, stored) !== 0) {
    cmd.status = S_COMPARE_FAILURE;
    cmd.queue.ioCtrl?.log.debug({ nsid: cmd.ns!.nsid }, 'compare mismatch');
  }
  cmd.complete();
}

// --- Write Zeroes / Dataset Management --------------------------------------------------------

function writeZeroes(cmd: Command, ns: Namespace): void {
  if (ns.readOnly) return fail(cmd, S_WRITE_PROTECTED, ns.nsid);
  const slba = sqeSlba(cmd.sqe);
  const nlb = sqeNlb(cmd.sqe);
  if (slba + nlb > ns.nlb) return fail(cmd, S_LBA_OUT_OF_RANGE, ns.nsid, sqeSlbaBig(cmd.sqe), IoSqe.slba);
  startWriteZeroes(cmd);
}

function startWriteZeroes(cmd: Command): void {
  const ns = cmd.ns!;
  const slba = sqeSlba(cmd.sqe);
  const nlb = sqeNlb(cmd.sqe);
  if (!holdShared(cmd, ns, slba, nlb)) return park(cmd, startWriteZeroes);
  ns.stats[NsStat.WRITES]++;
  cmd.onBackend = onWriteDone;
  ns.backend.submitWriteZeroes(cmd, slba * ns.blockSize, nlb * ns.blockSize, forceUnitAccess(cmd));
}

function datasetManagement(cmd: Command, ns: Namespace): void {
  const nr = (sqeCdw10(cmd.sqe) & 0xff) + 1;
  const attributes = sqeCdw11(cmd.sqe);
  const data = cmd.inData;
  if (!data || data.length < nr * Dsm.rangeSize) return fail(cmd, S_SGL_LENGTH_INVALID, ns.nsid);
  if (!(attributes & Dsm.ATTR_DEALLOCATE)) return cmd.complete(); // hints only
  if (ns.readOnly) return fail(cmd, S_WRITE_PROTECTED, ns.nsid);
  const view = Buffer.from(data.buffer, data.byteOffset, data.length);
  const nlbTotal = BigInt(ns.nlb);
  for (let i = 0; i < nr; i++) {
    const at = i * Dsm.rangeSize;
    const len = BigInt(view.readUInt32LE(at + Dsm.rangeLength));
    const slba = view.readBigUInt64LE(at + Dsm.rangeSlba);
    if (slba + len > nlbTotal) return fail(cmd, S_LBA_OUT_OF_RANGE, ns.nsid, slba);
  }
  startDeallocate(cmd);
}

/**
 * Deallocates the ranges once the write range lock covers them: one hold over the span from the
 * lowest to the highest block named (a Compare and Write anywhere in between makes it wait).
 */
function startDeallocate(cmd: Command): void {
  const ns = cmd.ns!;
  const data = cmd.inData!;
  const view = Buffer.from(data.buffer, data.byteOffset, data.length);
  const nr = (sqeCdw10(cmd.sqe) & 0xff) + 1;
  let lo = Number.MAX_SAFE_INTEGER;
  let hi = 0;
  cmd.stage = 0;
  for (let i = 0; i < nr; i++) {
    const len = view.readUInt32LE(i * Dsm.rangeSize + Dsm.rangeLength);
    if (len === 0) continue;
    const slba = Number(view.readBigUInt64LE(i * Dsm.rangeSize + Dsm.rangeSlba));
    if (slba < lo) lo = slba;
    if (slba + len > hi) hi = slba + len;
    cmd.stage++;
  }
  if (cmd.stage === 0) return cmd.complete();
  if (!holdShared(cmd, ns, lo, hi - lo)) return park(cmd, startDeallocate);
  cmd.onBackend = onMultiDone;
  for (let i = 0; i < nr; i++) {
    const at = i * Dsm.rangeSize;
    const len = view.readUInt32LE(at + Dsm.rangeLength);
    if (len === 0) continue;
    const slba = Number(view.readBigUInt64LE(at + Dsm.rangeSlba));
    ns.backend.submitDiscard(cmd, slba * ns.blockSize, len * ns.blockSize);
  }
}

// --- Verify -----------------------------------------------------------------------------------

/**
 * Verify: the range is read through the backend (a media error surfaces as the read's status) and
 * nothing is transferred. Read in pieces of at most MDTS into one buffer; cmd.stage counts the blocks
 * still to read. A backend that holds the data in memory has nothing to verify.
 */
function verify(cmd: Command, ns: Namespace, ctx: TargetContext): void {
  const len = lbaRange(cmd, ns, false, ctx);
  if (len < 0) return;
  if (ns.backend.view(offsetOf(cmd, ns), len)) return cmd.complete();
  cmd.auxData = cmd.buffer(Math.min(len, ctx.config.mdts));
  cmd.stage = sqeNlb(cmd.sqe);
  cmd.onBackend = onVerifyRead;
  verifyNext(cmd, ns);
}

function verifyNext(cmd: Command, ns: Namespace): void {
  const buf = cmd.auxData!;
  const blocks = Math.min(cmd.stage, buf.length >>> ns.lbaShift);
  const lba = sqeSlba(cmd.sqe) + sqeNlb(cmd.sqe) - cmd.stage;
  cmd.stage -= blocks;
  const piece = blocks << ns.lbaShift;
  ns.backend.submitRead(cmd, lba * ns.blockSize, piece === buf.length ? buf : buf.subarray(0, piece));
}

function onVerifyRead(cmd: Command, result: number): void {
  if (result < 0) cmd.auxData = null;
  if (backendFailed(cmd, result, 'read')) return;
  if (cmd.stage === 0) {
    cmd.auxData = null;
    return cmd.complete();
  }
  const ns = cmd.ns!;
  verifyNext(cmd, ns);
  ns.backend.kick();
}

// --- Copy -------------------------------------------------------------------------------------

/** Copy: source ranges in one command (MSRC + 1). Their list (32 bytes each) stays within MDTS (4 KiB at least). */
export const COPY_MAX_RANGES = 128;

/**
 * MSSRL and MCL of a namespace, in logical blocks: a copy is staged in one buffer of at most MDTS,
 * so its total stays within MDTS (and MSSRL within its 16-bit field).
 */
export function copyMaxBlocks(ns: Namespace, mdts: number): number {
  return Math.min(0xffff, Math.floor(mdts / ns.blockSize));
}

/**
 * Copy (descriptor format 0): every source range is checked, read into one buffer (cmd.auxData), and
 * the buffer is written at SDLBA once all reads are in (so overlapping ranges copy what was there).
 */
function copy(cmd: Command, ns: Namespace, ctx: TargetContext): void {
  if (ns.readOnly) return fail(cmd, S_WRITE_PROTECTED, ns.nsid);
  const cdw12 = sqeCdw12(cmd.sqe);
  const nr = (cdw12 & CopyCmd.NR_MASK) + 1;
  const log = cmd.queue.ioCtrl?.log;
  const desfmt = (cdw12 >>> CopyCmd.DESFMT_SHIFT) & CopyCmd.DESFMT_MASK;
  if (desfmt !== 0) {
    log?.warn({ nsid: ns.nsid, desfmt }, 'Copy: unsupported source range descriptor format');
    return fail(cmd, S_INVALID_FIELD, ns.nsid, 0n, SQE.cdw12);
  }
  if (nr > COPY_MAX_RANGES) {
    log?.warn({ nsid: ns.nsid, nr, msrc: COPY_MAX_RANGES - 1 }, 'Copy: more source ranges than MSRC allows');
    return fail(cmd, S_CMD_SIZE_LIMIT, ns.nsid, 0n, SQE.cdw12);
  }
  const data = cmd.inData;
  if (!data || data.length < nr * CopyCmd.rangeSize) return fail(cmd, S_SGL_LENGTH_INVALID, ns.nsid);
  const view = Buffer.from(data.buffer, data.byteOffset, data.length);
  const maxBlocks = copyMaxBlocks(ns, ctx.config.mdts);
  const nlbTotal = BigInt(ns.nlb);
  let total = 0;
  for (let i = 0; i < nr; i++) {
    const at = i * CopyCmd.rangeSize;
    const slba = view.readBigUInt64LE(at + CopyCmd.rangeSlba);
    const nlb = view.readUInt16LE(at + CopyCmd.rangeNlb) + 1;
    if (nlb > maxBlocks) {
      log?.warn({ nsid: ns.nsid, range: i, nlb, mssrl: maxBlocks }, 'Copy: source range longer than MSSRL');
      return fail(cmd, S_CMD_SIZE_LIMIT, ns.nsid, slba);
    }
    if (slba + BigInt(nlb) > nlbTotal) {
      log?.warn({ nsid: ns.nsid, range: i, slba: slba.toString(), nlb, nsze: ns.nlb }, 'Copy: source range out of the namespace');
      return fail(cmd, S_LBA_OUT_OF_RANGE, ns.nsid, slba);
    }
    total += nlb;
  }
  if (total > maxBlocks) {
    log?.warn({ nsid: ns.nsid, blocks: total, mcl: maxBlocks }, 'Copy: more blocks than MCL');
    return fail(cmd, S_CMD_SIZE_LIMIT, ns.nsid);
  }
  if (sqeSlba(cmd.sqe) + total > ns.nlb) {
    const sdlba = sqeSlbaBig(cmd.sqe);
    log?.warn({ nsid: ns.nsid, sdlba: sdlba.toString(), blocks: total, nsze: ns.nlb }, 'Copy: destination out of the namespace');
    return fail(cmd, S_LBA_OUT_OF_RANGE, ns.nsid, sdlba, IoSqe.slba);
  }
  const len = total << ns.lbaShift;
  ns.stats[NsStat.READS]++;
  ns.stats[NsStat.READ_512] += len / 512;
  ns.stats[NsStat.WRITES]++;
  ns.stats[NsStat.WRITTEN_512] += len / 512;
  const buf = cmd.buffer(len);
  cmd.auxData = buf;
  cmd.status = 0;
  cmd.stage = nr;
  cmd.onBackend = onCopyRead;
  let to = 0;
  for (let i = 0; i < nr; i++) {
    const at = i * CopyCmd.rangeSize;
    const offset = Number(view.readBigUInt64LE(at + CopyCmd.rangeSlba)) * ns.blockSize;
    const n = (view.readUInt16LE(at + CopyCmd.rangeNlb) + 1) << ns.lbaShift;
    const dst = buf.subarray(to, to + n);
    to += n;
    const mem = ns.backend.view(offset, n);
    if (mem) {
      dst.set(mem);
      onCopyRead(cmd, n);
    } else {
      ns.backend.submitRead(cmd, offset, dst);
    }
  }
}

/** One source range read (cmd.stage counts them down); the last one writes the buffer at SDLBA. */
function onCopyRead(cmd: Command, result: number): void {
  const ns = cmd.ns!;
  if (result < 0 && cmd.status === 0) {
    ns.stats[NsStat.MEDIA_ERRORS]++;
    cmd.status = errnoToNvmeStatus(-result, 'read');
    ns.failures.report(cmd.queue.ioCtrl?.log, { nsid: ns.nsid, errno: -result, op: 'read' }, 'backend I/O failed');
  }
  if (--cmd.stage > 0) return;
  if (cmd.status !== 0) {
    cmd.auxData = null;
    return fail(cmd, cmd.status, ns.nsid, sqeSlbaBig(cmd.sqe));
  }
  startCopyWrite(cmd);
}

function startCopyWrite(cmd: Command): void {
  const ns = cmd.ns!;
  const buf = cmd.auxData!;
  if (!holdShared(cmd, ns, sqeSlba(cmd.sqe), buf.length >>> ns.lbaShift)) return park(cmd, startCopyWrite);
  cmd.onBackend = onCopyWritten;
  ns.backend.submitWrite(cmd, offsetOf(cmd, ns), buf, forceUnitAccess(cmd));
  ns.backend.kick();
}

function onCopyWritten(cmd: Command, result: number): void {
  cmd.auxData = null;
  if (backendFailed(cmd, result, 'write')) return;
  cmd.complete();
}
