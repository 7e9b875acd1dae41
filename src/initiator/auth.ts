// The host side of in-band authentication (DH-HMAC-CHAP), written from the protocol definitions with
// node:crypto only (it shares no code with the target's src/core/auth, so that tests of one against
// the other mean something): on a queue whose Connect answered ATR, AUTH_Negotiate -> Challenge ->
// Reply -> Success1 [-> Success2], over Authentication Send / Receive.
import crypto from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { HostQueue } from './queue.js';
import { expectOk } from './result.js';
import * as S from './sqe-build.js';

/** Connect response DW0 bit 17: the queue must run an authentication transaction. */
export const CONNECT_ATR = 1 << 17;

const DIGESTS: Record<number, { name: 'sha256' | 'sha384' | 'sha512'; len: number }> = {
  1: { name: 'sha256', len: 32 },
  2: { name: 'sha384', len: 48 },
  3: { name: 'sha512', len: 64 },
};
const HASH_IDS: Record<string, number> = { sha256: 1, sha384: 2, sha512: 3 };
const GROUP_IDS: Record<string, number> = { null: 0, ffdhe2048: 1, ffdhe3072: 2, ffdhe4096: 3, ffdhe6144: 4, ffdhe8192: 5 };

export type HostHashName = 'sha256' | 'sha384' | 'sha512';
export type HostDhGroupName = 'null' | 'ffdhe2048' | 'ffdhe3072' | 'ffdhe4096' | 'ffdhe6144' | 'ffdhe8192';

export interface HostDhchapOptions {
  /** The host's secret (DHHC-1:<hh>:<base64>:). */
  key: string;
  /** The controller's secret: the host asks the controller to authenticate too (bidirectional). */
  ctrlKey?: string;
  /** Hashes offered, most preferred first. Default: sha256, sha384, sha512. */
  hashes?: readonly HostHashName[];
  /** DH groups offered, most preferred first. Default: all five groups, then null. */
  dhgroups?: readonly HostDhGroupName[];
}

/** The transaction did not authenticate: the controller's AUTH_Failure1, or the controller's own proof was wrong. */
export class AuthenticationError extends Error {
  constructor(
    message: string,
    /** Reason code explanation (AUTH_Failure1 from the controller, or the one this host sent in AUTH_Failure2). */
    readonly explanation: number,
    /** True when the controller refused the host (AUTH_Failure1). */
    readonly byController: boolean,
  ) {
    super(message);
    this.name = 'AuthenticationError';
  }
}

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
function ffdhePrime(group: number): Buffer {
  let p = primes.get(group);
  if (!p) {
    const g = FFDHE[group];
    if (!g) throw new Error(`unknown DH group ${group}`);
    const b = BigInt(g.bits);
    const n = (1n << b) - (1n << (b - 64n)) + ((eFixed(g.bits - 130) + g.x) << 64n) - 1n;
    p = Buffer.from(n.toString(16).padStart(g.bits / 4, '0'), 'hex');
    primes.set(group, p);
  }
  return p;
}

/** DHHC-1:<hh>:<base64 of secret + CRC-32 LE>: -> the secret and its transformation hash (0: none). */
export function parseHostSecret(text: string): { transform: number; secret: Buffer } {
  const m = /^DHHC-1:(0[0-3]):([A-Za-z0-9+/=]+):$/.exec(text.trim());
  if (!m) throw new Error('not a DHHC-1 secret');
  const raw = Buffer.from(m[2]!, 'base64');
  if (raw.length < 36) throw new Error('DHHC-1 secret too short');
  const secret = raw.subarray(0, raw.length - 4);
  if ((crc32(secret) >>> 0) !== raw.readUInt32LE(raw.length - 4)) throw new Error('DHHC-1 secret: CRC mismatch');
  return { transform: Number.parseInt(m[1]!, 16), secret: Buffer.from(secret) };
}

function transformed(s: { transform: number; secret: Buffer }, nqn: string): Buffer {
  if (s.transform === 0) return s.secret;
  return crypto.createHmac(DIGESTS[s.transform]!.name, s.secret).update(nqn).update('NVMe-over-Fabrics').digest();
}

/** Receive allocation: the largest message (Challenge with SHA-512 and ffdhe8192) fits. */
const AL = 4096;

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** AUTH_Failure1 from the controller: its explanation; null for any other message. */
function failure1(b: Buffer): number | null {
  return b.length >= 8 && b[0] === 0x00 && b[1] === 0xf1 ? b[7]! : null;
}

/**
 * Runs one authentication transaction on `q` (connected, its Connect answered ATR). Resolves once the
 * host (and, with ctrlKey, the controller) authenticated; throws AuthenticationError when refused.
 */
