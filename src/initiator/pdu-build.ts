// Host-side NVMe/TCP PDU builders and the parsers for what a controller sends back.
//
// Written independently of the target's writer on purpose: the two sides meet only on the wire,
// so a field one of them gets wrong shows up as a test failure instead of cancelling out.
// Headers are built into caller-provided buffers where the hot path needs it (no allocation per
// command); the rarer PDUs (ICReq, H2CTermReq) allocate.
import { CAPSULE_CQE_OFFSET, CAPSULE_SQE_OFFSET, CH, DATA, DIGEST_LEN, HLEN, IC, ICDigest, PduFlags, PduType, TERM } from '../spec/pdu.js';
import { CQE, SQE_SIZE } from '../spec/sqe.js';
import { crc32c } from '../native/crc32c.js';

/** What ICReq/ICResp settled for one connection. */
export interface LinkParams {
  hdgst: boolean;
  ddgst: boolean;
  /** Controller PDU data alignment (0's based, in dwords): host-sent data starts at a multiple of (cpda+1)*4. */
  cpda: number;
}

export const CAPSULE_CMD_HLEN = HLEN[PduType.CapsuleCmd];
export const H2C_DATA_HLEN = HLEN[PduType.H2CData];
/** Largest CapsuleCmd header area: CH + SQE, header digest, and padding up to CPDA 31 (128 bytes). */
export const MAX_CAPSULE_HEADER = 256;

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Where data starts in a PDU with the given header length: after the header digest, aligned to CPDA. */
export function dataOffset(hlen: number, p: LinkParams): number {
  return alignUp(hlen + (p.hdgst ? DIGEST_LEN : 0), (p.cpda + 1) * 4);
}

function common(buf: Buffer, type: number, flags: number, hlen: number, pdo: number, plen: number): void {
  buf[CH.pduType] = type;
  buf[CH.flags] = flags;
  buf[CH.hlen] = hlen;
  buf[CH.pdo] = pdo;
  buf.writeUInt32LE(plen, CH.plen);
}

/** ICReq (128 bytes): PFV 0, HPDA, requested digests, MAXR2T (0's based). */
export function buildICReq(o: { hpda?: number; hdgst: boolean; ddgst: boolean; maxr2t?: number }): Buffer {
  const hlen = HLEN[PduType.ICReq];
  const b = Buffer.alloc(hlen);
  common(b, PduType.ICReq, 0, hlen, 0, hlen);
  b.writeUInt16LE(0, IC.pfv);
  b[IC.pda] = o.hpda ?? 0;
  b[IC.digest] = (o.hdgst ? ICDigest.HDGST : 0) | (o.ddgst ? ICDigest.DDGST : 0);
  b.writeUInt32LE(o.maxr2t ?? 0, IC.maxr2tOrMaxdata);
  return b;
}

/**
 * Finishes a CapsuleCmd header in `hdr` (whose bytes 8..71 already hold the SQE) for `dataLen`
 * bytes of in-capsule data. Returns the number of header bytes to send (CH + SQE, header digest,
 * padding up to PDO). The caller sends the data after it and then, when `p.ddgst` and dataLen > 0,
 * the data digest.
 */
export function finishCapsuleCmd(hdr: Buffer, dataLen: number, p: LinkParams): number {
  const hlen = CAPSULE_CMD_HLEN;
  const hdrEnd = hlen + (p.hdgst ? DIGEST_LEN : 0);
  let pdo = 0;
  let plen = hdrEnd;
  let flags = p.hdgst ? PduFlags.HDGSTF : 0;
  let total = hdrEnd;
  if (dataLen > 0) {
    pdo = dataOffset(hlen, p);
    plen = pdo + dataLen + (p.ddgst ? DIGEST_LEN : 0);
    if (p.ddgst) flags |= PduFlags.DDGSTF;
    total = pdo;
  }
  common(hdr, PduType.CapsuleCmd, flags, hlen, pdo, plen);
  if (p.hdgst) hdr.writeUInt32LE(crc32c(hdr, 0, hlen), hlen);
  if (total > hdrEnd) hdr.fill(0, hdrEnd, total);
  return total;
}

/** A whole CapsuleCmd PDU in one new buffer (tests, raw mode). */
export function buildCapsuleCmd(sqe: Uint8Array, data: Uint8Array | null, p: LinkParams): Buffer {
  const hdr = Buffer.alloc(MAX_CAPSULE_HEADER);
  hdr.set(sqe.subarray(0, SQE_SIZE), CAPSULE_SQE_OFFSET);
  const n = finishCapsuleCmd(hdr, data?.length ?? 0, p);
  const parts: Uint8Array[] = [hdr.subarray(0, n)];
  if (data && data.length > 0) {
    parts.push(data);
    if (p.ddgst) parts.push(digestBytes(data));
  }
  return Buffer.concat(parts);
}

