// RAM namespace memory through the addon: streaming copies land exactly where they should (odd
// offsets and lengths, segment ends, private and shared namespaces, another thread), huge pages are
// asked for where they may be and not for overcommitted namespaces, and the switches turn both off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RamBackend, allocateSharedRam } from '../../src/backend/ram.js';
import type { BackendRequest } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/open.js';
import type { NamespaceConfig } from '../../src/config/types.js';
import { native } from '../../src/native/addon.js';
import { STREAMING_MIN, hugePageBytesAdvised, noHugePageBytesAdvised, ramMemoryOptions, setRamMemoryOptions } from '../../src/native/ram-memory.js';
import { createLogger } from '../../src/util/log.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

interface RamAddon {
  ramCopy(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, length: number, streaming: boolean): void;
  ramAdviseHuge(view: Uint8Array, huge?: boolean): number;
  ramStreamingStores(): boolean;
}
const addon = native as unknown as RamAddon;

/** THP as the kernel offers it here ("always", "madvise" or "never"; "" without THP). */
function thpMode(): string {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function run(b: RamBackend, submit: (req: BackendRequest) => void): number {
  let result: number | undefined;
  submit({ backendDone: (r: number) => { result = r; } } as BackendRequest);
  b.kick();
  return result!;
}

const LENGTHS = [1, 15, 16, 17, 63, 64, 65, 511, 4095, 4096, 4097, 65536 + 13, 131072];

test('ramCopy: plain and streaming copies at odd offsets and lengths write exactly the range, up to the end of the view', () => {
  const src = pattern(140_000, 7);
  for (const streaming of [false, true]) {
    for (const len of LENGTHS) {
      for (const dstOff of [0, 1, 7, 16, 33, 4096 - 3]) {
        const srcOff = (dstOff * 5 + 3) % 64;
        const dst = new Uint8Array(dstOff + len + 100).fill(0xee);
        addon.ramCopy(dst, dstOff, src, srcOff, len, streaming);
        assert.deepEqual(dst.subarray(dstOff, dstOff + len), src.subarray(srcOff, srcOff + len), `${streaming ? 'streaming' : 'plain'} ${len} at ${dstOff}`);
        assert.ok(dst.subarray(0, dstOff).every((x) => x === 0xee), 'nothing before the range');
        assert.ok(dst.subarray(dstOff + len).every((x) => x === 0xee), 'nothing after the range');
        // Ending exactly at the end of the destination (the end of a segment).
        const tight = new Uint8Array(dstOff + len).fill(0xee);
        addon.ramCopy(tight, dstOff, src, srcOff, len, streaming);
        assert.deepEqual(tight.subarray(dstOff), src.subarray(srcOff, srcOff + len));
        assert.ok(tight.subarray(0, dstOff).every((x) => x === 0xee));
      }
    }
  }
  // Into a view that starts inside its buffer: offsets are the view's.
  const backing = new Uint8Array(10_000).fill(1);
  addon.ramCopy(backing.subarray(1000, 9000), 5, src, 0, 7000, true);
  assert.deepEqual(backing.subarray(1005, 8005), src.subarray(0, 7000));
  assert.equal(backing[1004], 1);
  assert.equal(backing[8005], 1);
});

test('ramCopy: a range outside either view is a RangeError and writes nothing; a non-view is a TypeError', () => {
  const dst = new Uint8Array(8192);
  const src = pattern(8192, 3);
  assert.throws(() => addon.ramCopy(dst, 4097, src, 0, 4096, true), RangeError);
  assert.throws(() => addon.ramCopy(dst, 0, src, 4097, 4096, true), RangeError);
  assert.throws(() => addon.ramCopy(dst, 8193, src, 0, 0, false), RangeError);
  assert.throws(() => addon.ramCopy(dst, -1, src, 0, 16, false), RangeError);
  assert.throws(() => addon.ramCopy(dst, 0.5, src, 0, 16, false), RangeError);
  assert.throws(() => addon.ramCopy(dst, 0, src, 0, 2 ** 53, false), RangeError);
  assert.ok(dst.every((x) => x === 0), 'nothing written');
  assert.throws(() => addon.ramCopy({} as Uint8Array, 0, src, 0, 16, false), TypeError);
  assert.throws(() => addon.ramCopy(dst, 0, new Uint32Array(4) as unknown as Uint8Array, 0, 16, false), TypeError);
  addon.ramCopy(dst, 8192, src, 8192, 0, true);
});

test('ramAdviseHuge: advises the 2 MiB-aligned interior (or says the kernel refused), changes no data', () => {
  const view = pattern(8 * MiB + 12345, 11);
  const copy = view.slice();
  const r = addon.ramAdviseHuge(view);
  if (thpMode() === '') {
    assert.ok(r <= 0, `a kernel without THP: nothing advised (${r})`);
  } else {
    assert.ok(r >= 6 * MiB && r <= 8 * MiB && r % (2 * MiB) === 0, `the interior of 8 MiB: ${r}`);
  }
  assert.deepEqual(view, copy, 'the data is unchanged');
  const against = addon.ramAdviseHuge(view, false);
  assert.equal(against, r, 'the same interior advised against huge pages');
  assert.deepEqual(view, copy, 'the data is unchanged');
  assert.equal(addon.ramAdviseHuge(new Uint8Array(4096)), 0, 'no whole 2 MiB page in 4 KiB');
  assert.equal(addon.ramAdviseHuge(new Uint8Array(0)), 0);
  assert.throws(() => addon.ramAdviseHuge([] as unknown as Uint8Array), TypeError);
});

test('RAM backend: streaming and plain copies give the same namespace, private and shared, across a segment end', () => {
  const size = GiB + 64 * MiB;
  const writes: [number, number][] = [[GiB - 4096, 8192], [GiB - 5, 4101], [GiB - 4096, 4096], [3, STREAMING_MIN + 1], [GiB + 777, 131072 + 3], [size - 4096, 4096], [size - 1, 1], [8191, 65537]];
  const data = pattern(200_000, 5);
  const before = ramMemoryOptions();
  try {
    const backs: Buffer[] = [];
    for (const streaming of [false, true]) {
      setRamMemoryOptions({ streaming });
      for (const shared of [false, true]) {
        const b = shared ? new RamBackend(size, allocateSharedRam(size)) : new RamBackend(size);
        writes.forEach(([off, len], i) => assert.equal(run(b, (r) => b.submitWrite(r, off, data.subarray(i, i + len), false)), len));
        const out: Buffer[] = [];
        for (const [off, len] of writes) {
          const back = Buffer.alloc(len + 8192);
          const from = Math.max(0, off - 4096);
          const n = Math.min(back.length, size - from);
          assert.equal(run(b, (r) => b.submitRead(r, from, back.subarray(0, n))), n);
          out.push(back.subarray(0, n));
        }
        backs.push(Buffer.concat(out));
        void b.close();
      }
    }
    // The model: the same writes applied to one flat array around each range.
    const model: Buffer[] = [];
    for (const [off, len] of writes) {
      const from = Math.max(0, off - 4096);
      const n = Math.min(len + 8192, size - from);
      const m = Buffer.alloc(n);
      writes.forEach(([o, l], i) => {
        const lo = Math.max(o, from), hi = Math.min(o + l, from + n);
        if (lo < hi) m.set(data.subarray(i + lo - o, i + hi - o), lo - from);
      });
      model.push(m);
    }
    const expected = Buffer.concat(model);
    backs.forEach((got, k) => assert.ok(got.equals(expected), `variant ${k} (streaming ${k >= 2}, shared ${k % 2 === 1}) matches the model`));
  } finally {
    setRamMemoryOptions(before);
  }
});

test('RAM backend: a streaming write in one thread is read by another thread over the same shared memory', async () => {
  const size = 64 * MiB;
  const shares = allocateSharedRam(size);
  const ramUrl = new URL('../../src/backend/ram.js', import.meta.url).href;
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.ramUrl).then(({ RamBackend }) => {
       const b = new RamBackend(workerData.size, workerData.shares);
       const src = new Uint8Array(131072 + 5);
       for (let i = 0; i < src.length; i++) src[i] = (i * 31 + 7) & 0xff;
       let done = 0;
       b.submitWrite({ backendDone: (r) => { done = r; } }, 12345, src, false);
       b.kick();
       parentPort.postMessage(done);
     });`,
    { eval: true, workerData: { ramUrl, size, shares } },
  );
  const written = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(written, 131072 + 5);
  const b = new RamBackend(size, shares);
  const back = Buffer.alloc(131072 + 5);
  assert.equal(run(b, (r) => b.submitRead(r, 12345, back)), back.length);
  assert.ok(back.every((x, i) => x === ((i * 31 + 7) & 0xff)), 'every byte the other thread wrote');
});

test('RAM backend: huge pages are asked for on a first write and for shared memory, never for an overcommitted namespace or with the switch off', async () => {
  const before = ramMemoryOptions();
  try {
    setRamMemoryOptions({ hugePages: true });
    let at = hugePageBytesAdvised();
    const b = new RamBackend(64 * MiB);
    assert.equal(hugePageBytesAdvised(), at, 'nothing before the first write');
    assert.equal(run(b, (r) => b.submitWrite(r, 0, new Uint8Array(4096), false)), 4096);
    // THP compiled in (any mode, "never" too: madvise only marks the range) takes the advice.
    const thp = thpMode() !== '';
    if (thp) assert.ok(hugePageBytesAdvised() - at >= 62 * MiB, 'the segment written is advised');
    at = hugePageBytesAdvised();
    allocateSharedRam(64 * MiB);
    if (thp) assert.ok(hugePageBytesAdvised() - at >= 62 * MiB, 'shared memory is advised when allocated');

    // Overcommitted: a first write backs 4 KiB, not 2 MiB (config "overcommit", --ram-overcommit),
    // advised against huge pages (THP "always" would give them otherwise).
    at = hugePageBytesAdvised();
    const against = noHugePageBytesAdvised();
    const over = new RamBackend(64 * MiB, undefined, 0, false);
    assert.equal(run(over, (r) => over.submitWrite(r, 0, new Uint8Array(4096), false)), 4096);
    allocateSharedRam(64 * MiB, false);
    const log = createLogger('silent');
    const nc = { nsid: 1, blockSize: 4096, backing: { type: 'ram', size: 64 * MiB, overcommit: true } } as unknown as NamespaceConfig;
    const opened = (await openBackend(nc, log)) as RamBackend;
    assert.equal(run(opened, (r) => opened.submitWrite(r, 0, new Uint8Array(4096), false)), 4096);
    assert.equal(hugePageBytesAdvised(), at, 'nothing advised for overcommitted namespaces');
    if (thp) assert.ok(noHugePageBytesAdvised() - against >= 3 * 62 * MiB, 'each of the three advised against huge pages');
    const fits = (await openBackend({ ...nc, backing: { type: 'ram', size: 64 * MiB } } as NamespaceConfig, log)) as RamBackend;
    assert.equal(run(fits, (r) => fits.submitWrite(r, 0, new Uint8Array(4096), false)), 4096);
    if (thp) assert.ok(hugePageBytesAdvised() > at, 'one that fits is advised');

    at = hugePageBytesAdvised();
    setRamMemoryOptions({ hugePages: false });
    const againstBefore = noHugePageBytesAdvised();
    const off = new RamBackend(64 * MiB);
    assert.equal(run(off, (r) => off.submitWrite(r, 0, new Uint8Array(4096), false)), 4096);
    assert.equal(hugePageBytesAdvised(), at, 'the switch off: nothing advised');
    assert.equal(noHugePageBytesAdvised(), againstBefore, 'the switch off leaves the kernel default (no advice either way)');
  } finally {
    setRamMemoryOptions(before);
  }
});

test('RAM memory: NVMETD_RAM_HUGEPAGES=0 and NVMETD_RAM_STREAMING=0 turn each off', () => {
  const mod = fileURLToPath(new URL('../../src/native/ram-memory.js', import.meta.url));
  const probe = (env: Record<string, string>): { hugePages: boolean; streaming: boolean } =>
    JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', `import { ramMemoryOptions } from ${JSON.stringify(mod)}; console.log(JSON.stringify(ramMemoryOptions()))`], { env: { ...process.env, NVMETD_RAM_HUGEPAGES: '', NVMETD_RAM_STREAMING: '', ...env }, encoding: 'utf8' })) as { hugePages: boolean; streaming: boolean };
  const on = probe({});
  assert.equal(on.hugePages, true);
  assert.equal(on.streaming, addon.ramStreamingStores());
  assert.deepEqual(probe({ NVMETD_RAM_HUGEPAGES: '0' }), { hugePages: false, streaming: on.streaming });
  assert.deepEqual(probe({ NVMETD_RAM_STREAMING: '0' }), { hugePages: true, streaming: false });
});