export async function authenticateQueue(q: HostQueue, o: HostDhchapOptions, hostnqn: string, subnqn: string): Promise<void> {
  const host = parseHostSecret(o.key);
  const ctrl = o.ctrlKey !== undefined ? parseHostSecret(o.ctrlKey) : null;
  const hashes = (o.hashes ?? ['sha256', 'sha384', 'sha512']).map((h) => HASH_IDS[h]!);
  const groups = (o.dhgroups ?? ['ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192', 'null']).map((g) => GROUP_IDS[g]!);
  const tid = crypto.randomInt(0, 0x10000);
  const send = async (msg: Buffer, what: string): Promise<void> => {
    expectOk(`Authentication Send (${what})`, await q.submit((sqe) => S.authenticationSend(sqe, msg.length), { dataOut: msg }));
  };
  const receive = async (what: string): Promise<Buffer> => {
    const r = expectOk(`Authentication Receive (${what})`, await q.submit((sqe) => S.authenticationReceive(sqe, AL), { dataIn: Buffer.alloc(AL) }));
    const b = r.data!;
    const f = failure1(b);
    if (f !== null) throw new AuthenticationError(`the controller refused authentication (AUTH_Failure1, reason code explanation ${f})`, f, true);
    return b;
  };

  // AUTH_Negotiate: one protocol descriptor, DH-HMAC-CHAP, with our hash and group lists.
  const neg = Buffer.alloc(8 + 64);
  neg[0] = 0x00;
  neg[1] = 0x00;
  neg.writeUInt16LE(tid, 4);
  neg[6] = 0; // SC_C: no secure channel concatenation
  neg[7] = 1; // NAPD
  neg[8] = 0x01; // AUTHID: DH-HMAC-CHAP
  neg[10] = hashes.length;
  neg[11] = groups.length;
  hashes.forEach((h, i) => (neg[12 + i] = h));
  groups.forEach((g, i) => (neg[12 + 30 + i] = g));
  await send(neg, 'AUTH_Negotiate');

  // DH-HMAC-CHAP_Challenge
  const ch = await receive('Challenge');
  if (ch[0] !== 0x01 || ch[1] !== 0x01) throw new Error(`expected a DH-HMAC-CHAP_Challenge, got AUTH-Type ${ch[0]} AUTH-ID ${ch[1]}`);
  if (ch.readUInt16LE(4) !== tid) throw new Error('Challenge: wrong transaction id');
  const hl = ch[6]!;
  const hashId = ch[8]!;
  const group = ch[9]!;
  const dhvlen = ch.readUInt16LE(10);
  const s1 = ch.readUInt32LE(12);
  const digest = DIGESTS[hashId];
  if (!digest || digest.len !== hl || !hashes.includes(hashId)) throw new Error(`Challenge: hash ${hashId} / length ${hl} not offered`);
  if (!groups.includes(group)) throw new Error(`Challenge: DH group ${group} not offered`);
  const c1 = ch.subarray(16, 16 + hl);
  let hostDh = Buffer.alloc(0);
  let sessionKey: Buffer | null = null;
  if (group !== 0) {
    const p = ffdhePrime(group);
    if (dhvlen !== p.length) throw new Error('Challenge: DH value length');
    const dh = crypto.createDiffieHellman(p, 2);
    dh.generateKeys();
    hostDh = Buffer.alloc(p.length);
    const pub = dh.getPublicKey();
    pub.copy(hostDh, p.length - pub.length);
    const shared = dh.computeSecret(ch.subarray(16 + hl, 16 + hl + dhvlen));
    sessionKey = Buffer.alloc(p.length);
    shared.copy(sessionKey, p.length - shared.length);
  } else if (dhvlen !== 0) {
    throw new Error('Challenge: DH value with the NULL group');
  }
  const augment = (c: Buffer): Buffer => {
    if (!sessionKey) return c;
    const k = crypto.createHash(digest.name).update(sessionKey).digest();
    return crypto.createHmac(digest.name, k).update(c).digest();
  };

  // DH-HMAC-CHAP_Reply: R1 = HMAC(Kh, C1' || S1 || T_ID || 0 || "HostHost" || NQNh || 0 || NQNc)
  const r1 = crypto
    .createHmac(digest.name, transformed(host, hostnqn))
    .update(Buffer.concat([augment(Buffer.from(c1)), u32(s1), u16(tid), Buffer.from([0]), Buffer.from('HostHost'), Buffer.from(hostnqn), Buffer.from([0]), Buffer.from(subnqn)]))
    .digest();
  const c2 = ctrl ? crypto.randomBytes(hl) : null;
  const s2 = ctrl ? crypto.randomInt(1, 0x7fffffff) : 0;
  const reply = Buffer.alloc(16 + 2 * hl + hostDh.length);
  reply[0] = 0x01;
  reply[1] = 0x02;
  reply.writeUInt16LE(tid, 4);
  reply[6] = hl;
  reply[8] = c2 ? 1 : 0; // CVALID
  reply.writeUInt16LE(hostDh.length, 10);
  reply.writeUInt32LE(s2, 12);
  r1.copy(reply, 16);
  if (c2) c2.copy(reply, 16 + hl);
  hostDh.copy(reply, 16 + 2 * hl);
  await send(reply, 'Reply');

  // DH-HMAC-CHAP_Success1 (with R2 when we asked the controller to authenticate)
  const s = await receive('Success1');
  if (s[0] !== 0x01 || s[1] !== 0x03) throw new Error(`expected DH-HMAC-CHAP_Success1, got AUTH-Type ${s[0]} AUTH-ID ${s[1]}`);
  if (!ctrl || !c2) return;
  const r2 = crypto
    .createHmac(digest.name, transformed(ctrl, subnqn))
    .update(Buffer.concat([augment(c2), u32(s2), u16(tid), Buffer.from([0]), Buffer.from('Controller'), Buffer.from(subnqn), Buffer.from([0]), Buffer.from(hostnqn)]))
    .digest();
  if (s[8] !== 1 || !crypto.timingSafeEqual(r2, s.subarray(16, 16 + hl))) {
    // AUTH_Failure2: reason "failed", explanation "authentication failed".
    const f2 = Buffer.alloc(8);
    f2[1] = 0xf0;
    f2.writeUInt16LE(tid, 4);
    f2[6] = 0x01;
    f2[7] = 0x01;
    await send(f2, 'AUTH_Failure2').catch(() => undefined);
    throw new AuthenticationError('the controller did not prove it knows the controller secret', 0x01, false);
  }
  // DH-HMAC-CHAP_Success2
  const ok = Buffer.alloc(16);
  ok[0] = 0x01;
  ok[1] = 0x04;
  ok.writeUInt16LE(tid, 4);
  await send(ok, 'Success2');
}
