// The controller side of one queue's in-band authentication: the DH-HMAC-CHAP transaction state
// machine driven by the data of Authentication Send (what the host says) and Authentication Receive
// (what the controller answers).
//
//   negotiate --Send AUTH_Negotiate--> challenge --Receive--> reply --Send _Reply (R1 checked)--> success1
//   success1 --Receive _Success1--> done (unidirectional) | success2 --Send _Success2--> done
//   any refusal --> failure1 --Receive AUTH_Failure1--> failed;  Send AUTH_Failure2 --> failed
// An AUTH_Negotiate restarts the transaction from any state but failure1/failed (re-authentication).
// A failed transaction stays failed, whatever the host sends: it has to connect again.
import crypto from 'node:crypto';
import { AuthKeyError } from '../../keys/errors.js';
import { HashId, constantTimeEqual, hashLen, hashName, isHashId } from '../../keys/hash.js';
import { DhGroupId, dhGroupName, dhPrime, isDhGroupId } from '../../keys/ffdhe.js';
import { DhchapKey, transformDhchapKey } from '../../keys/dhchap-key.js';
import { DhExchange, augmentedChallenge, controllerResponse, hostResponse } from './dhchap.js';
import {
  AuthFailure,
  AuthId,
  AuthProtocolError,
  AuthType,
  SC_C_NONE,
  encodeChallenge,
  encodeFailure1,
  encodeSuccess1,
  messageType,
  parseFailure2,
  parseNegotiate,
  parseReply,
  parseSuccess2,
  transactionId,
} from './messages.js';
import { S_AUTH_INVALID_FIELD } from './command.js';

export type AuthState = 'negotiate' | 'challenge' | 'reply' | 'success1' | 'success2' | 'failure1' | 'done' | 'failed';

/** What the transaction logs: a pino logger fits. */
export interface AuthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface AuthTransactionOptions {
  readonly hostnqn: string;
  readonly subnqn: string;
  /** The host's secret: the host proves it knows it. */
  readonly hostKey: DhchapKey;
  /** The controller's secret, for bidirectional authentication when the host asks for it. */
  readonly ctrlKey?: DhchapKey | null;
  /** Hashes the controller accepts, most preferred first. */
  readonly hashes: readonly HashId[];
  /** DH groups the controller accepts, most preferred first (DhGroupId.NULL: no DH exchange). */
  readonly dhgroups: readonly DhGroupId[];
  readonly log?: AuthLog;
  /**
   * The queue has authenticated already (it moved to another thread after its transaction): the
   * transaction starts authenticated, and a new AUTH_Negotiate re-authenticates it.
   */
  readonly authenticated?: boolean;
  /**
   * The host's settings as they are now, asked at each AUTH_Negotiate (a re-authentication uses keys
   * changed since the queue connected); a string: the host cannot authenticate now (the reason).
   */
  readonly current?: () => AuthKeys | string;
}

/** The keys and lists a transaction authenticates with. */
export type AuthKeys = Pick<AuthTransactionOptions, 'hostKey' | 'ctrlKey' | 'hashes' | 'dhgroups'>;

export interface AuthSendResult {
  /** NVMe status of the Authentication Send command (0: the data was taken; a refusal is reported by the next Receive). */
  readonly status: number;
}

export interface AuthReceiveResult {
  /** NVMe status of the Authentication Receive command. */
  readonly status: number;
  /** The message (at most AL bytes; the transport may zero-fill up to AL). */
  readonly data: Uint8Array;
}

// S1: a counter started at a random value, never 0, different for every transaction of this process.
let seqCounter = 0;
function nextSeqnum(): number {
  if (seqCounter === 0) seqCounter = crypto.randomBytes(4).readUInt32LE(0);
  else seqCounter = (seqCounter + 1) >>> 0;
  if (seqCounter === 0) seqCounter = 1;
  return seqCounter;
}

const NOOP_LOG: AuthLog = { info() {}, warn() {}, debug() {} };

