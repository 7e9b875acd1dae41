// Target-side PDU builders: each writes one PDU header into the connection's OutQueue.
import { CAPSULE_CQE_OFFSET, CH, DATA, DIGEST_LEN, HLEN, IC, PduFlags, PduType, TERM } from '../../spec/pdu.js';
import { CQE } from '../../spec/sqe.js';
import type { OutQueue } from './out-queue.js';

function commonHeader(buf: Buffer, at: number, type: number, flags: number, hlen: number, pdo: number, plen: number): void {
  buf[at + CH.pduType] = type;
  buf[at + CH.flags] = flags;
  buf[at + CH.hlen] = hlen;
  buf[at + CH.pdo] = pdo;
  buf.writeUInt32LE(plen, at + CH.plen);
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
  buf.writeUInt32LE(dw0 >>> 0, c + CQE.dw0);
  buf.writeUInt32LE(dw1 >>> 0, c + CQE.dw1);
  buf.writeUInt16LE(sqhd, c + CQE.sqhd);
  buf.writeUInt16LE(sqid, c + CQE.sqid);
  buf.writeUInt16LE(cid, c + CQE.cid);
  // Phase bit is 0 on fabrics; the status field sits in bits 15:1.
  buf.writeUInt16LE((status << 1) & 0xffff, c + CQE.status);
  if (hdgst) q.headerDigest(at, hlen);
}

/**
 * C2HData header for `data` (queued as a view after it), with the data digest after the data.
 * flags: DATA_LAST and/or DATA_SUCCESS. `align` is the host's PDU data alignment ((HPDA + 1) * 4):
 * the data starts at the first multiple of it after the header, zero padded. With `copyOf`, `data`
 * is a buffer of ours that receives a copy of `copyOf` (the same length) before it goes out; with a
 * data digest the copy is made in the same pass as the digest.
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
  buf.writeUInt16LE(cid, at + DATA.cccid);
  buf.writeUInt16LE(0, at + DATA.ttag);
  buf.writeUInt32LE(datao, at + DATA.offset);
  buf.writeUInt32LE(data.length, at + DATA.length);
  buf.writeUInt32LE(0, at + 20);
  if (hdgst) q.headerDigest(at, hlen);
  if (ddgst) {
    q.dataWithDigest(data, copyOf);
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
  buf.writeUInt16LE(cid, at + DATA.cccid);
  buf.writeUInt16LE(ttag, at + DATA.ttag);
  buf.writeUInt32LE(r2to, at + DATA.offset);
  buf.writeUInt32LE(r2tl, at + DATA.length);
  buf.writeUInt32LE(0, at + 20);
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
