// Log page identifiers and layouts, and feature identifiers.

export const LogId = {
  SupportedLogPages: 0x00,
  ErrorInformation: 0x01,
  SmartHealth: 0x02,
  FirmwareSlot: 0x03,
  ChangedNsList: 0x04,
  CommandsSupportedEffects: 0x05,
  DeviceSelfTest: 0x06,
  Ana: 0x0c,
  Discovery: 0x70,
  ReservationNotification: 0x80,
  Sanitize: 0x81,
} as const;

/** Get Log Page cdw10: LID 7:0, LSP 14:8, RAE 15, NUMDL 31:16; cdw11: NUMDU 15:0, LSI 31:16; cdw12/13 offset. */
export const GetLogPage = {
  RAE: 1 << 15,
} as const;

export const ERROR_LOG_ENTRY_SIZE = 64;

/** Get Log Page LSP bit for LID 0Ch: Return Groups Only (descriptors without their NSID lists). */
export const ANA_LSP_RGO = 1 << 8;

/**
 * Asymmetric Namespace Access log (LID 0Ch): a 16-byte header (change count u64, number of group
 * descriptors u16), then per group a 32-byte descriptor (group id u32, number of NSIDs u32, change
 * count u64, state u8) followed by its NSIDs (u32 each).
 */
export const AnaLog = {
  headerSize: 16,
  chgcnt: 0,
  ngrps: 8,
  descSize: 32,
  descGrpid: 0,
  descNnsids: 4,
  descChgcnt: 8,
  descState: 16,
} as const;

/** ANAGRPMAX and NANAGRPID of this target: ANA group ids are 1 to this. */
export const ANA_GROUP_MAX = 128;

/** ANA states (the descriptor's state byte, bits 3:0). */
export const AnaStateCode = {
  OPTIMIZED: 0x01,
  NON_OPTIMIZED: 0x02,
  INACCESSIBLE: 0x03,
  PERSISTENT_LOSS: 0x04,
  CHANGE: 0x0f,
} as const;
export const SMART_LOG_SIZE = 512;
export const FW_SLOT_LOG_SIZE = 512;
export const CHANGED_NS_LOG_SIZE = 4096;
export const EFFECTS_LOG_SIZE = 4096;

/** SMART / Health log fields. */
export const Smart = {
  criticalWarning: 0,
  temperature: 1, // u16 Kelvin
  availSpare: 3,
  spareThresh: 4,
  percentUsed: 5,
  dataUnitsRead: 32, // u128, units of 1000 512-byte blocks
  dataUnitsWritten: 48,
  hostReads: 64,
  hostWrites: 80,
  ctrlBusyTime: 96,
  powerCycles: 112,
  powerOnHours: 128,
  unsafeShutdowns: 144,
  mediaErrors: 160,
  numErrLogEntries: 176,
} as const;

/** Commands Supported and Effects: 256 admin u32 entries then 256 I/O entries. */
export const Effects = {
  CSUPP: 1 << 0,
  LBCC: 1 << 1,
  NCC: 1 << 2,
  NIC: 1 << 3,
  CCC: 1 << 4,
  ioOffset: 1024,
} as const;

export const FeatureId = {
  Arbitration: 0x01,
  PowerManagement: 0x02,
  LbaRangeType: 0x03,
  TemperatureThreshold: 0x04,
  ErrorRecovery: 0x05,
  VolatileWriteCache: 0x06,
  NumberOfQueues: 0x07,
  InterruptCoalescing: 0x08,
  InterruptVectorConfig: 0x09,
  WriteAtomicity: 0x0a,
  AsyncEventConfig: 0x0b,
  AutonomousPowerState: 0x0c,
  HostMemoryBuffer: 0x0d,
  Timestamp: 0x0e,
  KeepAliveTimer: 0x0f,
  HostControlledThermal: 0x10,
  NonOpPowerState: 0x11,
  HostIdentifier: 0x81,
  ReservationNotificationMask: 0x82,
  ReservationPersistence: 0x83,
  NsWriteProtect: 0x84,
} as const;

/** Get Features cdw10: FID 7:0, SEL 10:8 (0 current, 1 default, 2 saved, 3 supported capabilities). Set: bit 31 SV. */
export const FeatureSel = { CURRENT: 0, DEFAULT: 1, SAVED: 2, SUPPORTED: 3 } as const;

/** Asynchronous event completion dword 0: type 2:0, info 15:8, log page 23:16. */
export const AsyncEvent = {
  TYPE_ERROR: 0,
  TYPE_SMART: 1,
  TYPE_NOTICE: 2,
  NOTICE_NS_ATTR_CHANGED: 0x00,
  NOTICE_FW_ACTIVATION: 0x01,
  NOTICE_ANA_CHANGE: 0x03,
  NOTICE_DISC_LOG_CHANGE: 0xf0,
} as const;

/** Async Event Configuration feature bits (cdw11). */
export const AecBits = {
  NS_ATTR: 1 << 8,
  FW_ACTIVATION: 1 << 9,
  ANA_CHANGE: 1 << 11,
  DISC_LOG_CHANGE: 1 << 31,
} as const;
