// Asymmetric Namespace Access: Identify fields, the ANA log page (LID 0Ch) with and without RGO,
// change counts, the path statuses of I/O commands, the ANA change event, the shared state table.
// Offsets are the NVMe base specification's, written out here independently of src/spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executeAdmin } from '../../../src/core/admin/dispatch.js';
import { AnaTable } from '../../../src/core/ana.js';
import type { TargetContext } from '../../../src/core/context.js';
import { normalizeConfig } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/config/errors.js';
import { HOSTNQN, SUBNQN, FakeQueue, admin, connectCommand, enabledAdmin, io, ioQueue, makeContext, makeConfig, propertySet } from './fakes.js';

const ANA_LID = 0x0c;
const RGO = 1 << 8;
const ANA_INACCESSIBLE = (3 << 8) | 0x02;
const ANA_PERSISTENT_LOSS = (3 << 8) | 0x01;
const ANA_TRANSITION = (3 << 8) | 0x03;

/** Two ports; nsid 1 in group 1, nsids 2 and 3 in group 2; group 2 inaccessible on port 1 by config. */
function anaContext(): TargetContext {
  return makeContext(
    makeConfig({
      ports: [
        { id: 1, address: '127.0.0.1', port: 4420, subsystems: [SUBNQN], ana: { '2': 'inaccessible' } },
        { id: 2, address: '127.0.0.1', port: 4421, subsystems: [SUBNQN] },
      ],
      subsystems: [
        {
          nqn: SUBNQN,
          namespaces: [
            { nsid: 1, backing: { type: 'ram', size: 1 << 20 } },
            { nsid: 3, backing: { type: 'ram', size: 1 << 20 }, anaGroup: 2 },
            { nsid: 2, backing: { type: 'ram', size: 1 << 20 }, anaGroup: 2 },
          ],
        },
      ],
    }),
  );
}

/** An enabled admin queue through port index `port`. */
function adminOn(ctx: TargetContext, port: number): FakeQueue {
  if (port === 0) return enabledAdmin(ctx);
  const q = new FakeQueue(ctx.config.ports[port]!);
  const c = connectCommand(q, { hostnqn: HOSTNQN });
  executeAdmin(c, ctx);
  assert.equal(c.status, 0);
  propertySet(q, ctx, 0x14, 1 | (6 << 16) | (4 << 20));
  return q;
}

function anaLog(q: FakeQueue, ctx: TargetContext, rgo: boolean, len = 4096): Buffer {
  const c = admin(q, ctx, (sqe) => {
    sqe[0] = 0x02; // Get Log Page
    sqe.writeUInt32LE(ANA_LID | (rgo ? RGO : 0) | ((len / 4 - 1) << 16), 40);
  }, len);
  assert.equal(c.status, 0);
  return Buffer.from(c.outData!);
}

interface Desc {
  grpid: number;
  nnsids: number;
  chgcnt: bigint;
  state: number;
  nsids: number[];
}

function parseAna(b: Buffer): { chgcnt: bigint; ngrps: number; descs: Desc[]; end: number } {
  const ngrps = b.readUInt16LE(8);
  const descs: Desc[] = [];
  let at = 16;
  for (let i = 0; i < ngrps; i++) {
    const nnsids = b.readUInt32LE(at + 4);
    const nsids: number[] = [];
    for (let j = 0; j < nnsids; j++) nsids.push(b.readUInt32LE(at + 32 + j * 4));
    descs.push({ grpid: b.readUInt32LE(at), nnsids, chgcnt: b.readBigUInt64LE(at + 8), state: b[at + 16]!, nsids });
    at += 32 + nnsids * 4;
  }
  return { chgcnt: b.readBigUInt64LE(0), ngrps, descs, end: at };
}

function read(q: FakeQueue, ctx: TargetContext, nsid: number): number {
  const c = io(q, ctx, (sqe) => {
    sqe[0] = 0x02; // Read, one 512-byte block at LBA 0
    sqe.writeUInt32LE(nsid, 4);
  }, 512);
  assert.equal(c.completed, 1);
  return c.status;
}

