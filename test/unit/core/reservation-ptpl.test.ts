// PTPL files (src/core/reservations/ptpl.ts): what is written reads back the same; every broken
// file is refused with one message naming the file and the field; writes replace the file whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PtplFileError, PtplWriter, decodeState, encodeState, loadState } from '../../../src/core/reservations/ptpl.js';
import type { SavedState } from '../../../src/core/reservations/state.js';
import { ReservationNotices } from '../../../src/core/reservations/notices.js';

const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';
const STATE: SavedState = { ptpl: true, generation: 7, rtype: 1, holder: A, registrants: [{ host: A, key: 0xffffffffffffffffn }, { host: B, key: 2n }] };

test('PTPL: encode / decode round trip', () => {
  assert.deepEqual(decodeState(encodeState(STATE), 'f'), STATE);
});

test('PTPL: broken files are refused with the file and the field named', () => {
  const good = JSON.parse(encodeState(STATE)) as Record<string, unknown>;
  const cases: [unknown, RegExp][] = [
    ['{', /ptplFile f: not JSON/],
    [[], /must be a JSON object/],
    [{ ...good, version: 2 }, /\/version: must be 1/],
    [{ ...good, extra: 1 }, /\/extra: unknown field/],
    [{ ...good, ptpl: 'yes' }, /\/ptpl: must be true or false/],
    [{ ...good, generation: -1 }, /\/generation/],
    [{ ...good, rtype: 7 }, /\/rtype/],
    [{ ...good, registrants: {} }, /\/registrants: must be an array/],
    [{ ...good, registrants: [{ hostid: 'xyz', key: '0x1' }] }, /\/registrants\/0\/hostid/],
    [{ ...good, registrants: [{ hostid: A, key: '12' }] }, /\/registrants\/0\/key/],
    [{ ...good, registrants: [{ hostid: A, key: '0x11111111111111111' }] }, /\/registrants\/0\/key/],
    [{ ...good, registrants: [{ hostid: A, key: '0x1' }, { hostid: A, key: '0x2' }] }, /\/registrants\/1\/hostid: registered twice/],
    [{ ...good, holder: B, registrants: [{ hostid: A, key: '0x1' }] }, /\/holder: must be the hostid of a registrant/],
    [{ ...good, rtype: 0 }, /\/holder: must be null without a reservation/],
    [{ ...good, rtype: 5, holder: null, registrants: [] }, /\/rtype: an all-registrants reservation needs registrants/],
  ];
  for (const [v, re] of cases) {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    assert.throws(() => decodeState(text, 'f'), (e: unknown) => e instanceof PtplFileError && re.test((e as Error).message), text);
  }
});

test('PTPL: the writer replaces the file atomically, leaves no temp file, and a missing file reads as nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nvmetd-ptpl-'));
  try {
    const file = join(dir, 'ns1.ptpl');
    assert.equal(await loadState(file), null);
    const w = new PtplWriter(file);
    await Promise.all([w.save(() => ({ ...STATE, generation: 1 })), w.save(() => STATE)]);
    assert.deepEqual(await loadState(file), STATE);
    assert.deepEqual(await readdir(dir), ['ns1.ptpl']);
    assert.match(await readFile(file, 'utf8'), /"version": 1/);
    await assert.rejects(new PtplWriter(join(dir, 'no', 'such', 'dir')).save(() => STATE));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Notification log: oldest first, counts, available pages, mask, empty page', () => {
  const n = new ReservationNotices();
  assert.equal(n.take()[8], 0, 'empty');
  assert.ok(n.add(1, 3));
  assert.ok(n.add(2, 4));
  assert.equal(n.setMask([4], 1 << 2), true);
  assert.equal(n.add(2, 4), false, 'masked');
  assert.equal(n.setMask([4], 1), false, 'bit 0 is not a notice');
  const p1 = n.take();
  assert.deepEqual([p1.readBigUInt64LE(0), p1[8], p1[9], p1.readUInt32LE(12)], [1n, 1, 1, 3]);
  const p2 = n.take();
  assert.deepEqual([p2.readBigUInt64LE(0), p2[8], p2[9], p2.readUInt32LE(12)], [2n, 2, 0, 4]);
  assert.equal(n.pending, 0);
});
