// Reservations (NVMe base specification, Reservations; NVM command set: Reservation Register,
// Report, Acquire, Release): command fields, reservation types, data layouts, notification log.

/** Reservation types (RTYPE). */
export const RType = {
  NONE: 0,
  WRITE_EXCLUSIVE: 1,
  EXCLUSIVE_ACCESS: 2,
  WRITE_EXCLUSIVE_REG_ONLY: 3,
  EXCLUSIVE_ACCESS_REG_ONLY: 4,
  WRITE_EXCLUSIVE_ALL_REGS: 5,
  EXCLUSIVE_ACCESS_ALL_REGS: 6,
} as const;

/** An all-registrants type: every registrant is a reservation holder. */
export function allRegistrants(rtype: number): boolean {
  return rtype === RType.WRITE_EXCLUSIVE_ALL_REGS || rtype === RType.EXCLUSIVE_ACCESS_ALL_REGS;
}

/** A registrants-only or all-registrants type (release notices go to the other registrants). */
export function registrantTypes(rtype: number): boolean {
  return rtype >= RType.WRITE_EXCLUSIVE_REG_ONLY && rtype <= RType.EXCLUSIVE_ACCESS_ALL_REGS;
}

/** cdw10 of Register / Acquire / Release: action bits 2:0, IEKEY bit 3, RTYPE 15:8, CPTPL 31:30. */
export const ResvCdw10 = {
  ACTION_MASK: 0x7,
  IEKEY: 1 << 3,
  RTYPE_SHIFT: 8,
  CPTPL_SHIFT: 30,
} as const;

export const RegisterAction = { REGISTER: 0, UNREGISTER: 1, REPLACE: 2 } as const;
export const AcquireAction = { ACQUIRE: 0, PREEMPT: 1, PREEMPT_AND_ABORT: 2 } as const;
export const ReleaseAction = { RELEASE: 0, CLEAR: 1 } as const;
/** Register CPTPL: 00b no change, 01b reserved, 10b PTPL off, 11b PTPL on. */
export const Cptpl = { NO_CHANGE: 0, RESERVED: 1, CLEAR: 2, SET: 3 } as const;

/** Data of Register (CRKEY, NRKEY), Acquire (CRKEY, PRKEY), Release (CRKEY). */
export const RESV_REGISTER_DATA = 16;
export const RESV_ACQUIRE_DATA = 16;
export const RESV_RELEASE_DATA = 8;

/**
 * Reservation Report: cdw10 NUMD (0's based dwords), cdw11 bit 0 EDS. Header: GEN u32 @0, RTYPE u8 @4,
 * REGCTL u16 @5, PTPLS u8 @9; 24 bytes (regular) or 64 (extended). Registrant entries: regular 24
 * bytes (CNTLID u16 @0, RCSTS @2, HOSTID 64-bit @8, RKEY @16); extended 64 bytes (CNTLID @0, RCSTS
 * @2, RKEY @8, HOSTID 128-bit @16).
 */
export const Report = {
  EDS: 1,
  gen: 0,
  rtype: 4,
  regctl: 5,
  ptpls: 9,
  headerSize: 24,
  extHeaderSize: 64,
  extEntrySize: 64,
  eCntlid: 0,
  eRcsts: 2,
  eRkey: 8,
  eHostid: 16,
} as const;

/** CNTLID of a registrant in the report: the dynamic controller model has no fixed one. */
export const CNTLID_DYNAMIC = 0xffff;

/**
 * Reservation Notification log page (LID 80h), 64 bytes: log page count u64 @0, type @8, number of
 * available log pages @9, NSID u32 @12.
 */
export const NoticeLog = { size: 64, count: 0, type: 8, available: 9, nsid: 12 } as const;
export const NoticeType = { EMPTY: 0, REGISTRATION_PREEMPTED: 1, RESERVATION_RELEASED: 2, RESERVATION_PREEMPTED: 3 } as const;
/** Reservation Notification Mask feature (82h) cdw11 bits: REGPRE 1, RESREL 2, RESPRE 3 (bit = notice type). */
export const NOTICE_MASK_ALL = (1 << 1) | (1 << 2) | (1 << 3);

/** Identify Namespace RESCAP: PTPL capable bit 0, one bit per type 1..6 (bits 1..6), IEKEY bit 7. */
export const Rescap = { PTPL: 1 << 0, TYPES: 0x7e, IEKEY: 1 << 7 } as const;

/** Asynchronous event type 6h (I/O command specific), info 0: reservation log page available. */
export const AEN_TYPE_IO_SPECIFIC = 6;
export const AEN_RESV_LOG_AVAILABLE = 0;
