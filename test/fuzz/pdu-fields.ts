// The PDU and SQE fields the mutator knows by position and width, and the helpers that read, write
// and re-frame PDUs after a mutation (PLEN, digests).
import { CAPSULE_SQE_OFFSET, CH, DATA, DIGEST_LEN, IC, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { SGL, SQE } from '../../src/spec/sqe.js';
import { FabricsSqe, IoSqe } from '../../src/spec/opcodes.js';
import { crc32c } from '../../src/native/crc32c.js';
import { LIMITS } from './harness.js';

export interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  name: string;
}

export const CH_FIELDS: Field[] = [
  { at: CH.pduType, width: 1, name: 'type' },
  { at: CH.flags, width: 1, name: 'flags' },
  { at: CH.hlen, width: 1, name: 'hlen' },
  { at: CH.pdo, width: 1, name: 'pdo' },
  { at: CH.plen, width: 4, name: 'plen' },
];
const S = CAPSULE_SQE_OFFSET;
const CAPSULE_FIELDS: Field[] = [
  { at: S + SQE.opcode, width: 1, name: 'opcode' },
  { at: S + SQE.flags, width: 1, name: 'sqe flags' },
  { at: S + SQE.flags, width: 1, name: 'fuse' },
  { at: S + SQE.cid, width: 2, name: 'cid' },
  { at: S + SQE.nsid, width: 4, name: 'nsid' },
  { at: S + SQE.fctype, width: 1, name: 'fctype' },
  { at: S + SQE.dptr + SGL.address, width: 8, name: 'sgl address' },
  { at: S + SQE.dptr + SGL.length, width: 4, name: 'sgl length' },
  { at: S + SQE.dptr + SGL.identifier, width: 1, name: 'sgl id' },
  { at: S + IoSqe.slba, width: 8, name: 'slba' },
  { at: S + IoSqe.cdw12, width: 2, name: 'nlb' },
  { at: S + IoSqe.cdw12 + 2, width: 2, name: 'cdw12 hi' },
  { at: S + SQE.cdw10, width: 4, name: 'cdw10' },
  { at: S + SQE.cdw11, width: 4, name: 'cdw11' },
  { at: S + SQE.cdw12, width: 4, name: 'cdw12' },
  { at: S + SQE.cdw13, width: 4, name: 'cdw13' },
  { at: S + SQE.cdw14, width: 4, name: 'cdw14' },
  { at: S + SQE.cdw15, width: 4, name: 'cdw15' },
  { at: S + FabricsSqe.qid, width: 2, name: 'connect qid' },
  { at: S + FabricsSqe.sqsize, width: 2, name: 'connect sqsize' },
  { at: S + FabricsSqe.cattr, width: 1, name: 'connect cattr' },
  { at: S + FabricsSqe.kato, width: 4, name: 'connect kato' },
  { at: S + FabricsSqe.propOffset, width: 4, name: 'property offset' },
  { at: S + FabricsSqe.propValue, width: 8, name: 'property value' },
];
const DATA_FIELDS: Field[] = [
  { at: DATA.cccid, width: 2, name: 'cccid' },
  { at: DATA.ttag, width: 2, name: 'ttag' },
  { at: DATA.offset, width: 4, name: 'datao' },
  { at: DATA.length, width: 4, name: 'datal' },
];
const IC_FIELDS: Field[] = [
  { at: IC.pfv, width: 2, name: 'pfv' },
  { at: IC.pda, width: 1, name: 'hpda' },
  { at: IC.digest, width: 1, name: 'digest' },
  { at: IC.maxr2tOrMaxdata, width: 4, name: 'maxr2t' },
];
const TERM_FIELDS: Field[] = [
  { at: TERM.fes, width: 2, name: 'fes' },
  { at: TERM.fei, width: 4, name: 'fei' },
];

export function fieldsOf(type: number): Field[] {
  switch (type) {
    case PduType.CapsuleCmd:
      return CAPSULE_FIELDS;
    case PduType.H2CData:
      return DATA_FIELDS;
    case PduType.ICReq:
      return IC_FIELDS;
    case PduType.H2CTermReq:
      return TERM_FIELDS;
    default:
      return [];
  }
}

export const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x01, 0x02, 0x04, 0x08, 0x40];
export const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0xfffe, 31, 32, 33, 63, 64];
export const INTERESTING_32 = [
  0, 1, 2, 4, 8, 16, 23, 24, 25, 71, 72, 73, 127, 128, 129, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097,
  LIMITS.inlineDataSize, LIMITS.inlineDataSize + 1, LIMITS.maxH2CData, LIMITS.maxH2CData + 1, LIMITS.mdts, LIMITS.mdts + 1,
  0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, LIMITS.ns1Size / 512, LIMITS.ns1Size / 512 - 1, 0x10000,
];

export function readField(b: Buffer, f: Field): number {
  if (f.at + f.width > b.length) return 0;
  switch (f.width) {
    case 1:
      return b[f.at]!;
    case 2:
      return b.readUInt16LE(f.at);
    default:
      return b.readUInt32LE(f.at);
  }
}

export function writeField(b: Buffer, f: Field, v: number, hi = 0): void {
  if (f.at + f.width > b.length) return;
  switch (f.width) {
    case 1:
      b[f.at] = v & 0xff;
      return;
    case 2:
      b.writeUInt16LE(v & 0xffff, f.at);
      return;
    case 4:
      b.writeUInt32LE(v >>> 0, f.at);
      return;
    case 8:
      b.writeUInt32LE(v >>> 0, f.at);
      b.writeUInt32LE(hi >>> 0, f.at + 4);
      return;
  }
}

/** Header length (with header digest) a PDU claims, bounded by its size. */
export function headerTotal(b: Buffer): number {
  const hlen = b[CH.hlen] ?? 0;
  const hd = ((b[CH.flags] ?? 0) & PduFlags.HDGSTF) !== 0 && b[CH.pduType] !== PduType.H2CTermReq && b[CH.pduType] !== PduType.ICReq;
  return hlen + (hd ? DIGEST_LEN : 0);
}

/** Recomputes PLEN, the header digest and the data digest from the PDU's bytes as they now are. */
export function fixup(b: Buffer, o: { plen: boolean; digests: boolean }): void {
  if (b.length < CH.size) return;
  if (o.plen) b.writeUInt32LE(b.length, CH.plen);
  if (!o.digests) return;
  const hlen = b[CH.hlen]!;
  const flags = b[CH.flags]!;
  const type = b[CH.pduType]!;
  if (flags & PduFlags.HDGSTF && hlen + DIGEST_LEN <= b.length && hlen > 0) b.writeUInt32LE(crc32c(b, 0, hlen), hlen);
  if (flags & PduFlags.DDGSTF && type !== PduType.H2CTermReq) {
    const pdo = b[CH.pdo]!;
    const end = b.length - DIGEST_LEN;
    if (pdo > 0 && pdo < end) b.writeUInt32LE(crc32c(b, pdo, end - pdo), end);
  }
}

/** The data part of a PDU (between PDO and the data digest), or null. */
export function dataRange(b: Buffer): { start: number; end: number } | null {
  const type = b[CH.pduType];
  const ht = headerTotal(b);
  const start = type === PduType.H2CTermReq ? ht : b[CH.pdo] ?? 0;
  const end = b.length - ((b[CH.flags] ?? 0) & PduFlags.DDGSTF && type !== PduType.H2CTermReq ? DIGEST_LEN : 0);
  if (start < ht || start >= end) return null;
  return { start, end };
}
