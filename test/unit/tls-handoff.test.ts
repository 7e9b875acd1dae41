// Handing an established TLS session of the addon's engine to another thread: engine.detach() gives
// a one-time handle, adoptTlsEngine(handle) takes the session (with the encrypted bytes it held and
// had not decrypted yet) in this or another worker thread; a handle adopted twice, freed or never
// issued finds nothing; a session nobody adopts is freed by freeDetachedTlsEngine; tlsSessionCounts()
// shows no session left behind. Only an established session can be detached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { native } from '../../src/native/addon.js';
import { TlsSocket } from '../../src/native/tls-socket.js';
import {
  TlsState,
  adoptTlsEngine,
  freeDetachedTlsEngine,
  tlsClientEngine,
  tlsServerEngine,
  tlsSessionCounts,
  type NativeTlsEngine,
} from '../../src/native/tls-engine.js';
import { read, take } from './tls-engine-io.js';
import { tlsLoopbackPair } from './tls-pair.js';

const ID = 'NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555 nqn.2026-11.io.nvmetd:handoff';

function pump(client: NativeTlsEngine, server: NativeTlsEngine): void {
  for (let i = 0; i < 20; i++) {
    const a = take(client);
    if (a !== null) server.feed(a);
    const b = take(server);
    if (b !== null) client.feed(b);
    if (a === null && b === null) break;
  }
}

function established(hash: 1 | 2 = 1): { client: NativeTlsEngine; server: NativeTlsEngine } {
  const psk = crypto.randomBytes(hash === 2 ? 48 : 32);
  const server = tlsServerEngine(() => ({ psk: Buffer.from(psk), hash }));
  const client = tlsClientEngine(hash === 2 ? ID.replace('R01', 'R02') : ID, psk, hash);
  client.feed();
  pump(client, server);
  assert.equal(server.state(), TlsState.ESTABLISHED, JSON.stringify(server.error()));
  return { client, server };
}

function readAll(engine: NativeTlsEngine): Buffer {
  const parts: Buffer[] = [];
  for (let b = read(engine); b !== null; b = read(engine)) parts.push(b);
  return Buffer.concat(parts);
}

test('tls-handoff: a detached session is adopted once, with the records it had not decrypted; a second adoption and a late free find nothing', () => {
  const before = tlsSessionCounts();
  const { client, server } = established(2);
  assert.equal(tlsSessionCounts().sessions, before.sessions + 2);
  // A record and a half reach the server's engine before it moves: nothing decrypted yet.
  const first = crypto.randomBytes(20_000);
  assert.ok(client.write([first]));
  const wire = take(client)!;
  const cut = wire.length - 100;
  server.feed(wire.subarray(0, cut));
  const handle = server.detach();
  assert.equal(typeof handle, 'bigint');
  assert.equal(server.state(), TlsState.CLOSED, 'the old engine no longer holds the session');
  assert.equal(read(server), null);
  assert.equal(tlsSessionCounts().detached, before.detached + 1);
  server.free(); // harmless: the session is not its own any more
  const adopted = adoptTlsEngine(handle!);
  assert.ok(adopted !== null);
  assert.equal(tlsSessionCounts().detached, before.detached);
  assert.equal(adopted.state(), TlsState.ESTABLISHED);
  assert.equal(adopted.cipher(), 'TLS_AES_256_GCM_SHA384');
  adopted.feed(wire.subarray(cut));
  assert.ok(readAll(adopted).equals(first), 'the bytes fed before the move decrypt after it');
  // Both directions go on with the same keys and sequence numbers.
  assert.ok(adopted.write([Buffer.from('back')]));
  client.feed(take(adopted)!);
  assert.equal(readAll(client).toString(), 'back');
  assert.equal(adoptTlsEngine(handle!), null, 'adopted twice');
  assert.equal(freeDetachedTlsEngine(handle!), false, 'an adopted session is not freed by its old handle');
  assert.equal(adoptTlsEngine(123456789012345n), null, 'never issued');
  adopted.free();
  client.free();
  assert.equal(tlsSessionCounts().sessions, before.sessions);
});

test('tls-handoff: only an established session detaches; a session nobody adopts is freed once', () => {
  const before = tlsSessionCounts();
  const server = tlsServerEngine(() => null);
  assert.equal(server.detach(), null, 'during the handshake');
  server.free();
  const { client, server: s2 } = established();
  const handle = s2.detach()!;
  assert.equal(s2.detach(), null, 'detached already');
  assert.equal(freeDetachedTlsEngine(handle), true);
  assert.equal(freeDetachedTlsEngine(handle), false, 'freed once');
  assert.equal(adoptTlsEngine(handle), null, 'a freed session cannot be adopted');
  client.free();
  assert.deepEqual(tlsSessionCounts(), before);
});

