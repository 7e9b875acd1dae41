// RAM backend: start cost independent of the declared size, data kept across segments, shared buffers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RamBackend, allocateSharedRam } from '../../src/backend/ram.js';
import type { BackendRequest } from '../../src/backend/backend.js';

const TiB = 2 ** 40;
const MiB = 2 ** 20;

/** Runs one submit and returns its result (RAM completes in kick()). */
function run(b: RamBackend, submit: (req: BackendRequest) => void): number {
  let result: number | undefined;
  submit({ backendDone: (r: number) => { result = r; } } as BackendRequest);
  b.kick();
  assert.notEqual(result, undefined, 'completed in kick()');
  return result!;
}

function rssGrowth<T>(fn: () => T): { value: T; grownBytes: number } {
  const before = process.memoryUsage().rss;
  const value = fn();
  return { value, grownBytes: process.memoryUsage().rss - before };
}

test('RAM backend: a 1 TiB and a 64 TiB namespace build with no segment allocated and no memory in proportion', () => {
  for (const size of [1 * TiB, 64 * TiB]) {
    const { value: b, grownBytes } = rssGrowth(() => new RamBackend(size));
    assert.ok(grownBytes < 32 * MiB, `building ${size / TiB} TiB grew RSS by ${(grownBytes / MiB).toFixed(1)} MiB`);
    assert.equal(b.segmentsAllocated, 0, 'nothing allocated before the first write');
    // A block at each end and one across a segment boundary: one segment each, read back intact.
    const data = Buffer.alloc(8192, 0xa5);
    for (const offset of [0, size - 4096, 2 * b.segmentBytes]) {
      const src = data.subarray(0, 4096);
      assert.equal(run(b, (r) => b.submitWrite(r, offset, src, false)), 4096);
      const back = Buffer.alloc(4096);
      assert.equal(run(b, (r) => b.submitRead(r, offset, back)), 4096);
      assert.ok(back.equals(src), `read back at ${offset}`);
    }
    assert.equal(b.segmentsAllocated, 3, 'three segments written: the first, the last and the third');
    const cross = Buffer.alloc(8192);
    assert.equal(run(b, (r) => b.submitWrite(r, b.segmentBytes - 4096, data, false)), 8192);
    assert.equal(b.segmentsAllocated, 4, 'a write across a boundary allocates the next segment');
    assert.equal(run(b, (r) => b.submitRead(r, b.segmentBytes - 4096, cross)), 8192);
    assert.ok(cross.equals(data));
    // Unwritten ranges read as zeroes, without allocating.
    const zero = Buffer.alloc(4096, 1);
    assert.equal(run(b, (r) => b.submitRead(r, 5 * b.segmentBytes, zero)), 4096);
    assert.ok(zero.every((x) => x === 0));
    assert.ok(b.view(5 * b.segmentBytes, 4096)!.every((x) => x === 0));
    assert.equal(b.segmentsAllocated, 4);
    // Deallocate reads back zeroes; beyond the end is refused.
    assert.equal(run(b, (r) => b.submitDiscard(r, size - 4096, 4096)), 0);
    assert.equal(run(b, (r) => b.submitRead(r, size - 4096, zero)), 4096);
    assert.ok(zero.every((x) => x === 0));
    assert.equal(run(b, (r) => b.submitWrite(r, size, data.subarray(0, 512), false)), -22);
    void b.close();
  }
});

test('RAM backend: a shared 1 TiB namespace reserves few segments without memory in proportion, every thread sees the same data', () => {
  const size = 1 * TiB;
  const { value: buffers, grownBytes } = rssGrowth(() => allocateSharedRam(size));
  assert.equal(buffers.length, 1024, 'one 1 GiB segment per GiB');
  const a = new RamBackend(size, buffers);
  const b = new RamBackend(size, buffers);
  const grown = grownBytes + rssGrowth(() => new RamBackend(size, buffers)).grownBytes;
  assert.ok(grown < 32 * MiB, `reserving and viewing 1 TiB grew RSS by ${(grown / MiB).toFixed(1)} MiB`);
  const src = Buffer.alloc(4096, 0x3c);
  assert.equal(run(a, (r) => a.submitWrite(r, size - 4096, src, false)), 4096);
  const back = Buffer.alloc(4096);
  assert.equal(run(b, (r) => b.submitRead(r, size - 4096, back)), 4096);
  assert.ok(back.equals(src), 'written by one backend, read by another over the same buffers');
  // Over 1 TiB, segments are 4 GiB: a 64 TiB shared namespace stays far below vm.max_map_count mappings.
  assert.equal(new RamBackend(64 * TiB).segmentBytes, 4 * 2 ** 30);
  assert.throws(() => new RamBackend(size, buffers.slice(1)), /do not match/);
});

