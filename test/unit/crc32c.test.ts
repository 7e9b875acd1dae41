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
