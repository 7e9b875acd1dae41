// The DH-HMAC-CHAP computations (NVMe base specification, in-band authentication):
//   augmented challenge  Ca = HMAC(H(g^xy mod p), C)        (only with a DH group; C otherwise)
//   host response        R1 = HMAC(Kh', Ca1 || S1 || T || SC_C || "HostHost" || NQNh || 00h || NQNc)
//   controller response  R2 = HMAC(Kc', Ca2 || S2 || T || SC_C || "Controller" || NQNc || 00h || NQNh)
// with S1/S2 32-bit and T 16-bit little-endian, SC_C one byte (0: no secure channel concatenation),
// Kh'/Kc' the transformed host/controller keys, and the DH values and the shared secret padded to the
// size of the group prime.
import crypto from 'node:crypto';
import { HashId, hash, hmac } from '../../keys/hash.js';
import { DH_GENERATOR, DhGroupId, dhPrime } from '../../keys/ffdhe.js';
import { AuthFailure, AuthProtocolError, SC_C_NONE } from './messages.js';

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function le16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
}
const ZERO = Buffer.from([0]);

export function augmentedChallenge(h: HashId, sessionKey: Uint8Array, challenge: Uint8Array): Buffer {
  const k = hash(h, sessionKey);
  try {
    return hmac(h, k, challenge);
  } finally {
    k.fill(0);
  }
}

export function hostResponse(h: HashId, key: Uint8Array, challenge: Uint8Array, s1: number, tid: number, hostnqn: string, subnqn: string): Buffer {
  return hmac(h, key, challenge, le32(s1), le16(tid), Buffer.from([SC_C_NONE]), 'HostHost', Buffer.from(hostnqn, 'utf8'), ZERO, Buffer.from(subnqn, 'utf8'));
}

export function controllerResponse(h: HashId, key: Uint8Array, challenge: Uint8Array, s2: number, tid: number, subnqn: string, hostnqn: string): Buffer {
  return hmac(h, key, challenge, le32(s2), le16(tid), Buffer.from([SC_C_NONE]), 'Controller', Buffer.from(subnqn, 'utf8'), ZERO, Buffer.from(hostnqn, 'utf8'));
}

function leftPad(b: Buffer, len: number): Buffer {
  if (b.length === len) return b;
  const out = Buffer.alloc(len);
  b.copy(out, len - b.length);
  b.fill(0);
  return out;
}

/** One side of an ffdhe exchange: a fresh private key per transaction. */
export class DhExchange {
  readonly prime: Buffer;
  private readonly dh: crypto.DiffieHellman;
  private readonly p: bigint;

  constructor(readonly group: DhGroupId) {
    const prime = dhPrime(group);
    if (!prime) throw new RangeError('the NULL group has no exchange');
    this.prime = prime;
    this.p = BigInt(`0x${prime.toString('hex')}`);
    this.dh = crypto.createDiffieHellman(prime, DH_GENERATOR);
    this.dh.generateKeys();
  }

  /** Our DH value g^x mod p, as many bytes as the prime. */
  publicValue(): Buffer {
    return leftPad(this.dh.getPublicKey(), this.prime.length);
  }

  /** The shared secret with the peer's DH value (refused unless 1 < y < p-1 and of the prime's size). */
  sharedSecret(peer: Uint8Array): Buffer {
    if (peer.length !== this.prime.length) {
      throw new AuthProtocolError(AuthFailure.INCORRECT_PAYLOAD, `DH value of ${peer.length} bytes, the group makes ${this.prime.length}`);
    }
    const y = BigInt(`0x${Buffer.from(peer).toString('hex')}`);
    if (y <= 1n || y >= this.p - 1n) throw new AuthProtocolError(AuthFailure.DHGROUP_UNUSABLE, 'DH value out of range (must be 1 < y < p-1)');
    let secret: Buffer;
    try {
      secret = this.dh.computeSecret(peer);
    } catch (err) {
      throw new AuthProtocolError(AuthFailure.DHGROUP_UNUSABLE, `DH value refused: ${(err as Error).message}`);
    }
    return leftPad(secret, this.prime.length);
  }
}
