// Command opcodes: admin, NVM I/O, and fabrics (NVMe base and NVMe over Fabrics specifications).

export const AdminOpc = {
  DeleteIoSq: 0x00,
  CreateIoSq: 0x01,
  GetLogPage: 0x02,
  DeleteIoCq: 0x04,
  CreateIoCq: 0x05,
  Identify: 0x06,
  Abort: 0x08,
  SetFeatures: 0x09,
  GetFeatures: 0x0a,
  AsyncEventRequest: 0x0c,
  NamespaceManagement: 0x0d,
  FirmwareCommit: 0x10,
  FirmwareDownload: 0x11,
  DeviceSelfTest: 0x14,
  NamespaceAttachment: 0x15,
  KeepAlive: 0x18,
  DirectiveSend: 0x19,
  DirectiveReceive: 0x1a,
  VirtualizationManagement: 0x1c,
  DoorbellBufferConfig: 0x7c,
  Fabrics: 0x7f,
  FormatNvm: 0x80,
  SecuritySend: 0x81,
  SecurityReceive: 0x82,
  Sanitize: 0x84,
  GetLbaStatus: 0x86,
} as const;

export const IoOpc = {
  Flush: 0x00,
  Write: 0x01,
  Read: 0x02,
  WriteUncorrectable: 0x04,
  Compare: 0x05,
  WriteZeroes: 0x08,
  DatasetManagement: 0x09,
  Verify: 0x0c,
  ReservationRegister: 0x0d,
  ReservationReport: 0x0e,
  ReservationAcquire: 0x11,
  ReservationRelease: 0x15,
  Copy: 0x19,
} as const;

export const FabricsType = {
  PropertySet: 0x00,
  Connect: 0x01,
  PropertyGet: 0x04,
  AuthenticationSend: 0x05,
  AuthenticationReceive: 0x06,
  Disconnect: 0x08,
} as const;

/** Fabrics command fields (offsets within the SQE). */
export const FabricsSqe = {
  fctype: 4,
  /** Connect */
  recfmt: 40, // u16
  qid: 42, // u16
  sqsize: 44, // u16, 0's based
  cattr: 46, // u8
  kato: 48, // u32, milliseconds
  /** Property Get/Set: ATTRIB (bits 2:0 size: 0 = 4 bytes, 1 = 8 bytes) */
  propAttrib: 40,
  propOffset: 44, // u32
  propValue: 48, // u64 (Set)
} as const;

/** The 1024-byte Connect command data. */
export const ConnectData = {
  size: 1024,
  hostid: 0, // 16 bytes
  cntlid: 16, // u16
  subnqn: 256, // 256 bytes, NUL terminated
  hostnqn: 512, // 256 bytes
} as const;

/** Connect CATTR bits. */
export const ConnectAttr = {
  /** Disable SQ flow control */
  DISABLE_SQFLOW: 0x04,
} as const;

/** I/O command fields. */
export const IoSqe = {
  slba: 40, // u64: cdw10-11
  /** cdw12: bits 15:0 NLB (0's based), bit 30 FUA, bit 31 LR, bits 25:24/.. DEAC for write zeroes (bit 25) */
  cdw12: 48,
} as const;

export const Cdw12 = {
  /** bits 15:0: number of logical blocks, 0's based */
  NLB_MASK: 0xffff,
  FUA: 1 << 30,
  LR: 1 << 31,
  /** Write Zeroes: deallocate */
  DEAC: 1 << 25,
} as const;

/** Dataset Management: cdw10 bits 7:0 NR (0's based), cdw11 attribute bits. */
export const Dsm = {
  rangeSize: 16,
  /** Range: context attributes u32 @0, length in LBAs u32 @4, starting LBA u64 @8 */
  rangeLength: 4,
  rangeSlba: 8,
  ATTR_DEALLOCATE: 1 << 2,
  maxRanges: 256,
} as const;

/**
 * Copy: CDW10-11 SDLBA, CDW12 bits 7:0 NR (0's based), bits 11:8 descriptor format, bit 30 FUA.
 * Source range descriptor format 0 (32 bytes): SLBA u64 @8, NLB u16 @16 (0's based).
 */
export const CopyCmd = {
  NR_MASK: 0xff,
  DESFMT_SHIFT: 8,
  DESFMT_MASK: 0xf,
  rangeSize: 32,
  rangeSlba: 8,
  rangeNlb: 16,
} as const;
