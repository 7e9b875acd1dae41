// The controller's DH-HMAC-CHAP transaction driven by a host written from the protocol definitions
// (auth-host.ts): full transcripts, then every refusal and the AUTH_Failure1 explanation it yields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { AuthTransaction, type AuthTransactionOptions } from '../../src/core/auth/transaction.js';
import { AuthFailure } from '../../src/core/auth/messages.js';
import { DhGroupId } from '../../src/keys/ffdhe.js';
import { HashId } from '../../src/keys/hash.js';
import type { DhchapKey } from '../../src/keys/dhchap-key.js';
import { S_AUTH_INVALID_FIELD } from '../../src/core/auth/command.js';
import { RefHost, failure1Explanation, type RefHostOptions } from './auth-host.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555';
const SUBNQN = 'nqn.2026-11.io.nvmetd:auth';
const AL = 4096;

interface Setup {
  hash?: number;
  group?: number;
  bidi?: boolean;
  transform?: 0 | 1 | 2 | 3;
  ctrlHashes?: HashId[];
  ctrlGroups?: DhGroupId[];
  ctrlKey?: boolean;
  hostOverride?: Partial<RefHostOptions>;
}

function setup(s: Setup = {}) {
  const transform = s.transform ?? 0;
  const keyLen = transform === 0 ? 32 : [0, 32, 48, 64][transform]!;
  const hostSecret = crypto.randomBytes(keyLen);
  const ctrlSecret = crypto.randomBytes(48);
  const hostKey: DhchapKey = { transform, key: hostSecret };
  const ctrlKey: DhchapKey = { transform: 2, key: ctrlSecret };
  const warnings: string[] = [];
  const opts: AuthTransactionOptions = {
    hostnqn: HOSTNQN,
    subnqn: SUBNQN,
    hostKey,
    ctrlKey: s.ctrlKey === false ? null : ctrlKey,
    hashes: s.ctrlHashes ?? [HashId.SHA256, HashId.SHA384, HashId.SHA512],
    dhgroups: s.ctrlGroups ?? [DhGroupId.NULL, DhGroupId.FFDHE2048, DhGroupId.FFDHE3072],
    log: { info() {}, debug() {}, warn: (_o: object, m: string) => warnings.push(m) },
  };
  const ctrl = new AuthTransaction(opts);
  const host = new RefHost({
    hostnqn: HOSTNQN,
    subnqn: SUBNQN,
    hostSecret,
    hostTransform: transform,
    ctrlSecret: s.bidi ? ctrlSecret : undefined,
    ctrlTransform: 2,
    hashes: [s.hash ?? HashId.SHA256],
    dhgroups: [s.group ?? DhGroupId.NULL],
    tid: 0x2a,
    ...s.hostOverride,
  });
  return { ctrl, host, warnings, opts };
}

function send(ctrl: AuthTransaction, b: Uint8Array): void {
  assert.equal(ctrl.onSend(b).status, 0);
}
function receive(ctrl: AuthTransaction, al = AL): Uint8Array {
  const r = ctrl.onReceive(al);
  assert.equal(r.status, 0);
  return r.data;
}

/** Runs negotiate + challenge; returns the challenge. */
function toChallenge(ctrl: AuthTransaction, host: RefHost): Uint8Array {
  send(ctrl, host.negotiate());
  assert.equal(ctrl.state, 'challenge');
  const ch = receive(ctrl);
  assert.equal(ctrl.state, 'reply');
  return ch;
}

function expectFailure1(ctrl: AuthTransaction, explanation: number): void {
  assert.equal(ctrl.authenticated, false);
  assert.equal(ctrl.failed, true);
  const msg = receive(ctrl);
  assert.equal(failure1Explanation(msg), explanation, `Failure1 explanation ${failure1Explanation(msg)}, want ${explanation}`);
  assert.equal(ctrl.state, 'failed');
}

