// Target-side PDU builders: each writes one PDU header into the connection's OutQueue.
import { CAPSULE_CQE_OFFSET, CH, DATA, DIGEST_LEN, HLEN, IC, PduFlags, PduType, TERM } from '../../spec/pdu.js';
import { CQE } from '../../spec/sqe.js';
import type { OutQueue } from './out-queue.js';

// Little-endian stores without Buffer.write*'s argument checks (a third of their cost, and these
// run for every PDU): every value passed is a field already in range (u16 or u32).
function u16(buf: Buffer, at: number, v: number): void {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
}
function u32(buf: Buffer, at: number, v: number): void {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
  buf[at + 2] = v >>> 16;
  buf[at + 3] = v >>> 24;
}

function commonHeader(buf: Buffer, at: number, type: number, flags: number, hlen: number, pdo: number, plen: number): void {
  buf[at + CH.pduType] = type;
  buf[at + CH.flags] = flags;
  buf[at + CH.hlen] = hlen;
  buf[at + CH.pdo] = pdo;
  u32(buf, at + CH.plen, plen);
}

export function writeICResp(q: OutQueue, cpda: number, digest: number, maxH2CData: number): void {
  const hlen = HLEN[PduType.ICResp];
  const at = q.header(hlen);
  const buf = q.buf;
  buf.fill(0, at, at + hlen);
  commonHeader(buf, at, PduType.ICResp, 0, hlen, 0, hlen);
  buf.writeUInt16LE(0, at + IC.pfv);
  buf[at + IC.pda] = cpda;
  buf[at + IC.digest] = digest;
  buf.writeUInt32LE(maxH2CData, at + IC.maxr2tOrMaxdata);
}

/** CapsuleResp carrying a CQE. */
export function writeCapsuleResp(
  q: OutQueue,
  hdgst: boolean,
  dw0: number,
  dw1: number,
  sqhd: number,
  sqid: number,
  cid: number,
  status: number,
): void {
  const hlen = HLEN[PduType.CapsuleResp];
  const total = hlen + (hdgst ? DIGEST_LEN : 0);
  const at = q.header(total);
  const buf = q.buf;
  commonHeader(buf, at, PduType.CapsuleResp, hdgst ? PduFlags.HDGSTF : 0, hlen, 0, total);
  const c = at + CAPSULE_CQE_OFFSET;
  u32(buf, c + CQE.dw0, dw0);
  u32(buf, c + CQE.dw1, dw1);
  u16(buf, c + CQE.sqhd, sqhd);
  u16(buf, c + CQE.sqid, sqid);
  u16(buf, c + CQE.cid, cid);
  // Phase bit is 0 on fabrics; the status field sits in bits 15:1.
  u16(buf, c + CQE.status, (status << 1) & 0xffff);
  if (hdgst) q.headerDigest(at, hlen);
}

/**
 * C2HData header for `data` (queued as a view after it), with the data digest after the data.
 * flags: DATA_LAST and/or DATA_SUCCESS. `align` is the host's PDU data alignment ((HPDA + 1) * 4):
 * the data starts at the first multiple of it after the header, zero padded. With `copyOf`, `data`
 * is a buffer of ours that receives a copy of `copyOf` (the same length) before it goes out; with a
 * data digest the copy is made in the same pass as the digest. `volatile` (with a data digest):
 * `data` is memory only this thread writes but may write before the flush (OutQueue.dataWithDigest).
 */
export function writeC2HData(
  q: OutQueue,
  hdgst: boolean,
  ddgst: boolean,
  align: number,
  cid: number,
  datao: number,
  data: Uint8Array,
  flags: number,
  copyOf: Uint8Array | null = null,
  volatile = false,
): void {
  const hlen = HLEN[PduType.C2HData];
  const hdrTotal = hlen + (hdgst ? DIGEST_LEN : 0);
  const pdo = Math.ceil(hdrTotal / align) * align;
  const plen = pdo + data.length + (ddgst ? DIGEST_LEN : 0);
  const at = q.header(pdo);
  const buf = q.buf;
  commonHeader(
    buf,
    at,
    PduType.C2HData,
    flags | (hdgst ? PduFlags.HDGSTF : 0) | (ddgst ? PduFlags.DDGSTF : 0),
    hlen,
    pdo,
    plen,
  );
  if (pdo > hdrTotal) buf.fill(0, at + hdrTotal, at + pdo);
  u16(buf, at + DATA.cccid, cid);
  u16(buf, at + DATA.ttag, 0);
  u32(buf, at + DATA.offset, datao);
  u32(buf, at + DATA.length, data.length);
  u32(buf, at + 20, 0);
  if (hdgst) q.headerDigest(at, hlen);
  if (ddgst) {
    q.dataWithDigest(data, copyOf, volatile);
  } else {
    if (copyOf !== null) data.set(copyOf);
    q.data(data);
  }
}

export function writeR2T(q: OutQueue, hdgst: boolean, cid: number, ttag: number, r2to: number, r2tl: number): void {
  const hlen = HLEN[PduType.R2T];
  const total = hlen + (hdgst ? DIGEST_LEN : 0);
  const at = q.header(total);
  const buf = q.buf;
  commonHeader(buf, at, PduType.R2T, hdgst ? PduFlags.HDGSTF : 0, hlen, 0, total);
  u16(buf, at + DATA.cccid, cid);
  u16(buf, at + DATA.ttag, ttag);
  u32(buf, at + DATA.offset, r2to);
  u32(buf, at + DATA.length, r2tl);
  u32(buf, at + 20, 0);
  if (hdgst) q.headerDigest(at, hlen);
}

/** C2HTermReq: fes/fei plus up to 128 bytes of the offending PDU header. */
export function writeC2HTermReq(q: OutQueue, fes: number, fei: number, offending: Uint8Array): void {
  const hlen = HLEN[PduType.C2HTermReq];
  const n = Math.min(offending.length, TERM.maxErrorData);
  const at = q.header(hlen + n);
  const buf = q.buf;
  buf.fill(0, at, at + hlen);
  commonHeader(buf, at, PduType.C2HTermReq, 0, hlen, 0, hlen + n);
  buf.writeUInt16LE(fes, at + TERM.fes);
  buf.writeUInt32LE(fei >>> 0, at + TERM.fei);
  buf.set(offending.subarray(0, n), at + hlen);
}
