// Bad commands that must fail with the status the spec asks for while the connection lives on (issue
// 2, "Bad input"), one table row per bad command, against the real target over loopback.
//
// Each row gets its own controller (rows with the same config share one target) and runs one
// command; the loop checks the status (and DNR, and Connect's IATTR/IPO when the row names them),
// then that the row's queues still work. A few rows expect success: the in-range neighbour of a bad
// input, so that a target refusing everything cannot pass.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/initiator/controller.js';
import type { RawConnection } from '../../src/initiator/raw.js';
import { buildH2CData } from '../../src/initiator/pdu-build.js';
import * as S from '../../src/initiator/sqe-build.js';
import { SQE_SIZE } from '../../src/spec/sqe.js';
import { ConnectData, IoOpc } from '../../src/spec/opcodes.js';
import { CmdSpecific, DNR, Generic, SCT, status, statusName } from '../../src/spec/status.js';
import { Cns } from '../../src/spec/identify.js';
import { HOSTNQN, MiB, SUBNQN, assertHealthy, pattern, rawIoQueue, runTarget, startR2TWrite, testConfig, type Running, type TestConfigOptions } from './helpers.js';

/** A completion: the initiator's CommandResult or a raw connection's CQE (both carry the 15-bit status field). */
interface Outcome {
  status: number;
  dw0: number;
}

interface StatusCase {
  /** The bad (or, for a control row, the good) command. */
  name: string;
  config?: TestConfigOptions;
  /**
   * The row's controller: 'io' (default) a full one with one I/O queue and a spare one (qid 2) for raw
   * use; 'admin-only' Connect without CC.EN; 'none' for rows that must not connect first.
   */
  controller?: 'io' | 'admin-only' | 'none';
  run: (s: Session) => Promise<Outcome>;
  /** The expected status, status(SCT, SC); compared without CRD/M/DNR (0 must be exactly 0). */
  expect: number;
  /** When given: the DNR bit. */
  dnr?: boolean;
  /** When given: Connect's invalid attribute information in DW0 (IATTR 23:16, IPO 15:0). */
  invalid?: { iattr: number; ipo: number };
  /** Replaces the default check that the row's queues still work. */
  after?: (s: Session) => Promise<void>;
}

/** What a row works with; raw connections it opens are closed by the loop. */
class Session {
  readonly t: Running;
  #c: Controller | null;
  /** The raw I/O queue the row opened with rawIo(), if any. */
  raw: RawConnection | null = null;

  constructor(t: Running, c: Controller | null) {
    this.t = t;
    this.#c = c;
  }

