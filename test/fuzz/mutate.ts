// A seeded, structure-aware mutator over PDU lists. Deterministic: the same seed and pool give the
// same inputs. Mutations: bit flips, bytes set to interesting values, field-aware changes of PDU
// header and SQE fields (type, flags, hlen, pdo, plen, ttag, cccid, datao, datal, the SGL, opcode,
// cid, nsid, slba, nlb, fabrics fields, FUSE and whole fused pairs), data dropped or resized, PDUs spliced in from another
// session, truncated, duplicated, deleted, swapped or moved to another connection; digests are
// usually recomputed afterwards so that mutations reach past the digest checks. Finally the PDUs
// are cut into socket reads at random points.
import { CAPSULE_SQE_OFFSET as S, CH, DATA, DIGEST_LEN, PduFlags, PduType } from '../../src/spec/pdu.js';
import { SGL, SQE } from '../../src/spec/sqe.js';
import { ConnectData, Dsm } from '../../src/spec/opcodes.js';
import { FLAG_TURN, MAX_CONNS, type Chunk, type FuzzInput } from './input.js';
import { DISCOVERY_NQN as DISCOVERY } from './harness.js';
import { Rng } from './rng.js';
import { CH_FIELDS, dataRange, fieldsOf, fixup, headerTotal, INTERESTING_16, INTERESTING_32, INTERESTING_8, readField, writeField } from './pdu-fields.js';

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
