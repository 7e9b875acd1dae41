// SocketWriter and OutQueue.flush on real loopback sockets: a plain TCP socket with an empty stream
// is written in one native sendmsg (no socket.write at all); what a full send buffer does not take
// goes through the stream, after which flushes queue behind it until it drains, and every byte
// arrives in order; a reset peer destroys the socket with the system error as a stream write would;
// NVMETD_NATIVE_WRITE=0, TLS sockets and sockets whose stream holds bytes take the stream path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { SocketWriter } from '../../../src/transport/tcp/socket-write.js';
import { OutQueue } from '../../../src/transport/tcp/out-queue.js';
import { native } from '../../../src/native/addon.js';
import { tlsLoopbackPair } from '../tls-pair.js';

/** A connected loopback pair; the server side does not read until told (pauseOnConnect). */
async function pair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
  const srv = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  await once(client, 'connect').catch(() => undefined);
  srv.close();
  return { client, server, close: () => (client.destroy(), server.destroy()) };
}

/** Counts socket.write calls (the stream path) on `s`. */
function countStreamWrites(s: net.Socket): { n: number } {
  const c = { n: 0 };
  const orig = s.write.bind(s) as (...a: unknown[]) => boolean;
  (s as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
    c.n++;
    return orig(...a);
  };
  return c;
}

/**
 * Collects what `s` receives from now on (calling `onData` after each read); `until(n)` waits for n
 * bytes (n read again while waiting) and returns all so far.
 */
function collector(s: net.Socket, onData?: () => void): { until(n: number | (() => number)): Promise<Buffer> } {
  const parts: Buffer[] = [];
  let got = 0;
  s.on('data', (d: Buffer) => {
    parts.push(d);
    got += d.length;
    onData?.();
  });
  s.resume();
  return {
    async until(n: number | (() => number)): Promise<Buffer> {
      const end = Date.now() + 20000;
      const want = typeof n === 'number' ? () => n : n;
      while (got < want()) {
        if (Date.now() > end) throw new Error(`read ${got} of ${want()} bytes`);
        await new Promise((r) => setTimeout(r, 2));
      }
      return Buffer.concat(parts);
    },
  };
}

async function readAll(s: net.Socket, want: number): Promise<Buffer> {
  return collector(s).until(want);
}

/** Deterministic bytes that differ at every offset that matters for ordering. */
function source(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b;
}

test('socket-write: a plain TCP socket with an empty stream gets all pieces in one native write, no socket.write; the callback runs after return', async () => {
  const { client, server, close } = await pair();
  try {
    const src = source(1 << 16);
    // Pieces as a flush has them: small header runs and payload views of a bigger buffer.
    const pieces = [src.subarray(0, 24), src.subarray(24, 24 + 4096), src.subarray(4120, 4148), src.subarray(4148, 12340), src.subarray(12340, 12364)];
    const total = 12364;
    const w = new SocketWriter(true);
    const streamWrites = countStreamWrites(server);
    let called = 0;
    const ok = w.write(server, pieces, pieces.length, total, () => called++);
    assert.equal(ok, true);
    assert.equal(called, 0, 'the callback is not run synchronously');
    assert.equal(streamWrites.n, 0, 'no stream write');
    assert.equal(w.directBytes, total);
    await new Promise((r) => process.nextTick(r));
    assert.equal(called, 1, 'the callback ran on the next tick');
    assert.deepEqual(await readAll(client, total), src.subarray(0, total));
  } finally {
    close();
  }
});

test('socket-write: OutQueue.flush on a TCP socket writes headers and payload views natively, bytes intact', async () => {
  const { client, server, close } = await pair();
  try {
    const q = new OutQueue(true);
    const payload = source(8192);
    const want: Buffer[] = [];
    for (let i = 0; i < 32; i++) {
      const at = q.header(24);
      q.buf.fill(i, at, at + 24);
      want.push(Buffer.alloc(24, i));
      const v = payload.subarray(i * 256, i * 256 + 256);
      q.data(v);
      want.push(Buffer.from(v));
    }
    const streamWrites = countStreamWrites(server);
    let done = false;
    assert.equal(q.flush(server, () => (done = true)), true);
    assert.equal(streamWrites.n, 0, 'the whole batch without socket.write');
    const all = Buffer.concat(want);
    assert.deepEqual(await readAll(client, all.length), all);
    assert.equal(done, true);
  } finally {
    close();
  }
});

