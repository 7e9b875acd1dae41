// SQE encoders for the commands the initiator sends: fabrics, admin and NVM I/O.
//
// Each encoder fills a 64-byte SQE in place (usually the SQE area of a command slot's preallocated
// capsule header, so nothing is allocated per command). The CID and the data pointer (SGL) are
// set by the queue when the command is sent.
import { AdminOpc, ConnectData, CopyCmd, Dsm, FabricsSqe, FabricsType, IoOpc, IoSqe, Cdw12 } from '../spec/opcodes.js';
import { Fuse, SQE, SQE_SIZE } from '../spec/sqe.js';

/** A 64-bit value: number (exact up to 2^53) or bigint. */
export type U64 = number | bigint;

export function writeU64(buf: Buffer, at: number, v: U64): void {
  if (typeof v === 'bigint') {
    buf.writeBigUInt64LE(BigInt.asUintN(64, v), at);
  } else {
    buf.writeUInt32LE(v % 0x1_0000_0000 >>> 0, at);
    buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000) >>> 0, at + 4);
  }
}

function start(sqe: Buffer, opcode: number, nsid = 0): Buffer {
  sqe.fill(0, 0, SQE_SIZE);
  sqe[SQE.opcode] = opcode;
  sqe.writeUInt32LE(nsid >>> 0, SQE.nsid);
  return sqe;
}

// ---- Fabrics ----

export interface ConnectParams {
  /** 0 for the admin queue. */
  qid: number;
  /** Queue size in entries (sent 0's based as SQSIZE). */
  queueSize: number;
  /** Keep alive timeout in milliseconds (admin queue; 0 disables). */
  kato?: number;
  /** CATTR: ask the controller to disable SQ flow control (then C2HData may carry SUCCESS). */
  disableSqFlowControl?: boolean;
  /** Raw CATTR byte, overriding disableSqFlowControl (tests). */
  cattr?: number;
}

export function fabricsConnect(sqe: Buffer, p: ConnectParams): Buffer {
  start(sqe, AdminOpc.Fabrics);
  sqe[FabricsSqe.fctype] = FabricsType.Connect;
  sqe.writeUInt16LE(0, FabricsSqe.recfmt);
  sqe.writeUInt16LE(p.qid, FabricsSqe.qid);
  sqe.writeUInt16LE((p.queueSize - 1) & 0xffff, FabricsSqe.sqsize);
  sqe[FabricsSqe.cattr] = p.cattr ?? (p.disableSqFlowControl ? 0x04 : 0);
  sqe.writeUInt32LE((p.kato ?? 0) >>> 0, FabricsSqe.kato);
  return sqe;
}

export interface ConnectDataParams {
  /** 16 bytes. */
  hostid: Uint8Array;
  /** 0xFFFF on the admin queue (dynamic controller), the admin Connect's CNTLID on I/O queues. */
  cntlid: number;
  subnqn: string;
  hostnqn: string;
}

/** The 1024-byte Connect data (sent in-capsule). */
export function connectData(p: ConnectDataParams): Buffer {
  const d = Buffer.alloc(ConnectData.size);
  d.set(p.hostid.subarray(0, 16), ConnectData.hostid);
  d.writeUInt16LE(p.cntlid & 0xffff, ConnectData.cntlid);
  d.write(p.subnqn, ConnectData.subnqn, 255, 'utf8');
  d.write(p.hostnqn, ConnectData.hostnqn, 255, 'utf8');
  return d;
}

/** Property Get: size8 selects an 8-byte property (CAP) instead of 4 bytes. */
export function propertyGet(sqe: Buffer, offset: number, size8: boolean): Buffer {
  start(sqe, AdminOpc.Fabrics);
  sqe[FabricsSqe.fctype] = FabricsType.PropertyGet;
  sqe[FabricsSqe.propAttrib] = size8 ? 1 : 0;
  sqe.writeUInt32LE(offset, FabricsSqe.propOffset);
  return sqe;
}

export function propertySet(sqe: Buffer, offset: number, value: U64, size8 = false): Buffer {
  start(sqe, AdminOpc.Fabrics);
  sqe[FabricsSqe.fctype] = FabricsType.PropertySet;
  sqe[FabricsSqe.propAttrib] = size8 ? 1 : 0;
  sqe.writeUInt32LE(offset, FabricsSqe.propOffset);
  writeU64(sqe, FabricsSqe.propValue, value);
  return sqe;
}

/** Authentication Send (TL bytes of host data) / Receive (AL bytes of controller data): SECP E9h, SPSP0/1 01h. */
function authentication(sqe: Buffer, fctype: number, length: number): Buffer {
  start(sqe, AdminOpc.Fabrics);
  sqe[FabricsSqe.fctype] = fctype;
  sqe[41] = 0x01; // SPSP0
  sqe[42] = 0x01; // SPSP1
  sqe[43] = 0xe9; // SECP: NVMe in-band authentication
  sqe.writeUInt32LE(length >>> 0, 44); // TL / AL
  return sqe;
}

