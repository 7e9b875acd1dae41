// The in-band authentication messages (Authentication Send / Receive data, DH-HMAC-CHAP protocol):
// their identifiers, byte layouts, the failure explanations, and the one place that decodes what a
// host sends (every length and field checked) and encodes what the controller answers.
//
//   common header   0 AUTH-Type, 1 AUTH-ID, 2-3 reserved, 4-5 T_ID (LE)
//   AUTH_Negotiate  6 SC_C, 7 NAPD, then NAPD 64-byte protocol descriptors:
//                   0 AUTHID (01h DH-HMAC-CHAP), 1 reserved, 2 HALEN, 3 DHLEN, 4-33 hash ids, 34-63 DH group ids
//   _Challenge      6 HL, 7 reserved, 8 HASHID, 9 DHGID, 10-11 DHVLEN, 12-15 SEQNUM, 16 C1 (HL), DH value (DHVLEN)
//   _Reply          6 HL, 7 reserved, 8 CVALID, 9 reserved, 10-11 DHVLEN, 12-15 SEQNUM, 16 R1 (HL), C2 (HL), DH value
//   _Success1       6 HL, 7 reserved, 8 RVALID, 9-15 reserved, 16 R2 (HL, when RVALID)
//   _Success2       6-15 reserved
//   AUTH_Failure1/2 6 reason code (01h), 7 reason code explanation
import { HashId, hashLen, isHashId } from '../../keys/hash.js';
import { DhGroupId, isDhGroupId } from '../../keys/ffdhe.js';

export const AuthType = { COMMON: 0x00, DHCHAP: 0x01 } as const;

export const AuthId = {
  NEGOTIATE: 0x00,
  CHALLENGE: 0x01,
  REPLY: 0x02,
  SUCCESS1: 0x03,
  SUCCESS2: 0x04,
  FAILURE2: 0xf0,
  FAILURE1: 0xf1,
} as const;

/** AUTHID of the DH-HMAC-CHAP protocol descriptor. */
export const DHCHAP_AUTH_ID = 0x01;
/** SC_C: no secure channel concatenation. */
export const SC_C_NONE = 0x00;

export const REASON_FAILED = 0x01;

/** Reason code explanations of AUTH_Failure1 / AUTH_Failure2. */
export const AuthFailure = {
  FAILED: 0x01,
  NOT_USABLE: 0x02,
  CONCAT_MISMATCH: 0x03,
  HASH_UNUSABLE: 0x04,
  DHGROUP_UNUSABLE: 0x05,
  INCORRECT_PAYLOAD: 0x06,
  INCORRECT_MESSAGE: 0x07,
} as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

export const HEADER_LEN = 16;
export const NEGOTIATE_HEADER_LEN = 8;
export const DESCRIPTOR_LEN = 64;
export const MAX_IDS = 30;
export const FAILURE_LEN = 8;

/** A refusal of what the host sent: the explanation code and one line for the log. */
export class AuthProtocolError extends Error {
  override readonly name = 'AuthProtocolError';
  constructor(readonly explanation: AuthFailure, message: string) {
    super(message);
  }
}

