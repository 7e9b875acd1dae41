import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cUpdate } from '../../src/native/crc32c.js';

test('crc32c: the standard check value and continuation over pieces', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const data = Buffer.from('The quick brown fox jumps over the lazy dog');
  assert.equal(crc32cUpdate(crc32c(data, 0, 10), data, 10), crc32c(data));
  assert.equal(crc32c(Buffer.alloc(0)), 0);
});

test('crc32c: views over a SharedArrayBuffer and sub-ranges of a view', () => {
  const sab = new SharedArrayBuffer(4096);
  const shared = new Uint8Array(sab, 100, 9);
  shared.set(Buffer.from('123456789'));
  assert.equal(crc32c(shared), 0xe3069283);
  const plain = Buffer.from('xx123456789yy');
  assert.equal(crc32c(plain, 2, 9), 0xe3069283);
  assert.throws(() => crc32c(plain, 10, 9), RangeError);
});

test('crc32c: the JavaScript path for short runs agrees with the native path at every length', async () => {
  const { native } = await import('../../src/native/addon.js');
  const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff));
  for (let len = 0; len <= 300; len += 7) {
    assert.equal(crc32c(data, 0, len), native.crc32c(data, 0, len, 0), `length ${len}`);
    assert.equal(crc32cUpdate(0x12345678, data, 3, Math.max(0, len - 3)), native.crc32c(data, 3, Math.max(0, len - 3), 0x12345678), `seeded, length ${len}`);
  }
});

test('crc32c: the native path on long buffers (folding or three-lane loop) agrees with a bytewise table at every length, offset and seed', async () => {
  const { native } = await import('../../src/native/addon.js');
  const tab = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tab[i] = c >>> 0;
  }
  const ref = (seed: number, b: Uint8Array, off: number, len: number): number => {
    let c = ~seed >>> 0;
    for (let i = off; i < off + len; i++) c = (tab[(c ^ b[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
    return ~c >>> 0;
  };
  const data = Buffer.from(Array.from({ length: 3 * 4096 + 64 }, (_, i) => (i * 2654435761) >>> 24));
  // Around every multiple of the 768-byte block, at unaligned offsets, with and without a seed.
  const lengths = [767, 768, 769, 775, 776, 1535, 1536, 1537, 2304, 2311, 3072, 4096, 4095, 4097, 8192, 12288];
  for (let len = 700; len < 2400; len += 13) lengths.push(len);
  for (const len of lengths) {
    for (const off of [0, 1, 3, 7, 8, 13]) {
      if (off + len > data.length) continue;
      assert.equal(native.crc32c(data, off, len, 0), ref(0, data, off, len), `length ${len} offset ${off}`);
      assert.equal(native.crc32c(data, off, len, 0xdeadbeef), ref(0xdeadbeef, data, off, len), `seeded, length ${len} offset ${off}`);
    }
  }
  // Continuation over pieces that cut the lanes anywhere.
  const whole = ref(0, data, 0, 12288);
  for (const cut of [1, 255, 256, 767, 768, 769, 5000]) {
    assert.equal(native.crc32c(data, cut, 12288 - cut, native.crc32c(data, 0, cut, 0)), whole, `cut at ${cut}`);
  }
});

/** CRC32C one bit at a time, straight from the polynomial: the reference the fast paths must match. */
function bitwise(seed: number, b: Uint8Array, off: number, len: number): number {
  let c = ~seed >>> 0;
  for (let i = off; i < off + len; i++) {
    c ^= b[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('crc32c: known vectors (32 zero bytes, 32 0xff bytes, 0..31 ascending) on the JavaScript and native paths', async () => {
  const { native } = await import('../../src/native/addon.js');
  const vectors: [Buffer, number][] = [
    [Buffer.alloc(32, 0), 0x8a9136aa],
    [Buffer.alloc(32, 0xff), 0x62a8ab43],
    [Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
    [Buffer.from('123456789'), 0xe3069283],
  ];
  for (const [b, want] of vectors) {
    assert.equal(crc32c(b), want, `JS, ${b.length} bytes starting ${b[0]}`);
    assert.equal(native.crc32c(b, 0, b.length, 0), want, `native, ${b.length} bytes starting ${b[0]}`);
    assert.equal(bitwise(0, b, 0, b.length), want, 'the reference itself');
  }
});

test('crc32c: the JavaScript path (sixteen, eight, then one byte a step) at every length 0..160, offsets 0..17, with seeds', () => {
  const data = Buffer.alloc(200);
  let x = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  for (let len = 0; len <= 160; len++) {
    for (let off = 0; off <= 17; off++) {
      if (off + len > data.length) continue;
      assert.equal(crc32c(data, off, len), bitwise(0, data, off, len), `length ${len} offset ${off}`);
      assert.equal(crc32cUpdate(0xa5a5a5a5, data, off, len), bitwise(0xa5a5a5a5, data, off, len), `seeded, length ${len} offset ${off}`);
    }
  }
});

test('crc32c: each native implementation (folding, three-lane crc32 instruction, table; NVMETD_CRC32C caps it) agrees with the bitwise reference around every block size, digests and copy-and-digest', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const addon = fileURLToPath(new URL('../../src/native/addon.js', import.meta.url));
  // Run in a child per cap: the implementation is chosen once, when the addon loads.
  const check = `
    const { native } = await import(${JSON.stringify(addon)});
    const ref = ${bitwise.toString()};
    const data = Buffer.alloc(20000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const lengths = [0, 1, 7, 8, 63, 64, 255, 256, 257, 319, 320, 511, 512, 513, 767, 768, 769, 1023, 1024, 1025, 2304, 4095, 4096, 4097, 16384, 19990];
    for (let len = 240; len < 1100; len += 5) lengths.push(len);
    const bad = [];
    for (const len of lengths)
      for (const off of [0, 1, 6])
        for (const seed of [0, 0xdeadbeef])
          if (off + len <= data.length && native.crc32c(data, off, len, seed) !== ref(seed, data, off, len)) bad.push(len + '@' + off);
    // Copy jobs of crc32cBatch (copied and digested in one pass where the CPU allows).
    const arena = Buffer.alloc(8);
    const to = Buffer.alloc(20000);
    for (const len of lengths)
      for (const [from, at] of [[0, 0], [5, 3], [1, 64]]) {
        if (from + len > data.length || at + len > to.length) continue;
        to.fill(0xee);
        native.crc32cBatch(arena, Uint32Array.from([2, 0, at, len, 1, from, 0, 0]), 1, [to, data]);
        const copied = to.subarray(at, at + len).equals(data.subarray(from, from + len)) && to[at + len] === 0xee && (at === 0 || to[at - 1] === 0xee);
        if (!copied || arena.readUInt32LE(0) !== ref(0, data, from, len)) bad.push('copy ' + len + '@' + from + '->' + at);
      }
    console.log(JSON.stringify({ kind: native.crc32cKind(), bad }));
  `;
  const kinds = new Set<string>();
  for (const cap of ['', 'sse4.2', 'table']) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', check], { env: { ...process.env, NVMETD_CRC32C: cap }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { kind: string; bad: string[] };
    assert.deepEqual(out.bad, [], `${out.kind}: wrong at length@offset`);
    if (cap === 'table') assert.equal(out.kind, 'table');
    if (cap === 'sse4.2') assert.notEqual(out.kind, 'avx512-vpclmulqdq');
    kinds.add(out.kind);
  }
  assert.ok(kinds.has('table'));
});