const TRANSCRIPTS = [
  { name: 'unidirectional, NULL group, SHA-256', hash: 1, group: 0, bidi: false, transform: 0 as const },
  { name: 'unidirectional, ffdhe2048, SHA-256, host key transformed (01)', hash: 1, group: 1, bidi: false, transform: 1 as const },
  { name: 'bidirectional, NULL group, SHA-512, host key transformed (03)', hash: 3, group: 0, bidi: true, transform: 3 as const },
  { name: 'bidirectional, ffdhe2048, SHA-512', hash: 3, group: 1, bidi: true, transform: 0 as const },
  { name: 'bidirectional, ffdhe3072, SHA-384, host key transformed (02)', hash: 2, group: 2, bidi: true, transform: 2 as const },
];

for (const t of TRANSCRIPTS) {
  test(`full transcript: ${t.name}`, () => {
    const { ctrl, host, warnings } = setup(t);
    const ch = toChallenge(ctrl, host);
    assert.deepEqual(ctrl.negotiated, { hash: t.hash, dhgroup: t.group, tid: 0x2a });
    assert.equal(ch[6], [0, 32, 48, 64][t.hash]);
    assert.notEqual(Buffer.from(ch).readUInt32LE(12), 0, 'S1 is never 0');
    send(ctrl, host.reply(ch));
    assert.equal(ctrl.state, 'success1');
    assert.equal(ctrl.authenticated, false, 'not before Success1 went out');
    const s1 = host.success1(receive(ctrl));
    assert.equal(s1.ok, true, 'the host accepts Success1 (and R2 when bidirectional)');
    assert.equal(s1.rvalid, t.bidi);
    if (t.bidi) {
      assert.equal(ctrl.state, 'success2');
      assert.equal(ctrl.authenticated, false);
      send(ctrl, host.success2());
    }
    assert.equal(ctrl.state, 'done');
    assert.equal(ctrl.authenticated, true);
    assert.equal(ctrl.failed, false);
    assert.deepEqual(warnings, []);
  });
}

test('each challenge is fresh (C1, DH value, S1) and a new Negotiate re-authenticates a done queue', () => {
  const { ctrl, host } = setup({ group: 1 });
  const ch1 = Buffer.from(toChallenge(ctrl, host));
  send(ctrl, host.reply(ch1));
  host.success1(receive(ctrl));
  assert.equal(ctrl.authenticated, true);
  const ch2 = Buffer.from(toChallenge(ctrl, host));
  assert.equal(ctrl.authenticated, true, 'stays authenticated while re-authenticating');
  assert.notDeepEqual(ch2.subarray(16, 48), ch1.subarray(16, 48), 'C1');
  assert.notDeepEqual(ch2.subarray(48), ch1.subarray(48), 'controller DH value');
  assert.notEqual(ch2.readUInt32LE(12), ch1.readUInt32LE(12), 'S1');
  send(ctrl, host.reply(ch2));
  assert.equal(host.success1(receive(ctrl)).ok, true);
  assert.equal(ctrl.authenticated, true);
});

test('a host that expects another controller key rejects R2 (R2 is bound to the controller key)', () => {
  const { ctrl, host } = setup({ bidi: true, hash: 1, hostOverride: { ctrlSecret: crypto.randomBytes(48) } });
  send(ctrl, host.reply(toChallenge(ctrl, host)));
  assert.equal(host.success1(receive(ctrl)).ok, false);
  // The host says so with AUTH_Failure2: the transaction fails.
  send(ctrl, host.failure2(AuthFailure.FAILED));
  assert.equal(ctrl.state, 'failed');
  assert.equal(ctrl.authenticated, false);
});

test('wrong host key: AUTH_Failure1 "failed"; the failed transaction stays failed', () => {
  const { ctrl, host, warnings } = setup({ group: 1 });
  const ch = toChallenge(ctrl, host);
  send(ctrl, host.reply(ch, { corruptResponse: true }));
  assert.equal(ctrl.state, 'failure1');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /host response does not match/);
  expectFailure1(ctrl, AuthFailure.FAILED);
  // Terminal: a new Negotiate is ignored, every Receive answers Failure1 again.
  send(ctrl, host.negotiate());
  assert.equal(ctrl.state, 'failed');
  assert.equal(failure1Explanation(receive(ctrl)), AuthFailure.FAILED);
});

