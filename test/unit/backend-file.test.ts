// FileBackend (fs thread-pool engine): every operation and the error paths, on temp files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileBackend, DISCARD_ZERO_LIMIT } from '../../src/backend/file.js';
import { openBackend } from '../../src/backend/open.js';
import type { Backend, BackendRequest } from '../../src/backend/backend.js';
import { createLogger } from '../../src/util/log.js';

const EINVAL = os.constants.errno.EINVAL;
const EIO = os.constants.errno.EIO;
const EROFS = os.constants.errno.EROFS;

class Req implements BackendRequest {
  result: number | undefined;
  #resolve: ((n: number) => void) | undefined;
  readonly done = new Promise<number>((r) => (this.#resolve = r));
  backendDone(result: number): void {
    assert.equal(this.result, undefined, 'backendDone called twice');
    this.result = result;
    this.#resolve!(result);
  }
}

function tmpFile(size = 0): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-file-'));
  const p = path.join(dir, 'ns.img');
  fs.writeFileSync(p, Buffer.alloc(0));
  if (size) fs.truncateSync(p, size);
  return p;
}

async function run(b: Backend, submit: (r: Req) => void): Promise<number> {
  const r = new Req();
  submit(r);
  b.kick();
  return r.done;
}

function pattern(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  for (let i = 0; i < len; i++) a[i] = (i * 31 + seed) & 0xff;
  return a;
}

test('opens with a configured size: extends a short file sparsely', async () => {
  const p = tmpFile();
  const b = await FileBackend.open({ path: p, kind: 'file', size: 8 << 20, blockSize: 512, readOnly: false });
  assert.equal(b.sizeBytes, 8 << 20);
  assert.equal(b.kind, 'file');
  assert.equal(b.engine, 'fs-threadpool');
  assert.equal(fs.statSync(p).size, 8 << 20);
  assert.equal(b.view(0, 512), null);
  await b.close();
});

test('opens without a size: uses the file size, rounded down to the block size', async () => {
  const p = tmpFile(4096 * 3 + 100);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 4096, readOnly: false });
  assert.equal(b.sizeBytes, 4096 * 3);
  await b.close();
});

test('a longer file is cut to the configured size', async () => {
  const p = tmpFile(1 << 20);
  const b = await FileBackend.open({ path: p, kind: 'file', size: 64 << 10, blockSize: 512, readOnly: false });
  assert.equal(b.sizeBytes, 64 << 10);
  assert.equal(fs.statSync(p).size, 1 << 20);
  await b.close();
});

test('write then read back, plain and FUA, unaligned buffers included', async () => {
  const p = tmpFile(1 << 20);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  const a = pattern(8192, 1);
  assert.equal(await run(b, (r) => b.submitWrite(r, 4096, a, false)), 8192);
  const sab = new Uint8Array(new SharedArrayBuffer(8192 + 3), 3, 8192);
  assert.equal(await run(b, (r) => b.submitRead(r, 4096, sab)), 8192);
  assert.deepEqual(sab, a);
  const c = pattern(512, 7);
  assert.equal(await run(b, (r) => b.submitWrite(r, 0, c, true)), 512);
  const back = fs.readFileSync(p).subarray(0, 512);
  assert.deepEqual(new Uint8Array(back), c);
  await b.close();
});

test('many concurrent operations in one batch complete once each', async () => {
  const p = tmpFile(1 << 20);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  const reqs: Req[] = [];
  for (let i = 0; i < 64; i++) {
    const r = new Req();
    reqs.push(r);
    b.submitWrite(r, i * 4096, pattern(4096, i), false);
  }
  b.kick();
  for (const r of await Promise.all(reqs.map((r) => r.done))) assert.equal(r, 4096);
  const bufs = Array.from({ length: 64 }, () => new Uint8Array(4096));
  const rr = bufs.map((buf, i) => {
    const r = new Req();
    b.submitRead(r, i * 4096, buf);
    return r.done;
  });
  b.kick();
  await Promise.all(rr);
  bufs.forEach((buf, i) => assert.deepEqual(buf, pattern(4096, i)));
  assert.equal(b.inflight, 0);
  await b.close();
});

test('flush succeeds', async () => {
  const p = tmpFile(1 << 20);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  await run(b, (r) => b.submitWrite(r, 0, pattern(4096, 3), false));
  assert.equal(await run(b, (r) => b.submitFlush(r)), 0);
  await b.close();
});

test('write zeroes clears a range larger than one zero chunk', async () => {
  const len = 3 << 20;
  const p = tmpFile(len);
  fs.writeFileSync(p, Buffer.alloc(len, 0xab));
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  assert.equal(await run(b, (r) => b.submitWriteZeroes(r, 512, len - 1024, false)), 0);
  const data = fs.readFileSync(p);
  assert.equal(data[511], 0xab);
  assert.equal(data[512], 0);
  assert.equal(data[len - 513], 0);
  assert.equal(data[len - 512], 0xab);
  assert.ok(data.subarray(512, len - 512).every((x) => x === 0));
  await b.close();
});