test('socket-write: a peer that stops reading: the rest of a partial write and later flushes go through the stream, in order; native again once drained', async () => {
  const { client, server, close } = await pair();
  try {
    const w = new SocketWriter(true);
    const src = source(64 << 20);
    let at = 0;
    const order: number[] = [];
    let flushes = 0;
    /** One flush of three pieces (a header-sized one in the middle) taking the next bytes of src. */
    const flush = (): boolean => {
      const n = 1 << 20;
      const pieces = [src.subarray(at, at + n - 100), src.subarray(at + n - 100, at + n - 76), src.subarray(at + n - 76, at + n)];
      at += n;
      const id = flushes++;
      return w.write(server, pieces, 3, n, () => order.push(id));
    };
    // The client does not read: the kernel's buffers fill and a native write comes up short.
    while (server.writableLength === 0) {
      if (at + (1 << 20) > src.length) throw new Error('the send buffer never filled');
      flush();
    }
    const directAtStall = w.directBytes;
    assert.ok(directAtStall < at, 'the kernel took only part of the data');
    assert.equal(server.writableLength, at - directAtStall, 'the rest waits in the stream');
    // Later flushes queue behind the stream's bytes (a native write now would overtake them).
    const ok = flush();
    flush();
    assert.equal(w.directBytes, directAtStall, 'no native write while the stream holds bytes');
    assert.equal(ok, false, 'over the high-water mark: the caller is told to stop');
    // The reader catches up: each read makes room in the kernel while the stream still holds bytes;
    // a flush right then must still queue behind those bytes, not go around them.
    let during = 24;
    const reader = collector(client, () => {
      if (during > 0 && server.writableLength > 0) {
        during--;
        flush();
      }
    });
    const first = await reader.until(() => at);
    assert.deepEqual(first, src.subarray(0, at), 'every byte in order');
    if (server.writableLength > 0) await once(server, 'drain');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, Array.from({ length: flushes }, (_, i) => i), 'callbacks in flush order');
    // Drained: the next flush is native again, and its bytes follow the streamed ones.
    flush();
    assert.ok(during < 24, 'flushes ran while the stream held bytes');
    assert.equal(w.directBytes, directAtStall + (1 << 20), 'native again once the stream is empty');
    assert.deepEqual(await reader.until(at), src.subarray(0, at));
  } finally {
    close();
  }
});

test('socket-write: bytes the stream has not handed to the kernel yet are never overtaken', async () => {
  const { client, server, close } = await pair();
  try {
    // The stream's write reaches the kernel a little later (as one waiting for a writable socket
    // would), so the kernel has room while the stream holds bytes.
    const s = server as unknown as { _writeGeneric: (...a: unknown[]) => unknown };
    const orig = s._writeGeneric.bind(server);
    s._writeGeneric = (...a: unknown[]) => void setTimeout(() => orig(...a), 20);
    const src = source(3000);
    server.write(src.subarray(0, 1000));
    assert.ok(server.writableLength > 0);
    const w = new SocketWriter(true);
    let called = false;
    w.write(server, [src.subarray(1000, 1024), src.subarray(1024, 3000)], 2, 2000, () => (called = true));
    assert.equal(w.directBytes, 0, 'queued behind the stream');
    assert.deepEqual(await readAll(client, 3000), src, 'in order');
    assert.equal(called, true);
  } finally {
    close();
  }
});