test('after a refusal, a Negotiate sent instead of fetching AUTH_Failure1 does not buy another try', () => {
  const { ctrl, host } = setup();
  send(ctrl, host.reply(toChallenge(ctrl, host), { corruptResponse: true }));
  assert.equal(ctrl.state, 'failure1');
  send(ctrl, host.negotiate());
  assert.equal(ctrl.state, 'failure1');
  send(ctrl, host.reply(Buffer.from(toChallengeBytes(host))));
  expectFailure1(ctrl, AuthFailure.FAILED);
});

test('a reply made with another key of the right length fails too', () => {
  const { ctrl, host } = setup();
  const other = new RefHost({ ...host.o, hostSecret: crypto.randomBytes(32) });
  const ch = toChallenge(ctrl, host);
  send(ctrl, other.reply(ch));
  expectFailure1(ctrl, AuthFailure.FAILED);
});

test('wrong transaction id on the reply: incorrect payload', () => {
  const { ctrl, host } = setup();
  const r = host.reply(toChallenge(ctrl, host));
  r.writeUInt16LE(0x2b, 4);
  send(ctrl, r);
  expectFailure1(ctrl, AuthFailure.INCORRECT_PAYLOAD);
});

test('bad lengths: negotiate, reply, DH value, HL', () => {
  const cases: [string, (c: AuthTransaction, h: RefHost) => void][] = [
    ['negotiate one byte short', (c, h) => send(c, h.negotiate().subarray(0, 71))],
    ['negotiate with a trailing byte', (c, h) => send(c, Buffer.concat([h.negotiate(), Buffer.from([0])]))],
    ['negotiate NAPD 2 with one descriptor', (c, h) => { const n = h.negotiate(); n[7] = 2; send(c, n); }],
    ['negotiate NAPD 0', (c, h) => { const n = h.negotiate(); n[7] = 0; send(c, n); }],
    ['negotiate HALEN 31', (c, h) => { const n = h.negotiate(); n[10] = 31; send(c, n); }],
    ['reply with a trailing byte', (c, h) => send(c, Buffer.concat([h.reply(toChallenge(c, h)), Buffer.from([0])]))],
    ['reply one byte short', (c, h) => { const r = h.reply(toChallenge(c, h)); send(c, r.subarray(0, r.length - 1)); }],
    ['reply shorter than its header', (c, h) => { toChallenge(c, h); send(c, h.reply(Buffer.from(toChallengeBytes(h))).subarray(0, 12)); }],
    ['reply HL 48 for SHA-256', (c, h) => { const r = h.reply(toChallenge(c, h)); r[6] = 48; send(c, r); }],
    ['reply CVALID 2', (c, h) => { const r = h.reply(toChallenge(c, h)); r[8] = 2; send(c, r); }],
  ];
  for (const [name, run] of cases) {
    const { ctrl, host } = setup();
    run(ctrl, host);
    assert.equal(ctrl.state, 'failure1', name);
    expectFailure1(ctrl, AuthFailure.INCORRECT_PAYLOAD);
  }
  // DH value of the wrong size, and a NULL-group reply carrying one.
  {
    const { ctrl, host } = setup({ group: 1 });
    const r = host.reply(toChallenge(ctrl, host));
    r.writeUInt16LE(255, 10);
    send(ctrl, r.subarray(0, r.length - 1));
    expectFailure1(ctrl, AuthFailure.INCORRECT_PAYLOAD);
  }
  {
    const { ctrl, host } = setup();
    const r = host.reply(toChallenge(ctrl, host));
    r.writeUInt16LE(4, 10);
    send(ctrl, Buffer.concat([r, Buffer.alloc(4, 9)]));
    expectFailure1(ctrl, AuthFailure.INCORRECT_PAYLOAD);
  }
});

/** A challenge as the host would see it, for cases that only need reply bytes of the right shape. */
function toChallengeBytes(h: RefHost): Buffer {
  const b = Buffer.alloc(16 + 32);
  b[0] = 1;
  b[1] = 1;
  b.writeUInt16LE(h.o.tid, 4);
  b[6] = 32;
  b[8] = 1;
  return b;
}