export function authenticationSend(sqe: Buffer, tl: number): Buffer {
  return authentication(sqe, FabricsType.AuthenticationSend, tl);
}

export function authenticationReceive(sqe: Buffer, al: number): Buffer {
  return authentication(sqe, FabricsType.AuthenticationReceive, al);
}

export function fabricsDisconnect(sqe: Buffer): Buffer {
  start(sqe, AdminOpc.Fabrics);
  sqe[FabricsSqe.fctype] = FabricsType.Disconnect;
  return sqe;
}

// ---- Admin ----

export function identify(sqe: Buffer, cns: number, nsid = 0, cntid = 0, csi = 0): Buffer {
  start(sqe, AdminOpc.Identify, nsid);
  sqe.writeUInt32LE(((cntid & 0xffff) << 16 | (cns & 0xff)) >>> 0, SQE.cdw10);
  sqe.writeUInt32LE(((csi & 0xff) << 24) >>> 0, SQE.cdw11);
  return sqe;
}

export interface LogPageOptions {
  nsid?: number;
  lsp?: number;
  /** Retain Asynchronous Event. */
  rae?: boolean;
  lsi?: number;
  csi?: number;
}

/** Get Log Page for `length` bytes (a multiple of 4) at byte `offset` of the log. */
export function getLogPage(sqe: Buffer, lid: number, length: number, offset: U64 = 0, o: LogPageOptions = {}): Buffer {
  if (length <= 0 || length % 4 !== 0) throw new RangeError(`log page length ${length} is not a positive multiple of 4`);
  start(sqe, AdminOpc.GetLogPage, o.nsid ?? 0xffffffff);
  const numd = length / 4 - 1;
  sqe.writeUInt32LE((((numd & 0xffff) << 16) | (o.rae ? 1 << 15 : 0) | ((o.lsp ?? 0) & 0x7f) << 8 | (lid & 0xff)) >>> 0, SQE.cdw10);
  sqe.writeUInt32LE((((o.lsi ?? 0) & 0xffff) << 16 | ((numd >>> 16) & 0xffff)) >>> 0, SQE.cdw11);
  writeU64(sqe, SQE.cdw12, offset);
  sqe.writeUInt32LE(((o.csi ?? 0) & 0xff) << 24 >>> 0, SQE.cdw14);
  return sqe;
}

export function getFeatures(sqe: Buffer, fid: number, sel = 0, cdw11 = 0, nsid = 0): Buffer {
  start(sqe, AdminOpc.GetFeatures, nsid);
  sqe.writeUInt32LE(((sel & 7) << 8 | (fid & 0xff)) >>> 0, SQE.cdw10);
  sqe.writeUInt32LE(cdw11 >>> 0, SQE.cdw11);
  return sqe;
}

export function setFeatures(sqe: Buffer, fid: number, cdw11: number, save = false, nsid = 0, cdw12 = 0): Buffer {
  start(sqe, AdminOpc.SetFeatures, nsid);
  sqe.writeUInt32LE(((save ? 1 << 31 : 0) | (fid & 0xff)) >>> 0, SQE.cdw10);
  sqe.writeUInt32LE(cdw11 >>> 0, SQE.cdw11);
  sqe.writeUInt32LE(cdw12 >>> 0, SQE.cdw12);
  return sqe;
}

export function keepAlive(sqe: Buffer): Buffer {
  return start(sqe, AdminOpc.KeepAlive);
}

export function asyncEventRequest(sqe: Buffer): Buffer {
  return start(sqe, AdminOpc.AsyncEventRequest);
}

export function abort(sqe: Buffer, sqid: number, cid: number): Buffer {
  start(sqe, AdminOpc.Abort);
  sqe.writeUInt32LE(((cid & 0xffff) << 16 | (sqid & 0xffff)) >>> 0, SQE.cdw10);
  return sqe;
}

/** Any opcode with no other fields (unknown-opcode tests). */
export function bare(sqe: Buffer, opcode: number, nsid = 0): Buffer {
  return start(sqe, opcode, nsid);
}

// ---- NVM I/O ----

export interface RwFlags {
  fua?: boolean;
  limitedRetry?: boolean;
  /** FUSE (SQE byte 1 bits 1:0): 1 first, 2 second command of a fused operation. */
  fuse?: number;
}