test('discard: small ranges read back as zeroes, large ones are accepted', async () => {
  const len = 4 << 20;
  const p = tmpFile();
  fs.writeFileSync(p, Buffer.alloc(len, 0x5a));
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  assert.equal(b.discardZeroes, false);
  assert.equal(await run(b, (r) => b.submitDiscard(r, 8192, 4096)), 0);
  const out = new Uint8Array(4096);
  await run(b, (r) => b.submitRead(r, 8192, out));
  assert.ok(out.every((x) => x === 0));
  assert.equal(await run(b, (r) => b.submitDiscard(r, 0, DISCARD_ZERO_LIMIT * 2)), 0);
  assert.equal(await run(b, (r) => b.submitDiscard(r, 0, 0)), 0);
  await b.close();
});

test('out-of-range operations fail with -EINVAL, delivered at kick', async () => {
  const p = tmpFile(64 << 10);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  const r = new Req();
  b.submitRead(r, (64 << 10) - 512, new Uint8Array(1024));
  assert.equal(r.result, undefined, 'no completion from inside submit');
  b.kick();
  assert.equal(await r.done, -EINVAL);
  assert.equal(await run(b, (x) => b.submitWrite(x, 64 << 10, new Uint8Array(512), false)), -EINVAL);
  assert.equal(await run(b, (x) => b.submitRead(x, -512, new Uint8Array(512))), -EINVAL);
  assert.equal(await run(b, (x) => b.submitWriteZeroes(x, 0, (64 << 10) + 512, false)), -EINVAL);
  assert.equal(await run(b, (x) => b.submitDiscard(x, 0, (64 << 10) + 512)), -EINVAL);
  await b.close();
});

test('a read that meets end of file inside the namespace fails with -EIO', async () => {
  const p = tmpFile(64 << 10);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  fs.truncateSync(p, 4096); // shrunk behind the backend's back
  assert.equal(await run(b, (r) => b.submitRead(r, 8192, new Uint8Array(4096))), -EIO);
  const partial = new Uint8Array(8192);
  assert.equal(await run(b, (r) => b.submitRead(r, 0, partial)), -EIO);
  await b.close();
});

test('a path that does not exist: the error names the path and the reason', async () => {
  const p = path.join(os.tmpdir(), 'nvmetd-does-not-exist', 'ns.img');
  await assert.rejects(FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false }), (err: Error) => {
    assert.match(err.message, /nvmetd-does-not-exist\/ns\.img/);
    assert.match(err.message, /ENOENT/);
    return true;
  });
});

test('wrong kinds and empty files are refused with clear errors', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-file-'));
  await assert.rejects(FileBackend.open({ path: dir, kind: 'file', blockSize: 512, readOnly: true }), /is a directory|EISDIR/);
  const p = tmpFile(4096);
  await assert.rejects(FileBackend.open({ path: p, kind: 'block', blockSize: 512, readOnly: false }), /not a block device/);
  const empty = tmpFile();
  await assert.rejects(FileBackend.open({ path: empty, kind: 'file', blockSize: 512, readOnly: false }), /empty/);
  await assert.rejects(FileBackend.open({ path: empty, kind: 'file', size: 4096, blockSize: 512, readOnly: true }), /read-only/);
});

test('read-only namespaces open read-only and refuse writes with -EROFS', async () => {
  const p = tmpFile(64 << 10);
  fs.chmodSync(p, 0o444);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: true });
  assert.equal(await run(b, (r) => b.submitRead(r, 0, new Uint8Array(512))), 512);
  assert.equal(await run(b, (r) => b.submitWrite(r, 0, new Uint8Array(512), false)), -EROFS);
  assert.equal(await run(b, (r) => b.submitWriteZeroes(r, 0, 512, false)), -EROFS);
  assert.equal(await run(b, (r) => b.submitDiscard(r, 0, 512)), -EROFS);
  assert.equal(await run(b, (r) => b.submitFlush(r)), 0);
  await b.close();
});

test('close waits for operations in flight; later submissions fail with -EBADF', async () => {
  const p = tmpFile(1 << 20);
  const b = await FileBackend.open({ path: p, kind: 'file', blockSize: 512, readOnly: false });
  const r = new Req();
  b.submitWrite(r, 0, pattern(65536, 9), false);
  b.kick();
  await b.close();
  assert.equal(r.result, 65536);
  assert.equal(await run(b, (x) => b.submitRead(x, 0, new Uint8Array(512))), -os.constants.errno.EBADF);
});

test('openBackend picks ram and file backends', async () => {
  const log = createLogger('silent');
  const base = { nsid: 1, blockSize: 512 as const, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
  const ram = await openBackend({ ...base, backing: { type: 'ram', size: 1 << 20 } }, log);
  assert.equal(ram.kind, 'ram');
  await ram.close();
  const p = tmpFile();
  const file = await openBackend({ ...base, backing: { type: 'file', path: p, size: 1 << 20 } }, log);
  assert.equal(file.kind, 'file');
  assert.equal(file.sizeBytes, 1 << 20);
  await file.close();
  await assert.rejects(openBackend({ ...base, backing: { type: 'block', path: p } }, log), /is a regular file, but its backing is configured as type "block"/);
});
