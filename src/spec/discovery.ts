// Discovery log page (NVMe over Fabrics).

export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

export const DiscLog = {
  headerSize: 1024,
  genctr: 0, // u64
  numrec: 8, // u64
  recfmt: 16, // u16
  entrySize: 1024,
} as const;

export const DiscEntry = {
  trtype: 0,
  adrfam: 1,
  subtype: 2,
  treq: 3,
  portid: 4, // u16
  cntlid: 6, // u16
  asqsz: 8, // u16
  eflags: 10, // u16
  trsvcid: 32, // 32 ASCII
  subnqn: 256, // 256 ASCII
  traddr: 512, // 256 ASCII
  tsas: 768, // 256: TCP sectype at byte 0
} as const;

export const TrType = { RDMA: 1, FC: 2, TCP: 3, LOOP: 254 } as const;
export const AdrFam = { IPV4: 1, IPV6: 2 } as const;
export const SubType = { REFERRAL: 1, NVME: 2, CURRENT_DISCOVERY: 3 } as const;
export const Treq = {
  NOT_SPECIFIED: 0,
  REQUIRED: 1,
  NOT_REQUIRED: 2,
  DISABLE_SQFLOW: 1 << 2,
} as const;
/** TCP transport specific address subtype (TSAS byte 0): security type. */
export const TcpSecType = { NONE: 0, TLS12: 1, TLS13: 2 } as const;
export const EFlags = {
  EPCSD: 1 << 0, // explicit persistent connection support for discovery
  DUPRETINFO: 1 << 1,
  NCC: 1 << 2,
} as const;
