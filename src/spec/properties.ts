// Controller properties read and written with Fabrics Property Get/Set (NVMe base specification, "Controller Registers").

export const Prop = {
  CAP: 0x00, // 8 bytes
  VS: 0x08,
  INTMS: 0x0c,
  INTMC: 0x10,
  CC: 0x14,
  CSTS: 0x1c,
  NSSR: 0x20,
} as const;

/** CAP fields (64-bit; use bigint or split into two 32-bit halves). */
export const Cap = {
  /** bits 15:0 MQES (0's based) */
  mqesMask: 0xffff,
  /** bit 16 CQR */
  CQR: 1 << 16,
  /** bits 31:24 TO, in 500 ms units */
  toShift: 24,
  /** high dword: bits 35:32 DSTRD -> hi bits 3:0; bit 37 CSS.NVM -> hi bit 5; bit 43 CSS I/O command sets -> hi bit 11 */
  hiCssNvm: 1 << 5,
  hiCssIoSets: 1 << 11,
  /** bits 51:48 MPSMIN -> hi bits 19:16; bits 55:52 MPSMAX -> hi bits 23:20 */
  hiMpsminShift: 16,
  hiMpsmaxShift: 20,
} as const;

export const Cc = {
  EN: 1 << 0,
  cssShift: 4,
  cssMask: 0x7 << 4,
  mpsShift: 7,
  mpsMask: 0xf << 7,
  amsMask: 0x7 << 11,
  shnShift: 14,
  shnMask: 0x3 << 14,
  iosqesShift: 16,
  iosqesMask: 0xf << 16,
  iocqesShift: 20,
  iocqesMask: 0xf << 20,
} as const;

export const Csts = {
  RDY: 1 << 0,
  CFS: 1 << 1,
  shstShift: 2,
  SHST_NORMAL: 0 << 2,
  SHST_OCCURRING: 1 << 2,
  SHST_COMPLETE: 2 << 2,
  shstMask: 3 << 2,
} as const;

/** Version 1.3.0 */
export function nvmeVersion(major: number, minor: number, tertiary = 0): number {
  return (major << 16) | (minor << 8) | tertiary;
}
