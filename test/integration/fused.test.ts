// Fused Compare and Write over loopback: a match writes, a mismatch aborts the write; the statuses
// of a missing, non-adjacent or malformed pair; atomicity against other Compare and Writes and
// against plain writes from other connections, on RAM and file namespaces, with and without I/O
// worker threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/initiator/controller.js';
import type { CommandResult } from '../../src/initiator/result.js';
import * as S from '../../src/initiator/sqe-build.js';
import { IdCtrl } from '../../src/spec/identify.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { Generic, Media, SCT } from '../../src/spec/status.js';
import type { TargetConfig } from '../../src/config/types.js';
import { MiB, pattern, testConfig, withTarget, type Running } from './helpers.js';

const BS = 4096;

function assertStatus(r: CommandResult, sct: number, sc: number, what: string): void {
  assert.equal(r.sct, sct, `${what}: ${r.name}`);
  assert.equal(r.sc, sc, `${what}: ${r.name}`);
}

async function readBlocks(c: Controller, nsid: number, slba: number, nlb: number): Promise<Buffer> {
  const b = Buffer.alloc(nlb * BS);
  const r = await c.read(nsid, slba, nlb, b);
  assert.ok(r.ok, `read: ${r.name}`);
  return b;
}

/** nsid 1: RAM, nsid 2: a file; 4 KiB blocks. */
async function withBothBackings(workers: number, fn: (t: Running) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nvmetd-fused-'));
  try {
    const cfg: TargetConfig = testConfig({ workers, namespaces: [{ blockSize: BS, size: 16 * MiB }, { blockSize: BS, size: 16 * MiB }] });
    cfg.subsystems[0]!.namespaces[1]!.backing = { type: 'file', path: join(dir, 'ns2.img'), size: 16 * MiB };
    await withTarget(cfg, fn);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const workers of [0, 1]) {
  test(`Compare and Write: a match writes, a mismatch fails the compare and aborts the write (RAM and file, ${workers ? 'an I/O worker' : 'main thread'})`, async () => {
    await withBothBackings(workers, async (t) => {
      const c = await Controller.connect(t.opts());
      try {
        const id = await c.identifyController();
        assert.equal(id.data!.readUInt16LE(IdCtrl.fuses) & 1, 1, 'FUSES bit 0: Compare and Write supported');
        for (const nsid of [1, 2]) {
          for (const inCapsule of [true, false]) {
            const slba = inCapsule ? 100 : 200;
            const old = pattern(2 * BS, nsid * 7 + 1);
            const next = pattern(2 * BS, nsid * 7 + 2);
            assert.ok((await c.write(nsid, slba, 2, old)).ok);
            // Data in-capsule, and through R2T (each command of the pair gets its own R2T).
            const [cmp, wr] = await c.compareAndWrite(nsid, slba, 2, old, next, { inCapsule });
            assert.ok(cmp.ok, `compare of a match (ns ${nsid}): ${cmp.name}`);
            assert.ok(wr.ok, `write of a match (ns ${nsid}): ${wr.name}`);
            assert.ok((await readBlocks(c, nsid, slba, 2)).equals(next), 'the write happened');

            const wrong = Buffer.from(old); // what was there before: no longer matches
            const third = pattern(2 * BS, nsid * 7 + 3);
            const [cmp2, wr2] = await c.compareAndWrite(nsid, slba, 2, wrong, third, { inCapsule });
            assertStatus(cmp2, SCT.MEDIA, Media.COMPARE_FAILURE, 'compare of a mismatch');
            assertStatus(wr2, SCT.GENERIC, Generic.ABORTED_FAILED_FUSED, 'write after a failed compare');
            assert.ok((await readBlocks(c, nsid, slba, 2)).equals(next), 'data unchanged after a mismatch');
          }
        }
      } finally {
        await c.disconnect();
      }
    });
  });
}

test('Compare and Write: a missing or non-adjacent second command aborts with Missing Fused Command', async () => {
  await withBothBackings(0, async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const old = pattern(BS, 11);
      const next = pattern(BS, 12);
      const plain = pattern(BS, 13);
      assert.ok((await c.write(1, 300, 1, old)).ok);
      // First, then a command that is not fused: the first is aborted, the other runs.
      const [cmp, rd] = await Promise.all([c.compare(1, 300, 1, old, { fuse: 1 }), c.read(1, 300, 1, Buffer.alloc(BS))]);
      assertStatus(cmp, SCT.GENERIC, Generic.ABORTED_MISSING_FUSED, 'first without a second');
      assert.ok(rd.ok, `the command after it runs: ${rd.name}`);
      // A second with no first before it.
      const lone = await c.write(1, 300, 1, next, { fuse: 2 });
      assertStatus(lone, SCT.GENERIC, Generic.ABORTED_MISSING_FUSED, 'second without a first');
      assert.ok((await readBlocks(c, 1, 300, 1)).equals(old), 'a lone second does not write');
      // First, another command in between, then the second: both fused commands are aborted.
      const [cmp2, between, wr2] = await Promise.all([c.compare(1, 300, 1, old, { fuse: 1 }), c.write(1, 300, 1, plain), c.write(1, 300, 1, next, { fuse: 2 })]);
      assertStatus(cmp2, SCT.GENERIC, Generic.ABORTED_MISSING_FUSED, 'first followed by another command');
      assert.ok(between.ok, `the command in between runs: ${between.name}`);
      assertStatus(wr2, SCT.GENERIC, Generic.ABORTED_MISSING_FUSED, 'second not adjacent to its first');
      assert.ok((await readBlocks(c, 1, 300, 1)).equals(plain), 'only the plain write landed');
      // The queue still works for pairs afterwards.
      const [cmp3, wr3] = await c.compareAndWrite(1, 300, 1, plain, next);
      assert.ok(cmp3.ok && wr3.ok, `a pair after the errors: ${cmp3.name} / ${wr3.name}`);
    } finally {
      await c.disconnect();
    }
  });
});