test('Identify Controller reports ANA: CMIC bit 3, OAES bit 11, ANATT, ANACAP, ANAGRPMAX, NANAGRPID; Identify Namespace: ANAGRPID, NMIC', () => {
  const ctx = anaContext();
  const q = enabledAdmin(ctx);
  const idc = admin(q, ctx, (sqe) => {
    sqe[0] = 0x06;
    sqe.writeUInt32LE(1, 40); // CNS 01h
  });
  const c = Buffer.from(idc.outData!);
  assert.equal(c[76], 0x0b, 'CMIC: multi-port, multi-controller, ANA reporting');
  assert.ok(c.readUInt32LE(92) & (1 << 11), 'OAES: ANA change notices');
  assert.equal(c[342], 10, 'ANATT');
  assert.equal(c[343], 0x1f, 'ANACAP: optimized, non-optimized, inaccessible, persistent loss, change');
  assert.equal(c.readUInt32LE(344), 128, 'ANAGRPMAX');
  assert.equal(c.readUInt32LE(348), 128, 'NANAGRPID');
  const idns = (nsid: number, cns = 0): Buffer =>
    Buffer.from(admin(q, ctx, (sqe) => {
      sqe[0] = 0x06;
      sqe.writeUInt32LE(nsid, 4);
      sqe.writeUInt32LE(cns, 40);
    }).outData!);
  assert.equal(idns(1).readUInt32LE(92), 1, 'ANAGRPID of nsid 1');
  assert.equal(idns(2).readUInt32LE(92), 2, 'ANAGRPID of nsid 2');
  assert.equal(idns(2)[30], 1, 'NMIC: shared namespace');
  assert.equal(idns(3, 0x08).readUInt32LE(4), 2, 'I/O command set independent Identify Namespace: ANAGRPID');
});

test('LID 0Ch is a supported log page', () => {
  const ctx = anaContext();
  const q = enabledAdmin(ctx);
  const c = admin(q, ctx, (sqe) => {
    sqe[0] = 0x02;
    sqe.writeUInt32LE(0x00 | (255 << 16), 40);
  }, 1024);
  assert.equal(Buffer.from(c.outData!).readUInt32LE(ANA_LID * 4) & 1, 1);
});

test('ANA log: one descriptor per group in increasing id, the state on the controller\'s port, the NSIDs in order', () => {
  const ctx = anaContext();
  const log1 = parseAna(anaLog(enabledAdmin(ctx), ctx, false));
  assert.equal(log1.chgcnt, 0n);
  assert.equal(log1.ngrps, 2);
  assert.deepEqual(log1.descs, [
    { grpid: 1, nnsids: 1, chgcnt: 0n, state: 0x01, nsids: [1] },
    { grpid: 2, nnsids: 2, chgcnt: 0n, state: 0x03, nsids: [2, 3] },
  ]);
  assert.equal(log1.end, 16 + 32 + 4 + 32 + 8);
  // The same groups through port 2, where group 2 is optimized.
  const log2 = parseAna(anaLog(adminOn(ctx, 1), ctx, false));
  assert.deepEqual(log2.descs.map((d) => d.state), [0x01, 0x01]);
});

test('ANA log with RGO: the descriptors without NSIDs', () => {
  const ctx = anaContext();
  const b = anaLog(enabledAdmin(ctx), ctx, true);
  const log = parseAna(b);
  assert.deepEqual(log.descs, [
    { grpid: 1, nnsids: 0, chgcnt: 0n, state: 0x01, nsids: [] },
    { grpid: 2, nnsids: 0, chgcnt: 0n, state: 0x03, nsids: [] },
  ]);
  assert.ok(b.subarray(log.end).every((x) => x === 0), 'nothing after the last descriptor');
});

test('a state change bumps the change count: header and the changed group\'s descriptor only', () => {
  const ctx = anaContext();
  const q = enabledAdmin(ctx);
  assert.equal(ctx.setAnaState(1, 1, 'non-optimized'), true);
  assert.equal(ctx.setAnaState(1, 1, 'non-optimized'), false, 'no change, no bump');
  let log = parseAna(anaLog(q, ctx, false));
  assert.equal(log.chgcnt, 1n);
  assert.deepEqual(log.descs.map((d) => [d.grpid, d.state, d.chgcnt]), [[1, 0x02, 1n], [2, 0x03, 0n]]);
  ctx.setAnaState(1, 2, 'optimized');
  log = parseAna(anaLog(q, ctx, true));
  assert.equal(log.chgcnt, 2n);
  assert.deepEqual(log.descs.map((d) => [d.grpid, d.state, d.chgcnt]), [[1, 0x02, 1n], [2, 0x01, 2n]]);
  assert.throws(() => ctx.setAnaState(1, 129, 'optimized'), /out of range/);
  assert.throws(() => ctx.setAnaState(9, 1, 'optimized'), /no port with id 9/);
});