test('socket-write: a reset peer: the socket is destroyed with the write error (code, syscall) as the stream would, and the callback still runs', async () => {
  const { client, server, close } = await pair();
  try {
    client.resetAndDestroy();
    await once(client, 'close');
    await new Promise((r) => setTimeout(r, 50));
    const w = new SocketWriter(true);
    const errors: NodeJS.ErrnoException[] = [];
    server.on('error', (e) => errors.push(e));
    let called = 0;
    const pieces = [Buffer.alloc(100, 1)];
    // The first write after an RST may still be taken by the kernel; the next one fails.
    for (let i = 0; i < 5 && !server.destroyed; i++) w.write(server, pieces, 1, 100, () => called++);
    assert.equal(server.destroyed, true, 'the socket is destroyed');
    await new Promise((r) => server.once('close', r));
    assert.equal(errors.length, 1, errors.map((x) => x.stack).join('\n'));
    const e = errors[0]!;
    assert.ok(e.code === 'EPIPE' || e.code === 'ECONNRESET', `code ${e.code}`);
    assert.equal(e.syscall, 'write');
    assert.equal(e.message, `write ${e.code}`);
    assert.equal(typeof e.errno, 'number');
    assert.ok(called >= 1, 'the callbacks ran');
  } finally {
    close();
  }
});

test('socket-write: a socket made from a descriptor (as on a worker thread) is written natively', async () => {
  const { client, server, close } = await pair();
  const fd = native.dupFd((server as unknown as { _handle: { fd: number } })._handle.fd);
  assert.ok(fd >= 0);
  const adopted = new net.Socket({ fd, readable: true, writable: true });
  try {
    const w = new SocketWriter(true);
    const src = source(5000);
    w.write(adopted, [src.subarray(0, 1000), src.subarray(1000)], 2, 5000);
    assert.equal(w.directBytes, 5000);
    assert.deepEqual(await readAll(client, 5000), src);
  } finally {
    adopted.destroy();
    close();
  }
});

test('socket-write: the stream path: switched off, a corked socket, a stream holding bytes', async () => {
  const { client, server, close } = await pair();
  try {
    const src = source(3000);
    const off = new SocketWriter(false);
    const streamWrites = countStreamWrites(server);
    off.write(server, [src.subarray(0, 1000)], 1, 1000);
    assert.equal(off.directBytes, 0);
    assert.equal(streamWrites.n, 1);
    const on = new SocketWriter(true);
    server.cork();
    on.write(server, [src.subarray(1000, 2000)], 1, 1000);
    assert.equal(on.directBytes, 0, 'corked: the stream path');
    server.uncork();
    assert.deepEqual(await readAll(client, 2000), src.subarray(0, 2000));
    on.write(server, [src.subarray(2000, 3000)], 1, 1000);
    assert.equal(on.directBytes, 1000);
  } finally {
    close();
  }
});

test('socket-write: NVMETD_NATIVE_WRITE=0 turns the native path off; unset or anything else leaves it on', () => {
  const mod = new URL('../../../src/native/sock-write.js', import.meta.url).href;
  const probe = (env: NodeJS.ProcessEnv): string =>
    execFileSync(process.execPath, ['--input-type=module', '-e', `import(${JSON.stringify(mod)}).then((m) => console.log(m.nativeWriteEnabled))`], { env, encoding: 'utf8' }).trim();
  const base = { ...process.env };
  delete base.NVMETD_NATIVE_WRITE;
  assert.equal(probe({ ...base, NVMETD_NATIVE_WRITE: '0' }), 'false');
  assert.equal(probe(base), 'true');
  assert.equal(probe({ ...base, NVMETD_NATIVE_WRITE: '1' }), 'true');
});

test('socket-write: a TLS socket is written through its stream (records), never to the descriptor under it', async () => {
  const id = 'NVMe0R02 nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555 nqn.2026-11.io.nvmetd:sockwrite';
  const { client, server } = await tlsLoopbackPair(id, crypto.randomBytes(48), 2);
  try {
    const w = new SocketWriter(true);
    const src = source(4096);
    const streamWrites = countStreamWrites(server);
    w.write(server, [src.subarray(0, 24), src.subarray(24)], 2, 4096);
    assert.equal(w.directBytes, 0, 'nothing written around the TLS engine');
    assert.equal(streamWrites.n, 2);
    assert.deepEqual(await readAll(client, 4096), src, 'the peer decrypts the bytes');
  } finally {
    client.destroy();
    server.destroy();
  }
});