test('tls-handoff: a worker thread adopts the session and serves it; its end frees it', async () => {
  const before = tlsSessionCounts();
  const { client, server } = established();
  const handle = server.detach()!;
  const url = new URL('../../src/native/tls-engine.js', import.meta.url).href;
  // The worker adopts, decrypts what the client sends, answers it upper-cased, and frees the session.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(({ adoptTlsEngine }) => {
      const e = adoptTlsEngine(workerData.handle);
      if (e === null) return parentPort.postMessage({ error: 'not adopted' });
      parentPort.once('message', (wire) => {
        e.feed(wire);
        const parts = [];
        for (let cap = e.readable(); cap > 0; cap = e.readable()) {
          const b = Buffer.alloc(cap);
          parts.push(b.subarray(0, e.readInto(b)));
        }
        e.write([Buffer.from(Buffer.concat(parts).toString().toUpperCase())]);
        const outBuf = Buffer.alloc(65536);
        const out = outBuf.subarray(0, e.takeInto(outBuf));
        e.free();
        parentPort.postMessage({ out });
      });
      parentPort.postMessage({ ready: true });
    });`;
  const w = new Worker(code, { eval: true, workerData: { url, handle } });
  const replies: { ready?: boolean; out?: Uint8Array; error?: string }[] = [];
  const next = (): Promise<(typeof replies)[number]> => new Promise((r) => w.once('message', r));
  const ready = await next();
  assert.equal(ready.error, undefined);
  assert.equal(adoptTlsEngine(handle), null, 'the worker owns it');
  assert.ok(client.write([Buffer.from('over there')]));
  w.postMessage(take(client));
  const reply = await next();
  client.feed(Buffer.from(reply.out!));
  assert.equal(readAll(client).toString(), 'OVER THERE');
  await w.terminate();
  client.free();
  assert.deepEqual(tlsSessionCounts(), before);
});

async function until(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}


test('tls-handoff: a TlsSocket frozen with decrypted bytes unread and records in TCP hands off; a socket over a duplicate of its descriptor and the adopted engine reads everything in order', async () => {
  const before = tlsSessionCounts();
  const psk = crypto.randomBytes(32);
  const { client, server } = await tlsLoopbackPair(ID, psk, 1);
  let moved: TlsSocket | null = null;
  try {
    // The server reads nothing: decrypted bytes pile up in its buffer, then records in raw and TCP.
    server.pause();
    const a = crypto.randomBytes(1024 * 1024);
    client.write(a);
    await until('decrypted bytes waiting in the server socket', () => server.readableLength > 0);
    await new Promise((r) => setTimeout(r, 50));
    server.freeze();
    const fd = (server.raw as unknown as { _handle: { fd: number } })._handle.fd;
    const dup = native.dupFd(fd);
    assert.ok(dup >= 0);
    const h = server.handOff();
    assert.ok(h !== null);
    assert.ok(h.plaintext !== null && h.plaintext.length > 0, 'decrypted bytes not yet read travel with the session');
    server.destroy();
    const engine = adoptTlsEngine(h.engine);
    assert.ok(engine !== null);
    moved = new TlsSocket(new net.Socket({ fd: dup, readable: true, writable: true }), engine, true, undefined, { adopted: h.plaintext });
    const got: Buffer[] = [];
    let n = 0;
    moved.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
    });
    const b = crypto.randomBytes(100_000);
    client.write(b);
    await until('everything on the adopted socket', () => n >= a.length + b.length);
    assert.ok(Buffer.concat(got).equals(Buffer.concat([a, b])), 'every byte once, in order, across the handoff');
    const back: Buffer[] = [];
    client.on('data', (d: Buffer) => back.push(d));
    moved.write(Buffer.from('answered from the adopted session'));
    await until('the answer', () => Buffer.concat(back).toString() === 'answered from the adopted session');
  } finally {
    client.destroy();
    server.destroy();
    moved?.destroy();
  }
  await until('sessions freed', () => tlsSessionCounts().sessions === before.sessions);
  assert.deepEqual(tlsSessionCounts(), before);
});

test('tls-handoff: a handoff called off (thaw after freeze) loses nothing: the records fed while frozen decrypt afterwards, in order', async () => {
  const psk = crypto.randomBytes(32);
  const { client, server } = await tlsLoopbackPair(ID, psk, 1);
  try {
    server.pause();
    const a = crypto.randomBytes(1024 * 1024);
    client.write(a);
    await until('decrypted bytes waiting in the server socket', () => server.readableLength > 0);
    await new Promise((r) => setTimeout(r, 50));
    server.freeze();
    const got: Buffer[] = [];
    let n = 0;
    server.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
    });
    server.thaw();
    const b = crypto.randomBytes(50_000);
    client.write(b);
    await until('everything after the thaw', () => n >= a.length + b.length);
    assert.ok(Buffer.concat(got).equals(Buffer.concat([a, b])));
  } finally {
    client.destroy();
    server.destroy();
  }
});
