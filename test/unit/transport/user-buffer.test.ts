// user-buffer.ts over a real loopback socket: reads land in the thread buffer, or where the read
// target names after a read; useThreadBuffer() takes a named buffer back before the next read.
// This is what direct receive relies on in Node's socket internals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { receiveIntoThreadBuffer, useThreadBuffer } from '../../../src/transport/tcp/user-buffer.js';

interface Read {
  buf: Buffer;
  bytes: Buffer;
}

async function pair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const acceptedP = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = await acceptedP;
  return { server, client, accepted };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function total(reads: Read[]): string {
  return Buffer.concat(reads.map((r) => r.bytes)).toString();
}

test('user-buffer: after a read, the next one lands where the target names; useThreadBuffer() takes it back', async () => {
  const { server, client, accepted } = await pair();
  try {
    const reads: Read[] = [];
    let next: Uint8Array | null = null;
    const target = {
      direct: (): Uint8Array | null => {
        const n = next;
        next = null; // named for one read only
        return n;
      },
      limit: () => Infinity,
    };
    assert.equal(receiveIntoThreadBuffer(accepted, (buf, n) => reads.push({ buf, bytes: Buffer.from(buf.subarray(0, n)) }), target), true);
    const thread = () => reads[0]!.buf;

    client.write('a'.repeat(10));
    await until(() => total(reads).length === 10, 'the first read');
    assert.equal(thread().length, 256 * 1024, 'the first read lands in the thread buffer');

    // Named now, used by the read after the next one (the generator is asked after each read).
    const mine = Buffer.alloc(1000, 0x2e);
    next = mine.subarray(0, 100);
    client.write('b'.repeat(5));
    await until(() => total(reads).length === 15, 'the second read');
    assert.equal(reads.at(-1)!.buf.buffer, thread().buffer, 'still the thread buffer');
    client.write('c'.repeat(150));
    await until(() => total(reads).length === 165, 'the third batch');
    const inMine = reads.filter((r) => r.buf.buffer === mine.buffer);
    assert.equal(inMine.length, 1, 'one read landed in the named buffer');
    assert.equal(inMine[0]!.bytes.length, 100, 'exactly as many bytes as it holds');
    assert.equal(mine.subarray(0, 100).toString(), 'c'.repeat(100));
    assert.equal(mine[100], 0x2e, 'nothing past it');
    assert.equal(total(reads), 'a'.repeat(10) + 'b'.repeat(5) + 'c'.repeat(150), 'the stream in order');

    // Named, then taken back before the memory is given away: the next read goes elsewhere.
    const other = Buffer.alloc(500, 0x2e);
    next = other;
    client.write('d');
    await until(() => total(reads).length === 166, 'the read that names `other`');
    useThreadBuffer(accepted);
    client.write('e'.repeat(300));
    await until(() => total(reads).length === 466, 'the read after useThreadBuffer');
    assert.ok(other.every((x) => x === 0x2e), 'the taken-back buffer got nothing');
    assert.ok(reads.slice(-1)[0]!.buf.buffer === thread().buffer, 'the thread buffer again');
  } finally {
    client.destroy();
    accepted.destroy();
    server.close();
  }
});
