// UringBackend on the native io_uring engine: every operation in each mode, error paths, forced fallbacks,
// block devices (loop devices, when running as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { UringBackend } from '../../src/backend/uring.js';
import { UringEngine, resetSharedUringEngine, type EngineOptions } from '../../src/backend/uring-engine.js';
import { openBackend } from '../../src/backend/open.js';
import type { Backend, BackendRequest } from '../../src/backend/backend.js';
import type { Logger } from '../../src/util/log.js';
import { BufferPool } from '../../src/runtime/buffer-pool.js';

const errno = os.constants.errno;

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

/** A logger that keeps its messages, to check what the engine says. */
function memLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s).msg as string) });
  return { log, lines };
}

function tmpFile(size = 0, fill?: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-uring-'));
  const p = path.join(dir, 'ns.img');
  if (fill !== undefined) fs.writeFileSync(p, Buffer.alloc(size, fill));
  else {
    fs.writeFileSync(p, Buffer.alloc(0));
    if (size) fs.truncateSync(p, size);
  }
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
  for (let i = 0; i < len; i++) a[i] = (i * 13 + seed) & 0xff;
  return a;
}

async function open(p: string, eo: EngineOptions, extra: { buffered?: boolean; readOnly?: boolean; size?: number; kind?: 'file' | 'block' } = {}, log = memLog().log): Promise<UringBackend> {
  const e = await UringEngine.create(eo, log);
  assert.ok(e, 'io_uring works on this machine');
  return UringBackend.open(
    { path: p, kind: extra.kind ?? 'file', size: extra.size, blockSize: 512, readOnly: extra.readOnly ?? false, buffered: extra.buffered ?? false },
    e,
    log,
    true,
  );
}

/** Read/write/FUA/flush/discard/write-zeroes round trip. */
async function exercise(b: Backend, base = 0): Promise<void> {
  const a = pattern(16384, 3);
  assert.equal(await run(b, (r) => b.submitWrite(r, base + 4096, a, false)), 16384);
  const back = new Uint8Array(16384);
  assert.equal(await run(b, (r) => b.submitRead(r, base + 4096, back)), 16384);
  assert.deepEqual(back, a);
  // Unaligned buffers (bounce path under O_DIRECT), FUA.
  const una = new Uint8Array(new ArrayBuffer(4096 + 7), 7, 4096);
  una.set(pattern(4096, 9));
  assert.equal(await run(b, (r) => b.submitWrite(r, base + 8192, una, true)), 4096);
  const una2 = new Uint8Array(new SharedArrayBuffer(4096 + 3), 3, 4096);
  assert.equal(await run(b, (r) => b.submitRead(r, base + 8192, una2)), 4096);
  assert.deepEqual(una2, una);
  assert.equal(await run(b, (r) => b.submitFlush(r)), 0);
  // Write zeroes over part of it.
  assert.equal(await run(b, (r) => b.submitWriteZeroes(r, base + 4096, 4096, false)), 0);
  assert.equal(await run(b, (r) => b.submitRead(r, base + 4096, back)), 16384);
  assert.ok(back.subarray(0, 4096).every((x) => x === 0));
  assert.deepEqual(back.subarray(8192), a.subarray(8192));
  // Discard.
  assert.equal(await run(b, (r) => b.submitDiscard(r, base + 12288, 8192)), 0);
  assert.equal(await run(b, (r) => b.submitRead(r, base + 4096, back)), 16384);
  if (b.discardZeroes) assert.ok(back.subarray(8192).every((x) => x === 0));
  assert.equal(await run(b, (r) => b.submitDiscard(r, base, 0)), 0);
}