test('I/O on a path whose group is inaccessible, persistent loss or in change gets the path status (SCT 3); optimized and non-optimized pass', () => {
  const ctx = anaContext();
  const q = enabledAdmin(ctx);
  const ioq = ioQueue(ctx, q);
  assert.equal(read(ioq, ctx, 1), 0, 'group 1 optimized');
  assert.equal(read(ioq, ctx, 2), ANA_INACCESSIBLE, 'group 2 inaccessible on port 1');
  assert.equal(read(ioq, ctx, 3), ANA_INACCESSIBLE);
  ctx.setAnaState(1, 2, 'persistent-loss');
  assert.equal(read(ioq, ctx, 2), ANA_PERSISTENT_LOSS);
  ctx.setAnaState(1, 2, 'change');
  assert.equal(read(ioq, ctx, 2), ANA_TRANSITION);
  ctx.setAnaState(1, 2, 'non-optimized');
  assert.equal(read(ioq, ctx, 2), 0);
  ctx.setAnaState(1, 1, 'inaccessible');
  assert.equal(read(ioq, ctx, 1), ANA_INACCESSIBLE);
  // Port 2 has its own states: everything optimized there.
  const q2 = adminOn(ctx, 1);
  const ioq2 = new FakeQueue(ctx.config.ports[1]!);
  const c = connectCommand(ioq2, { qid: 1, cntlid: q2.ctrl!.cntlid, sqsize: 31 });
  executeAdmin(c, ctx);
  assert.equal(c.status, 0);
  assert.equal(read(ioq2, ctx, 1), 0, 'group 1 is inaccessible on port 1 only');
  ctx.setAnaState(1, 1, 'optimized');
  assert.equal(read(ioq, ctx, 1), 0, 'back to optimized');
});

test('the ANA change event goes to controllers on the changed port with AEC bit 11 set, until the log is read', () => {
  const ctx = anaContext();
  const q1 = enabledAdmin(ctx);
  const q2 = adminOn(ctx, 1);
  const setAec = (q: FakeQueue, aec: number): void => {
    const c = admin(q, ctx, (sqe) => {
      sqe[0] = 0x09;
      sqe.writeUInt32LE(0x0b, 40);
      sqe.writeUInt32LE(aec, 44);
    }, 0);
    assert.equal(c.status, 0);
  };
  const aer = (q: FakeQueue) => admin(q, ctx, (sqe) => (sqe[0] = 0x0c), 0);
  setAec(q1, 1 << 11);
  setAec(q2, 1 << 11);
  const a1 = aer(q1);
  const a2 = aer(q2);
  ctx.setAnaState(1, 2, 'optimized');
  assert.equal(a1.completed, 1);
  assert.equal(a1.status, 0);
  assert.equal(a1.dw0, 0x02 | (0x03 << 8) | (ANA_LID << 16), 'notice, ANA change, log page 0Ch');
  assert.equal(a2.completed, 0, 'a controller on port 2 is not told');
  // Masked until the log is read.
  const again = aer(q1);
  ctx.setAnaState(1, 2, 'inaccessible');
  assert.equal(again.completed, 0);
  anaLog(q1, ctx, false);
  ctx.setAnaState(1, 2, 'change');
  assert.equal(again.completed, 1);
  // AEC bit 11 clear: no event.
  setAec(q2, 0);
  ctx.setAnaState(2, 1, 'inaccessible');
  assert.equal(a2.completed, 0);
});