test('a DH value out of range: DH group unusable', () => {
  for (const fill of [0, 0xff]) {
    const { ctrl, host } = setup({ group: 1 });
    const r = host.reply(toChallenge(ctrl, host));
    r.fill(0, 16 + 64);
    if (fill) r.fill(0xff, 16 + 64);
    else r[r.length - 1] = 1; // y = 1
    send(ctrl, r);
    expectFailure1(ctrl, AuthFailure.DHGROUP_UNUSABLE);
  }
});

test('unsupported hash, DH group, protocol or secure channel: the matching explanation', () => {
  const cases: [Setup, (n: Buffer) => void, number][] = [
    [{ hash: 3, ctrlHashes: [HashId.SHA256] }, () => {}, AuthFailure.HASH_UNUSABLE],
    [{ hash: 0x07 }, () => {}, AuthFailure.HASH_UNUSABLE],
    [{}, (n) => (n[10] = 0), AuthFailure.HASH_UNUSABLE],
    [{ group: 5, ctrlGroups: [DhGroupId.NULL, DhGroupId.FFDHE2048] }, () => {}, AuthFailure.DHGROUP_UNUSABLE],
    [{ group: 0, ctrlGroups: [DhGroupId.FFDHE2048] }, () => {}, AuthFailure.DHGROUP_UNUSABLE],
    [{}, (n) => (n[8] = 0x02), AuthFailure.NOT_USABLE],
    [{}, (n) => (n[6] = 0x01), AuthFailure.CONCAT_MISMATCH],
  ];
  for (const [s, edit, explanation] of cases) {
    const { ctrl, host } = setup(s);
    const n = host.negotiate();
    edit(n);
    send(ctrl, n);
    expectFailure1(ctrl, explanation);
    assert.equal(Buffer.from(ctrl.onReceive(AL).data).readUInt16LE(4), 0x2a, 'Failure1 carries the transaction id');
  }
});

test('the controller picks its most preferred hash and group among those the host offers', () => {
  const { ctrl, host } = setup({ ctrlHashes: [HashId.SHA512, HashId.SHA256], ctrlGroups: [DhGroupId.FFDHE3072, DhGroupId.NULL], hostOverride: { hashes: [1, 3], dhgroups: [0, 1, 2] } });
  const ch = toChallenge(ctrl, host);
  assert.equal(ch[8], HashId.SHA512);
  assert.equal(ch[9], DhGroupId.FFDHE3072);
  assert.equal(Buffer.from(ch).readUInt16LE(10), 384);
  send(ctrl, host.reply(ch));
  assert.equal(host.success1(receive(ctrl)).ok, true);
  assert.equal(ctrl.authenticated, true);
});

test('out-of-order messages: incorrect message', () => {
  // Reply before the challenge was fetched.
  {
    const { ctrl, host } = setup();
    send(ctrl, host.negotiate());
    send(ctrl, host.reply(toChallengeBytes(host)));
    expectFailure1(ctrl, AuthFailure.INCORRECT_MESSAGE);
  }
  // Receive before any Negotiate; Receive when the controller waits for the reply: answered at once.
  {
    const { ctrl } = setup();
    assert.equal(failure1Explanation(receive(ctrl)), AuthFailure.INCORRECT_MESSAGE);
    assert.equal(ctrl.state, 'failed');
  }
  {
    const { ctrl, host } = setup();
    toChallenge(ctrl, host);
    assert.equal(failure1Explanation(receive(ctrl)), AuthFailure.INCORRECT_MESSAGE);
    assert.equal(ctrl.state, 'failed');
    assert.equal(ctrl.authenticated, false);
  }
  // Success2 after a unidirectional transaction; Success2 instead of the reply.
  {
    const { ctrl, host } = setup();
    send(ctrl, host.reply(toChallenge(ctrl, host)));
    receive(ctrl);
    assert.equal(ctrl.authenticated, true);
    send(ctrl, host.success2());
    expectFailure1(ctrl, AuthFailure.INCORRECT_MESSAGE);
  }
  {
    const { ctrl, host } = setup();
    toChallenge(ctrl, host);
    send(ctrl, host.success2());
    expectFailure1(ctrl, AuthFailure.INCORRECT_MESSAGE);
  }
  // A second reply while Success1 is due; unknown message types.
  {
    const { ctrl, host } = setup();
    const r = host.reply(toChallenge(ctrl, host));
    send(ctrl, r);
    send(ctrl, r);
    expectFailure1(ctrl, AuthFailure.INCORRECT_MESSAGE);
  }
  for (const [type, id] of [[0x01, 0x09], [0x02, 0x02], [0x01, 0x01]]) {
    const { ctrl, host } = setup();
    toChallenge(ctrl, host);
    const m = Buffer.alloc(16);
    m[0] = type!;
    m[1] = id!;
    m.writeUInt16LE(0x2a, 4);
    send(ctrl, m);
    expectFailure1(ctrl, AuthFailure.INCORRECT_MESSAGE);
  }
});

