// The addon's TLS 1.3 PSK engine, client and server in one process with the bytes moved by hand: the
// suite follows the PSK's hash (SHA-256: TLS_AES_128_GCM_SHA256, SHA-384: TLS_AES_256_GCM_SHA384),
// application data both ways (several pieces in one call, and 1 MiB), a different key fails on the
// binder, an identity the lookup refuses and plain NVMe/TCP bytes fail the handshake, a key whose
// suite the client does not offer fails with "no shared cipher", and no session ticket is ever sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { TlsState, tlsClientEngine, tlsServerEngine, type NativeTlsEngine, type TlsEngineKey, type TlsPskHash } from '../../src/native/tls-engine.js';
import { buildICReq } from '../../src/initiator/pdu-build.js';
import { read, take } from './tls-engine-io.js';

const ID = 'NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555 nqn.2026-11.io.nvmetd:engine';

/** Moves bytes both ways until neither side has anything to send; returns what went each way. */
function pump(client: NativeTlsEngine, server: NativeTlsEngine): { toServer: number[]; toClient: number[] } {
  const toServer: number[] = [];
  const toClient: number[] = [];
  for (let i = 0; i < 20; i++) {
    const a = take(client);
    if (a !== null) {
      toServer.push(a.length);
      server.feed(a);
    }
    const b = take(server);
    if (b !== null) {
      toClient.push(b.length);
      client.feed(b);
    }
    if (a === null && b === null) break;
  }
  return { toServer, toClient };
}

function pair(hash: TlsPskHash, serverKey: (id: string) => TlsEngineKey | null, clientPsk: Buffer, clientHash: TlsPskHash = hash): { client: NativeTlsEngine; server: NativeTlsEngine; asked: string[] } {
  const asked: string[] = [];
  const server = tlsServerEngine((id) => {
    asked.push(id);
    return serverKey(id);
  });
  const client = tlsClientEngine(hash === 2 ? ID.replace('R01', 'R02') : ID, clientPsk, clientHash);
  assert.equal(client.feed(), TlsState.HANDSHAKE);
  pump(client, server);
  return { client, server, asked };
}

/** All of `engine`'s plaintext now. */
function readAll(engine: NativeTlsEngine): Buffer {
  return read(engine) ?? Buffer.alloc(0);
}

for (const [hash, suite, len] of [[1, 'TLS_AES_128_GCM_SHA256', 32], [2, 'TLS_AES_256_GCM_SHA384', 48]] as const) {
  test(`tls-engine: a ${len}-byte PSK of hash ${hash} negotiates ${suite}; data goes both ways`, () => {
    const psk = crypto.randomBytes(len);
    const { client, server, asked } = pair(hash, () => ({ psk: Buffer.from(psk), hash }), psk);
    assert.equal(server.state(), TlsState.ESTABLISHED, JSON.stringify(server.error()));
    assert.equal(client.state(), TlsState.ESTABLISHED, JSON.stringify(client.error()));
    assert.equal(server.cipher(), suite);
    assert.equal(client.cipher(), suite);
    assert.deepEqual(asked, [hash === 2 ? ID.replace('R01', 'R02') : ID]);
    // Several pieces in one call arrive in order.
    assert.equal(client.write([Buffer.from('ICReq '), Buffer.alloc(0), Buffer.from('and '), Buffer.from('more')]), true);
    server.feed(take(client)!);
    assert.equal(readAll(server).toString(), 'ICReq and more');
    // 1 MiB in pieces of 1, 4096, 65536 bytes and one large one, back to the client.
    const big = crypto.randomBytes(1024 * 1024);
    const pieces = [big.subarray(0, 1), big.subarray(1, 4097), big.subarray(4097, 69633), big.subarray(69633)];
    assert.equal(server.write(pieces), true);
    client.feed(take(server)!);
    assert.ok(readAll(client).equals(big), '1 MiB read back intact');
    assert.equal(read(client), null);
  });
}

test('tls-engine: a client with a different key fails the handshake on the binder (server side: binder does not verify)', () => {
  const { client, server } = pair(1, () => ({ psk: crypto.randomBytes(32), hash: 1 }), crypto.randomBytes(32));
  assert.equal(server.state(), TlsState.FAILED);
  assert.equal(server.error()?.code, 'ERR_SSL_BINDER_DOES_NOT_VERIFY');
  assert.equal(client.state(), TlsState.FAILED, 'the client got the alert');
  assert.equal(server.cipher(), null);
});

