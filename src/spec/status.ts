// Completion status field values (the 15-bit status field, without the phase bit):
// bits 7:0 SC, bits 10:8 SCT, bits 12:11 CRD, bit 13 M, bit 14 DNR.

export const SCT = {
  GENERIC: 0,
  COMMAND_SPECIFIC: 1,
  MEDIA: 2,
  PATH: 3,
} as const;

export const DNR = 0x4000;

export function status(sct: number, sc: number, dnr = false): number {
  return ((sct & 7) << 8) | (sc & 0xff) | (dnr ? DNR : 0);
}

/** Generic command status (SCT 0). */
export const Generic = {
  SUCCESS: 0x00,
  INVALID_OPCODE: 0x01,
  INVALID_FIELD: 0x02,
  CID_CONFLICT: 0x03,
  DATA_TRANSFER_ERROR: 0x04,
  INTERNAL_ERROR: 0x06,
  ABORT_REQUESTED: 0x07,
  ABORTED_SQ_DELETION: 0x08,
  INVALID_NAMESPACE: 0x0b,
  COMMAND_SEQUENCE_ERROR: 0x0c,
  INVALID_SGL_SEGMENT_DESCRIPTOR: 0x0d,
  INVALID_NUMBER_OF_SGL_DESCRIPTORS: 0x0e,
  DATA_SGL_LENGTH_INVALID: 0x0f,
  SGL_DESCRIPTOR_TYPE_INVALID: 0x11,
  SGL_OFFSET_INVALID: 0x16,
  HOST_ID_INCONSISTENT_FORMAT: 0x18,
  KEEP_ALIVE_EXPIRED: 0x19,
  KEEP_ALIVE_INVALID: 0x1a,
  NS_WRITE_PROTECTED: 0x20,
  TRANSIENT_TRANSPORT_ERROR: 0x22,
  LBA_OUT_OF_RANGE: 0x80,
  CAPACITY_EXCEEDED: 0x81,
  NS_NOT_READY: 0x82,
  /** NVM command set: the namespace's reservation blocks the command (Reservation Conflict). */
  RESERVATION_CONFLICT: 0x83,
} as const;

/** Command specific status (SCT 1). */
export const CmdSpecific = {
  INVALID_QUEUE_IDENTIFIER: 0x01,
  INVALID_QUEUE_SIZE: 0x02,
  ABORT_LIMIT_EXCEEDED: 0x03,
  ASYNC_EVENT_LIMIT_EXCEEDED: 0x05,
  INVALID_FIRMWARE_SLOT: 0x06,
  INVALID_LOG_PAGE: 0x09,
  INVALID_FORMAT: 0x0a,
  FEATURE_NOT_SAVEABLE: 0x0d,
  FEATURE_NOT_CHANGEABLE: 0x0e,
  FEATURE_NOT_NS_SPECIFIC: 0x0f,
  /** I/O: Dataset Management / Write Zeroes conflicting attributes */
  CONFLICTING_ATTRIBUTES: 0x80,
  INVALID_PROTECTION_INFO: 0x81,
  WRITE_TO_READ_ONLY_RANGE: 0x82,
  /** I/O: Copy past MSSRL, MCL or MSRC */
  COMMAND_SIZE_LIMIT_EXCEEDED: 0x83,
  /** Fabrics Connect */
  CONNECT_INCOMPATIBLE_FORMAT: 0x80,
  CONNECT_CONTROLLER_BUSY: 0x81,
  CONNECT_INVALID_PARAMETERS: 0x82,
  CONNECT_RESTART_DISCOVERY: 0x83,
  CONNECT_INVALID_HOST: 0x84,
} as const;

/** Path related status (SCT 3): Asymmetric Namespace Access states of the path a command came by. */
export const PathStatus = {
  INTERNAL_PATH_ERROR: 0x00,
  ANA_PERSISTENT_LOSS: 0x01,
  ANA_INACCESSIBLE: 0x02,
  ANA_TRANSITION: 0x03,
} as const;

/** Media and data integrity errors (SCT 2). */
export const Media = {
  WRITE_FAULT: 0x80,
  UNRECOVERED_READ_ERROR: 0x81,
  COMPARE_FAILURE: 0x85,
  ACCESS_DENIED: 0x86,
} as const;