test('RAM backend: resize of a private namespace keeps the data, serves the new range, and a shrink zeroes what it cuts off', () => {
  const b = new RamBackend(4 * MiB);
  const data = Buffer.alloc(4096, 0x5a);
  assert.equal(run(b, (r) => b.submitWrite(r, 4 * MiB - 4096, data, false)), 4096);
  assert.equal(run(b, (r) => b.submitWrite(r, 4 * MiB, data, false)), -22, 'past the end before');
  assert.equal(b.resize(6 * MiB), null, 'private: no shared buffers');
  assert.equal(b.sizeBytes, 6 * MiB);
  assert.equal(run(b, (r) => b.submitWrite(r, 6 * MiB - 4096, data, false)), 4096);
  const back = Buffer.alloc(4096);
  assert.equal(run(b, (r) => b.submitRead(r, 4 * MiB - 4096, back)), 4096);
  assert.ok(back.equals(data), 'data before the old end is kept (the short segment was copied)');
  assert.equal(b.holdsDataFrom(5 * MiB), true);
  const zeroes = new RamBackend(8 * MiB);
  assert.equal(run(zeroes, (r) => zeroes.submitWrite(r, 4096, Buffer.alloc(4096), false)), 4096);
  assert.equal(zeroes.holdsDataFrom(0), false, 'zeroes written are no data to lose');
  b.resize(5 * MiB);
  assert.equal(run(b, (r) => b.submitRead(r, 5 * MiB, back)), -22, 'past the new end');
  b.resize(6 * MiB);
  assert.equal(run(b, (r) => b.submitRead(r, 6 * MiB - 4096, back)), 4096);
  assert.ok(back.equals(Buffer.alloc(4096)), 'the cut range reads zeroes when grown again');
  assert.throws(() => b.resize(2 * TiB), /across/, 'the segment size would change');
});

test('RAM backend: a shared namespace grows in place; another thread adopts the buffers and sees the same memory, across a new segment', () => {
  const shares = allocateSharedRam(4 * MiB);
  const owner = new RamBackend(4 * MiB, shares);
  const other = new RamBackend(4 * MiB, shares);
  const data = Buffer.alloc(4096, 0x3c);
  assert.equal(run(other, (r) => other.submitWrite(r, 0, data, false)), 4096);
  const grown = owner.resize(owner.segmentBytes + 4 * MiB)!;
  assert.equal(grown.length, 2, 'a second segment');
  assert.equal(grown[0], shares[0], 'the first buffer grew in place');
  other.adopt(owner.sizeBytes, grown);
  const at = owner.segmentBytes + 4096;
  assert.equal(run(other, (r) => other.submitWrite(r, at, data, false)), 4096);
  assert.equal(run(other, (r) => other.submitWrite(r, 8 * MiB, data, false)), 4096, 'in the grown part of the first segment');
  const back = Buffer.alloc(4096);
  for (const offset of [0, 8 * MiB, at]) {
    assert.equal(run(owner, (r) => owner.submitRead(r, offset, back)), 4096);
    assert.ok(back.equals(data), `the owner reads what the other thread wrote at ${offset}`);
  }
  // Shrink: the other thread first, then the owner zeroes the cut range.
  other.adopt(4 * MiB, grown.slice(0, 1));
  owner.resize(4 * MiB);
  assert.equal(owner.shares!.length, 1);
  assert.equal(run(other, (r) => other.submitRead(r, 4 * MiB, back)), -22);
  const third = new RamBackend(4 * MiB, owner.shares!);
  assert.equal(run(third, (r) => third.submitRead(r, 0, back)), 4096, 'a thread started later maps the shrunk namespace (its buffer is longer than the segment)');
  assert.ok(back.equals(data));
});

test('RAM backend: viewable() says exactly when view() gives a view (delay, segment boundary, unwritten past ZEROES, out of range, closed)', async () => {
  const seg = 2 ** 30;
  const b = new RamBackend(2 * seg + 4 * MiB);
  run(b, (r) => b.submitWrite(r, seg - 4096, Buffer.alloc(8192, 1), false)); // segments 0 and 1 written
  const cases: [number, number, boolean][] = [
    [0, 4096, true], // a written segment
    [seg - 8192, 8192, true], // up to the boundary
    [seg - 4096, 8192, false], // across it
    [2 * seg, MiB, true], // unwritten segment, within ZEROES
    [2 * seg, 2 * MiB, false], // unwritten segment, larger than ZEROES
    [seg, 2 * MiB, true], // written segment: any length
    [2 * seg + 4 * MiB - 4096, 4096, true], // the last block
    [2 * seg + 4 * MiB - 4096, 8192, false], // past the end
    [-512, 512, false],
  ];
  for (const [offset, length, expected] of cases) {
    assert.equal(b.viewable(offset, length), expected, `viewable(${offset}, ${length})`);
    assert.equal(b.view(offset, length) !== null, expected, `view(${offset}, ${length})`);
  }
  const delayed = new RamBackend(MiB, undefined, 100);
  assert.equal(delayed.viewable(0, 4096), false, 'an injected delay: every read goes through submitRead');
  assert.equal(delayed.view(0, 4096), null);
  await b.close();
  assert.equal(b.viewable(0, 4096), false, 'closed');
  assert.equal(b.view(0, 4096), null);
});
