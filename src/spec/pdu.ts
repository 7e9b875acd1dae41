// NVMe/TCP transport PDU layouts (NVMe/TCP Transport Specification 1.0).
// All multi-byte fields are little endian. Offsets are from the start of the PDU.

export const PduType = {
  ICReq: 0x00,
  ICResp: 0x01,
  H2CTermReq: 0x02,
  C2HTermReq: 0x03,
  CapsuleCmd: 0x04,
  CapsuleResp: 0x05,
  H2CData: 0x06,
  C2HData: 0x07,
  R2T: 0x09,
} as const;

/** Common header (CH), 8 bytes. */
export const CH = {
  pduType: 0,
  flags: 1,
  hlen: 2,
  pdo: 3,
  plen: 4,
  size: 8,
} as const;

export const PduFlags = {
  HDGSTF: 0x01,
  DDGSTF: 0x02,
  /** H2CData / C2HData: last PDU of the data transfer. */
  DATA_LAST: 0x04,
  /** C2HData: the command completed successfully, no CapsuleResp follows. */
  DATA_SUCCESS: 0x08,
} as const;

export const DIGEST_LEN = 4;

/** Header length (HLEN) of each PDU type. */
export const HLEN = {
  [PduType.ICReq]: 128,
  [PduType.ICResp]: 128,
  [PduType.H2CTermReq]: 24,
  [PduType.C2HTermReq]: 24,
  [PduType.CapsuleCmd]: 72,
  [PduType.CapsuleResp]: 24,
  [PduType.H2CData]: 24,
  [PduType.C2HData]: 24,
  [PduType.R2T]: 24,
} as const satisfies Record<number, number>;

/** ICReq / ICResp specific fields. */
export const IC = {
  pfv: 8, // u16, 0
  /** ICReq: HPDA (u8); ICResp: CPDA (u8). PDU data alignment in dwords minus one. */
  pda: 10,
  /** bit0 HDGST_ENABLE, bit1 DDGST_ENABLE */
  digest: 11,
  /** ICReq: MAXR2T (u32, 0's based); ICResp: MAXH2CDATA (u32, bytes). */
  maxr2tOrMaxdata: 12,
} as const;

export const ICDigest = { HDGST: 0x01, DDGST: 0x02 } as const;

/** H2CData, C2HData, R2T specific fields. */
export const DATA = {
  cccid: 8, // u16
  ttag: 10, // u16 (H2CData, R2T)
  /** DATAO (data PDUs) or R2TO (R2T). */
  offset: 12, // u32
  /** DATAL (data PDUs) or R2TL (R2T). */
  length: 16, // u32
} as const;

/** H2CTermReq / C2HTermReq specific fields. */
export const TERM = {
  fes: 8, // u16
  fei: 10, // u32
  /** The header of the PDU in error follows the 24-byte TermReq header. */
  maxErrorData: 128,
} as const;

/** Fatal error status of a TermReq. */
export const FES = {
  INVALID_PDU_HEADER_FIELD: 0x01,
  PDU_SEQUENCE_ERROR: 0x02,
  HEADER_DIGEST_ERROR: 0x03,
  DATA_TRANSFER_OUT_OF_RANGE: 0x04,
  DATA_TRANSFER_LIMIT_EXCEEDED: 0x05,
  UNSUPPORTED_PARAMETER: 0x06,
} as const;

/** CapsuleCmd: the 64-byte SQE starts at offset 8. CapsuleResp: the 16-byte CQE starts at offset 8. */
export const CAPSULE_SQE_OFFSET = 8;
export const CAPSULE_CQE_OFFSET = 8;