function refuse(explanation: AuthFailure, message: string): never {
  throw new AuthProtocolError(explanation, message);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function messageType(b: Uint8Array): { authType: number; authId: number } | null {
  return b.length < 2 ? null : { authType: b[0]!, authId: b[1]! };
}

export function transactionId(b: Uint8Array): number {
  if (b.length < 6) refuse(AuthFailure.INCORRECT_PAYLOAD, `message of ${b.length} bytes has no transaction id`);
  return view(b).getUint16(4, true);
}

export interface Negotiate {
  readonly tid: number;
  readonly scC: number;
  readonly hashes: readonly number[];
  readonly dhgroups: readonly number[];
}

export function parseNegotiate(b: Uint8Array): Negotiate {
  if (b.length < NEGOTIATE_HEADER_LEN + DESCRIPTOR_LEN) {
    refuse(AuthFailure.INCORRECT_PAYLOAD, `AUTH_Negotiate of ${b.length} bytes is shorter than one protocol descriptor`);
  }
  const tid = view(b).getUint16(4, true);
  const scC = b[6]!;
  const napd = b[7]!;
  if (napd === 0) refuse(AuthFailure.INCORRECT_PAYLOAD, 'AUTH_Negotiate lists no protocol (NAPD 0)');
  const want = NEGOTIATE_HEADER_LEN + napd * DESCRIPTOR_LEN;
  if (b.length !== want) {
    refuse(AuthFailure.INCORRECT_PAYLOAD, `AUTH_Negotiate is ${b.length} bytes, NAPD ${napd} makes it ${want}`);
  }
  let dhchap: Uint8Array | null = null;
  for (let i = 0; i < napd; i++) {
    const d = b.subarray(NEGOTIATE_HEADER_LEN + i * DESCRIPTOR_LEN, NEGOTIATE_HEADER_LEN + (i + 1) * DESCRIPTOR_LEN);
    if (d[0] === DHCHAP_AUTH_ID) {
      if (dhchap) refuse(AuthFailure.INCORRECT_PAYLOAD, 'AUTH_Negotiate lists DH-HMAC-CHAP twice');
      dhchap = d;
    }
  }
  if (!dhchap) return refuse(AuthFailure.NOT_USABLE, 'AUTH_Negotiate offers no DH-HMAC-CHAP protocol descriptor');
  const halen = dhchap[2]!;
  const dhlen = dhchap[3]!;
  if (halen > MAX_IDS || dhlen > MAX_IDS) {
    refuse(AuthFailure.INCORRECT_PAYLOAD, `AUTH_Negotiate HALEN ${halen} / DHLEN ${dhlen}: at most ${MAX_IDS} each`);
  }
  return {
    tid,
    scC,
    hashes: Array.from(dhchap.subarray(4, 4 + halen)),
    dhgroups: Array.from(dhchap.subarray(4 + MAX_IDS, 4 + MAX_IDS + dhlen)),
  };
}

export interface Reply {
  readonly tid: number;
  readonly response: Uint8Array;
  /** C2 when the host asks the controller to authenticate itself (CVALID). */
  readonly challenge: Uint8Array | null;
  readonly seqnum: number;
  readonly dhValue: Uint8Array;
}

/** Decodes a DH-HMAC-CHAP_Reply for the negotiated hash length and DH value size (0: NULL group). */
export function parseReply(b: Uint8Array, hl: number, dhvlen: number): Reply {
  if (b.length < HEADER_LEN) refuse(AuthFailure.INCORRECT_PAYLOAD, `DH-HMAC-CHAP_Reply of ${b.length} bytes is shorter than its header`);
  const v = view(b);
  const tid = v.getUint16(4, true);
  const rhl = b[6]!;
  const cvalid = b[8]!;
  const rdhvlen = v.getUint16(10, true);
  const seqnum = v.getUint32(12, true);
  if (rhl !== hl) refuse(AuthFailure.INCORRECT_PAYLOAD, `DH-HMAC-CHAP_Reply HL ${rhl}, the negotiated hash makes ${hl}`);
  if (rdhvlen !== dhvlen) refuse(AuthFailure.INCORRECT_PAYLOAD, `DH-HMAC-CHAP_Reply DHVLEN ${rdhvlen}, the negotiated group makes ${dhvlen}`);
  const want = HEADER_LEN + 2 * hl + dhvlen;
  if (b.length !== want) refuse(AuthFailure.INCORRECT_PAYLOAD, `DH-HMAC-CHAP_Reply is ${b.length} bytes, its fields make ${want}`);
  if (cvalid > 1) refuse(AuthFailure.INCORRECT_PAYLOAD, `DH-HMAC-CHAP_Reply CVALID ${cvalid}`);
  return {
    tid,
    response: b.subarray(HEADER_LEN, HEADER_LEN + hl),
    challenge: cvalid ? b.subarray(HEADER_LEN + hl, HEADER_LEN + 2 * hl) : null,
    seqnum,
    dhValue: b.subarray(HEADER_LEN + 2 * hl, want),
  };
}

/** DH-HMAC-CHAP_Success2: exactly its 16 bytes. */
export function parseSuccess2(b: Uint8Array): { tid: number } {
  if (b.length !== HEADER_LEN) refuse(AuthFailure.INCORRECT_PAYLOAD, `DH-HMAC-CHAP_Success2 is ${b.length} bytes, not ${HEADER_LEN}`);
  return { tid: view(b).getUint16(4, true) };
}

export function parseFailure2(b: Uint8Array): { tid: number; reason: number; explanation: number } {
  if (b.length < FAILURE_LEN) refuse(AuthFailure.INCORRECT_PAYLOAD, `AUTH_Failure2 of ${b.length} bytes`);
  return { tid: view(b).getUint16(4, true), reason: b[6]!, explanation: b[7]! };
}

function header(len: number, authType: number, authId: number, tid: number): Buffer {
  const b = Buffer.alloc(len);
  b[0] = authType;
  b[1] = authId;
  b.writeUInt16LE(tid, 4);
  return b;
}

export function encodeChallenge(o: { tid: number; hashId: HashId; dhgroup: DhGroupId; seqnum: number; c1: Uint8Array; dhValue: Uint8Array }): Buffer {
  const hl = hashLen(o.hashId);
  if (!isHashId(o.hashId) || o.c1.length !== hl || !isDhGroupId(o.dhgroup)) throw new RangeError('bad challenge fields');
  const b = header(HEADER_LEN + hl + o.dhValue.length, AuthType.DHCHAP, AuthId.CHALLENGE, o.tid);
  b[6] = hl;
  b[8] = o.hashId;
  b[9] = o.dhgroup;
  b.writeUInt16LE(o.dhValue.length, 10);
  b.writeUInt32LE(o.seqnum >>> 0, 12);
  b.set(o.c1, HEADER_LEN);
  b.set(o.dhValue, HEADER_LEN + hl);
  return b;
}

/** Success1; with the controller's response R2 (RVALID) when the host asked for it. */
export function encodeSuccess1(tid: number, hl: number, response: Uint8Array | null): Buffer {
  const b = header(HEADER_LEN + (response ? hl : 0), AuthType.DHCHAP, AuthId.SUCCESS1, tid);
  b[6] = hl;
  if (response) {
    if (response.length !== hl) throw new RangeError('R2 length differs from HL');
    b[8] = 1;
    b.set(response, HEADER_LEN);
  }
  return b;
}

export function encodeFailure1(tid: number, explanation: AuthFailure): Buffer {
  const b = header(FAILURE_LEN, AuthType.COMMON, AuthId.FAILURE1, tid);
  b[6] = REASON_FAILED;
  b[7] = explanation;
  return b;
}
