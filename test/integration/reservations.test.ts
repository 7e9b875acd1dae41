// Reservations end to end with our initiator: two hosts (their own host NQNs and Host Identifiers)
// on one namespace; register, acquire, the conflict status on the blocked commands, report,
// preempt with its notification (log page 80h and the asynchronous event), release; the same with
// the I/O queues on worker threads; and Persist Through Power Loss across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, type CommandResult } from '../../src/initiator/index.js';
import { parseReport, resvAcquire, resvRegister, resvRelease, resvReport } from '../../src/initiator/reservations.js';
import { startTarget } from '../../src/server/target.js';
import { createLogger } from '../../src/util/log.js';
import type { TargetConfig } from '../../src/config/types.js';
import { runTarget, testConfig, type Running } from './helpers.js';
import { withRpcTarget } from './rpc-helpers.js';

const HOST1 = { hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:11111111-1111-4111-8111-111111111111', hostid: Buffer.from('11111111111141118111111111111111', 'hex') };
const HOST2 = { hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:22222222-2222-4222-8222-222222222222', hostid: Buffer.from('22222222222242228222222222222222', 'hex') };
const RESV_LOG = 0x80;
/** Asynchronous event: type 6h (I/O command specific), info 0 (reservation log page available), LID 80h. */
const RESV_EVENT = 6 | (0 << 8) | (RESV_LOG << 16);
const WRITE_EXCLUSIVE = 1;

function conflict(r: CommandResult): boolean {
  return r.sct === 0 && r.sc === 0x83;
}

async function connect(t: Running, host: typeof HOST1, ioQueues = 2): Promise<Controller> {
  return Controller.connect(t.opts({ ...host, ioQueues }));
}

async function io(c: Controller, queue: number): Promise<{ read: CommandResult; write: CommandResult }> {
  const buf = Buffer.alloc(512, 7);
  const write = await c.write(1, 10, 1, buf, { queue });
  const read = await c.read(1, 10, 1, Buffer.alloc(512), { queue });
  return { read, write };
}

function ok(r: CommandResult, what: string): void {
  assert.ok(r.ok, `${what}: ${r.toString()}`);
}

async function twoHosts(workers: number): Promise<void> {
  const t = await runTarget(testConfig({ namespaces: [{ size: 1 << 20 }], workers }));
  const c1 = await connect(t, HOST1);
  const c2 = await connect(t, HOST2);
  try {
    const idns = (await c1.identifyNamespace(1)).data!;
    assert.equal(idns[31], 0x7e | 0x80, 'RESCAP: six types and IEKEY, no PTPL without a ptplFile');
    const idctrl = (await c1.identifyController()).data!;
    assert.ok((idctrl.readUInt16LE(520) & (1 << 5)) !== 0, 'ONCS: reservations');
    const effects = (await c1.getLogPage(0x05, 4096)).data!;
    for (const opc of [0x0d, 0x0e, 0x11, 0x15]) assert.equal(effects.readUInt32LE(1024 + opc * 4) & 1, 1, `effects: CSUPP for 0x${opc.toString(16)}`);

    ok(await resvRegister(c1, 1, 0, 0n, 0x1111n), 'host 1 registers');
    ok(await resvRegister(c2, 1, 0, 0n, 0x2222n, { queue: 1 }), 'host 2 registers');
    ok(await resvAcquire(c1, 1, 0, WRITE_EXCLUSIVE, 0x1111n), 'host 1 acquires write exclusive');
    // Every I/O queue of host 2 (on whichever thread) is refused writes; reads go through.
    for (const q of [0, 1]) {
      const r = await io(c2, q);
      assert.ok(conflict(r.write), `host 2 write on queue ${q}: ${r.write.toString()}`);
      assert.ok(r.write.dnr, 'Do Not Retry');
      ok(r.read, `host 2 read on queue ${q}`);
      const own = await io(c1, q);
      ok(own.write, `holder write on queue ${q}`);
    }
    assert.ok(conflict(await c2.writeZeroes(1, 0, 1)), 'Write Zeroes conflicts too');
    ok(await c2.verify(1, 0, 1), 'Verify is a read');
    assert.ok(conflict(await c2.flush(1)), 'Flush is in the write group');

    const rep = await resvReport(c2, 1, 4096);
    ok(rep, 'report');
    const parsed = parseReport(rep.data!);
    assert.equal(parsed.rtype, WRITE_EXCLUSIVE);
    assert.deepEqual(
      parsed.registrants.map((r) => [r.hostid, r.key, r.holds, r.cntlid]),
      [
        [HOST1.hostid.toString('hex'), 0x1111n, true, 0xffff],
        [HOST2.hostid.toString('hex'), 0x2222n, false, 0xffff],
      ],
    );
    const regular = await resvReport(c2, 1, 4096, false);
    assert.deepEqual([regular.sct, regular.sc], [0, 0x18], 'regular data structure: Host Identifier Inconsistent Format');
    const short = await resvReport(c2, 1, 64);
    ok(short, 'a report cut to the header');
    assert.equal(short.data!.readUInt16LE(5), 2, 'REGCTL counts every registrant');

    // Host 2 preempts host 1: host 1 is told (AEN + log page), loses its registration and the reservation.
    const aer = c1.asyncEventRequest();
    ok(await resvAcquire(c2, 1, 1, WRITE_EXCLUSIVE, 0x2222n, 0x1111n), 'host 2 preempts');
    const ev = await aer;
    ok(ev, 'event');
    assert.equal(ev.dw0, RESV_EVENT);
    const log = (await c1.getLogPage(RESV_LOG, 64)).data!;
    assert.deepEqual([log.readBigUInt64LE(0), log[8], log[9], log.readUInt32LE(12)], [1n, 1, 0, 1], 'registration preempted on nsid 1');
    assert.equal((await c1.getLogPage(RESV_LOG, 64)).data![8], 0, 'read once: the log is empty again');
    assert.ok(conflict((await io(c1, 0)).write), 'host 1 now refused');
    ok((await io(c2, 0)).write, 'host 2 holds it');
    assert.ok(conflict(await resvRelease(c1, 1, 0, WRITE_EXCLUSIVE, 0x1111n)), 'no longer registered');
    assert.deepEqual([(await resvRelease(c2, 1, 0, 2, 0x2222n)).sc], [0x02], 'release of another type: Invalid Field');
    ok(await resvRelease(c2, 1, 0, WRITE_EXCLUSIVE, 0x2222n), 'release');
    ok((await io(c1, 1)).write, 'released: host 1 writes again');
    ok(await resvRelease(c2, 1, 1, 0, 0x2222n), 'clear');
    assert.equal(parseReport((await resvReport(c1, 1)).data!).registrants.length, 0);
  } finally {
    await c1.disconnect();
    await c2.disconnect();
    await t.close();
  }
}

test('reservations: two hosts, write exclusive, conflict on writes only, report, preempt with notice, release, clear', () => twoHosts(0));

test('reservations with the I/O queues on two worker threads: one state, conflicts seen on every thread', () => twoHosts(2));

test('reservations: release notice to the other registrant unless masked (feature 82h); PTPL cannot be set without a ptplFile', async () => {
  const t = await runTarget(testConfig({ namespaces: [{ size: 1 << 20 }] }));
  const c1 = await connect(t, HOST1, 1);
  const c2 = await connect(t, HOST2, 1);
  try {
    ok(await resvRegister(c1, 1, 0, 0n, 1n), 'register 1');
    ok(await resvRegister(c2, 1, 0, 0n, 2n), 'register 2');
    ok(await resvAcquire(c1, 1, 0, 3, 1n), 'acquire write exclusive registrants only');
    const aer = c2.asyncEventRequest();
    ok(await resvRelease(c1, 1, 0, 3, 1n), 'release');
    assert.equal((await aer).dw0, RESV_EVENT);
    const log = (await c2.getLogPage(RESV_LOG, 64)).data!;
    assert.deepEqual([log[8], log.readUInt32LE(12)], [2, 1], 'reservation released on nsid 1');
    // Masked: nothing logged.
    ok(await c2.setFeatures(0x82, 1 << 2, { nsid: 0xffffffff }), 'mask released notices');
    assert.equal((await c2.getFeatures(0x82, 0, 0, 1)).dw0, 1 << 2);
    assert.equal((await c2.setFeatures(0x82, 1, { nsid: 1 })).sc, 0x02, 'a bit that is no notice');
    ok(await resvAcquire(c1, 1, 0, 3, 1n), 'acquire again');
    ok(await resvRelease(c1, 1, 0, 3, 1n), 'release again');
    assert.equal((await c2.getLogPage(RESV_LOG, 64)).data![8], 0, 'masked: no notice');
    // PTPL needs a ptplFile.
    assert.equal((await resvRegister(c1, 1, 2, 1n, 1n, { cptpl: 3 })).sc, 0x02, 'CPTPL on: Invalid Field');
    assert.equal((await c1.setFeatures(0x83, 1, { nsid: 1 })).sc, 0x02, 'Set Features PTPL on: Invalid Field');
    assert.equal((await c1.getFeatures(0x83, 0, 0, 1)).dw0, 0);
  } finally {
    await c1.disconnect();
    await c2.disconnect();
    await t.close();
  }
});

function ptplConfig(file: string): TargetConfig {
  const cfg = testConfig({ namespaces: [{ size: 1 << 20 }] });
  cfg.subsystems[0]!.namespaces[0]!.ptplFile = file;
  return cfg;
}

test('PTPL: the reservation survives a target restart (write exclusive still fences host 2)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nvmetd-ptpl-it-'));
  const file = join(dir, 'ns1.json');
  try {
    let t = await runTarget(ptplConfig(file));
    let c1 = await connect(t, HOST1, 1);
    let c2 = await connect(t, HOST2, 1);
    assert.equal((await c1.identifyNamespace(1)).data![31] & 1, 1, 'RESCAP: PTPL capable');
    ok(await resvRegister(c1, 1, 0, 0n, 0xaan, { cptpl: 3 }), 'register with PTPL on');
    ok(await resvRegister(c2, 1, 0, 0n, 0xbbn), 'register host 2');
    ok(await resvAcquire(c1, 1, 0, WRITE_EXCLUSIVE, 0xaan), 'acquire');
    assert.equal((await c1.getFeatures(0x83, 0, 0, 1)).dw0, 1, 'PTPL on');
    const before = parseReport((await resvReport(c1, 1)).data!);
    assert.equal(before.ptpls, 1);
    await c1.disconnect();
    await c2.disconnect();
    await t.close();

    t = await runTarget(ptplConfig(file));
    c1 = await connect(t, HOST1, 1);
    c2 = await connect(t, HOST2, 1);
    try {
      assert.deepEqual(parseReport((await resvReport(c2, 1)).data!), before, 'same report after the restart');
      assert.ok(conflict((await io(c2, 0)).write), 'host 2 still fenced');
      ok((await io(c1, 0)).write, 'host 1 still holds it');
      // PTPL off: the next start begins empty.
      ok(await c1.setFeatures(0x83, 0, { nsid: 1 }), 'PTPL off');
    } finally {
      await c1.disconnect();
      await c2.disconnect();
      await t.close();
    }
    t = await runTarget(ptplConfig(file));
    c1 = await connect(t, HOST1, 1);
    try {
      assert.equal(parseReport((await resvReport(c1, 1)).data!).registrants.length, 0, 'PTPL was off: nothing restored');
    } finally {
      await c1.disconnect();
      await t.close();
    }
    // A broken file: the target does not start, and says which file and what.
    await writeFile(file, '{"version":1,"ptpl":true,"generation":1,"rtype":9,"holder":null,"registrants":[]}');
    await assert.rejects(startTarget(ptplConfig(file), createLogger('silent')), /ptplFile .*ns1\.json: \/rtype: must be a reservation type/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('PTPL through the JSON-RPC: nvmf_subsystem_add_ns ptpl_file restores a saved reservation, refuses a broken file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nvmetd-ptpl-rpc-'));
  const file = join(dir, 'ns5.json');
  try {
    await withRpcTarget(testConfig({ namespaces: [{ size: 1 << 20 }] }), async (t) => {
      const nqn = t.opts().subnqn;
      await t.rpc('bdev_malloc_create', { block_size: 512, num_blocks: 2048, name: 'Malloc5' });
      await writeFile(file, '{"version":1,"ptpl":true,"generation":3,"rtype":1,"holder":"22222222222242228222222222222222","registrants":[{"hostid":"22222222222242228222222222222222","key":"0x2222"}]}');
      assert.equal(await t.rpc('nvmf_subsystem_add_ns', { nqn, namespace: { bdev_name: 'Malloc5', nsid: 5, ptpl_file: file } }), 5);
      const c1 = await connect(t, HOST1, 1);
      try {
        assert.equal((await c1.identifyNamespace(5)).data![31] & 1, 1, 'RESCAP: PTPL capable');
        const rep = parseReport((await resvReport(c1, 5)).data!);
        assert.deepEqual([rep.generation, rep.rtype, rep.ptpls, rep.registrants.map((r) => [r.hostid, r.key, r.holds])], [3, 1, 1, [['22222222222242228222222222222222', 0x2222n, true]]]);
        const w = await c1.write(5, 0, 1, Buffer.alloc(512));
        assert.ok(conflict(w), 'host 1 fenced by the restored reservation');
      } finally {
        await c1.disconnect();
      }
      assert.equal(await t.rpc('nvmf_subsystem_remove_ns', { nqn, nsid: 5 }), true);
      await writeFile(file, '{"version":1}');
      const bad = await t.rpcError('nvmf_subsystem_add_ns', { nqn, namespace: { bdev_name: 'Malloc5', nsid: 5, ptpl_file: file } });
      assert.equal(bad.code, -32602);
      assert.match(JSON.stringify(bad), /ptplFile .*ns5\.json: \/ptpl: must be true or false/);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
