// The JSON-RPC socket's framing and request rules, against a stub method table (no target).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/util/log.js';
import { RpcServer } from '../../src/rpc/server.js';
import { RpcCode, RpcError, type Dispatch, type Params } from '../../src/rpc/wire.js';

const log = createLogger('silent');

/** set: stores its params after 30 ms; get: what set stored. */
let stored: unknown = null;

/** echo: its params; fail: an error; slow: answers after 30 ms. Anything else: not found. */
const dispatch: Dispatch = async (method, params) => {
  if (method === 'set') {
    await new Promise((r) => setTimeout(r, 30));
    stored = params ?? null;
    return true;
  }
  if (method === 'get') return stored as Params;
  if (method === 'echo') return params === undefined ? null : params;
  if (method === 'fail') throw new RpcError(-19, 'No such device');
  if (method === 'slow') {
    await new Promise((r) => setTimeout(r, 30));
    return 'slow';
  }
  throw new RpcError(RpcCode.METHOD_NOT_FOUND);
};

async function withServer(fn: (sock: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-'));
  const sock = path.join(dir, 'rpc.sock');
  const server = await RpcServer.listen(sock, dispatch, log);
  try {
    await fn(sock);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Sends `chunks` (a pause between them, so that each is its own read), then waits until the server
 * closes or `quietMs` pass with nothing new; `halfClose` ends our side after the last chunk.
 */
function exchange(sock: string, chunks: (string | Buffer)[], o: { quietMs?: number; halfClose?: boolean } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let text = '';
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        s.destroy();
        resolve({ text, closed });
      }, o.quietMs ?? 150);
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      settle();
    });
    s.on('end', () => {
      closed = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      // A reset is the server dropping the connection with our bytes unread: closed, too.
      if (err.code !== 'ECONNRESET') return reject(err);
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    s.on('connect', async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 15));
      }
      if (o.halfClose) s.end();
      settle();
    });
  });
}

const lines = (text: string): unknown[] => text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as unknown);

test('rpc socket: mode 0600, stale socket file replaced', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-'));
  const sock = path.join(dir, 'rpc.sock');
  const first = await RpcServer.listen(sock, dispatch, log);
  assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  await first.close();
  const stale = net.createServer();
  await new Promise<void>((resolve) => stale.listen(sock, resolve));
  stale.unref();
  // The path holds a socket file from before (as a crashed run leaves it): a new server takes it over.
  const second = await RpcServer.listen(sock, dispatch, log);
  const r = await exchange(sock, ['{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}']);
  assert.deepEqual(lines(r.text), [{ jsonrpc: '2.0', id: 1, result: [1] }]);
  await second.close();
  stale.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('rpc socket: concatenated requests in one write, each answered on its own line, in order', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, [
      '{"jsonrpc":"2.0","method":"slow","id":"a"}{"jsonrpc":"2.0","method":"echo","params":{"x":1},"id":2} {"method":"echo","params":[true],"id":3.50}',
    ]);
    assert.equal(r.closed, false, 'the connection stays open');
    assert.ok(r.text.endsWith('\n'));
    assert.deepEqual(lines(r.text), [
      { jsonrpc: '2.0', id: 'a', result: 'slow' },
      { jsonrpc: '2.0', id: 2, result: { x: 1 } },
      { jsonrpc: '2.0', id: 3.5, result: [true] },
    ]);
    assert.ok(r.text.includes('"id":3.50'), 'a numeric id comes back as it was written');
  }));

test('rpc socket: requests on one connection run one after the other (a later one sees an earlier one done)', () =>
  withServer(async (sock) => {
    stored = null;
    const r = await exchange(sock, ['{"method":"set","params":["v1"],"id":1}{"method":"get","id":2}']);
    assert.deepEqual(lines(r.text), [
      { jsonrpc: '2.0', id: 1, result: true },
      { jsonrpc: '2.0', id: 2, result: ['v1'] },
    ]);
  }));

test('rpc socket: a request split over several reads is answered once complete', () =>
  withServer(async (sock) => {
    const req = '{"jsonrpc":"2.0","method":"echo","params":{"s":"\\u00e9t\u00e9"},"id":7}';
    const b = Buffer.from(req);
    // Split inside the escape, inside the UTF-8 sequence of the second é, and between members.
    const cuts = [5, req.indexOf('\\u') + 3, b.indexOf(0xc3, 40) + 1, b.length - 3];
    const chunks: Buffer[] = [];
    let at = 0;
    for (const c of cuts) {
      chunks.push(b.subarray(at, c));
      at = c;
    }
    chunks.push(b.subarray(at));
    const r = await exchange(sock, chunks);
    assert.deepEqual(lines(r.text), [{ jsonrpc: '2.0', id: 7, result: { s: 'été' } }]);
  }));

