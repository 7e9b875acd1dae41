// A host-side DH-HMAC-CHAP reference for the tests, written from the protocol definitions with
// node:crypto primitives only (it shares no code with src/core/auth): builds AUTH_Negotiate, answers
// a DH-HMAC-CHAP_Challenge with a _Reply, checks _Success1 and sends _Success2 / AUTH_Failure2.
import crypto from 'node:crypto';

export const DIGESTS: Record<number, { name: string; len: number }> = {
  1: { name: 'sha256', len: 32 },
  2: { name: 'sha384', len: 48 },
  3: { name: 'sha512', len: 64 },
};

// RFC 7919: p = 2^b - 2^(b-64) + (floor(2^(b-130) * e) + X) * 2^64 - 1, generator 2.
const FFDHE: Record<number, { bits: number; x: bigint }> = {
  1: { bits: 2048, x: 560316n },
  2: { bits: 3072, x: 2625351n },
  3: { bits: 4096, x: 5736041n },
  4: { bits: 6144, x: 15705020n },
  5: { bits: 8192, x: 10965728n },
};

/** floor(e * 2^bits), from the series e = sum 1/k!. */
function eFixed(bits: number): bigint {
  const guard = 64n;
  let term = 1n << (BigInt(bits) + guard);
  let sum = 0n;
  for (let k = 1n; term > 0n; k++) {
    sum += term;
    term /= k;
  }
  return sum >> guard;
}

const primes = new Map<number, Buffer>();
export function ffdhePrime(group: number): Buffer {
  let p = primes.get(group);
  if (!p) {
    const g = FFDHE[group]!;
    const b = BigInt(g.bits);
    const n = (1n << b) - (1n << (b - 64n)) + ((eFixed(g.bits - 130) + g.x) << 64n) - 1n;
    p = Buffer.from(n.toString(16).padStart(g.bits / 4, '0'), 'hex');
    primes.set(group, p);
  }
  return p;
}

export interface RefHostOptions {
  hostnqn: string;
  subnqn: string;
  /** Host secret as configured, and its transformation hash (0: none). */
  hostSecret: Buffer;
  hostTransform: number;
  /** Controller secret the host expects (bidirectional when set). */
  ctrlSecret?: Buffer;
  ctrlTransform?: number;
  hashes: number[];
  dhgroups: number[];
  tid: number;
  seqnum?: number;
}

export class RefHost {
  hash = 0;
  group = 0;
  s1 = 0;
  c2: Buffer | null = null;
  sessionKey: Buffer | null = null;
  constructor(readonly o: RefHostOptions) {}

  private transformed(secret: Buffer, transform: number, nqn: string): Buffer {
    if (transform === 0) return secret;
    return crypto.createHmac(DIGESTS[transform]!.name, secret).update(nqn).update('NVMe-over-Fabrics').digest();
  }

  negotiate(): Buffer {
    const b = Buffer.alloc(8 + 64);
    b[0] = 0x00; // AUTH-Type: common
    b[1] = 0x00; // AUTH-ID: negotiate
    b.writeUInt16LE(this.o.tid, 4);
    b[6] = 0; // SC_C
    b[7] = 1; // NAPD
    b[8] = 0x01; // AUTHID DH-HMAC-CHAP
    b[10] = this.o.hashes.length;
    b[11] = this.o.dhgroups.length;
    this.o.hashes.forEach((h, i) => (b[12 + i] = h));
    this.o.dhgroups.forEach((g, i) => (b[12 + 30 + i] = g));
    return b;
  }

  private augment(c: Buffer): Buffer {
    if (!this.sessionKey) return c;
    const d = DIGESTS[this.hash]!.name;
    const k = crypto.createHash(d).update(this.sessionKey).digest();
    return crypto.createHmac(d, k).update(c).digest();
  }

