// A fuzz input: byte chunks in delivery order, each for one of up to MAX_CONNS connections.
//
// File format (corpus and reproducers): "NVFZ", then records of
//   u8 connection, u8 flags (bit 0: let the event loop turn before this chunk), u32le length, bytes.
// Corpus files hold one PDU per record; reproducers hold the chunks exactly as delivered.
import { CH } from '../../src/spec/pdu.js';

export const MAX_CONNS = 4;
export const FLAG_TURN = 1;
const MAGIC = Buffer.from('NVFZ');

export interface Chunk {
  conn: number;
  flags: number;
  bytes: Buffer;
}

export type FuzzInput = Chunk[];

export function encodeInput(input: FuzzInput): Buffer {
  let n = MAGIC.length;
  for (const c of input) n += 6 + c.bytes.length;
  const out = Buffer.alloc(n);
  MAGIC.copy(out, 0);
  let at = MAGIC.length;
  for (const c of input) {
    out[at] = c.conn;
    out[at + 1] = c.flags;
    out.writeUInt32LE(c.bytes.length, at + 2);
    c.bytes.copy(out, at + 6);
    at += 6 + c.bytes.length;
  }
  return out;
}

export function decodeInput(buf: Buffer): FuzzInput {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a fuzz input (no NVFZ magic)');
  const out: FuzzInput = [];
  let at = MAGIC.length;
  while (at < buf.length) {
    if (at + 6 > buf.length) throw new Error(`truncated record header at ${at}`);
    const len = buf.readUInt32LE(at + 2);
    if (at + 6 + len > buf.length) throw new Error(`truncated record at ${at}`);
    out.push({ conn: buf[at]! % MAX_CONNS, flags: buf[at + 1]!, bytes: Buffer.from(buf.subarray(at + 6, at + 6 + len)) });
    at += 6 + len;
  }
  return out;
}

/**
 * Re-cuts chunks into PDUs along their PLEN fields, per connection, keeping the order in which each
 * PDU's first byte was delivered. Bytes that do not frame (PLEN < 8 or past the end) stay one piece.
 */
export function reframe(input: FuzzInput): FuzzInput {
  const streams: Buffer[][] = [];
  const order: { conn: number; start: number }[] = [];
  const have = new Array<number>(MAX_CONNS).fill(0);
  for (const c of input) {
    (streams[c.conn] ??= []).push(c.bytes);
    order.push({ conn: c.conn, start: have[c.conn]! });
    have[c.conn]! += c.bytes.length;
  }
  const pdus: { conn: number; at: number; bytes: Buffer }[] = [];
  for (let conn = 0; conn < MAX_CONNS; conn++) {
    const parts = streams[conn];
    if (!parts) continue;
    const s = Buffer.concat(parts);
    let at = 0;
    while (at < s.length) {
      const plen = at + CH.size <= s.length ? s.readUInt32LE(at + CH.plen) : 0;
      const end = plen >= CH.size && at + plen <= s.length ? at + plen : s.length;
      pdus.push({ conn, at, bytes: s.subarray(at, end) });
      at = end;
    }
  }
  // Order: by the delivery position of the chunk holding each PDU's first byte.
  const rank = (p: { conn: number; at: number }): number => {
    let r = 0;
    for (let i = 0; i < order.length; i++) {
      const o = order[i]!;
      if (o.conn === p.conn && o.start <= p.at) r = i;
    }
    return r;
  };
  return pdus
    .map((p) => ({ p, r: rank(p) }))
    .sort((a, b) => a.r - b.r || a.p.at - b.p.at)
    .map(({ p }) => ({ conn: p.conn, flags: 0, bytes: Buffer.from(p.bytes) }));
}

/**
 * The input without the PDUs `drop` picks (PDUs found along PLEN per connection), every other byte
 * delivered in the same chunks as before (chunks left empty are left out).
 */
export function removePdus(input: FuzzInput, drop: (pdu: Buffer) => boolean): FuzzInput {
  const streams: Buffer[] = [];
  for (let conn = 0; conn < MAX_CONNS; conn++) streams.push(Buffer.concat(input.filter((c) => c.conn === conn).map((c) => c.bytes)));
  // Per connection: a mask of the bytes to keep.
  const keep = streams.map((s) => {
    const m = new Uint8Array(s.length).fill(1);
    let at = 0;
    while (at < s.length) {
      const plen = at + CH.size <= s.length ? s.readUInt32LE(at + CH.plen) : 0;
      const end = plen >= CH.size && at + plen <= s.length ? at + plen : s.length;
      if (drop(s.subarray(at, end))) m.fill(0, at, end);
      at = end;
    }
    return m;
  });
  const pos = new Array<number>(MAX_CONNS).fill(0);
  const out: FuzzInput = [];
  for (const c of input) {
    const m = keep[c.conn]!;
    const start = pos[c.conn]!;
    pos[c.conn] = start + c.bytes.length;
    const kept: number[] = [];
    for (let i = 0; i < c.bytes.length; i++) if (m[start + i]) kept.push(c.bytes[i]!);
    if (kept.length > 0) out.push({ conn: c.conn, flags: c.flags, bytes: Buffer.from(kept) });
  }
  return out;
}
