// Decoding of the Identify data the initiator needs (controller, namespace, lists, descriptors).
import { IdCtrl, IdNs, Nidt } from '../spec/identify.js';

function ascii(b: Buffer, at: number, len: number): string {
  return b.toString('latin1', at, at + len).replace(/[\0 ]+$/, '');
}

function nulString(b: Buffer, at: number, len: number): string {
  const end = b.indexOf(0, at);
  return b.toString('utf8', at, end < 0 || end > at + len ? at + len : end);
}

export interface IdentifyController {
  vid: number;
  sn: string;
  mn: string;
  fr: string;
  /** Maximum data transfer size as a power of two of the minimum page size (0 = no limit). */
  mdts: number;
  cntlid: number;
  ver: number;
  oaes: number;
  ctratt: number;
  cntrltype: number;
  oacs: number;
  acl: number;
  aerl: number;
  lpa: number;
  elpe: number;
  kas: number;
  sqes: number;
  cqes: number;
  maxcmd: number;
  nn: number;
  oncs: number;
  vwc: number;
  sgls: number;
  subnqn: string;
  /** I/O queue command capsule size in 16-byte units (SQE included). */
  ioccsz: number;
  iorcsz: number;
  icdoff: number;
  fcatt: number;
  msdbd: number;
}

export function parseIdentifyController(b: Buffer): IdentifyController {
  return {
    vid: b.readUInt16LE(IdCtrl.vid),
    sn: ascii(b, IdCtrl.sn, 20),
    mn: ascii(b, IdCtrl.mn, 40),
    fr: ascii(b, IdCtrl.fr, 8),
    mdts: b[IdCtrl.mdts]!,
    cntlid: b.readUInt16LE(IdCtrl.cntlid),
    ver: b.readUInt32LE(IdCtrl.ver),
    oaes: b.readUInt32LE(IdCtrl.oaes),
    ctratt: b.readUInt32LE(IdCtrl.ctratt),
    cntrltype: b[IdCtrl.cntrltype]!,
    oacs: b.readUInt16LE(IdCtrl.oacs),
    acl: b[IdCtrl.acl]!,
    aerl: b[IdCtrl.aerl]!,
    lpa: b[IdCtrl.lpa]!,
    elpe: b[IdCtrl.elpe]!,
    kas: b.readUInt16LE(IdCtrl.kas),
    sqes: b[IdCtrl.sqes]!,
    cqes: b[IdCtrl.cqes]!,
    maxcmd: b.readUInt16LE(IdCtrl.maxcmd),
    nn: b.readUInt32LE(IdCtrl.nn),
    oncs: b.readUInt16LE(IdCtrl.oncs),
    vwc: b[IdCtrl.vwc]!,
    sgls: b.readUInt32LE(IdCtrl.sgls),
    subnqn: nulString(b, IdCtrl.subnqn, 256),
    ioccsz: b.readUInt32LE(IdCtrl.ioccsz),
    iorcsz: b.readUInt32LE(IdCtrl.iorcsz),
    icdoff: b.readUInt16LE(IdCtrl.icdoff),
    fcatt: b[IdCtrl.fcatt]!,
    msdbd: b[IdCtrl.msdbd]!,
  };
}

export interface IdentifyNamespace {
  nsze: bigint;
  ncap: bigint;
  nuse: bigint;
  nsfeat: number;
  nlbaf: number;
  flbas: number;
  nmic: number;
  dlfeat: number;
  nguid: string;
  eui64: string;
  /** Logical block size of the format in use, in bytes. */
  blockSize: number;
  /** Metadata size of the format in use. */
  metadataSize: number;
}

export function parseIdentifyNamespace(b: Buffer): IdentifyNamespace {
  const flbas = b[IdNs.flbas]!;
  const fmt = (flbas & 0x0f) | ((flbas >> 1) & 0x30);
  const lbaf = IdNs.lbaf0 + 4 * fmt;
  return {
    nsze: b.readBigUInt64LE(IdNs.nsze),
    ncap: b.readBigUInt64LE(IdNs.ncap),
    nuse: b.readBigUInt64LE(IdNs.nuse),
    nsfeat: b[IdNs.nsfeat]!,
    nlbaf: b[IdNs.nlbaf]!,
    flbas,
    nmic: b[IdNs.nmic]!,
    dlfeat: b[IdNs.dlfeat]!,
    nguid: b.toString('hex', IdNs.nguid, IdNs.nguid + 16),
    eui64: b.toString('hex', IdNs.eui64, IdNs.eui64 + 8),
    blockSize: 2 ** b[lbaf + 2]!,
    metadataSize: b.readUInt16LE(lbaf),
  };
}

/** Active namespace list: NSIDs in increasing order, ending at the first 0. */
export function parseNsList(b: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 4 <= b.length; at += 4) {
    const nsid = b.readUInt32LE(at);
    if (nsid === 0) break;
    out.push(nsid);
  }
  return out;
}

export interface NsDescriptor {
  nidt: number;
  /** The identifier bytes. */
  nid: Buffer;
}

/** Namespace Identification Descriptor list (CNS 03h). */
export function parseNsDescriptors(b: Buffer): NsDescriptor[] {
  const out: NsDescriptor[] = [];
  let at = 0;
  while (at + 4 <= b.length) {
    const nidt = b[at]!;
    const nidl = b[at + 1]!;
    if (nidt === 0 || nidl === 0) break;
    out.push({ nidt, nid: Buffer.from(b.subarray(at + 4, at + 4 + nidl)) });
    at += 4 + nidl;
  }
  return out;
}

/** RFC 4122 text of a 16-byte UUID descriptor. */
export function uuidText(nid: Buffer): string {
  const h = nid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export { Nidt };