  /** Parses the challenge; returns the reply. */
  reply(challenge: Uint8Array, opts: { corruptResponse?: boolean } = {}): Buffer {
    const ch = Buffer.from(challenge);
    if (ch[0] !== 0x01 || ch[1] !== 0x01) throw new Error(`not a challenge: ${ch[0]}/${ch[1]}`);
    if (ch.readUInt16LE(4) !== this.o.tid) throw new Error('challenge tid');
    const hl = ch[6]!;
    this.hash = ch[8]!;
    this.group = ch[9]!;
    const dhvlen = ch.readUInt16LE(10);
    this.s1 = ch.readUInt32LE(12);
    if (DIGESTS[this.hash]!.len !== hl) throw new Error('challenge hl');
    if (ch.length !== 16 + hl + dhvlen) throw new Error(`challenge length ${ch.length}`);
    const c1 = ch.subarray(16, 16 + hl);
    let hostDh = Buffer.alloc(0);
    if (this.group !== 0) {
      const p = ffdhePrime(this.group);
      if (dhvlen !== p.length) throw new Error('challenge dhvlen');
      const dh = crypto.createDiffieHellman(p, 2);
      dh.generateKeys();
      hostDh = Buffer.alloc(p.length);
      const pub = dh.getPublicKey();
      pub.copy(hostDh, p.length - pub.length);
      const s = dh.computeSecret(ch.subarray(16 + hl));
      this.sessionKey = Buffer.alloc(p.length);
      s.copy(this.sessionKey, p.length - s.length);
    } else if (dhvlen !== 0) throw new Error('NULL group with a DH value');
    const d = DIGESTS[this.hash]!.name;
    const kh = this.transformed(this.o.hostSecret, this.o.hostTransform, this.o.hostnqn);
    const le32 = Buffer.alloc(4);
    le32.writeUInt32LE(this.s1);
    const le16 = Buffer.alloc(2);
    le16.writeUInt16LE(this.o.tid);
    const r1 = crypto
      .createHmac(d, kh)
      .update(Buffer.concat([this.augment(Buffer.from(c1)), le32, le16, Buffer.from([0]), Buffer.from('HostHost'), Buffer.from(this.o.hostnqn), Buffer.from([0]), Buffer.from(this.o.subnqn)]))
      .digest();
    if (opts.corruptResponse) r1[0]! ^= 0x80;
    const bidi = this.o.ctrlSecret !== undefined;
    this.c2 = bidi ? crypto.randomBytes(hl) : null;
    const out = Buffer.alloc(16 + 2 * hl + hostDh.length);
    out[0] = 0x01;
    out[1] = 0x02;
    out.writeUInt16LE(this.o.tid, 4);
    out[6] = hl;
    out[8] = bidi ? 1 : 0;
    out.writeUInt16LE(hostDh.length, 10);
    out.writeUInt32LE(bidi ? (this.o.seqnum ?? 0x1234) : 0, 12);
    r1.copy(out, 16);
    if (this.c2) this.c2.copy(out, 16 + hl);
    hostDh.copy(out, 16 + 2 * hl);
    return out;
  }

  /** Checks Success1; for bidirectional, whether the controller's R2 is the expected one. */
  success1(msg: Uint8Array): { ok: boolean; rvalid: boolean } {
    const b = Buffer.from(msg);
    if (b[0] !== 0x01 || b[1] !== 0x03) throw new Error(`not success1: ${b[0]}/${b[1]}`);
    if (b.readUInt16LE(4) !== this.o.tid) throw new Error('success1 tid');
    const hl = b[6]!;
    const rvalid = b[8] === 1;
    if (!this.c2) return { ok: !rvalid && b.length === 16, rvalid };
    if (!rvalid || b.length !== 16 + hl) return { ok: false, rvalid };
    const d = DIGESTS[this.hash]!.name;
    const kc = this.transformed(this.o.ctrlSecret!, this.o.ctrlTransform ?? 0, this.o.subnqn);
    const le32 = Buffer.alloc(4);
    le32.writeUInt32LE(this.o.seqnum ?? 0x1234);
    const le16 = Buffer.alloc(2);
    le16.writeUInt16LE(this.o.tid);
    const r2 = crypto
      .createHmac(d, kc)
      .update(Buffer.concat([this.augment(this.c2), le32, le16, Buffer.from([0]), Buffer.from('Controller'), Buffer.from(this.o.subnqn), Buffer.from([0]), Buffer.from(this.o.hostnqn)]))
      .digest();
    return { ok: r2.equals(b.subarray(16, 16 + hl)), rvalid };
  }

  success2(): Buffer {
    const b = Buffer.alloc(16);
    b[0] = 0x01;
    b[1] = 0x04;
    b.writeUInt16LE(this.o.tid, 4);
    return b;
  }

  failure2(explanation: number): Buffer {
    const b = Buffer.alloc(8);
    b[0] = 0x00;
    b[1] = 0xf0;
    b.writeUInt16LE(this.o.tid, 4);
    b[6] = 0x01;
    b[7] = explanation;
    return b;
  }
}

/** Decodes an AUTH_Failure1: its explanation code, or null when the message is something else. */
export function failure1Explanation(msg: Uint8Array): number | null {
  return msg.length === 8 && msg[0] === 0x00 && msg[1] === 0xf1 && msg[6] === 0x01 ? msg[7]! : null;
}