test('Compare and Write: FUSE on another opcode, a reserved FUSE value, or ranges that differ are refused', async () => {
  await withBothBackings(0, async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const old = pattern(BS, 21);
      const next = pattern(BS, 22);
      assert.ok((await c.write(1, 400, 1, old)).ok);
      // A Read as the first command of a pair.
      const [rd, wr] = await Promise.all([
        c.submitIo((sqe) => S.readWrite(sqe, IoOpc.Read, 1, 400, 1, { fuse: 1 }), { dataIn: Buffer.alloc(BS) }),
        c.write(1, 400, 1, next, { fuse: 2 }),
      ]);
      assertStatus(rd, SCT.GENERIC, Generic.INVALID_FIELD, 'Read marked FUSE first');
      assertStatus(wr, SCT.GENERIC, Generic.ABORTED_FAILED_FUSED, 'its second command');
      // A Compare followed by a Write Zeroes marked second.
      const [cmp, wz] = await Promise.all([
        c.compare(1, 400, 1, old, { fuse: 1 }),
        c.submitIo((sqe) => {
          S.writeZeroes(sqe, 1, 400, 1);
          sqe[1] |= 2;
        }),
      ]);
      assertStatus(cmp, SCT.GENERIC, Generic.ABORTED_FAILED_FUSED, 'compare whose second is not a Write');
      assertStatus(wz, SCT.GENERIC, Generic.INVALID_FIELD, 'Write Zeroes marked FUSE second');
      // FUSE 11b is reserved.
      const reserved = await c.write(1, 400, 1, next, { fuse: 3 });
      assertStatus(reserved, SCT.GENERIC, Generic.INVALID_FIELD, 'FUSE 11b');
      // The two commands must name the same range.
      const [cmp2, wr2] = await Promise.all([c.compare(1, 400, 1, old, { fuse: 1 }), c.write(1, 401, 1, next, { fuse: 2 })]);
      assertStatus(cmp2, SCT.GENERIC, Generic.INVALID_FIELD, 'compare of a pair with different ranges');
      assertStatus(wr2, SCT.GENERIC, Generic.INVALID_FIELD, 'write of a pair with different ranges');
      assert.ok((await readBlocks(c, 1, 400, 2)).subarray(0, BS).equals(old), 'nothing written by refused pairs');
      assert.ok((await readBlocks(c, 1, 401, 1)).every((b) => b === 0), 'nothing written at the other range');
    } finally {
      await c.disconnect();
    }
  });
});

/**
 * `clients` connections each add 1 to a counter in one block `rounds` times, by Compare and Write:
 * read, then compare-and-write old -> old + 1, retrying on a compare failure. No update may be lost.
 */
async function counter(t: Running, nsid: number, clients: number, rounds: number): Promise<number> {
  const slba = 1000;
  const cs = await Promise.all(Array.from({ length: clients }, () => Controller.connect(t.opts())));
  try {
    assert.ok((await cs[0]!.write(nsid, slba, 1, Buffer.alloc(BS))).ok);
    let failures = 0;
    await Promise.all(
      cs.map(async (c) => {
        const cur = Buffer.alloc(BS);
        for (let done = 0; done < rounds; ) {
          assert.ok((await c.read(nsid, slba, 1, cur)).ok);
          const next = Buffer.from(cur);
          next.writeUInt32LE(cur.readUInt32LE(0) + 1, 0);
          next.fill(next[0]!, 4); // the whole block changes: a torn write would show
          const [cmp, wr] = await c.compareAndWrite(nsid, slba, 1, cur, next);
          if (cmp.ok) {
            assert.ok(wr.ok, `write of a matching pair: ${wr.name}`);
            done++;
          } else {
            assertStatus(cmp, SCT.MEDIA, Media.COMPARE_FAILURE, 'a lost race');
            assertStatus(wr, SCT.GENERIC, Generic.ABORTED_FAILED_FUSED, 'its write');
            failures++;
          }
        }
      }),
    );
    const final = await readBlocks(cs[0]!, nsid, slba, 1);
    assert.ok(final.subarray(4).every((b) => b === final[4]), 'the counter block is whole');
    assert.ok(failures >= 0);
    return final.readUInt32LE(0);
  } finally {
    await Promise.all(cs.map((c) => c.disconnect()));
  }
}

