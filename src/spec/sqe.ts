// Submission and completion queue entry layouts (NVMe base specification), as carried in capsules,
// and named accessors for the SQE fields the controller reads.
import { Cdw12, FabricsSqe, IoSqe } from './opcodes.js';

export const SQE_SIZE = 64;
export const CQE_SIZE = 16;

/** Offsets within the 64-byte SQE. */
export const SQE = {
  opcode: 0,
  flags: 1, // bits 7:6 PSDT (2 = SGL), bits 1:0 FUSE
  cid: 2, // u16
  nsid: 4, // u32
  /** Fabrics commands: FCTYPE at byte 4. */
  fctype: 4,
  cdw2: 8,
  cdw3: 12,
  mptr: 16, // u64
  dptr: 24, // 16 bytes: SGL descriptor 1
  cdw10: 40,
  cdw11: 44,
  cdw12: 48,
  cdw13: 52,
  cdw14: 56,
  cdw15: 60,
} as const;

/** SQE byte 1 (flags): PSDT in bits 7:6. Fabrics commands use SGLs; 01b = SGL, MPTR the address of a contiguous buffer. */
export const Psdt = {
  SGL_MPTR_CONTIG: 0x40,
  SGL_MPTR_SGL: 0x80,
  mask: 0xc0,
} as const;

/** SQE byte 1 (flags) bits 1:0: FUSE, a command's place in a fused operation (CDW0 bits 9:8). */
export const Fuse = {
  NONE: 0,
  FIRST: 1,
  SECOND: 2,
  /** 11b is reserved. */
  RESERVED: 3,
  mask: 0x03,
} as const;

/** SGL descriptor within DPTR (offsets from SQE.dptr). */
export const SGL = {
  address: 0, // u64
  length: 8, // u32
  /** byte 15: type (bits 7:4) and subtype (bits 3:0) */
  identifier: 15,
} as const;

/** SGL identifier bytes used by NVMe/TCP. */
export const SglId = {
  /** Data Block, offset subtype: data is in the capsule. */
  IN_CAPSULE: 0x01,
  /** Transport SGL Data Block, transport-specific subtype: data moves by R2T/H2CData or C2HData. */
  TRANSPORT: 0x5a,
} as const;

/** Offsets within the 16-byte CQE. */
export const CQE = {
  dw0: 0,
  dw1: 4,
  sqhd: 8, // u16
  sqid: 10, // u16
  cid: 12, // u16
  status: 14, // u16: bit0 phase, bits 15:1 status field
} as const;

// --- Field accessors ------------------------------------------------------------------------------
// Plain reads of the 64-byte SQE by field name (no allocation, except sqeSlbaBig for error paths).

/**
 * Little-endian u32 at `at` (0..60) of the 64-byte SQE, without readUInt32LE's argument checks (the
 * per-command fields are read several times per I/O).
 */
export function sqeU32(sqe: Buffer, at: number): number {
  return (sqe[at]! | (sqe[at + 1]! << 8) | (sqe[at + 2]! << 16)) + sqe[at + 3]! * 0x1000000;
}
const u32 = sqeU32;

/** CDW0 bits 7:0: opcode. */
export function sqeOpcode(sqe: Buffer): number {
  return sqe[SQE.opcode]!;
}

/** CDW0 bits 31:16: command identifier. */
export function sqeCid(sqe: Buffer): number {
  return sqe[SQE.cid]! | (sqe[SQE.cid + 1]! << 8);
}

/** Namespace identifier. */
export function sqeNsid(sqe: Buffer): number {
  return u32(sqe, SQE.nsid);
}

export function sqeCdw10(sqe: Buffer): number {
  return sqe.readUInt32LE(SQE.cdw10);
}
export function sqeCdw11(sqe: Buffer): number {
  return sqe.readUInt32LE(SQE.cdw11);
}
export function sqeCdw12(sqe: Buffer): number {
  return sqe.readUInt32LE(SQE.cdw12);
}
export function sqeCdw13(sqe: Buffer): number {
  return sqe.readUInt32LE(SQE.cdw13);
}
export function sqeCdw14(sqe: Buffer): number {
  return sqe.readUInt32LE(SQE.cdw14);
}
export function sqeCdw15(sqe: Buffer): number {
  return sqe.readUInt32LE(SQE.cdw15);
}

/**
 * NVM commands: SLBA (CDW10-11) as a Number, without a BigInt. Values past 2^53 come back as
 * Infinity, which every range check rejects.
 */
export function sqeSlba(sqe: Buffer): number {
  const hi = u32(sqe, IoSqe.slba + 4);
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + u32(sqe, IoSqe.slba);
}

/** NVM commands: SLBA exactly (allocates a BigInt: error paths and logs only). */
export function sqeSlbaBig(sqe: Buffer): bigint {
  return sqe.readBigUInt64LE(IoSqe.slba);
}

/** NVM commands: the number of logical blocks (NLB + 1, since NLB is 0's based). */
export function sqeNlb(sqe: Buffer): number {
  return (u32(sqe, IoSqe.cdw12) & Cdw12.NLB_MASK) + 1;
}

/** NVM commands: Force Unit Access (CDW12 bit 30). */
export function sqeFua(sqe: Buffer): boolean {
  return (u32(sqe, IoSqe.cdw12) & Cdw12.FUA) !== 0;
}

/** Fabrics commands (opcode 7Fh): FCTYPE. */
export function sqeFctype(sqe: Buffer): number {
  return sqe[SQE.fctype]!;
}

/** Connect: record format (RECFMT). */
export function connectRecfmt(sqe: Buffer): number {
  return sqe.readUInt16LE(FabricsSqe.recfmt);
}
/** Connect: queue id. */
export function connectQid(sqe: Buffer): number {
  return sqe.readUInt16LE(FabricsSqe.qid);
}
/** Connect: SQSIZE, 0's based. */
export function connectSqsize(sqe: Buffer): number {
  return sqe.readUInt16LE(FabricsSqe.sqsize);
}
/** Connect: connect attributes (CATTR). */
export function connectCattr(sqe: Buffer): number {
  return sqe[FabricsSqe.cattr]!;
}
/** Connect: keep alive timeout, milliseconds. */
export function connectKato(sqe: Buffer): number {
  return sqe.readUInt32LE(FabricsSqe.kato);
}
/** Property Get/Set: ATTRIB size is 8 bytes (bits 2:0 = 1). */
export function propertySize8(sqe: Buffer): boolean {
  return (sqe[FabricsSqe.propAttrib]! & 7) === 1;
}
/** Property Get/Set: OFST. */
export function propertyOffset(sqe: Buffer): number {
  return sqe.readUInt32LE(FabricsSqe.propOffset);
}
/** Property Set: the low dword of VALUE (every settable property is 4 bytes). */
export function propertyValue(sqe: Buffer): number {
  return sqe.readUInt32LE(FabricsSqe.propValue);
}