  get c(): Controller {
    assert.ok(this.#c, 'this row has no controller');
    return this.#c;
  }

  get hasController(): boolean {
    return this.#c !== null;
  }

  /** A raw connection joined to the row's controller as I/O queue 2. */
  async rawIo(dg: { hdgst?: boolean; ddgst?: boolean } = {}): Promise<RawConnection> {
    this.raw = await rawIoQueue(this.t, this.c, 2, dg);
    return this.raw;
  }

  /** A Fabrics Connect on a fresh raw connection (closed again once answered). */
  async rawConnect(p: { qid: number; queueSize: number; hostid: Uint8Array; cntlid: number; subnqn: string; hostnqn: string }): Promise<Outcome> {
    const raw = await this.t.raw();
    try {
      await raw.icreq();
      return await raw.connect(p);
    } finally {
      raw.close();
    }
  }

  /** A Connect on a fresh raw connection that joins the row's controller (its hostid, CNTLID and host NQN). */
  ioConnect(p: { qid: number; queueSize: number; cntlid?: number }): Promise<Outcome> {
    const c = this.c;
    return this.rawConnect({ qid: p.qid, queueSize: p.queueSize, hostid: c.hostid, cntlid: p.cntlid ?? c.cntlid, subnqn: SUBNQN, hostnqn: c.hostnqn });
  }
}

function sqe(): Buffer {
  return Buffer.alloc(SQE_SIZE);
}

const G = (sc: number): number => status(SCT.GENERIC, sc);
const CS = (sc: number): number => status(SCT.COMMAND_SPECIFIC, sc);
const OK = 0;

const ALLOWED_HOST = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000aa';
/** 1 MiB of 512-byte blocks. */
const SMALL: TestConfigOptions = { namespaces: [{ size: 1 * MiB }] };
const BLOCKS = (1 * MiB) / 512;
const MDTS: TestConfigOptions = { mdts: 256 * 1024, namespaces: [{ size: 8 * MiB }] };
const READ_ONLY: TestConfigOptions = { namespaces: [{ nsid: 1 }, { nsid: 2, readOnly: true }] };

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Names for test titles: this file's Command Specific statuses are all Connect's. */
const EXPECT_NAME = new Map<number, string>([
  [OK, 'success'],
  ...Object.entries(Generic).map(([k, v]): [number, string] => [G(v), k]),
  ...Object.entries(CmdSpecific)
    .filter(([k]) => k.startsWith('CONNECT_'))
    .map(([k, v]): [number, string] => [CS(v), k]),
]);

const STATUS: StatusCase[] = [
  // ---- Data digest errors: the command fails, the connection lives ----
  {
    name: 'in-capsule write with a good data digest',
    run: async (s) => {
      const raw = await s.rawIo({ ddgst: true });
      assert.equal(raw.link.ddgst, true, 'data digest granted');
      raw.capsule(S.readWrite(sqe(), IoOpc.Write, 1, 50, 8), 11, { inCapsule: pattern(4096, 4) });
      const cqe = await raw.response();
      assert.equal(cqe.cid, 11);
      return cqe;
    },
    expect: OK,
  },
  {
    name: 'in-capsule write with a bad data digest',
    run: async (s) => {
      const raw = await s.rawIo({ ddgst: true });
      assert.equal(raw.link.ddgst, true, 'data digest granted');
      const bad = raw.buildCapsule(S.readWrite(sqe(), IoOpc.Write, 1, 60, 8), 12, { inCapsule: pattern(4096, 4) });
      bad[bad.length - 1] ^= 0xff;
      raw.send(bad);
      const cqe = await raw.response();
      assert.equal(cqe.cid, 12);
      return cqe;
    },
    expect: G(Generic.TRANSIENT_TRANSPORT_ERROR),
  },
  {
    name: 'H2CData with a bad data digest',
    run: async (s) => {
      const raw = await s.rawIo({ ddgst: true });
      assert.equal(raw.link.ddgst, true, 'data digest granted');
      const r2t = await startR2TWrite(raw, 13);
      const h2c = buildH2CData(13, r2t.ttag, r2t.r2to, pattern(r2t.r2tl, 5), true, raw.link);
      h2c[h2c.length - 2] ^= 0x01;
      raw.send(h2c);
      const cqe = await raw.response();
      assert.equal(cqe.cid, 13);
      return cqe;
    },
    expect: G(Generic.TRANSIENT_TRANSPORT_ERROR),
  },

  // ---- Connect errors ----
  {
    name: 'Connect to an unknown subsystem (IATTR/IPO at SUBNQN)',
    run: (s) => s.rawConnect({ qid: 0, queueSize: 32, hostid: Buffer.alloc(16, 2), cntlid: 0xffff, subnqn: 'nqn.2026-11.io.nvmetd:no-such-subsystem', hostnqn: HOSTNQN }),
    expect: CS(CmdSpecific.CONNECT_INVALID_PARAMETERS),
    invalid: { iattr: 1, ipo: ConnectData.subnqn },
  },
  {
    name: 'Connect from a host not allowed',
    config: { allowAnyHost: false, allowedHosts: [ALLOWED_HOST] },
    controller: 'none',
    run: (s) => s.rawConnect({ qid: 0, queueSize: 32, hostid: Buffer.alloc(16, 3), cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN }),
    expect: CS(CmdSpecific.CONNECT_INVALID_HOST),
    after: async (s) => {
      // The allowed host gets in.
      const c = await Controller.connect(s.t.opts({ hostnqn: ALLOWED_HOST }));
      try {
        await assertHealthy(c);
      } finally {
        await c.disconnect();
      }
    },
  },
  {
    name: 'I/O queue Connect with a wrong CNTLID (IATTR/IPO at CNTLID)',
    run: (s) => s.ioConnect({ qid: 2, queueSize: 32, cntlid: (s.c.cntlid + 1) & 0xffff }),
    expect: CS(CmdSpecific.CONNECT_INVALID_PARAMETERS),
    invalid: { iattr: 1, ipo: ConnectData.cntlid },
  },
  // The row's controller negotiated 2 I/O queues and connected qid 1; the port allows 128 entries.
  ...(
    [
      ['QID beyond the negotiated number of queues', { qid: 3, queueSize: 32 }, 42],
      ['QID already connected', { qid: 1, queueSize: 32 }, 42],
      ['SQSIZE above the port maximum', { qid: 2, queueSize: 1024 }, 44],
      ['SQSIZE 0 (a one-entry queue)', { qid: 2, queueSize: 1 }, 44],
    ] as const
  ).map(
    ([what, p, ipo]): StatusCase => ({
      name: `I/O queue Connect: ${what} (IATTR 0: the field is in the SQE, IPO ${ipo})`,
      config: { maxQueueSize: 128 },
      run: (s) => s.ioConnect(p),
      expect: CS(CmdSpecific.CONNECT_INVALID_PARAMETERS),
      invalid: { iattr: 0, ipo },
    }),
  ),

  // ---- Commands before CC.EN (Fabrics commands are allowed; enabling makes the same command work) ----
  {
    name: 'Identify before CC.EN',
    controller: 'admin-only',
    run: (s) => s.c.identify(Cns.Controller),
    expect: G(Generic.COMMAND_SEQUENCE_ERROR),
  },
  {
    name: 'Set Features before CC.EN',
    controller: 'admin-only',
    run: (s) => s.c.setFeatures(0x07, 0),
    expect: G(Generic.COMMAND_SEQUENCE_ERROR),
  },

  // ---- LBA ranges (a 1 MiB namespace: 2048 blocks) ----
  { name: 'read across the end', config: SMALL, run: (s) => s.c.read(1, BLOCKS - 4, 8, Buffer.alloc(4096)), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'write past the end', config: SMALL, run: (s) => s.c.write(1, BLOCKS, 1, Buffer.alloc(512)), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'write zeroes across the end', config: SMALL, run: (s) => s.c.writeZeroes(1, BLOCKS - 1, 2), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'compare past the end', config: SMALL, run: (s) => s.c.compare(1, BLOCKS, 1, Buffer.alloc(512)), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'read at SLBA 2^63', config: SMALL, run: (s) => s.c.read(1, 2n ** 63n, 1, Buffer.alloc(512)), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'read with SLBA+NLB wrapping 2^64', config: SMALL, run: (s) => s.c.read(1, 2n ** 64n - 1n, 2, Buffer.alloc(1024)), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'DSM range across the end', config: SMALL, run: (s) => s.c.dsm(1, [{ slba: BLOCKS - 1, nlb: 2 }]), expect: G(Generic.LBA_OUT_OF_RANGE) },
  { name: 'read of the last block (in range)', config: SMALL, run: (s) => s.c.read(1, BLOCKS - 1, 1, Buffer.alloc(512)), expect: OK },

  // ---- NSID 0 and unknown NSIDs on I/O ----
  ...[0, 2, 0xfffffffe].flatMap((nsid): StatusCase[] => [
    { name: `read NSID ${hex(nsid)}`, run: (s) => s.c.read(nsid, 0, 1, Buffer.alloc(512)), expect: G(Generic.INVALID_NAMESPACE) },
    { name: `write NSID ${hex(nsid)}`, run: (s) => s.c.write(nsid, 0, 1, Buffer.alloc(512)), expect: G(Generic.INVALID_NAMESPACE) },
    { name: `flush NSID ${hex(nsid)}`, run: (s) => s.c.flush(nsid), expect: G(Generic.INVALID_NAMESPACE) },
  ]),
  { name: 'read NSID 1 (an attached namespace)', run: (s) => s.c.read(1, 0, 1, Buffer.alloc(512)), expect: OK },

  // ---- Unknown opcodes ----
  ...[0x7e, 0xf0, 0x83].map(
    (opc): StatusCase => ({ name: `unknown I/O opcode ${hex(opc)}`, run: (s) => s.c.submitIo((q) => S.bare(q, opc, 1)), expect: G(Generic.INVALID_OPCODE), dnr: true }),
  ),
  ...[0x03, 0x7e, 0xc1].map((opc): StatusCase => ({ name: `unknown admin opcode ${hex(opc)}`, run: (s) => s.c.submitAdmin((q) => S.bare(q, opc)), expect: G(Generic.INVALID_OPCODE) })),

  // ---- MDTS (256 KiB) ----
  {
    name: 'a read of exactly MDTS',
    config: MDTS,
    run: (s) => {
      assert.equal(s.c.id!.mdts, 6, 'Identify MDTS: 256 KiB = 2^6 x 4 KiB pages');
      return s.c.read(1, 0, 512, Buffer.alloc(256 * 1024));
    },
    expect: OK,
  },
  { name: 'a read of 2 x MDTS', config: MDTS, run: (s) => s.c.read(1, 0, 1024, Buffer.alloc(512 * 1024)), expect: G(Generic.INVALID_FIELD) },
  { name: 'a write of 2 x MDTS', config: MDTS, run: (s) => s.c.write(1, 0, 1024, Buffer.alloc(512 * 1024)), expect: G(Generic.INVALID_FIELD) },

  // ---- SGL length different from NLB x block size ----
  {
    name: 'read with an SGL shorter than its 8 blocks',
    run: (s) => s.c.submitIo((q) => S.readWrite(q, IoOpc.Read, 1, 0, 8), { dataIn: Buffer.alloc(2048) }),
    expect: G(Generic.DATA_SGL_LENGTH_INVALID),
  },
  {
    name: 'write with an SGL longer than its 1 block',
    run: (s) => s.c.submitIo((q) => S.readWrite(q, IoOpc.Write, 1, 0, 1), { dataOut: Buffer.alloc(1024) }),
    expect: G(Generic.DATA_SGL_LENGTH_INVALID),
  },

  // ---- A read-only namespace (NSID 2) ----
  { name: 'write to a read-only namespace', config: READ_ONLY, run: (s) => s.c.write(2, 0, 1, Buffer.alloc(512, 1)), expect: G(Generic.NS_WRITE_PROTECTED) },
  { name: 'write zeroes to a read-only namespace', config: READ_ONLY, run: (s) => s.c.writeZeroes(2, 0, 1), expect: G(Generic.NS_WRITE_PROTECTED) },
  { name: 'deallocate on a read-only namespace', config: READ_ONLY, run: (s) => s.c.dsm(2, [{ slba: 0, nlb: 1 }]), expect: G(Generic.NS_WRITE_PROTECTED) },
  { name: 'read from a read-only namespace', config: READ_ONLY, run: (s) => s.c.read(2, 0, 1, Buffer.alloc(512)), expect: OK },
];

// ---- The loop ----

/** One target per distinct config, started on first use and closed after the last row. */
const targets = new Map<string, Promise<Running>>();
function targetFor(config: TestConfigOptions | undefined): Promise<Running> {
  const key = JSON.stringify(config ?? {});
  let t = targets.get(key);
  if (!t) {
    t = runTarget(testConfig(config));
    targets.set(key, t);
  }
  return t;
}
after(async () => {
  for (const t of targets.values()) await (await t).close();
});

async function connectFor(c: StatusCase, t: Running): Promise<Controller | null> {
  switch (c.controller ?? 'io') {
    case 'io':
      return Controller.connect(t.opts({ extraIoQueues: 1 }));
    case 'admin-only':
      return Controller.connect(t.opts({ adminOnly: true }));
    case 'none':
      return null;
  }
}

/** The default after-check: the row's queues go on. */
async function stillWorks(c: StatusCase, s: Session): Promise<void> {
  if (s.raw) {
    s.raw.capsule(S.flush(sqe(), 1), 14);
    const f = await s.raw.response();
    assert.equal(f.cid, 14);
    assert.equal(f.status, 0, 'the raw I/O queue goes on');
  }
  if ((c.controller ?? 'io') === 'admin-only') {
    // Enabling makes the refused commands work.
    s.c.cap = await s.c.propertyGetValue(0x00, true);
    await s.c.enable();
    const id = await s.c.identify(Cns.Controller);
    assert.ok(id.ok, `Identify after CC.EN: ${id.name}`);
    const nq = await s.c.setFeatures(0x07, 0);
    assert.ok(nq.ok, `Set Features after CC.EN: ${nq.name}`);
    return;
  }
  assert.ok(s.hasController, `${c.name}: a row without a controller needs its own after-check`);
  assert.ok((await s.c.keepAlive()).ok, 'the admin queue goes on');
  assert.ok((await s.c.flush(1)).ok, 'the I/O queue goes on');
  assert.ok((await s.c.read(1, 0, 8, Buffer.alloc(4096))).ok, 'reads go on');
  await assertHealthy(s.c, 1, 16);
}

async function statusCase(c: StatusCase): Promise<void> {
  const t = await targetFor(c.config);
  const ctrl = await connectFor(c, t);
  const s = new Session(t, ctrl);
  try {
    const o = await c.run(s);
    const what = `${c.name}: ${statusName(o.status)}${o.status & DNR ? ' DNR' : ''} (0x${o.status.toString(16)}), expected ${statusName(c.expect)}`;
    if (c.expect === OK) assert.equal(o.status, 0, what);
    else assert.equal(o.status & 0x7ff, c.expect, what);
    if (c.dnr !== undefined) assert.equal((o.status & DNR) !== 0, c.dnr, `${c.name}: DNR ${c.dnr ? 'set' : 'clear'}`);
    if (c.invalid) {
      assert.equal((o.dw0 >>> 16) & 0xff, c.invalid.iattr, `${c.name}: IATTR`);
      assert.equal(o.dw0 & 0xffff, c.invalid.ipo, `${c.name}: IPO`);
    }
    await (c.after ?? ((ss: Session) => stillWorks(c, ss)))(s);
  } finally {
    s.raw?.close();
    await ctrl?.disconnect();
  }
}

for (const c of STATUS) {
  test(`bad input (status): ${c.name} -> ${EXPECT_NAME.get(c.expect) ?? statusName(c.expect)}`, () => statusCase(c));
}
