// errno -> NVMe status mapping (values from the Linux tree's include/linux/nvme.h).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { errnoToNvmeStatus } from '../../src/backend/errno.js';

const E = os.constants.errno;

test('EIO: Unrecovered Read Error on reads, Write Fault on writes, Internal Error otherwise', () => {
  assert.equal(errnoToNvmeStatus(-E.EIO, 'read'), 0x281);
  assert.equal(errnoToNvmeStatus(-E.EIO, 'write'), 0x280);
  assert.equal(errnoToNvmeStatus(-E.EIO, 'other'), 0x006);
  assert.equal(errnoToNvmeStatus(E.EIO, 'read'), 0x281, 'positive errno accepted');
});

test('ENOSPC: Capacity Exceeded', () => {
  for (const op of ['read', 'write', 'other'] as const) assert.equal(errnoToNvmeStatus(-E.ENOSPC, op), 0x081);
});

test('EROFS/EACCES/EPERM on writes: Namespace is Write Protected', () => {
  for (const e of [E.EROFS, E.EACCES, E.EPERM]) {
    assert.equal(errnoToNvmeStatus(-e, 'write'), 0x020);
    assert.equal(errnoToNvmeStatus(-e, 'read'), 0x006);
    assert.equal(errnoToNvmeStatus(-e, 'other'), 0x006);
  }
});

test('anything else: Internal Error; 0: success', () => {
  for (const e of [E.EINVAL, E.EBADF, E.ENOMEM, E.EOPNOTSUPP, E.EAGAIN]) assert.equal(errnoToNvmeStatus(-e, 'write'), 0x006);
  assert.equal(errnoToNvmeStatus(0, 'read'), 0);
});

test('ESHUTDOWN (a blocklisted Ceph client): Asymmetric Access Inaccessible, so the host tries another path', () => {
  for (const op of ['read', 'write', 'other'] as const) assert.equal(errnoToNvmeStatus(-108, op), 0x302);
});