export class AuthTransaction {
  private st: AuthState = 'negotiate';
  private ok = false;
  private tid = 0;
  private hashId: HashId = HashId.SHA256;
  private dhgroup: DhGroupId = 0;
  private s1 = 0;
  private s2 = 0;
  private c1: Buffer | null = null;
  private c2: Buffer | null = null;
  private dh: DhExchange | null = null;
  private sessionKey: Buffer | null = null;
  private explanation: AuthFailure = AuthFailure.FAILED;
  private hostKeyT!: Buffer;
  private ctrlKeyT: Buffer | null = null;
  private hashes!: readonly HashId[];
  private dhgroups!: readonly DhGroupId[];
  private readonly log: AuthLog;

  constructor(private readonly o: AuthTransactionOptions) {
    this.load(o);
    this.log = o.log ?? NOOP_LOG;
    if (o.authenticated) {
      this.ok = true;
      this.st = 'done';
    }
  }

  /** Takes the keys and lists to authenticate with (checked; the transformed keys computed once). */
  private load(k: AuthKeys): void {
    if (k.hashes.length === 0 || !k.hashes.every((h) => isHashId(h))) throw new AuthKeyError('authentication: hashes must list sha256, sha384 and/or sha512');
    if (k.dhgroups.length === 0 || !k.dhgroups.every((g) => isDhGroupId(g))) throw new AuthKeyError('authentication: dhgroups must list null and/or ffdhe2048..ffdhe8192');
    if (this.loaded === k) return;
    this.hostKeyT?.fill(0);
    this.ctrlKeyT?.fill(0);
    this.hostKeyT = transformDhchapKey(k.hostKey, this.o.hostnqn);
    this.ctrlKeyT = k.ctrlKey ? transformDhchapKey(k.ctrlKey, this.o.subnqn) : null;
    this.hashes = k.hashes;
    this.dhgroups = k.dhgroups;
    this.loaded = k;
  }
  private loaded: AuthKeys | null = null;

  get state(): AuthState {
    return this.st;
  }
  /** The host has authenticated (and, when it asked, the controller too). */
  get authenticated(): boolean {
    return this.ok;
  }
  /** The transaction failed: the queue stays unauthenticated until the host connects again. */
  get failed(): boolean {
    return this.st === 'failed' || this.st === 'failure1';
  }
  /** The reason code explanation of the failure (meaningful when failed). */
  get failureExplanation(): AuthFailure {
    return this.explanation;
  }
  get negotiated(): { hash: HashId; dhgroup: DhGroupId; tid: number } {
    return { hash: this.hashId, dhgroup: this.dhgroup, tid: this.tid };
  }

  /**
   * Ends an unfinished transaction as failed (the fabrics layer's timer: no progress within KATO, or
   * 120 s when KATO is 0; or a host that never starts). A finished one (done or failed) is left as it is.
   */
  abort(why: string): void {
    if (this.st === 'done' || this.failed) return;
    this.refuse(AuthFailure.FAILED, why);
    this.st = 'failed';
  }

  /** The data of an Authentication Send (TL bytes). */
  onSend(payload: Uint8Array): AuthSendResult {
    if (payload.length === 0) return { status: S_AUTH_INVALID_FIELD };
    try {
      this.dispatchSend(payload);
    } catch (err) {
      if (!(err instanceof AuthProtocolError)) throw err;
      this.refuse(err.explanation, err.message);
    }
    return { status: 0 };
  }

  /** An Authentication Receive with allocation length al. */
  onReceive(al: number): AuthReceiveResult {
    const need = this.pendingLength();
    if (need > 0 && al < need) {
      this.log.warn({ al, need, state: this.st }, 'authentication: Receive allocation length too small for the next message');
      return { status: S_AUTH_INVALID_FIELD, data: new Uint8Array(0) };
    }
    switch (this.st) {
      case 'challenge':
        return { status: 0, data: this.challenge() };
      case 'success1':
        return { status: 0, data: this.success1() };
      case 'failure1':
      case 'failed':
        this.st = 'failed';
        this.wipe();
        return { status: 0, data: encodeFailure1(this.tid, this.explanation) };
      default:
        this.refuse(AuthFailure.INCORRECT_MESSAGE, `Authentication Receive while the controller waits for the host (state ${this.st})`);
        this.st = 'failed';
        this.wipe();
        return { status: 0, data: encodeFailure1(this.tid, this.explanation) };
    }
  }