for (const mode of ['interrupt', 'sqpoll', 'iopoll'] as const) {
  for (const buffered of [false, true]) {
    test(`every operation: ${mode} mode, ${buffered ? 'buffered' : 'O_DIRECT'}`, async () => {
      const p = tmpFile(4 << 20);
      const b = await open(p, { mode, entries: 64 }, { buffered });
      assert.match(b.engine, new RegExp(`^io_uring\\((${mode === 'iopoll' ? 'iopoll|interrupt' : mode}),${buffered ? 'buffered' : 'direct'}\\)$`));
      assert.equal(b.kind, 'file');
      assert.equal(b.discardZeroes, true);
      assert.equal(b.sizeBytes, 4 << 20);
      assert.equal(b.view(0, 512), null);
      await exercise(b);
      await b.close();
    });
  }
}

test('IOPOLL is refused for a file on a device without poll queues, and says so', async () => {
  const { log, lines } = memLog();
  const p = tmpFile(1 << 20);
  const b = await open(p, { mode: 'iopoll' }, {}, log);
  if (b.engine.startsWith('io_uring(interrupt')) assert.ok(lines.some((l) => /IOPOLL refused/.test(l)));
  await exercise(b);
  await b.close();
});

test('more operations than ring slots: the excess waits and everything completes once', async () => {
  const p = tmpFile(4 << 20);
  const b = await open(p, { entries: 8 }, { buffered: true });
  const reqs: Req[] = [];
  for (let i = 0; i < 100; i++) {
    const r = new Req();
    reqs.push(r);
    b.submitWrite(r, i * 4096, pattern(4096, i), i % 7 === 0);
  }
  b.kick();
  for (const res of await Promise.all(reqs.map((r) => r.done))) assert.equal(res, 4096);
  const bufs = Array.from({ length: 100 }, () => new Uint8Array(4096));
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

test('large transfers and the registered buffer pool (fixed buffers)', async () => {
  const p = tmpFile(8 << 20);
  const log = memLog().log;
  const e = (await UringEngine.create({}, log))!;
  const b = await UringBackend.open({ path: p, kind: 'file', blockSize: 4096, readOnly: false, buffered: false }, e, log, true);
  const pool = e.bufferPool(4 << 20);
  assert.equal(e.rw.info().fixedBuffers, true);
  const src = pool.subarray(0, 1 << 20);
  src.set(pattern(1 << 20, 5));
  assert.equal(await run(b, (r) => b.submitWrite(r, 1 << 20, src, false)), 1 << 20);
  const dst = pool.subarray(2 << 20, 3 << 20);
  assert.equal(await run(b, (r) => b.submitRead(r, 1 << 20, dst)), 1 << 20);
  assert.deepEqual(dst, src);
  // Outside the pool: plain (non-fixed) path.
  const plain = new Uint8Array(3 << 20);
  assert.equal(await run(b, (r) => b.submitRead(r, 0, plain)), 3 << 20);
  assert.ok(Buffer.from(plain.buffer, 1 << 20, 1 << 20).equals(src));
  await b.close();
});

test('errors: out of range, misaligned under O_DIRECT, read-only, end of file, closed', async () => {
  const p = tmpFile(1 << 20);
  const b = await open(p, {});
  const r = new Req();
  b.submitRead(r, (1 << 20) - 512, new Uint8Array(1024));
  assert.equal(r.result, undefined, 'no completion from inside submit');
  b.kick();
  assert.equal(await r.done, -errno.EINVAL);
  assert.equal(await run(b, (x) => b.submitWrite(x, -4096, new Uint8Array(512), false)), -errno.EINVAL);
  assert.equal(await run(b, (x) => b.submitWriteZeroes(x, 0, (1 << 20) + 512, false)), -errno.EINVAL);
  assert.equal(await run(b, (x) => b.submitDiscard(x, 1 << 20, 512)), -errno.EINVAL);
  if (b.align > 1) assert.equal(await run(b, (x) => b.submitRead(x, 100, new Uint8Array(512))), -errno.EINVAL);
  fs.truncateSync(p, 8192); // shrunk behind the backend's back
  assert.equal(await run(b, (x) => b.submitRead(x, 65536, new Uint8Array(4096))), -errno.EIO);
  await b.close();
  assert.equal(await run(b, (x) => b.submitRead(x, 0, new Uint8Array(512))), -errno.EBADF);

  const q = tmpFile(64 << 10, 0x11);
  const ro = await open(q, {}, { readOnly: true });
  assert.equal(ro.readOnly, true);
  const buf = new Uint8Array(4096);
  assert.equal(await run(ro, (x) => ro.submitRead(x, 0, buf)), 4096);
  assert.ok(buf.every((v) => v === 0x11));
  assert.equal(await run(ro, (x) => ro.submitWrite(x, 0, buf, false)), -errno.EROFS);
  assert.equal(await run(ro, (x) => ro.submitWriteZeroes(x, 0, 512, false)), -errno.EROFS);
  assert.equal(await run(ro, (x) => ro.submitDiscard(x, 0, 512)), -errno.EROFS);
  assert.equal(await run(ro, (x) => ro.submitFlush(x)), 0);
  await ro.close();
});

test('open errors name the path and the reason', async () => {
  const missing = path.join(os.tmpdir(), 'nvmetd-uring-missing', 'x.img');
  await assert.rejects(open(missing, {}), (err: Error) => /nvmetd-uring-missing\/x\.img/.test(err.message) && /ENOENT/.test(err.message));
  await assert.rejects(open(tmpFile(4096), {}, { kind: 'block' }), /not a block device/);
});

test('forced fallback: io_uring unavailable -> fs thread pool, one log line', async () => {
  resetSharedUringEngine();
  const { log, lines } = memLog();
  const base = { nsid: 1, blockSize: 512 as const, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
  const p = tmpFile(1 << 20);
  const b = await openBackend({ ...base, backing: { type: 'file', path: p } }, log, { simulate: ['unavailable'] });
  assert.equal(b.engine, 'fs-threadpool');
  assert.equal(lines.filter((l) => /io_uring unavailable/.test(l)).length, 1);
  await exercise(b);
  await b.close();
  resetSharedUringEngine();
});

test('forced fallback: NVMETD_ENGINE=fs', async () => {
  resetSharedUringEngine();
  process.env.NVMETD_ENGINE = 'fs';
  try {
    const base = { nsid: 1, blockSize: 512 as const, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
    const b = await openBackend({ ...base, backing: { type: 'file', path: tmpFile(1 << 20) } }, memLog().log);
    assert.equal(b.engine, 'fs-threadpool');
    await b.close();
  } finally {
    delete process.env.NVMETD_ENGINE;
  }
});

test('default: openBackend puts files on the shared io_uring engine', async () => {
  resetSharedUringEngine();
  const base = { nsid: 1, blockSize: 512 as const, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
  const { log } = memLog();
  const a = await openBackend({ ...base, backing: { type: 'file', path: tmpFile(1 << 20) } }, log);
  const b = await openBackend({ ...base, nsid: 2, backing: { type: 'file', path: tmpFile(1 << 20), buffered: true } }, log);
  assert.equal(a.engine, 'io_uring(interrupt,direct)');
  assert.equal(b.engine, 'io_uring(interrupt,buffered)');
  await exercise(a);
  await exercise(b);
  await a.close();
  await b.close();
  resetSharedUringEngine();
});

test('forced fallback: SQPOLL refused -> interrupt mode', async () => {
  const { log, lines } = memLog();
  const e = await UringEngine.create({ mode: 'sqpoll', simulate: ['refuse-sqpoll'] }, log);
  assert.equal(e!.mode, 'interrupt');
  assert.ok(lines.some((l) => /sqpoll mode refused/.test(l)));
  e!.close();
});

test('forced fallback: IOPOLL refused -> interrupt mode', async () => {
  const { log, lines } = memLog();
  const e = await UringEngine.create({ mode: 'iopoll', simulate: ['refuse-iopoll'] }, log);
  assert.equal(e!.mode, 'interrupt');
  assert.ok(lines.some((l) => /iopoll mode refused/.test(l)));
  e!.close();
});

test('forced fallback: O_DIRECT refused -> buffered', async () => {
  const { log, lines } = memLog();
  const b = await open(tmpFile(1 << 20), { simulate: ['no-direct'] }, {}, log);
  assert.equal(b.direct, false);
  assert.match(b.engine, /buffered/);
  assert.ok(lines.some((l) => /O_DIRECT refused/.test(l)));
  await exercise(b);
  await b.close();
});

test('forced fallback: no fallocate -> discard and write zeroes write zeroes', async () => {
  const p = tmpFile(4 << 20, 0xee);
  const b = await open(p, { simulate: ['no-fallocate'] });
  assert.equal(await run(b, (r) => b.submitWriteZeroes(r, 4096, (2 << 20) + 4096, false)), 0);
  assert.equal(await run(b, (r) => b.submitDiscard(r, 3 << 20, 8192)), 0);
  await b.close();
  const data = fs.readFileSync(p);
  assert.equal(data[4095], 0xee);
  assert.ok(data.subarray(4096, (2 << 20) + 8192).every((x) => x === 0));
  assert.equal(data[(2 << 20) + 8192], 0xee);
  assert.ok(data.subarray(3 << 20, (3 << 20) + 8192).every((x) => x === 0));
  // Still a dense file: nothing was punched.
  assert.ok(fs.statSync(p).blocks * 512 >= 4 << 20);
});

test('file discard punches a hole (space is freed)', async () => {
  const p = tmpFile(4 << 20, 0x42);
  const b = await open(p, {});
  const before = fs.statSync(p).blocks;
  assert.equal(await run(b, (r) => b.submitDiscard(r, 1 << 20, 2 << 20)), 0);
  await b.close();
  assert.ok(fs.statSync(p).blocks < before, 'blocks released');
  assert.equal(fs.statSync(p).size, 4 << 20, 'size kept');
});

// Block devices: a loop device over a temp file (root only).
function loopDevice(size: number): { dev: string; file: string } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const file = tmpFile(size);
    const dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
    return { dev, file };
  } catch {
    return null;
  }
}

for (const simulate of [[], ['no-blkioctl']]) {
  test(`block device (loop): every operation${simulate.length ? ', ioctls unavailable' : ''}`, async (t) => {
    const loop = loopDevice(16 << 20);
    if (!loop) return t.skip('needs root and losetup');
    try {
      const b = await open(loop.dev, { simulate }, { kind: 'block' });
      assert.equal(b.kind, 'block');
      assert.equal(b.sizeBytes, 16 << 20);
      assert.equal(b.discardZeroes, false);
      await exercise(b, 1 << 20);
      // BLKZEROOUT / zero writes over more than one zero chunk.
      const big = pattern(3 << 20, 1);
      assert.equal(await run(b, (r) => b.submitWrite(r, 4 << 20, big, false)), 3 << 20);
      assert.equal(await run(b, (r) => b.submitWriteZeroes(r, 4 << 20, 3 << 20, false)), 0);
      const back = new Uint8Array(3 << 20);
      assert.equal(await run(b, (r) => b.submitRead(r, 4 << 20, back)), 3 << 20);
      assert.ok(back.every((x) => x === 0));
      await b.close();
    } finally {
      execFileSync('losetup', ['-d', loop.dev]);
    }
  });
}

test('block device through openBackend, fs engine: size from the device', async (t) => {
  const loop = loopDevice(8 << 20);
  if (!loop) return t.skip('needs root and losetup');
  try {
    const base = { nsid: 1, blockSize: 512 as const, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
    const b = await openBackend({ ...base, backing: { type: 'block', path: loop.dev } }, memLog().log, { engine: 'fs' });
    assert.equal(b.engine, 'fs-threadpool');
    assert.equal(b.sizeBytes, 8 << 20);
    await exercise(b);
    await b.close();
  } finally {
    execFileSync('losetup', ['-d', loop.dev]);
  }
});

test('poll mode (spinUs): a completion can arrive inside kick', async () => {
  const p = tmpFile(1 << 20);
  const b = await open(p, { spinUs: 1000 }, { buffered: true });
  let inKick = 0;
  for (let i = 0; i < 20; i++) {
    const r = new Req();
    b.submitRead(r, i * 4096, new Uint8Array(4096));
    b.kick();
    if (r.result !== undefined) inKick++;
    assert.equal(await r.done, 4096);
  }
  assert.ok(inKick > 0, 'page-cache reads complete within the spin');
  await exercise(b);
  await b.close();
});

test('pooled buffers: the slabs are registered with the ring, O_DIRECT I/O on them is fixed (no bounce copy)', async () => {
  const p = tmpFile(4 << 20);
  const log = memLog().log;
  // A pool made before the engine: its slab is registered when the engine starts.
  const early = new BufferPool({ maxSize: 1 << 20, trimIdleMs: 0 });
  const a = early.acquire(64 << 10);
  const e = (await UringEngine.create({}, log))!;
  assert.equal(e.registeredSlabs, 1);
  const b = await UringBackend.open({ path: p, kind: 'file', blockSize: 4096, readOnly: false, buffered: false }, e, log, true);
  assert.ok(b.direct, 'O_DIRECT on the test file system');
  const pool = new BufferPool({ maxSize: 1 << 20, trimIdleMs: 0 });
  const src = pool.acquire(256 << 10);
  const dst = pool.acquire(256 << 10);
  assert.equal(e.registeredSlabs, 2, 'a slab made later is registered as it is made');
  assert.equal(e.rw.info().registeredBuffers, 2);
  src.set(pattern(256 << 10, 3));
  a.set(pattern(64 << 10, 4));
  const i0 = e.rw.info();
  assert.equal(await run(b, (r) => b.submitWrite(r, 1 << 20, src, false)), 256 << 10);
  assert.equal(await run(b, (r) => b.submitWrite(r, 2 << 20, a, true)), 64 << 10);
  assert.equal(await run(b, (r) => b.submitRead(r, 1 << 20, dst)), 256 << 10);
  assert.ok(dst.equals(src));
  const i1 = e.rw.info();
  assert.equal(i1.fixedOps - i0.fixedOps, 3, 'READ_FIXED/WRITE_FIXED on pooled buffers');
  assert.equal(i1.bounceOps - i0.bounceOps, 0, 'no bounce copy');
  // Unaligned memory still works, through the slot's bounce buffer.
  const odd = Buffer.allocUnsafeSlow((64 << 10) + 1).subarray(1);
  assert.equal(await run(b, (r) => b.submitRead(r, 2 << 20, odd)), 64 << 10);
  assert.ok(odd.equals(a));
  assert.equal(e.rw.info().bounceOps - i1.bounceOps, 1);
  // Slabs given back are unregistered first; their table entries are used again.
  pool.release(src);
  pool.release(dst);
  pool.close();
  assert.equal(e.registeredSlabs, 1);
  assert.equal(e.rw.info().registeredBuffers, 1);
  const again = new BufferPool({ maxSize: 1 << 20, trimIdleMs: 0 });
  const c = again.acquire(256 << 10);
  assert.equal(e.rw.info().registeredBuffers, 2);
  assert.equal(await run(b, (r) => b.submitRead(r, 1 << 20, c)), 256 << 10);
  assert.ok(c.equals(Buffer.from(pattern(256 << 10, 3))));
  assert.equal(e.rw.info().fixedOps - i1.fixedOps, 1);
  again.release(c);
  again.close();
  early.release(a);
  early.close();
  await b.close();
  assert.equal(e.registeredSlabs, 0);
});

test('pooled buffers: simulate no-fixed-buffers leaves the slabs unregistered; I/O still works', async () => {
  const p = tmpFile(1 << 20);
  const log = memLog().log;
  const e = (await UringEngine.create({ simulate: ['no-fixed-buffers'] }, log))!;
  const b = await UringBackend.open({ path: p, kind: 'file', blockSize: 4096, readOnly: false, buffered: false }, e, log, true);
  const pool = new BufferPool({ maxSize: 1 << 20, trimIdleMs: 0 });
  const buf = pool.acquire(4096);
  buf.fill(9);
  assert.equal(e.registeredSlabs, 0);
  const i0 = e.rw.info();
  assert.equal(await run(b, (r) => b.submitWrite(r, 0, buf, false)), 4096);
  const i1 = e.rw.info();
  assert.equal(i1.fixedOps - i0.fixedOps, 0);
  assert.equal(i1.plainOps - i0.plainOps, 1, 'aligned: plain opcode, no bounce');
  pool.release(buf);
  pool.close();
  await b.close();
});

test('ioBufferPool: pools are registered with the thread engine (the buffer table holds several)', async () => {
  resetSharedUringEngine();
  const { ioBufferPool } = await import('../../src/backend/open.js');
  const { sharedUringEngine } = await import('../../src/backend/uring-engine.js');
  const log = memLog().log;
  const a = await ioBufferPool(1 << 20, log);
  const b = await ioBufferPool(1 << 20, log);
  assert.equal(a.length, 1 << 20);
  assert.equal(b.length, 1 << 20);
  const e = await sharedUringEngine({}, log);
  assert.equal(e!.rw.info().fixedBuffers, true);
  assert.ok(e!.rw.info().registeredBuffers >= 2);
  const fsPool = await ioBufferPool(4096, log, { engine: 'fs' });
  assert.equal(fsPool.length, 4096);
  resetSharedUringEngine();
});

test('deferred task work: on by default in interrupt mode, off with spin or when asked', async () => {
  const log = memLog().log;
  const on = (await UringEngine.create({}, log))!;
  const spin = (await UringEngine.create({ spinUs: 10 }, log))!;
  const off = (await UringEngine.create({ deferTaskrun: false }, log))!;
  assert.equal(on.rw.info().deferTaskrun, true, 'kernel 6.1+ has DEFER_TASKRUN');
  assert.equal(spin.rw.info().deferTaskrun, false);
  assert.equal(off.rw.info().deferTaskrun, false);
  for (const e of [on, spin, off]) {
    const b = await UringBackend.open({ path: tmpFile(1 << 20), kind: 'file', blockSize: 512, readOnly: false, buffered: false }, e, log, true);
    await exercise(b);
    await b.close();
  }
});

test('ENOSPC from a full file system is reported, and the namespace stays usable', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-enospc-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir]);
  } catch {
    fs.rmdirSync(dir);
    return t.skip('cannot mount tmpfs here');
  }
  try {
    const p = path.join(dir, 'ns.img');
    fs.writeFileSync(p, Buffer.alloc(0));
    for (const simulate of [[], ['unavailable']]) {
      const { openBackend } = await import('../../src/backend/open.js');
      const { errnoToNvmeStatus } = await import('../../src/backend/errno.js');
      resetSharedUringEngine();
      const base = { nsid: 1, blockSize: 512 as const, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
      const b = await openBackend({ ...base, backing: { type: 'file', path: p, size: 4 << 20, buffered: true } }, memLog().log, { simulate });
      const big = pattern(1 << 20, 1);
      const res = await run(b, (r) => b.submitWrite(r, 0, big, false));
      assert.equal(res, -errno.ENOSPC, `${b.engine}: ENOSPC`);
      assert.equal(errnoToNvmeStatus(res, 'write'), 0x081);
      const small = new Uint8Array(4096);
      assert.equal(await run(b, (r) => b.submitRead(r, 2 << 20, small)), 4096, 'still readable');
      await b.close();
      resetSharedUringEngine();
    }
  } finally {
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
});