test('the shared table: a worker\'s view over the same memory sees the main thread\'s changes at once', () => {
  const config = makeConfig({
    ports: [
      { id: 5, address: '127.0.0.1', port: 4420, subsystems: [SUBNQN] },
      { id: 7, address: '127.0.0.1', port: 4421, subsystems: [SUBNQN], ana: { '3': 'change' } },
    ],
  });
  const main = new AnaTable(config.ports);
  const worker = new AnaTable(config.ports, main.sab);
  const [p5, p7] = config.ports as [typeof config.ports[0], typeof config.ports[0]];
  assert.equal(worker.ioStatus(p7, 3), ANA_TRANSITION, 'config state seen by the worker');
  assert.equal(worker.refusing, 1);
  assert.equal(worker.ioStatus(p5, 3), 0);
  main.set(5, 3, 'inaccessible');
  assert.equal(worker.ioStatus(p5, 3), ANA_INACCESSIBLE);
  main.set(7, 3, 'optimized');
  main.set(5, 3, 'non-optimized');
  assert.equal(worker.ioStatus(p5, 3), 0);
  assert.equal(worker.ioStatus(p7, 3), 0);
  assert.equal(worker.state(5, 3), 0x02);
  // A removed port's states go back to optimized (a later port with its id starts clean).
  main.set(5, 4, 'inaccessible');
  assert.equal(worker.ioStatus(p5, 4), ANA_INACCESSIBLE);
  main.resetPort(5);
  assert.equal(worker.ioStatus(p5, 4), 0);
  assert.equal(worker.state(5, 3), 0x01);
  assert.equal(main.groupChgcnt(5, 4), 0n);
  main.set(7, 1, 'change');
  assert.equal(worker.ioStatus(p7, 1), ANA_TRANSITION, 'the count of refusing groups stayed right');
  assert.equal(worker.refusing, 1, 'one refusing pair: port 7 group 1');
  main.set(7, 1, 'optimized');
  assert.equal(worker.ioStatus(p7, 1), 0);
  assert.equal(worker.refusing, 0, 'no refusing pair left: the I/O path is back to one word read');
});

test('config: anaGroup and ports[].ana are checked with clear errors', () => {
  const bad = (extra: Record<string, unknown>, match: RegExp): void => {
    assert.throws(() => makeConfig(extra), (e: unknown) => e instanceof ConfigError && match.test(e.message));
  };
  const port = (ana: Record<string, string>) => ({ ports: [{ id: 1, address: '127.0.0.1', port: 4420, ana }] });
  bad(port({ '0': 'optimized' }), /\/ports\/0\/ana\/0: "0" is not an ANA group id: use a decimal number from 1 to 128/);
  bad(port({ '129': 'optimized' }), /"129" is not an ANA group id/);
  bad(port({ x: 'optimized' }), /"x" is not an ANA group id/);
  bad(port({ '2': 'sleepy' }), /\/ports\/0\/ana\/2/);
  bad({ subsystems: [{ nqn: SUBNQN, namespaces: [{ backing: { type: 'ram', size: 1 << 20 }, anaGroup: 129 }] }] }, /anaGroup/);
  bad(port({ '02': 'optimized' }), /"02" is not an ANA group id/);
  const ok = normalizeConfig({ ...port({ '2': 'change' }), subsystems: [{ nqn: SUBNQN, namespaces: [{ backing: { type: 'ram', size: 4096 } }] }] }, 't');
  assert.deepEqual(ok.ports[0]!.ana, { '2': 'change' });
  assert.equal(ok.subsystems[0]!.namespaces[0]!.anaGroup, 1, 'default group 1');
});

test('the shared table: a worker finds the row of a port it learnt of later (listener added by RPC) or of a config it did not start with', () => {
  const config = makeConfig({
    ports: [
      { id: 5, address: '127.0.0.1', port: 4420, subsystems: [SUBNQN] },
      { id: 7, address: '127.0.0.1', port: 4421, subsystems: [SUBNQN] },
    ],
  });
  const [p5, p7] = config.ports as [typeof config.ports[0], typeof config.ports[0]];
  const main = new AnaTable(config.ports);
  const worker = new AnaTable(config.ports, main.sab);
  // Port 9 appears after the worker's table was made; the main thread gives it a row on its first state.
  const p9 = { ...p7, id: 9, port: 4422 };
  main.set(9, 1, 'inaccessible');
  assert.equal(worker.ioStatus(p9, 1), ANA_INACCESSIBLE, 'the worker sees the new port\'s state');
  assert.equal(worker.state(9, 1), 0x03);
  assert.equal(worker.ioStatus(p5, 1), 0);
  // A worker started with a port list that lacks port 5 (removed by RPC) still finds port 7's row.
  const late = new AnaTable([p7], main.sab);
  main.set(7, 2, 'persistent-loss');
  assert.equal(late.ioStatus(p7, 2), ANA_PERSISTENT_LOSS);
  assert.equal(late.ioStatus(p9, 1), ANA_INACCESSIBLE);
  assert.equal(late.ioStatus(p5, 2), 0, 'port 5\'s row is not port 7\'s');
  main.set(9, 1, 'optimized');
  assert.equal(worker.ioStatus(p9, 1), 0);
});
