// Identify data structures (NVMe base specification and NVM command set specification).

export const IDENTIFY_SIZE = 4096;

export const Cns = {
  Namespace: 0x00,
  Controller: 0x01,
  ActiveNsList: 0x02,
  NsDescriptorList: 0x03,
  NvmSetList: 0x04,
  CsNamespace: 0x05,
  CsController: 0x06,
  CsActiveNsList: 0x07,
  CsIndependentNamespace: 0x08,
  AllocatedNsList: 0x10,
  AllocatedNamespace: 0x11,
  NsAttachedCtrlList: 0x12,
  CtrlList: 0x13,
  CommandSetList: 0x1c,
} as const;

/** Command set identifiers (CSI). */
export const Csi = { NVM: 0x00, KV: 0x01, ZNS: 0x02 } as const;

/** Identify Controller field offsets. */
export const IdCtrl = {
  vid: 0, // u16
  ssvid: 2, // u16
  sn: 4, // 20 ASCII
  mn: 24, // 40 ASCII
  fr: 64, // 8 ASCII
  rab: 72,
  ieee: 73, // 3 bytes
  cmic: 76,
  mdts: 77,
  cntlid: 78, // u16
  ver: 80, // u32
  rtd3r: 84,
  rtd3e: 88,
  oaes: 92, // u32
  ctratt: 96, // u32
  cntrltype: 111,
  fguid: 112, // 16
  crdt1: 128,
  nvmsr: 253,
  vwci: 254,
  mec: 255,
  oacs: 256, // u16
  acl: 258,
  aerl: 259,
  frmw: 260,
  lpa: 261,
  elpe: 262,
  npss: 263,
  avscc: 264,
  apsta: 265,
  wctemp: 266, // u16
  cctemp: 268, // u16
  tnvmcap: 280, // 16
  kas: 320, // u16
  anatt: 342,
  anacap: 343,
  anagrpmax: 344, // u32
  nanagrpid: 348, // u32
  sqes: 512,
  cqes: 513,
  maxcmd: 514, // u16
  nn: 516, // u32
  oncs: 520, // u16
  fuses: 522, // u16
  fna: 524,
  vwc: 525,
  awun: 526, // u16
  awupf: 528, // u16
  icsvscc: 530,
  nwpc: 531,
  acwu: 532, // u16
  /** Optional copy formats supported: bit 0, source range descriptor format 0. */
  ocfs: 534, // u16
  sgls: 536, // u32
  mnan: 540, // u32
  subnqn: 768, // 256
  ioccsz: 1792, // u32, 16-byte units
  iorcsz: 1796, // u32
  icdoff: 1800, // u16
  fcatt: 1802,
  msdbd: 1803,
  ofcs: 1804, // u16
  dctype: 1806,
  psd0: 2048, // 32 bytes per power state
} as const;

/** OACS / ONCS / LPA / OAES bits used here. */
export const Oncs = {
  COMPARE: 1 << 0,
  WRITE_UNCORRECTABLE: 1 << 1,
  DSM: 1 << 2,
  WRITE_ZEROES: 1 << 3,
  SAVE_SELECT: 1 << 4,
  RESERVATIONS: 1 << 5,
  TIMESTAMP: 1 << 6,
  VERIFY: 1 << 7,
  COPY: 1 << 8,
} as const;
export const Lpa = { SMART_PER_NS: 1 << 0, CMD_EFFECTS: 1 << 1, EXTENDED_DATA: 1 << 2, TELEMETRY: 1 << 3 } as const;
export const Oaes = { NS_ATTR_CHANGED: 1 << 8, FW_ACTIVATION: 1 << 9, ANA_CHANGE: 1 << 11, DISC_LOG_CHANGE: 1 << 31 } as const;
/** CMIC: multi-port, multi-controller, ANA reporting. */
export const Cmic = { MULTI_PORT: 1 << 0, MULTI_CTRL: 1 << 1, ANA_REPORTING: 1 << 3 } as const;
/** ANACAP: states reported (bits 4:0); bit 6: a namespace's ANAGRPID does not change while attached. */
export const AnaCap = {
  OPTIMIZED: 1 << 0,
  NON_OPTIMIZED: 1 << 1,
  INACCESSIBLE: 1 << 2,
  PERSISTENT_LOSS: 1 << 3,
  CHANGE: 1 << 4,
  GRPID_STATIC: 1 << 6,
} as const;
export const CtrAtt = { HOST_ID_128: 1 << 0 } as const;

/** Identify Namespace (NVM) field offsets. */
export const IdNs = {
  nsze: 0, // u64
  ncap: 8, // u64
  nuse: 16, // u64
  nsfeat: 24,
  nlbaf: 25,
  flbas: 26,
  mc: 27,
  dpc: 28,
  dps: 29,
  nmic: 30,
  rescap: 31,
  fpi: 32,
  dlfeat: 33,
  nawun: 34,
  nawupf: 36,
  nacwu: 38,
  nabsn: 40,
  nabo: 42,
  nabspf: 44,
  noiob: 46,
  nvmcap: 48, // 16
  npwg: 64,
  npwa: 66,
  npdg: 68,
  npda: 70,
  nows: 72,
  /** Copy limits: maximum single source range length (blocks), maximum copy length (blocks), maximum source range count (0's based). */
  mssrl: 74, // u16
  mcl: 76, // u32
  msrc: 80,
  anagrpid: 92,
  nsattr: 99,
  nvmsetid: 100,
  endgid: 102,
  nguid: 104, // 16
  eui64: 120, // 8
  lbaf0: 128, // 4 bytes each: ms u16, lbads u8, rp u8
} as const;

/** Namespace identification descriptor types. */
export const Nidt = {
  EUI64: 0x01,
  NGUID: 0x02,
  UUID: 0x03,
  CSI: 0x04,
} as const;
