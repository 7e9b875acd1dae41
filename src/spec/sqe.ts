// Submission and completion queue entry layouts (NVMe base specification), as carried in capsules.

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
