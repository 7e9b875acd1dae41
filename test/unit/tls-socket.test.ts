// TlsSocket (the addon's TLS engine under a net.Socket face) on the loopback: what TcpConnection and
// the initiator rely on. A writer whose peer stops reading is stopped (write() false, 'drain' once the
// peer reads again); a reader that pauses stops taking records from TCP, so the sender is held back;
// everything arrives intact and in order; ending sends close_notify and FIN, and both sides close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { tlsClientEngine, tlsServerEngine } from '../../src/native/tls-engine.js';
import { TlsSocket } from '../../src/native/tls-socket.js';
import { tlsLoopbackPair } from './tls-pair.js';

const ID = 'NVMe0R02 nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555 nqn.2026-11.io.nvmetd:socket';
const PSK = crypto.randomBytes(48);

/** A connected pair over the loopback (SHA-384 PSK), both secured. */
async function pair(): Promise<{ client: TlsSocket; server: TlsSocket; close(): void }> {
  const { client, server } = await tlsLoopbackPair(ID, PSK, 2);
  return { client, server, close: () => (client.destroy(), server.destroy()) };
}

function collect(s: net.Socket): { bytes: () => Buffer } {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return { bytes: () => Buffer.concat(parts) };
}

async function until(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('tls-socket: the addresses, the suite and encrypted are what a TcpConnection reads', async () => {
  const p = await pair();
  try {
    assert.equal(p.server.remoteAddress, '127.0.0.1');
    assert.equal(p.server.remotePort, p.client.localPort);
    assert.equal(p.server.localAddress, '127.0.0.1');
    assert.equal(p.server.encrypted, true);
    assert.equal(p.server.cipher, 'TLS_AES_256_GCM_SHA384');
    assert.equal(p.client.cipher, 'TLS_AES_256_GCM_SHA384');
  } finally {
    p.close();
  }
});

test('tls-socket: a peer that stops reading stops the writer; it drains once the peer reads, all intact', async () => {
  const p = await pair();
  try {
    p.client.pause();
    const chunk = crypto.randomBytes(256 * 1024);
    const sent: Buffer[] = [];
    let total = 0;
    // Corked batches of pieces, as the target's out-queue writes them, until bytes pile up in the
    // writer (what the responder watches: writableLength over its high-water mark).
    while (p.server.writableLength < 4 * 1024 * 1024) {
      p.server.cork();
      for (let i = 0; i < 4; i++) p.server.write(chunk.subarray(i * 65536, (i + 1) * 65536));
      p.server.uncork();
      sent.push(chunk);
      total += chunk.length;
      assert.ok(total < 256 * 1024 * 1024, 'the writer was never stopped');
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(p.server.writableLength >= 4 * 1024 * 1024, 'nothing drains while the peer does not read');
    const drained = new Promise<void>((r) => p.server.once('drain', () => r()));
    const got = collect(p.client);
    p.client.resume();
    await drained;
    await until('all bytes', () => got.bytes().length === total);
    assert.ok(got.bytes().equals(Buffer.concat(sent)), 'the bytes arrive intact and in order');
  } finally {
    p.close();
  }
});

test('tls-socket: a paused reader holds back the sender (bounded buffering), then gets everything', async () => {
  const p = await pair();
  try {
    p.server.pause();
    const got = collect(p.server);
    const chunk = crypto.randomBytes(256 * 1024);
    let total = 0;
    while (p.client.write(chunk)) {
      total += chunk.length;
      assert.ok(total < 256 * 1024 * 1024, 'the sender was never held back');
      await new Promise((r) => setImmediate(r));
    }
    total += chunk.length;
    await new Promise((r) => setTimeout(r, 100));
    // Decrypted and waiting for the paused reader: the readable buffer and at most one read batch.
    assert.ok(p.server.readableLength <= 1024 * 1024, `the paused reader holds ${p.server.readableLength} bytes`);
    assert.equal(got.bytes().length, 0, 'nothing delivered while paused');
    p.server.resume();
    await until('all bytes', () => got.bytes().length === total);
    assert.ok(got.bytes().equals(Buffer.concat(new Array(total / chunk.length).fill(chunk))));
  } finally {
    p.close();
  }
});

test('tls-socket: end() sends close_notify and FIN: the peer sees end, both sides close', async () => {
  const p = await pair();
  const got = collect(p.server);
  const ended = new Promise<void>((r) => p.server.once('end', () => r()));
  const closed = Promise.all([p.client, p.server].map((s) => new Promise<void>((r) => s.once('close', () => r()))));
  p.client.end(Buffer.from('bye'));
  await ended;
  assert.equal(got.bytes().toString(), 'bye');
  await closed;
  assert.ok(p.client.raw.destroyed && p.server.raw.destroyed, 'the TCP sockets under them are gone');
});

test('tls-socket: a handshake with a different key fails with the reason as the error code; both close', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const serverErr = new Promise<NodeJS.ErrnoException>((resolve) =>
    srv.once('connection', (raw: net.Socket) => {
      const s = new TlsSocket(raw, tlsServerEngine(() => ({ psk: crypto.randomBytes(48), hash: 2 })), true);
      s.once('error', resolve);
    }),
  );
  const client = new TlsSocket(net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1'), tlsClientEngine(ID, PSK, 2), false);
  const clientErr = new Promise<NodeJS.ErrnoException>((resolve) => client.once('error', resolve));
  assert.equal((await serverErr).code, 'ERR_SSL_BINDER_DOES_NOT_VERIFY');
  assert.match((await clientErr).code ?? '', /^ERR_SSL_/);
  srv.close();
});

test('tls-socket: a server lookup that throws fails that connection only, with the lookup\'s error', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const serverErr = new Promise<Error>((resolve) =>
    srv.once('connection', (raw: net.Socket) => {
      const s = new TlsSocket(raw, tlsServerEngine(() => { throw new Error('lookup broke'); }), true);
      s.once('error', resolve);
    }),
  );
  const client = new TlsSocket(net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1'), tlsClientEngine(ID, PSK, 2), false);
  const clientErr = new Promise<Error>((resolve) => client.once('error', resolve));
  const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  assert.match((await serverErr).message, /lookup broke/);
  assert.ok((await clientErr) instanceof Error, 'the client learns the handshake failed');
  await clientClosed;
  srv.close();
});

test('tls-socket: receiveInto: reads land in the reader\'s buffer; a pause inside the callback stops them, resume() goes on; all intact', async () => {
  const p = await pair();
  try {
    const into = Buffer.alloc(64 * 1024);
    const got: Buffer[] = [];
    let calls = 0;
    assert.equal(
      p.server.receiveInto(into, (buf, n) => {
        assert.equal(buf, into, 'the reader\'s own buffer');
        got.push(Buffer.from(buf.subarray(0, n)));
        if (++calls === 2) p.server.pause();
      }),
      true,
    );
    let dataEvents = 0;
    p.server.on('data', () => dataEvents++);
    const data = crypto.randomBytes(3 * 1024 * 1024);
    p.client.write(data);
    await until('the pause', () => calls >= 2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, 2, 'no read while paused');
    p.server.resume();
    await until('all bytes', () => got.reduce((n, b) => n + b.length, 0) === data.length);
    assert.ok(Buffer.concat(got).equals(data));
    assert.equal(dataEvents, 0, "no 'data' events in this mode");
  } finally {
    p.close();
  }
});