for (const workers of [0, 2]) {
  test(`Compare and Write from several connections never loses an update (RAM and file, ${workers} workers)`, async () => {
    await withBothBackings(workers, async (t) => {
      for (const nsid of [1, 2]) assert.equal(await counter(t, nsid, 4, 40), 160, `ns ${nsid}: every increment counted`);
    });
  });

  test(`a plain write, Write Zeroes, Copy or deallocate racing a Compare and Write on the same range is never lost nor torn (${workers} workers)`, async () => {
    await withBothBackings(workers, async (t) => {
      // 48 blocks (192 KiB) across a 128 KiB chunk boundary: two stripes of the range lock.
      const slba = 16;
      const nlb = 48;
      const fill = (v: number): Buffer => Buffer.alloc(nlb * BS, v);
      const cas = await Controller.connect(t.opts());
      const writer = await Controller.connect(t.opts());
      try {
        for (const nsid of [1, 2]) {
          for (let round = 0; round < 30; round++) {
            const a = 1 + (round % 50);
            const b = 60 + (round % 50);
            const p = 120 + (round % 50);
            assert.ok((await writer.write(nsid, slba, nlb, fill(a))).ok);
            // Sent together from two connections. Executed atomically, the Compare and Write either runs
            // before the plain write (which then overwrites it) or after it (and its compare fails):
            // either way the range ends holding the plain write's data, all of it.
            // Every other round the other write is a Write Zeroes (on the RAM namespace, whose
            // deallocated blocks read as zeroes, every fourth is a Dataset Management deallocate).
            // Every sixth round it is a Copy from a range holding the plain write's data.
            const kind = round % 6 === 4 ? 'copy' : round % 4 === 3 && nsid === 1 ? 'dsm' : round % 2 === 1 ? 'zeroes' : 'write';
            if (kind === 'copy') assert.ok((await writer.write(nsid, 2048, nlb, fill(p))).ok);
            const other =
              kind === 'write'
                ? writer.write(nsid, slba, nlb, fill(p))
                : kind === 'copy'
                  ? writer.copy(nsid, slba, [{ slba: 2048, nlb }])
                  : kind === 'zeroes'
                    ? writer.writeZeroes(nsid, slba, nlb)
                    : writer.dsm(nsid, [{ slba, nlb }]);
            const [[cmp, wr], plain] = await Promise.all([cas.compareAndWrite(nsid, slba, nlb, fill(a), fill(b)), other]);
            const expected = kind === 'write' || kind === 'copy' ? fill(p) : fill(0);
            assert.ok(plain.ok, `${kind}: ${plain.name}`);
            assert.ok(cmp.ok || cmp.sc === Media.COMPARE_FAILURE, `compare: ${cmp.name}`);
            assert.equal(wr.ok, cmp.ok, `write follows its compare: ${wr.name}`);
            const after = await readBlocks(writer, nsid, slba, nlb);
            const got = [...new Set(after)].join(',');
            assert.ok(after.equals(expected), `ns ${nsid} round ${round}: the range holds the ${kind}'s data (found bytes ${got}; compare ${cmp.name})`);
          }
        }
      } finally {
        await Promise.all([cas, writer].map((c) => c.disconnect()));
      }
    });
  });
}

test('Write Zeroes racing a Compare and Write on a file namespace is never lost', async () => {
  await withBothBackings(0, async (t) => {
    const nlb = 8;
    const cas = await Controller.connect(t.opts());
    const writer = await Controller.connect(t.opts());
    try {
      for (let round = 0; round < 60; round++) {
        const a = Buffer.alloc(nlb * BS, 1 + (round % 100));
        assert.ok((await writer.write(2, 500, nlb, a)).ok);
        const [[cmp, wr], wz] = await Promise.all([cas.compareAndWrite(2, 500, nlb, a, Buffer.alloc(nlb * BS, 200)), writer.writeZeroes(2, 500, nlb)]);
        assert.ok(wz.ok, `write zeroes: ${wz.name}`);
        assert.equal(wr.ok, cmp.ok, `write follows its compare: ${wr.name}`);
        const after = await readBlocks(writer, 2, 500, nlb);
        assert.ok(after.every((x) => x === 0), `round ${round}: zeroes, whichever ran first (found ${[...new Set(after)].join(',')}; compare ${cmp.name})`);
      }
    } finally {
      await Promise.all([cas, writer].map((c) => c.disconnect()));
    }
  });
});
