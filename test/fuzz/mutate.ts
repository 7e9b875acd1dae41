// A seeded, structure-aware mutator over PDU lists. Deterministic: the same seed and pool give the
// same inputs. Mutations: bit flips, bytes set to interesting values, field-aware changes of PDU
// header and SQE fields (type, flags, hlen, pdo, plen, ttag, cccid, datao, datal, the SGL, opcode,
// cid, nsid, slba, nlb, fabrics fields, FUSE and whole fused pairs), data dropped or resized, PDUs spliced in from another
// session, truncated, duplicated, deleted, swapped or moved to another connection; digests are
// usually recomputed afterwards so that mutations reach past the digest checks. Finally the PDUs
// are cut into socket reads at random points.
import { CAPSULE_SQE_OFFSET, CH, DATA, DIGEST_LEN, IC, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { SGL, SQE } from '../../src/spec/sqe.js';
import { ConnectData, Dsm, FabricsSqe, IoSqe } from '../../src/spec/opcodes.js';
import { crc32c } from '../../src/native/crc32c.js';
import { FLAG_TURN, MAX_CONNS, type Chunk, type FuzzInput } from './input.js';
import { DISCOVERY_NQN as DISCOVERY, LIMITS } from './harness.js';

/** xorshift128+ on 32-bit halves: fast, seedable, good enough for fuzzing. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next() | 1;
    this.#b = next();
    this.#c = next();
    this.#d = next();
  }
  /** A uniform 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return r;
  }
  /** 0 <= n < max. */
  below(max: number): number {
    return max <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * max);
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.below(a.length)]!;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  name: string;
}

const CH_FIELDS: Field[] = [
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

function fieldsOf(type: number): Field[] {
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

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x01, 0x02, 0x04, 0x08, 0x40];
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0xfffe, 31, 32, 33, 63, 64];
const INTERESTING_32 = [
  0, 1, 2, 4, 8, 16, 23, 24, 25, 71, 72, 73, 127, 128, 129, 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097,
  LIMITS.inlineDataSize, LIMITS.inlineDataSize + 1, LIMITS.maxH2CData, LIMITS.maxH2CData + 1, LIMITS.mdts, LIMITS.mdts + 1,
  0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, LIMITS.ns1Size / 512, LIMITS.ns1Size / 512 - 1, 0x10000,
];