  /** Bytes of the message the next Receive returns (0 when none is due). */
  private pendingLength(): number {
    const hl = hashLen(this.hashId);
    switch (this.st) {
      case 'challenge':
        return 16 + hl + (dhPrime(this.dhgroup)?.length ?? 0);
      case 'success1':
        return 16 + (this.c2 ? hl : 0);
      default:
        return 8;
    }
  }

  private dispatchSend(b: Uint8Array): void {
    const t = messageType(b);
    if (!t) throw new AuthProtocolError(AuthFailure.INCORRECT_PAYLOAD, `message of ${b.length} byte(s)`);
    if (this.failed) {
      this.log.warn({ authType: t.authType, authId: t.authId }, 'authentication: message after the transaction failed, ignored');
      return;
    }
    if (t.authType === AuthType.COMMON && t.authId === AuthId.NEGOTIATE) return this.negotiate(b);
    const failure2 = t.authId === AuthId.FAILURE2 && (t.authType === AuthType.COMMON || t.authType === AuthType.DHCHAP);
    if (failure2) return this.failure2(b);
    if (t.authType !== AuthType.DHCHAP || (t.authId !== AuthId.REPLY && t.authId !== AuthId.SUCCESS2)) {
      throw new AuthProtocolError(AuthFailure.INCORRECT_MESSAGE, `unknown message AUTH-Type ${t.authType} AUTH-ID ${t.authId}`);
    }
    const expected = this.st === 'reply' ? AuthId.REPLY : this.st === 'success2' ? AuthId.SUCCESS2 : -1;
    if (t.authId !== expected) {
      throw new AuthProtocolError(AuthFailure.INCORRECT_MESSAGE, `message AUTH-ID ${t.authId} out of order (state ${this.st})`);
    }
    const tid = transactionId(b);
    if (tid !== this.tid) throw new AuthProtocolError(AuthFailure.INCORRECT_PAYLOAD, `transaction id ${tid}, the transaction is ${this.tid}`);
    if (t.authId === AuthId.REPLY) return this.reply(b);
    parseSuccess2(b);
    this.st = 'done';
    this.ok = true;
    this.wipe();
    this.log.info({ tid, hash: hashName(this.hashId), dhgroup: dhGroupName(this.dhgroup) }, 'authentication: host and controller authenticated (bidirectional)');
  }

  private negotiate(b: Uint8Array): void {
    this.wipe();
    this.st = 'negotiate';
    if (b.length >= 6) this.tid = transactionId(b);
    const n = parseNegotiate(b);
    this.tid = n.tid;
    if (n.scC !== SC_C_NONE) throw new AuthProtocolError(AuthFailure.CONCAT_MISMATCH, `secure channel concatenation (SC_C ${n.scC}) is not supported`);
    if (this.o.current) {
      const now = this.o.current();
      if (typeof now === 'string') throw new AuthProtocolError(AuthFailure.FAILED, now);
      this.load(now);
    }
    const h = this.hashes.find((x) => n.hashes.includes(x));
    if (h === undefined) {
      throw new AuthProtocolError(AuthFailure.HASH_UNUSABLE, `no common hash (host offers [${n.hashes.join(',')}], controller allows [${this.hashes.map(hashName).join(',')}])`);
    }
    const g = this.dhgroups.find((x) => n.dhgroups.includes(x));
    if (g === undefined) {
      throw new AuthProtocolError(AuthFailure.DHGROUP_UNUSABLE, `no common DH group (host offers [${n.dhgroups.join(',')}], controller allows [${this.dhgroups.map(dhGroupName).join(',')}])`);
    }
    this.hashId = h;
    this.dhgroup = g;
    this.st = 'challenge';
    this.log.debug({ tid: n.tid, hash: hashName(h), dhgroup: dhGroupName(g) }, 'authentication: negotiated');
  }