/**
 * H2CData header for DATAL bytes at DATAO of the command `cccid`, answering the R2T `ttag`.
 * Returns a new buffer holding CH + PSH, header digest and padding up to PDO.
 */
export function buildH2CDataHeader(cccid: number, ttag: number, datao: number, datal: number, last: boolean, p: LinkParams): Buffer {
  const hlen = H2C_DATA_HLEN;
  const pdo = dataOffset(hlen, p);
  const b = Buffer.alloc(pdo);
  const flags = (last ? PduFlags.DATA_LAST : 0) | (p.hdgst ? PduFlags.HDGSTF : 0) | (p.ddgst ? PduFlags.DDGSTF : 0);
  common(b, PduType.H2CData, flags, hlen, pdo, pdo + datal + (p.ddgst ? DIGEST_LEN : 0));
  b.writeUInt16LE(cccid, DATA.cccid);
  b.writeUInt16LE(ttag, DATA.ttag);
  b.writeUInt32LE(datao, DATA.offset);
  b.writeUInt32LE(datal, DATA.length);
  if (p.hdgst) b.writeUInt32LE(crc32c(b, 0, hlen), hlen);
  return b;
}

/** A whole H2CData PDU (tests, raw mode). */
export function buildH2CData(cccid: number, ttag: number, datao: number, data: Uint8Array, last: boolean, p: LinkParams): Buffer {
  const hdr = buildH2CDataHeader(cccid, ttag, datao, data.length, last, p);
  return Buffer.concat(p.ddgst ? [hdr, data, digestBytes(data)] : [hdr, data]);
}

/** H2CTermReq: FES, FEI, and up to 128 bytes of the offending PDU header. Never digested. */
export function buildH2CTermReq(fes: number, fei: number, offending?: Uint8Array): Buffer {
  const hlen = HLEN[PduType.H2CTermReq];
  const extra = offending ? offending.subarray(0, TERM.maxErrorData) : new Uint8Array(0);
  const b = Buffer.alloc(hlen + extra.length);
  common(b, PduType.H2CTermReq, 0, hlen, 0, hlen + extra.length);
  b.writeUInt16LE(fes, TERM.fes);
  b.writeUInt32LE(fei >>> 0, TERM.fei);
  b.set(extra, hlen);
  return b;
}

/** The 4-byte little-endian CRC32C of `data`. */
export function digestBytes(data: Uint8Array): Buffer {
  const d = Buffer.allocUnsafe(DIGEST_LEN);
  d.writeUInt32LE(crc32c(data), 0);
  return d;
}

export interface ICResp {
  pfv: number;
  cpda: number;
  hdgst: boolean;
  ddgst: boolean;
  maxH2CData: number;
}

export function parseICResp(hdr: Buffer): ICResp {
  const d = hdr[IC.digest]!;
  return {
    pfv: hdr.readUInt16LE(IC.pfv),
    cpda: hdr[IC.pda]!,
    hdgst: (d & ICDigest.HDGST) !== 0,
    ddgst: (d & ICDigest.DDGST) !== 0,
    maxH2CData: hdr.readUInt32LE(IC.maxr2tOrMaxdata),
  };
}

export interface TermReq {
  /** PDU type: H2CTermReq or C2HTermReq. */
  type: number;
  fes: number;
  fei: number;
  /** The offending PDU header as sent back by the peer (may be empty). */
  errorData: Buffer;
}

export function parseTermReq(hdr: Buffer, data: Uint8Array | null): TermReq {
  return {
    type: hdr[CH.pduType]!,
    fes: hdr.readUInt16LE(TERM.fes),
    fei: hdr.readUInt32LE(TERM.fei),
    errorData: data ? Buffer.from(data) : Buffer.alloc(0),
  };
}

export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** The 15-bit status field (phase bit removed): SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14. */
  status: number;
}

/** Reads the CQE of a CapsuleResp header. */
export function parseCqe(hdr: Buffer): Cqe {
  const c = CAPSULE_CQE_OFFSET;
  return {
    dw0: hdr.readUInt32LE(c + CQE.dw0),
    dw1: hdr.readUInt32LE(c + CQE.dw1),
    sqhd: hdr.readUInt16LE(c + CQE.sqhd),
    sqid: hdr.readUInt16LE(c + CQE.sqid),
    cid: hdr.readUInt16LE(c + CQE.cid),
    status: hdr.readUInt16LE(c + CQE.status) >>> 1,
  };
}
