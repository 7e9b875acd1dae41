// Verify and Copy through the real target with our initiator: on RAM (512-byte blocks) and file
// (4096-byte blocks) namespaces, on the main thread and on an I/O worker; every refusal's status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/initiator/controller.js';
import { MiB, pattern, testConfig, withTarget } from './helpers.js';

const GENERIC = 0;
const COMMAND_SPECIFIC = 1;
const MEDIA = 2;

async function copyTwoRanges(c: Controller, nsid: number, bs: number): Promise<void> {
  const a = pattern(3 * bs, 11 + nsid);
  const b = pattern(5 * bs, 23 + nsid);
  assert.ok((await c.write(nsid, 40, 3, a)).ok);
  assert.ok((await c.write(nsid, 200, 5, b, { inCapsule: false })).ok);
  const r = await c.copy(nsid, 1000, [
    { slba: 200, nlb: 5 },
    { slba: 40, nlb: 3 },
  ]);
  assert.ok(r.ok, `copy: ${r.name}`);
  const back = Buffer.alloc(8 * bs);
  assert.ok((await c.read(nsid, 1000, 8, back)).ok);
  assert.ok(back.equals(Buffer.concat([b, a])), 'the destination holds range 0 then range 1');
  const fua = await c.copy(nsid, 2000, [{ slba: 40, nlb: 3 }], { fua: true });
  assert.ok(fua.ok, `copy with FUA: ${fua.name}`);
  const back2 = Buffer.alloc(3 * bs);
  assert.ok((await c.read(nsid, 2000, 3, back2)).ok);
  assert.ok(back2.equals(a));
  const v = await c.verify(nsid, 0, 4096);
  assert.ok(v.ok, `verify: ${v.name}`);
}

for (const workers of [0, 1]) {
  test(`Copy and Verify on RAM and file namespaces (${workers ? 'an I/O worker' : 'main thread'})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nvmetd-copy-'));
    try {
      const cfg = testConfig({ workers, namespaces: [{ blockSize: 512, size: 16 * MiB }, { blockSize: 4096, size: 32 * MiB }] });
      cfg.subsystems[0]!.namespaces[1]!.backing = { type: 'file', path: join(dir, 'ns2.img'), size: 32 * MiB };
      await withTarget(cfg, async (t) => {
        const c = await Controller.connect(t.opts());
        try {
          await copyTwoRanges(c, 1, 512);
          await copyTwoRanges(c, 2, 4096);
        } finally {
          await c.disconnect();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('Copy and Verify refusals carry the statuses the NVM command set asks for', async () => {
  // MDTS 1 MiB, 512-byte blocks: MSSRL = MCL = 2048 blocks, MSRC = 127.
  const cfg = testConfig({ namespaces: [{ blockSize: 512, size: 16 * MiB }, { blockSize: 512, size: MiB, readOnly: true }] });
  await withTarget(cfg, async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const nsBlocks = (16 * MiB) / 512;
      const cases: [string, Promise<{ sct: number; sc: number; name: string }>, number, number][] = [
        ['MSRC', c.copy(1, 0, Array.from({ length: 129 }, (_, i) => ({ slba: i, nlb: 1 }))), COMMAND_SPECIFIC, 0x83],
        ['MSSRL', c.copy(1, 0, [{ slba: 0, nlb: 2049 }]), COMMAND_SPECIFIC, 0x83],
        ['MCL', c.copy(1, 0, [{ slba: 0, nlb: 1024 }, { slba: 4096, nlb: 1025 }]), COMMAND_SPECIFIC, 0x83],
        ['source out of range', c.copy(1, 0, [{ slba: nsBlocks - 1, nlb: 2 }]), GENERIC, 0x80],
        ['destination out of range', c.copy(1, nsBlocks - 1, [{ slba: 0, nlb: 2 }]), GENERIC, 0x80],
        ['descriptor format 2', c.copy(1, 0, [{ slba: 0, nlb: 1 }], { desfmt: 2 }), GENERIC, 0x02],
        ['read-only namespace', c.copy(2, 0, [{ slba: 0, nlb: 1 }]), GENERIC, 0x20],
        ['verify out of range', c.verify(1, nsBlocks - 4, 5), GENERIC, 0x80],
      ];
      for (const [what, p, sct, sc] of cases) {
        const r = await p;
        assert.equal(r.sct, sct, `${what}: ${r.name}`);
        assert.equal(r.sc, sc, `${what}: ${r.name}`);
        assert.notEqual(r.sct, MEDIA);
      }
      // At the limits: 128 ranges of 16 blocks (2048 in all).
      const ok = await c.copy(1, 8192, Array.from({ length: 128 }, (_, i) => ({ slba: i * 16, nlb: 16 })));
      assert.ok(ok.ok, `copy at the limits: ${ok.name}`);
      assert.ok((await c.verify(2, 0, 2048)).ok, 'a read-only namespace verifies');
    } finally {
      await c.disconnect();
    }
  });
});
