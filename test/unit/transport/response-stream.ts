// Parses what a target sent for reads: C2HData and CapsuleResp PDUs back to back, as the send-side
// tests (digest-send, piece-table) read them off a socket. With digests every header and data digest
// is checked (an assertion failure names the PDU's offset).
import assert from 'node:assert/strict';
import { crc32c } from '../../../src/native/crc32c.js';

export interface ResponsePdu {
  /** 7: C2HData, 5: CapsuleResp. */
  type: number;
  cid: number;
  /** A C2HData's payload (a copy), null for a CapsuleResp. */
  data: Buffer | null;
}

export function parseResponses(b: Buffer, digests: boolean): ResponsePdu[] {
  const out: ResponsePdu[] = [];
  let at = 0;
  while (at < b.length) {
    const type = b[at]!;
    const hlen = b[at + 2]!;
    const pdo = b[at + 3]!;
    const plen = b.readUInt32LE(at + 4);
    if (digests) assert.equal(b.readUInt32LE(at + hlen), crc32c(b, at, hlen), `header digest of the PDU at ${at}`);
    if (type === 7) {
      const len = plen - pdo - (digests ? 4 : 0);
      const data = b.subarray(at + pdo, at + pdo + len);
      if (digests) assert.equal(b.readUInt32LE(at + pdo + len), crc32c(data), `data digest of the PDU at ${at}`);
      out.push({ type, cid: b.readUInt16LE(at + 8), data: Buffer.from(data) });
    } else {
      assert.equal(type, 5, `PDU type at ${at}`);
      out.push({ type, cid: b.readUInt16LE(at + 8 + 12), data: null });
    }
    at += plen;
  }
  return out;
}
