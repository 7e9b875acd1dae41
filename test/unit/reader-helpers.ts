// Small helpers shared by the PDU reader's tests: a seeded random source, a recognisable byte
// pattern and a bare SQE.
import { SQE_SIZE } from '../../src/spec/sqe.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A 64-byte SQE with only the opcode and CID set. */
export function sqeWith(opcode: number, cid: number): Buffer {
  const s = Buffer.alloc(SQE_SIZE);
  s[0] = opcode;
  s.writeUInt16LE(cid, 2);
  return s;
}