  private challenge(): Uint8Array {
    const hl = hashLen(this.hashId);
    this.s1 = nextSeqnum();
    this.c1 = crypto.randomBytes(hl);
    this.dh = this.dhgroup === DhGroupId.NULL ? null : new DhExchange(this.dhgroup);
    const msg = encodeChallenge({
      tid: this.tid,
      hashId: this.hashId,
      dhgroup: this.dhgroup,
      seqnum: this.s1,
      c1: this.c1,
      dhValue: this.dh ? this.dh.publicValue() : new Uint8Array(0),
    });
    this.st = 'reply';
    return msg;
  }

  private reply(b: Uint8Array): void {
    const hl = hashLen(this.hashId);
    const r = parseReply(b, hl, this.dh ? this.dh.prime.length : 0);
    if (this.dh) this.sessionKey = this.dh.sharedSecret(r.dhValue);
    const c1 = this.sessionKey ? augmentedChallenge(this.hashId, this.sessionKey, this.c1!) : this.c1!;
    const expected = hostResponse(this.hashId, this.hostKeyT, c1, this.s1, this.tid, this.o.hostnqn, this.o.subnqn);
    const match = constantTimeEqual(expected, r.response);
    expected.fill(0);
    if (!match) throw new AuthProtocolError(AuthFailure.FAILED, 'host response does not match (wrong host key?)');
    if (r.challenge) {
      if (!this.ctrlKeyT) throw new AuthProtocolError(AuthFailure.FAILED, 'host asks the controller to authenticate, no controller key is configured');
      if (r.seqnum === 0) throw new AuthProtocolError(AuthFailure.INCORRECT_PAYLOAD, 'challenge C2 with sequence number 0 (secure channel concatenation is not supported)');
      if (constantTimeEqual(r.challenge, this.c1!)) throw new AuthProtocolError(AuthFailure.FAILED, 'challenge C2 repeats C1');
      this.c2 = Buffer.from(r.challenge);
      this.s2 = r.seqnum;
    } else {
      this.c2 = null;
      this.s2 = 0;
    }
    this.st = 'success1';
  }

  private success1(): Uint8Array {
    const hl = hashLen(this.hashId);
    let r2: Buffer | null = null;
    if (this.c2) {
      const c2 = this.sessionKey ? augmentedChallenge(this.hashId, this.sessionKey, this.c2) : this.c2;
      r2 = controllerResponse(this.hashId, this.ctrlKeyT!, c2, this.s2, this.tid, this.o.subnqn, this.o.hostnqn);
    }
    const msg = encodeSuccess1(this.tid, hl, r2);
    if (r2) {
      r2.fill(0);
      this.st = 'success2';
    } else {
      this.st = 'done';
      this.ok = true;
      this.wipe();
      this.log.info({ tid: this.tid, hash: hashName(this.hashId), dhgroup: dhGroupName(this.dhgroup) }, 'authentication: host authenticated');
    }
    return msg;
  }

  private failure2(b: Uint8Array): void {
    const f = parseFailure2(b);
    this.st = 'failed';
    this.ok = false;
    this.explanation = (f.explanation as AuthFailure) || AuthFailure.FAILED;
    this.wipe();
    this.log.warn({ tid: f.tid, reason: f.reason, explanation: f.explanation }, 'authentication: the host refused the controller (AUTH_Failure2)');
  }

  private refuse(explanation: AuthFailure, why: string): void {
    this.explanation = explanation;
    this.st = 'failure1';
    this.ok = false;
    this.wipe();
    this.log.warn({ tid: this.tid, explanation }, `authentication failed: ${why}`);
  }

  private wipe(): void {
    this.c1?.fill(0);
    this.c2?.fill(0);
    this.sessionKey?.fill(0);
    this.c1 = null;
    this.c2 = null;
    this.sessionKey = null;
    this.dh = null;
  }
}