test('Success2 of the wrong size or transaction: incorrect payload', () => {
  for (const edit of [(b: Buffer) => Buffer.concat([b, Buffer.alloc(1)]), (b: Buffer) => (b.writeUInt16LE(7, 4), b)]) {
    const { ctrl, host } = setup({ bidi: true });
    send(ctrl, host.reply(toChallenge(ctrl, host)));
    assert.equal(host.success1(receive(ctrl)).ok, true);
    send(ctrl, edit(host.success2()));
    expectFailure1(ctrl, AuthFailure.INCORRECT_PAYLOAD);
  }
});

test('bidirectional refusals: no controller key, S2 of 0, C2 equal to C1', () => {
  {
    const { ctrl, host } = setup({ bidi: true, ctrlKey: false });
    send(ctrl, host.reply(toChallenge(ctrl, host)));
    expectFailure1(ctrl, AuthFailure.FAILED);
  }
  {
    const { ctrl, host } = setup({ bidi: true, hostOverride: { seqnum: 0 } });
    send(ctrl, host.reply(toChallenge(ctrl, host)));
    expectFailure1(ctrl, AuthFailure.INCORRECT_PAYLOAD);
  }
  {
    const { ctrl, host } = setup({ bidi: true });
    const ch = toChallenge(ctrl, host);
    const r = host.reply(ch);
    Buffer.from(ch).copy(r, 16 + 32, 16, 48);
    send(ctrl, r);
    expectFailure1(ctrl, AuthFailure.FAILED);
  }
});

test('Authentication Send and Receive lengths: empty data and a too small allocation length', () => {
  const { ctrl, host } = setup({ group: 1 });
  assert.equal(ctrl.onSend(new Uint8Array(0)).status, S_AUTH_INVALID_FIELD);
  assert.equal(ctrl.state, 'negotiate');
  send(ctrl, host.negotiate());
  const small = ctrl.onReceive(16 + 32 + 255);
  assert.equal(small.status, S_AUTH_INVALID_FIELD);
  assert.equal(small.data.length, 0);
  assert.equal(ctrl.state, 'challenge', 'unchanged: the host may ask again with room enough');
  const ch = ctrl.onReceive(16 + 32 + 256);
  assert.equal(ch.status, 0);
  assert.equal(ch.data.length, 16 + 32 + 256);
  send(ctrl, host.reply(ch.data));
  assert.equal(ctrl.onReceive(16).data.length, 16);
  assert.equal(ctrl.authenticated, true);
});

test('abort: an unfinished transaction fails, a finished one is left alone', () => {
  {
    const { ctrl, host, warnings } = setup();
    toChallenge(ctrl, host);
    ctrl.abort('no reply within KATO');
    assert.equal(ctrl.state, 'failed');
    assert.equal(ctrl.authenticated, false);
    assert.match(warnings.join('\n'), /no reply within KATO/);
    assert.equal(failure1Explanation(receive(ctrl)), AuthFailure.FAILED);
  }
  {
    const { ctrl } = setup();
    ctrl.abort('host never started');
    assert.equal(ctrl.failed, true);
  }
  {
    const { ctrl, host } = setup();
    send(ctrl, host.reply(toChallenge(ctrl, host)));
    receive(ctrl);
    ctrl.abort('late timer');
    assert.equal(ctrl.state, 'done');
    assert.equal(ctrl.authenticated, true);
  }
});