test('rpc socket: garbage gets a parse error (id null) after the answers due, then the connection closes', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, ['{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}{"jsonrpc" 1}', '{"jsonrpc":"2.0","method":"echo","id":2}']);
    assert.equal(r.closed, true, 'closed by the server');
    assert.deepEqual(lines(r.text), [
      { jsonrpc: '2.0', id: 1, result: [1] },
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } },
    ]);
  }));

test('rpc socket: invalid UTF-8 inside a string is a parse error', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, [Buffer.concat([Buffer.from('{"method":"echo","params":["'), Buffer.from([0xff, 0xfe]), Buffer.from('"],"id":1}')])]);
    assert.equal(r.closed, true);
    assert.deepEqual(lines(r.text), [{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }]);
  }));

test('rpc socket: more than 8192 JSON values in one request is a parse error', () =>
  withServer(async (sock) => {
    // Values: { method "echo" params [ ...n... ] id 1 } = n + 9.
    const ok = `{"method":"echo","params":[${new Array(8183).fill(0).join(',')}],"id":1}`;
    const big = `{"method":"echo","params":[${new Array(8184).fill(0).join(',')}],"id":2}`;
    const r = await exchange(sock, [ok, big]);
    const got = lines(r.text) as { id: number; result?: unknown[]; error?: { code: number } }[];
    assert.equal(got[0]!.result!.length, 8183, '8192 values are accepted');
    assert.deepEqual(got[1], { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    assert.equal(r.closed, true);
  }));

test('rpc socket: an unfinished request over 256 KiB closes the connection without an answer', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, [`{"method":"echo","params":["${'x'.repeat(300 * 1024)}`]);
    assert.equal(r.closed, true);
    assert.equal(r.text, '');
  }));

test('rpc socket: a client closing its side still gets the answers due; a partial request is dropped', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, ['{"method":"slow","id":1}{"method":"echo","id":2,"par'], { halfClose: true });
    assert.equal(r.closed, true);
    assert.deepEqual(lines(r.text), [{ jsonrpc: '2.0', id: 1, result: 'slow' }]);
  }));

test('rpc requests: invalid request cases, each answered -32600 with id null (or echoed when the id was read)', () =>
  withServer(async (sock) => {
    const cases: [string, unknown][] = [
      ['42 ', null],
      ['"str"', null],
      ['{"jsonrpc":"1.0","method":"echo","id":1}', null],
      ['{"jsonrpc":"2.0","id":1}', null],
      ['{"jsonrpc":"2.0","method":5,"id":1}', null],
      ['{"jsonrpc":"2.0","method":"echo","id":{"a":1}}', null],
      ['{"jsonrpc":"2.0","method":"echo","id":1,"extra":true}', null],
      ['{"jsonrpc":"2.0","method":"echo","method":"echo","id":1}', null],
      ['{"jsonrpc":"2.0","method":"echo","params":5,"id":9}', 9],
      ['{"jsonrpc":"2.0","method":"echo","params":"x","id":"s"}', 's'],
    ];
    const r = await exchange(sock, cases.map((c) => c[0]));
    assert.equal(r.closed, false, 'an invalid request does not close the connection');
    assert.deepEqual(
      lines(r.text),
      cases.map(([, id]) => ({ jsonrpc: '2.0', id, error: { code: -32600, message: 'Invalid request' } })),
    );
  }));

test('rpc requests: notifications get no result, but do get errors; jsonrpc may be left out; params null is none', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, [
      '{"jsonrpc":"2.0","method":"echo","params":[1]}',
      '{"jsonrpc":"2.0","method":"echo","params":[1],"id":null}',
      '{"jsonrpc":"2.0","method":"nope"}',
      '{"method":"fail"}',
      '{"method":"echo","params":null,"id":4}',
    ]);
    assert.deepEqual(lines(r.text), [
      { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'Method not found' } },
      { jsonrpc: '2.0', id: null, error: { code: -19, message: 'No such device' } },
      { jsonrpc: '2.0', id: 4, result: null },
    ]);
  }));

test('rpc batch: one array of answers in element order, notifications left out; empty batch is one error', () =>
  withServer(async (sock) => {
    const r = await exchange(sock, [
      '[{"jsonrpc":"2.0","method":"slow","id":1},{"jsonrpc":"2.0","method":"echo","params":[2]},5,{"jsonrpc":"2.0","method":"nope","id":"x"},{"method":"echo","params":[3],"id":3}]',
      '[]',
      '[{"method":"echo"},{"method":"echo","id":null}]',
      '{"method":"echo","params":["after"],"id":9}',
    ]);
    assert.deepEqual(lines(r.text), [
      [
        { jsonrpc: '2.0', id: 1, result: 'slow' },
        { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid request' } },
        { jsonrpc: '2.0', id: 'x', error: { code: -32601, message: 'Method not found' } },
        { jsonrpc: '2.0', id: 3, result: [3] },
      ],
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid request' } },
      // The all-notification batch gets nothing at all.
      { jsonrpc: '2.0', id: 9, result: ['after'] },
    ]);
  }));