function readField(b: Buffer, f: Field): number {
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

function writeField(b: Buffer, f: Field, v: number, hi = 0): void {
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
function headerTotal(b: Buffer): number {
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
function dataRange(b: Buffer): { start: number; end: number } | null {
  const type = b[CH.pduType];
  const ht = headerTotal(b);
  const start = type === PduType.H2CTermReq ? ht : b[CH.pdo] ?? 0;
  const end = b.length - ((b[CH.flags] ?? 0) & PduFlags.DDGSTF && type !== PduType.H2CTermReq ? DIGEST_LEN : 0);
  if (start < ht || start >= end) return null;
  return { start, end };
}

/** Marks a PDU whose bytes this mutation already copied (never delivered: chunk() sets flags). */
const OWNED = 0x80;

export interface MutatorOptions {
  /** Largest input, in bytes, the mutator produces. */
  maxBytes?: number;
}

export class Mutator {
  readonly rng: Rng;
  readonly #maxBytes: number;
  /** Counts of each mutation applied (for the report). */
  readonly applied = new Map<string, number>();

  constructor(seed: number, o: MutatorOptions = {}) {
    this.rng = new Rng(seed);
    this.#maxBytes = o.maxBytes ?? 64 * 1024;
  }

  #note(name: string): void {
    this.applied.set(name, (this.applied.get(name) ?? 0) + 1);
  }

  /** A mutated copy of `parent` (a PDU list) and its chunking for delivery. `pool` supplies splices. */
  mutate(parent: FuzzInput, pool: readonly FuzzInput[]): { pdus: FuzzInput; chunks: FuzzInput } {
    const r = this.rng;
    // Shallow copy: a PDU's bytes are copied before they are changed.
    const pdus: Chunk[] = parent.map((c) => ({ conn: c.conn, flags: 0, bytes: c.bytes }));
    const n = 1 + (r.chance(0.5) ? 0 : r.below(r.chance(0.7) ? 3 : 8));
    for (let i = 0; i < n; i++) this.#one(pdus, pool);
    let total = 0;
    for (const p of pdus) total += p.bytes.length;
    while (total > this.#maxBytes && pdus.length > 1) total -= pdus.pop()!.bytes.length;
    for (const p of pdus) p.flags = 0;
    return { pdus, chunks: this.chunk(pdus) };
  }

  #own(p: Chunk): Buffer {
    // Copy-on-write: the parent's buffers are shared with the pool.
    if (!(p.flags & OWNED)) {
      p.bytes = Buffer.from(p.bytes);
      p.flags |= OWNED;
    }
    return p.bytes;
  }

  #one(pdus: Chunk[], pool: readonly FuzzInput[]): void {
    const r = this.rng;
    if (pdus.length === 0) {
      const other = r.pick(pool);
      for (const c of other) pdus.push({ conn: c.conn, flags: 0, bytes: c.bytes });
      return;
    }
    const i = r.below(pdus.length);
    const p = pdus[i]!;
    const k = r.below(100);
    if (k < 12) {
      // Bit flips.
      if (p.bytes.length === 0) return;
      const b = this.#own(p);
      const flips = 1 + r.below(3);
      for (let j = 0; j < flips; j++) b[r.below(b.length)]! ^= 1 << r.below(8);
      this.#note('bitflip');
      this.#maybeFix(b, 0.5);
    } else if (k < 20) {
      // A byte set to an interesting value (header bytes more often).
      if (p.bytes.length === 0) return;
      const b = this.#own(p);
      const at = r.chance(0.7) ? r.below(Math.min(b.length, 80)) : r.below(b.length);
      const cur = b[at]!;
      b[at] = r.pick([0, 0xff, 0x7f, 0x80, (cur + 1) & 0xff, (cur - 1) & 0xff, r.below(256)]);
      this.#note('interesting-byte');
      this.#maybeFix(b, 0.6);
    } else if (k < 46) {
      this.#field(p, pdus);
    } else if (k < 50) {
      // In-capsule data with structure: Connect data (CNTLID, NQNs) and DSM ranges.
      const withData = pdus.filter((q) => q.bytes[CH.pduType] === PduType.CapsuleCmd && q.bytes.length > S + 64 + DIGEST_LEN);
      if (withData.length === 0 || !this.#capsuleData(r.pick(withData))) this.#field(p, pdus);
    } else if (k < 55) {
      // Data dropped: PLEN == header (the PDU claims no data), PDO kept or cleared.
      const b = p.bytes;
      const ht = headerTotal(b);
      if (b.length <= ht || ht < CH.size) return this.#field(p, pdus);
      const nb = Buffer.from(b.subarray(0, ht));
      if (r.chance(0.5)) nb[CH.pdo] = 0;
      nb[CH.flags] = nb[CH.flags]! & ~PduFlags.DDGSTF;
      fixup(nb, { plen: true, digests: true });
      p.bytes = nb;
      p.flags |= OWNED;
      this.#note('drop-data');
    } else if (k < 61) {
      // Data resized: grown or shrunk, PLEN (and often DATAL / the SGL length) following.
      const b = p.bytes;
      const d = dataRange(b);
      if (!d) return this.#field(p, pdus);
      const len = d.end - d.start;
      const delta = r.pick([-1, 1, -4, 4, -512, 512, 4096, -len + 1, r.below(9000) - 4500]);
      const newLen = Math.max(0, Math.min(len + delta, 70000));
      const nb = Buffer.alloc(b.length - len + newLen);
      b.copy(nb, 0, 0, d.start);
      b.copy(nb, d.start, d.start, d.start + Math.min(len, newLen));
      if (newLen > len) nb.fill(0xa5, d.start + len, d.start + newLen);
      b.copy(nb, d.start + newLen, d.end);
      if (r.chance(0.6)) {
        if (nb[CH.pduType] === PduType.H2CData && nb.length >= DATA.length + 4) nb.writeUInt32LE(newLen, DATA.length);
        if (nb[CH.pduType] === PduType.CapsuleCmd && nb.length >= S + SQE.dptr + SGL.length + 4) nb.writeUInt32LE(newLen, S + SQE.dptr + SGL.length);
      }
      fixup(nb, { plen: r.chance(0.9), digests: r.chance(0.9) });
      p.bytes = nb;
      p.flags |= OWNED;
      this.#note('resize-data');
    } else if (k < 69) {
      // Splice: PDUs of another session (usually onto the same connections) inserted here.
      const other = r.pick(pool);
      if (other.length === 0) return;
      const from = r.below(other.length);
      const count = 1 + r.below(Math.min(6, other.length - from));
      const remap = r.chance(0.3) ? r.below(MAX_CONNS) : -1;
      const ins = other.slice(from, from + count).map((c) => ({ conn: remap >= 0 ? remap : c.conn, flags: 0, bytes: c.bytes }));
      pdus.splice(r.below(pdus.length + 1), 0, ...ins);
      this.#note('splice');
    } else if (k < 74) {
      // Truncation: the list, or the last bytes of one PDU.
      if (r.chance(0.5) && pdus.length > 1) {
        pdus.length = 1 + r.below(pdus.length - 1);
        this.#note('truncate-list');
      } else {
        if (p.bytes.length < 2) return;
        // A view: still shared with the parent, so not marked as owned.
        p.bytes = p.bytes.subarray(0, 1 + r.below(p.bytes.length - 1));
        this.#note('truncate-pdu');
      }
    } else if (k < 81) {
      // Duplication: right after, or later in the stream.
      const at = r.chance(0.6) ? i + 1 : r.below(pdus.length + 1);
      pdus.splice(at, 0, { conn: p.conn, flags: 0, bytes: p.bytes });
      this.#note('duplicate');
    } else if (k < 85) {
      if (pdus.length > 1) pdus.splice(i, 1);
      this.#note('delete');
    } else if (k < 90) {
      const j = r.below(pdus.length);
      pdus[i] = pdus[j]!;
      pdus[j] = p;
      this.#note('swap');
    } else if (k < 93) {
      p.conn = r.below(MAX_CONNS);
      this.#note('move-connection');
    } else if (k < 97) {
      // Transfer tag games: an H2CData (often with no data) aimed at slots in and beyond the table.
      if (p.bytes[CH.pduType] !== PduType.H2CData || p.bytes.length < CH.size + 16) return this.#field(p, pdus);
      const b = this.#own(p);
      b.writeUInt16LE(r.pick([0, 1, 2, 3, 31, 32, 63, 64, 65535, r.below(70)]), DATA.ttag);
      if (r.chance(0.3)) {
        const ht = headerTotal(b);
        if (b.length > ht) {
          p.bytes = Buffer.from(b.subarray(0, ht));
          p.bytes[CH.flags] = p.bytes[CH.flags]! & ~PduFlags.DDGSTF;
        }
      }
      fixup(p.bytes, { plen: true, digests: true });
      this.#note('ttag');
    } else {
      // CID games: a command takes the CID of another command of the input.
      if (p.bytes[CH.pduType] !== PduType.CapsuleCmd || p.bytes.length < S + 4) return this.#field(p, pdus);
      const others = pdus.filter((q) => q.bytes[CH.pduType] === PduType.CapsuleCmd && q.bytes.length >= S + 4);
      const src = r.pick(others);
      const b = this.#own(p);
      b.writeUInt16LE(src.bytes.readUInt16LE(S + SQE.cid), S + SQE.cid);
      fixup(b, { plen: false, digests: true });
      this.#note('cid-collision');
    }
  }

  /** Mutates a field of a capsule's in-capsule data it knows the layout of; false when none. */
  #capsuleData(p: Chunk): boolean {
    const r = this.rng;
    const src = p.bytes;
    if (src[CH.pduType] !== PduType.CapsuleCmd || src.length < S + 64) return false;
    const d = dataRange(src);
    if (!d) return false;
    const opcode = src[S + SQE.opcode];
    const b = this.#own(p);
    const at = d.start;
    const len = d.end - d.start;
    if (opcode === 0x7f && b[S + SQE.fctype] === 0x01 && len >= ConnectData.size) {
      switch (r.below(5)) {
        case 0:
          b.writeUInt16LE(r.pick([0xffff, 0xfffe, 0, 1, 2, 0xffef, 0xfff0]), at + ConnectData.cntlid);
          break;
        case 1: {
          // An NQN without its terminating NUL, or cut short.
          const nqn = at + (r.chance(0.5) ? ConnectData.subnqn : ConnectData.hostnqn);
          if (r.chance(0.5)) b.fill(0x61, nqn, nqn + 256);
          else b[nqn + r.below(64)] = 0;
          break;
        }
        case 2:
          b.fill(0, at + ConnectData.subnqn, at + ConnectData.subnqn + 256);
          b.write(r.pick([DISCOVERY, 'nqn.2026-11.io.nvmetd:other', '']), at + ConnectData.subnqn, 'utf8');
          break;
        case 3:
          b[at + ConnectData.hostid + r.below(16)] ^= 0xff;
          break;
        default:
          b[at + 16 + 2 + r.below(238)] = r.pick([0, 0xff, 0x41]);
      }
      this.#note('connect-data');
    } else if (opcode === 0x09 && len >= Dsm.rangeSize) {
      const range = at + Dsm.rangeSize * r.below(Math.floor(len / Dsm.rangeSize));
      if (r.chance(0.5)) b.writeUInt32LE(r.pick(INTERESTING_32), range + Dsm.rangeLength);
      else {
        b.writeUInt32LE(r.pick(INTERESTING_32), range + Dsm.rangeSlba);
        b.writeUInt32LE(r.chance(0.2) ? r.pick([1, 0xffffffff]) : 0, range + Dsm.rangeSlba + 4);
      }
      this.#note('dsm-range');
    } else {
      return false;
    }
    fixup(b, { plen: false, digests: r.chance(0.9) });
    return true;
  }

  #maybeFix(b: Buffer, p: number): void {
    if (this.rng.chance(p)) fixup(b, { plen: false, digests: true });
  }

  #field(p: Chunk, pdus: Chunk[]): void {
    const r = this.rng;
    if (p.bytes.length < CH.size) return;
    const specific = fieldsOf(p.bytes[CH.pduType]!);
    const f = specific.length > 0 && r.chance(0.7) ? r.pick(specific) : r.pick(CH_FIELDS);
    if (f.at + f.width > p.bytes.length) return;
    const b = this.#own(p);
    const cur = readField(b, f);
    const choice = r.below(10);
    let v: number;
    let hi = 0;
    if (choice < 2) v = cur + (r.chance(0.5) ? 1 : -1);
    else if (choice < 3) v = r.u32();
    else if (choice < 4) {
      // A value taken from the same field of another PDU of the input.
      const q = r.pick(pdus);
      v = q.bytes[CH.pduType] === b[CH.pduType] ? readField(q.bytes, f) : cur;
    } else if (f.width === 1) v = r.pick(INTERESTING_8);
    else if (f.width === 2) v = r.pick(INTERESTING_16);
    else {
      v = r.pick(INTERESTING_32);
      if (f.width === 8 && r.chance(0.2)) hi = r.pick([1, 0x7fffffff, 0xffffffff]);
      if (f.name === 'plen' && r.chance(0.4)) v = b.length + r.pick([-1, 1, -4, 4, 64, -(b.length - headerTotal(b))]);
    }
    if (f.name === 'fuse') return this.#fuse(p, pdus);
    writeField(b, f, v, hi);
    this.#note(`field:${f.name}`);
    // Usually keep the PDU self-consistent around the changed field (digests, and PLEN unless it
    // was the field changed).
    if (r.chance(0.85)) fixup(b, { plen: false, digests: true });
  }

  /**
   * FUSE (SQE byte 1 bits 1:0, PSDT kept): one capsule gets a random FUSE value, or becomes the first
   * command of a fused pair (a Write often turned into a Compare, its data kept) with the next
   * capsule of its connection marked second.
   */
  #fuse(p: Chunk, pdus: Chunk[]): void {
    const r = this.rng;
    const b = this.#own(p);
    const at = S + SQE.flags;
    if (r.chance(0.4)) {
      b[at] = (b[at]! & ~3) | r.below(4);
      this.#note('fuse:value');
    } else {
      b[at] = (b[at]! & ~3) | 1;
      if (b[S + SQE.opcode] === 0x01 && r.chance(0.6)) b[S + SQE.opcode] = 0x05;
      const next = pdus.slice(pdus.indexOf(p) + 1).find((q) => q.conn === p.conn && q.bytes[CH.pduType] === PduType.CapsuleCmd && q.bytes.length > at);
      if (next) {
        const nb = this.#own(next);
        nb[at] = (nb[at]! & ~3) | 2;
        fixup(nb, { plen: false, digests: true });
      }
      this.#note('fuse:pair');
    }
    fixup(b, { plen: false, digests: true });
  }

  /** Cuts PDUs into socket reads: one per PDU, whole runs per connection, or random cut points. */
  chunk(pdus: readonly Chunk[]): FuzzInput {
    const r = this.rng;
    const mode = r.below(10);
    const out: FuzzInput = [];
    const turns = r.chance(0.05);
    if (mode < 4) {
      for (const p of pdus) out.push({ conn: p.conn, flags: 0, bytes: p.bytes });
    } else {
      // Runs of consecutive PDUs on one connection, joined, then cut (mode >= 7) at random places.
      let i = 0;
      while (i < pdus.length) {
        let j = i + 1;
        while (j < pdus.length && pdus[j]!.conn === pdus[i]!.conn) j++;
        const run = j - i === 1 ? pdus[i]!.bytes : Buffer.concat(pdus.slice(i, j).map((p) => p.bytes));
        const conn = pdus[i]!.conn;
        if (mode < 7 || run.length < 2) {
          out.push({ conn, flags: 0, bytes: run });
        } else {
          let at = 0;
          const tiny = r.chance(0.1);
          while (at < run.length) {
            const n = tiny ? 1 + r.below(4) : 1 + r.below(Math.min(run.length - at, r.chance(0.5) ? 16 : 600));
            out.push({ conn, flags: 0, bytes: run.subarray(at, at + n) });
            at += n;
          }
        }
        i = j;
      }
    }
    if (turns && out.length > 1) out[1 + r.below(out.length - 1)]!.flags |= FLAG_TURN;
    return out;
  }
}