export const S_SUCCESS = 0;
export const S_INVALID_OPCODE = status(SCT.GENERIC, Generic.INVALID_OPCODE, true);
export const S_INVALID_FIELD = status(SCT.GENERIC, Generic.INVALID_FIELD, true);
export const S_INTERNAL_ERROR = status(SCT.GENERIC, Generic.INTERNAL_ERROR);
export const S_INVALID_NS = status(SCT.GENERIC, Generic.INVALID_NAMESPACE, true);
export const S_SEQUENCE_ERROR = status(SCT.GENERIC, Generic.COMMAND_SEQUENCE_ERROR, true);
export const S_LBA_OUT_OF_RANGE = status(SCT.GENERIC, Generic.LBA_OUT_OF_RANGE, true);
export const S_SGL_LENGTH_INVALID = status(SCT.GENERIC, Generic.DATA_SGL_LENGTH_INVALID, true);
export const S_SGL_TYPE_INVALID = status(SCT.GENERIC, Generic.SGL_DESCRIPTOR_TYPE_INVALID, true);
export const S_SGL_OFFSET_INVALID = status(SCT.GENERIC, Generic.SGL_OFFSET_INVALID, true);
export const S_WRITE_PROTECTED = status(SCT.GENERIC, Generic.NS_WRITE_PROTECTED, true);
export const S_ABORT_REQUESTED = status(SCT.GENERIC, Generic.ABORT_REQUESTED);
export const S_SQ_DELETION = status(SCT.GENERIC, Generic.ABORTED_SQ_DELETION);
export const S_COMPARE_FAILURE = status(SCT.MEDIA, Media.COMPARE_FAILURE, true);
export const S_CONNECT_INVALID_PARAM = status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_PARAMETERS, true);
export const S_CONNECT_INVALID_HOST = status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_HOST, true);
export const S_CONNECT_BUSY = status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_CONTROLLER_BUSY);
export const S_INVALID_LOG_PAGE = status(SCT.COMMAND_SPECIFIC, CmdSpecific.INVALID_LOG_PAGE, true);
export const S_INVALID_QID = status(SCT.COMMAND_SPECIFIC, CmdSpecific.INVALID_QUEUE_IDENTIFIER, true);
export const S_INVALID_QSIZE = status(SCT.COMMAND_SPECIFIC, CmdSpecific.INVALID_QUEUE_SIZE, true);
export const S_AER_LIMIT = status(SCT.COMMAND_SPECIFIC, CmdSpecific.ASYNC_EVENT_LIMIT_EXCEEDED, true);
export const S_FEATURE_NOT_SAVEABLE = status(SCT.COMMAND_SPECIFIC, CmdSpecific.FEATURE_NOT_SAVEABLE, true);
export const S_FEATURE_NOT_CHANGEABLE = status(SCT.COMMAND_SPECIFIC, CmdSpecific.FEATURE_NOT_CHANGEABLE, true);
export const S_CMD_SIZE_LIMIT = status(SCT.COMMAND_SPECIFIC, CmdSpecific.COMMAND_SIZE_LIMIT_EXCEEDED, true);
export const S_INVALID_FW_SLOT = status(SCT.COMMAND_SPECIFIC, CmdSpecific.INVALID_FIRMWARE_SLOT, true);

export function statusName(s: number): string {
  const sct = (s >> 8) & 7;
  const sc = s & 0xff;
  const tables: Record<number, Record<string, number>> = { 0: Generic, 1: CmdSpecific, 2: Media, 3: PathStatus };
  const table = tables[sct];
  if (table) {
    // Command-specific codes are reused by different commands (0x82: Write To Read Only Range for
    // I/O, Connect Invalid Parameters for Connect): name every meaning.
    const names = Object.entries(table)
      .filter(([, v]) => v === sc)
      .map(([k]) => k);
    if (names.length > 0) return `${names.join('/')}(sct=${sct},sc=0x${sc.toString(16)})`;
  }
  return `sct=${sct},sc=0x${sc.toString(16)}`;
}
export const S_ANA_PERSISTENT_LOSS = status(SCT.PATH, PathStatus.ANA_PERSISTENT_LOSS);
export const S_ANA_INACCESSIBLE = status(SCT.PATH, PathStatus.ANA_INACCESSIBLE);
export const S_ANA_TRANSITION = status(SCT.PATH, PathStatus.ANA_TRANSITION);
export const S_RESERVATION_CONFLICT = status(SCT.GENERIC, Generic.RESERVATION_CONFLICT, true);
export const S_HOST_ID_INCONSISTENT = status(SCT.GENERIC, Generic.HOST_ID_INCONSISTENT_FORMAT, true);