/** Read, Write or Compare of `nlb` blocks (1-based count) at `slba`. */
export function readWrite(sqe: Buffer, opcode: number, nsid: number, slba: U64, nlb: number, f: RwFlags = {}): Buffer {
  if (nlb < 1 || nlb > 0x10000) throw new RangeError(`NLB ${nlb} out of 1..65536`);
  start(sqe, opcode, nsid);
  writeU64(sqe, IoSqe.slba, slba);
  sqe.writeUInt32LE(((nlb - 1) | (f.fua ? Cdw12.FUA : 0) | (f.limitedRetry ? Cdw12.LR : 0)) >>> 0, IoSqe.cdw12);
  if (f.fuse) sqe[SQE.flags] = (sqe[SQE.flags]! & ~Fuse.mask) | (f.fuse & Fuse.mask);
  return sqe;
}

export function flush(sqe: Buffer, nsid: number): Buffer {
  return start(sqe, IoOpc.Flush, nsid);
}

export function writeZeroes(sqe: Buffer, nsid: number, slba: U64, nlb: number, deallocate = false, fua = false): Buffer {
  if (nlb < 1 || nlb > 0x10000) throw new RangeError(`NLB ${nlb} out of 1..65536`);
  start(sqe, IoOpc.WriteZeroes, nsid);
  writeU64(sqe, IoSqe.slba, slba);
  sqe.writeUInt32LE(((nlb - 1) | (deallocate ? Cdw12.DEAC : 0) | (fua ? Cdw12.FUA : 0)) >>> 0, IoSqe.cdw12);
  return sqe;
}

export interface DsmRange {
  slba: U64;
  /** Length in logical blocks. */
  nlb: number;
  /** Context attributes. */
  cattr?: number;
}

/** Dataset Management for `nr` ranges (its data is encodeDsmRanges()); deallocate sets AD. */
export function datasetManagement(sqe: Buffer, nsid: number, nr: number, deallocate = true): Buffer {
  if (nr < 1 || nr > Dsm.maxRanges) throw new RangeError(`DSM range count ${nr} out of 1..${Dsm.maxRanges}`);
  start(sqe, IoOpc.DatasetManagement, nsid);
  sqe.writeUInt32LE((nr - 1) & 0xff, SQE.cdw10);
  sqe.writeUInt32LE(deallocate ? Dsm.ATTR_DEALLOCATE : 0, SQE.cdw11);
  return sqe;
}

export function encodeDsmRanges(ranges: readonly DsmRange[]): Buffer {
  const b = Buffer.alloc(ranges.length * Dsm.rangeSize);
  ranges.forEach((r, i) => {
    const at = i * Dsm.rangeSize;
    b.writeUInt32LE((r.cattr ?? 0) >>> 0, at);
    b.writeUInt32LE(r.nlb >>> 0, at + Dsm.rangeLength);
    writeU64(b, at + Dsm.rangeSlba, r.slba);
  });
  return b;
}

/** Verify of `nlb` blocks (1-based count) at `slba`: no data moves. */
export function verify(sqe: Buffer, nsid: number, slba: U64, nlb: number): Buffer {
  if (nlb < 1 || nlb > 0x10000) throw new RangeError(`NLB ${nlb} out of 1..65536`);
  start(sqe, IoOpc.Verify, nsid);
  writeU64(sqe, IoSqe.slba, slba);
  sqe.writeUInt32LE((nlb - 1) >>> 0, IoSqe.cdw12);
  return sqe;
}

export interface CopyRange {
  slba: U64;
  /** Length in logical blocks (1..65536). */
  nlb: number;
}

export interface CopyOptions {
  fua?: boolean;
  /** Source range descriptor format (CDW12 bits 11:8); 0 unless testing a refusal. */
  desfmt?: number;
}

/** Copy of `nr` source ranges (its data is encodeCopyRanges()) to `sdlba`. */
export function copy(sqe: Buffer, nsid: number, sdlba: U64, nr: number, o: CopyOptions = {}): Buffer {
  if (nr < 1 || nr > 256) throw new RangeError(`Copy range count ${nr} out of 1..256`);
  start(sqe, IoOpc.Copy, nsid);
  writeU64(sqe, IoSqe.slba, sdlba);
  const cdw12 = ((nr - 1) & CopyCmd.NR_MASK) | (((o.desfmt ?? 0) & CopyCmd.DESFMT_MASK) << CopyCmd.DESFMT_SHIFT) | (o.fua ? Cdw12.FUA : 0);
  sqe.writeUInt32LE(cdw12 >>> 0, IoSqe.cdw12);
  return sqe;
}

/** Source range descriptors, format 0 (32 bytes each). */
export function encodeCopyRanges(ranges: readonly CopyRange[]): Buffer {
  const b = Buffer.alloc(ranges.length * CopyCmd.rangeSize);
  ranges.forEach((r, i) => {
    if (r.nlb < 1 || r.nlb > 0x10000) throw new RangeError(`Copy range NLB ${r.nlb} out of 1..65536`);
    const at = i * CopyCmd.rangeSize;
    writeU64(b, at + CopyCmd.rangeSlba, r.slba);
    b.writeUInt16LE(r.nlb - 1, at + CopyCmd.rangeNlb);
  });
  return b;
}
