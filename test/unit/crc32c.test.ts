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