test('bad options are refused when the transaction is made', () => {
  const hostKey: DhchapKey = { transform: 0, key: crypto.randomBytes(32) };
  const base = { hostnqn: HOSTNQN, subnqn: SUBNQN, hostKey };
  assert.throws(() => new AuthTransaction({ ...base, hashes: [], dhgroups: [0] }), /hashes/);
  assert.throws(() => new AuthTransaction({ ...base, hashes: [9 as HashId], dhgroups: [0] }), /hashes/);
  assert.throws(() => new AuthTransaction({ ...base, hashes: [1], dhgroups: [6 as DhGroupId] }), /dhgroups/);
});

test('a transaction created authenticated (a queue that moved threads): usable at once, re-authenticates, a failure drops it', () => {
  const ok = setup();
  const moved = new AuthTransaction({ ...ok.opts, authenticated: true });
  assert.equal(moved.authenticated, true);
  assert.equal(moved.state, 'done');
  const ch = toChallenge(moved, ok.host);
  assert.equal(moved.authenticated, true, 'still usable while re-authenticating');
  send(moved, ok.host.reply(ch));
  assert.equal(ok.host.success1(receive(moved)).ok, true);
  assert.equal(moved.authenticated, true);
  const bad = setup();
  const failing = new AuthTransaction({ ...bad.opts, authenticated: true });
  const ch2 = toChallenge(failing, bad.host);
  send(failing, bad.host.reply(ch2, { corruptResponse: true }));
  assert.equal(failing.authenticated, false);
  expectFailure1(failing, AuthFailure.FAILED);
});

test('current(): each AUTH_Negotiate takes the keys of the moment (re-key), a string refuses with it', () => {
  const { opts } = setup();
  const newSecret = crypto.randomBytes(32);
  let now: Pick<AuthTransactionOptions, 'hostKey' | 'ctrlKey' | 'hashes' | 'dhgroups'> | string = opts;
  const ctrl = new AuthTransaction({ ...opts, current: () => now });
  const mkHost = (secret: Buffer) => new RefHost({ hostnqn: HOSTNQN, subnqn: SUBNQN, hostSecret: secret, hostTransform: 0, ctrlTransform: 2, hashes: [HashId.SHA256], dhgroups: [DhGroupId.NULL], tid: 0x2a });
  const oldHost = mkHost(opts.hostKey.key);
  send(ctrl, oldHost.reply(toChallenge(ctrl, oldHost)));
  assert.equal(oldHost.success1(receive(ctrl)).ok, true);
  assert.equal(ctrl.authenticated, true);
  // Re-keyed: the new secret authenticates, on the same transaction.
  now = { ...opts, hostKey: { transform: 0, key: newSecret }, hashes: [HashId.SHA384, HashId.SHA256] };
  const newHost = mkHost(newSecret);
  send(ctrl, newHost.reply(toChallenge(ctrl, newHost)));
  assert.equal(newHost.success1(receive(ctrl)).ok, true);
  assert.equal(ctrl.state, 'done');
  // The old secret no longer does.
  send(ctrl, oldHost.reply(toChallenge(ctrl, oldHost)));
  expectFailure1(ctrl, AuthFailure.FAILED);
  // A host that cannot authenticate now (its key was removed): refused at Negotiate, with the reason.
  const warnings: string[] = [];
  const gone = new AuthTransaction({ ...opts, log: { info() {}, debug() {}, warn: (_o, m) => warnings.push(m) }, current: () => "DH-HMAC-CHAP key 'k' was removed from the keyring" });
  send(gone, oldHost.negotiate());
  expectFailure1(gone, AuthFailure.FAILED);
  assert.match(warnings[0]!, /key 'k' was removed/);
});