test('tls-engine: an identity the lookup refuses ends the handshake (no key is used, the client gets an alert)', () => {
  const { client, server, asked } = pair(1, () => null, crypto.randomBytes(32));
  assert.deepEqual(asked, [ID]);
  assert.equal(server.state(), TlsState.FAILED);
  assert.equal(client.state(), TlsState.FAILED);
  assert.match(client.error()!.code, /ALERT_HANDSHAKE_FAILURE/);
});

test('tls-engine: a SHA-384 key for a client offering only TLS_AES_128_GCM_SHA256 fails with no shared cipher', () => {
  const psk = crypto.randomBytes(32);
  const { server } = pair(1, () => ({ psk: crypto.randomBytes(48), hash: 2 }), psk, 1);
  assert.equal(server.state(), TlsState.FAILED);
  assert.equal(server.error()?.code, 'ERR_SSL_NO_SHARED_CIPHER');
});

test('tls-engine: plain NVMe/TCP bytes (an ICReq) fail the server handshake; nothing decrypts', () => {
  const server = tlsServerEngine(() => assert.fail('no identity in an ICReq'));
  assert.equal(server.feed(buildICReq({ hdgst: false, ddgst: false })), TlsState.FAILED);
  assert.match(server.error()!.code, /^ERR_SSL_/);
  assert.equal(read(server), null);
  assert.equal(server.write([Buffer.from('x')]), false);
  server.free();
  server.free();
});

test('tls-engine: no session ticket: after the client\'s Finished the server sends nothing until there is data', () => {
  const psk = crypto.randomBytes(32);
  const server = tlsServerEngine(() => ({ psk: Buffer.from(psk), hash: 1 }));
  const client = tlsClientEngine(ID, psk, 1);
  client.feed();
  server.feed(take(client)!); // ClientHello
  client.feed(take(server)!); // ServerHello ... Finished
  assert.equal(client.state(), TlsState.ESTABLISHED);
  const finished = take(client)!;
  assert.equal(server.feed(finished), TlsState.ESTABLISHED);
  // A TLS 1.3 server sends its NewSessionTicket messages right after the client's Finished.
  assert.equal(take(server), null, 'a NewSessionTicket went out');
  assert.equal(read(server), null);
  // The first record the client reads is application data (the Linux host reads the ICResp first).
  server.write([Buffer.from('ICResp')]);
  client.feed(take(server)!);
  assert.equal(readAll(client).toString(), 'ICResp');
});

test('tls-engine: close_notify ends the peer\'s reading side', () => {
  const psk = crypto.randomBytes(48);
  const { client, server } = pair(2, () => ({ psk: Buffer.from(psk), hash: 2 }), psk);
  client.write([Buffer.from('last')]);
  client.shutdown();
  server.feed(take(client)!);
  assert.equal(readAll(server).toString(), 'last');
  assert.equal(server.state(), TlsState.CLOSED);
});

test('tls-engine: bad constructor arguments throw instead of crashing', () => {
  assert.throws(() => tlsClientEngine(ID, Buffer.alloc(0), 1), /PSK must be/);
  assert.throws(() => tlsClientEngine(ID, Buffer.alloc(65), 1), /PSK must be/);
  assert.throws(() => tlsClientEngine(ID, Buffer.alloc(32), 3 as TlsPskHash), /hash/);
});

test('tls-engine: a lookup that throws: feed() throws its error and the handshake is failed (no crash later)', () => {
  const server = tlsServerEngine(() => {
    throw new Error('lookup broke');
  });
  const client = tlsClientEngine(ID, crypto.randomBytes(32), 1);
  client.feed();
  assert.throws(() => server.feed(take(client)!), /lookup broke/);
  assert.equal(server.state(), TlsState.FAILED);
  assert.equal(read(server), null);
  assert.notEqual(take(server), null, 'the alert for the client');
  server.free();
});

test('tls-engine: takeInto() hands the records out in the caller\'s buffer, in pieces when it is small', () => {
  const psk = crypto.randomBytes(32);
  const { client, server } = pair(1, () => ({ psk: Buffer.from(psk), hash: 1 }), psk);
  const data = crypto.randomBytes(100_000);
  assert.equal(server.write([data]), true);
  const small = Buffer.alloc(4096);
  let pieces = 0;
  for (let n = server.takeInto(small); n > 0; n = server.takeInto(small)) {
    pieces++;
    client.feed(small.subarray(0, n));
  }
  assert.ok(pieces > 20, `${pieces} pieces of at most 4096 bytes`);
  assert.equal(server.takeInto(small), 0);
  assert.ok(readAll(client).equals(data));
});
