import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executeAdmin } from '../../../src/core/admin/dispatch.js';
import { AdminOpc, IoOpc } from '../../../src/spec/opcodes.js';
import { CmdSpecific, Generic, SCT, status } from '../../../src/spec/status.js';
import { IdCtrl, IdNs } from '../../../src/spec/identify.js';
import { FeatureId, LogId } from '../../../src/spec/log.js';
import { DiscEntry, DiscLog } from '../../../src/spec/discovery.js';
import {
  FakeQueue,
  HOSTNQN,
  SUBNQN,
  admin,
  connectCommand,
  enabledAdmin,
  io,
  makeConfig,
  makeContext,
  propertyGet,
  propertySet,
} from './fakes.js';

const code = (s: number): number => s & 0x7ff;

test('admin Connect creates a controller and returns its CNTLID', () => {
  const ctx = makeContext();
  const q = new FakeQueue(ctx.config.ports[0]!);
  const c = connectCommand(q, { kato: 5000 });
  executeAdmin(c, ctx);
  assert.equal(c.status, 0);
  assert.equal(c.completed, 1);
  assert.ok(q.ctrl);
  assert.equal(c.dw0, q.ctrl.cntlid);
  assert.equal(ctx.subsystems.get(SUBNQN)!.controllers.size, 1);
  q.ctrl.teardown('test over');
});

test('Connect to an unknown subsystem: Invalid Parameters pointing at SUBNQN in the data', () => {
  const ctx = makeContext();
  const q = new FakeQueue(ctx.config.ports[0]!);
  const c = connectCommand(q, { subnqn: 'nqn.2026-11.io.nvmetd:nope' });
  executeAdmin(c, ctx);
  assert.equal(code(c.status), status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_PARAMETERS));
  assert.equal(c.dw0, (1 << 16) | 256);
  assert.equal(q.ctrl, null);
});

test('Connect from a host not on the allow list: Connect Invalid Host', () => {
  const config = makeConfig();
  config.subsystems[0]!.allowAnyHost = false;
  config.subsystems[0]!.allowedHosts = ['nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001'];
  const ctx = makeContext(config);
  const q = new FakeQueue(ctx.config.ports[0]!);
  const c = connectCommand(q, {});
  executeAdmin(c, ctx);
  assert.equal(code(c.status), status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_HOST));
});

test('admin Connect must ask for the dynamic controller and a sane queue size', () => {
  const ctx = makeContext();
  const q = new FakeQueue(ctx.config.ports[0]!);
  const bad = connectCommand(q, { cntlid: 5 });
  executeAdmin(bad, ctx);
  assert.equal(bad.dw0, (1 << 16) | 16);
  const small = connectCommand(q, { sqsize: 3 });
  executeAdmin(small, ctx);
  assert.equal(code(small.status), status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_PARAMETERS));
  assert.equal(small.dw0, 44); // SQSIZE in the SQE
});

test('CC.EN sets CSTS.RDY; commands before it fail with Command Sequence Error', () => {
  const ctx = makeContext();
  const q = new FakeQueue(ctx.config.ports[0]!);
  executeAdmin(connectCommand(q, {}), ctx);
  const early = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.Identify;
    sqe.writeUInt32LE(1, 40);
  });
  assert.equal(code(early.status), Generic.COMMAND_SEQUENCE_ERROR);
  assert.equal(propertyGet(q, ctx, 0x1c).dw0 & 1, 0);
  propertySet(q, ctx, 0x14, 1 | (6 << 16) | (4 << 20));
  assert.equal(propertyGet(q, ctx, 0x1c).dw0 & 1, 1);
  const cap = propertyGet(q, ctx, 0x00, true);
  assert.equal((cap.dw0 & 0xffff) + 1, ctx.config.ports[0]!.maxQueueSize);
  assert.equal(cap.dw1 & (1 << 5), 1 << 5, 'CAP.CSS.NVM');
  q.ctrl!.teardown('test over');
});

test('CC.SHN reports shutdown complete after the namespaces are flushed', async () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  propertySet(q, ctx, 0x14, 1 | (6 << 16) | (4 << 20) | (1 << 14));
  await new Promise((r) => setImmediate(r));
  assert.equal((propertyGet(q, ctx, 0x1c).dw0 >> 2) & 3, 2);
  q.ctrl!.teardown('test over');
});

test('invalid CC fields on enable set CSTS.CFS, not RDY', () => {
  const ctx = makeContext();
  const q = new FakeQueue(ctx.config.ports[0]!);
  executeAdmin(connectCommand(q, {}), ctx);
  propertySet(q, ctx, 0x14, 1 | (5 << 16) | (4 << 20));
  const csts = propertyGet(q, ctx, 0x1c).dw0;
  assert.equal(csts & 1, 0);
  assert.equal(csts & 2, 2);
  q.ctrl!.teardown('test over');
});

test('I/O queue Connect: wrong CNTLID, qid beyond the negotiated count, and success', () => {
  const ctx = makeContext();
  const aq = enabledAdmin(ctx);
  const cntlid = aq.ctrl!.cntlid;
  const setq = admin(aq, ctx, (sqe) => {
    sqe[0] = AdminOpc.SetFeatures;
    sqe.writeUInt32LE(FeatureId.NumberOfQueues, 40);
    sqe.writeUInt32LE((1 << 16) | 1, 44); // 2 SQs, 2 CQs (0's based)
  }, 0);
  assert.equal(setq.status, 0);
  assert.equal(setq.dw0, (1 << 16) | 1);
  const q1 = new FakeQueue(ctx.config.ports[0]!);
  const wrong = connectCommand(q1, { qid: 1, cntlid: cntlid + 1, sqsize: 127 });
  executeAdmin(wrong, ctx);
  assert.equal(wrong.dw0, (1 << 16) | 16);
  const beyond = connectCommand(q1, { qid: 3, cntlid, sqsize: 127 });
  executeAdmin(beyond, ctx);
  assert.equal(beyond.dw0, 42);
  const ok = connectCommand(q1, { qid: 1, cntlid, sqsize: 127 });
  executeAdmin(ok, ctx);
  assert.equal(ok.status, 0);
  assert.equal(q1.qid, 1);
  assert.equal(q1.sqEntries, 128);
  // Closing the admin queue tears the controller down and closes its I/O queues.
  aq.ctrl!.detachQueue(aq);
  assert.ok(q1.closedWith);
});

test('keep alive timeout tears the controller down', async () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx, 200);
  const ctrl = q.ctrl!;
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(ctrl.dead, true);
  assert.ok(q.closedWith?.includes('keep alive'));
  assert.equal(ctx.subsystems.get(SUBNQN)!.controllers.size, 0);
});

test('keep alive traffic keeps the controller alive', async () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx, 300);
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 200));
    admin(q, ctx, (sqe) => (sqe[0] = AdminOpc.KeepAlive), 0);
  }
  assert.equal(q.ctrl!.dead, false);
  q.ctrl!.teardown('test over');
});

test('identify controller and namespace carry the configured identity', () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  const idc = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.Identify;
    sqe.writeUInt32LE(1, 40);
  });
  const b = Buffer.from(idc.outData!);
  assert.equal(b.toString('ascii', IdCtrl.sn, IdCtrl.sn + 20).trimEnd(), 'SERIAL0001');
  assert.equal(b.toString('utf8', IdCtrl.subnqn, IdCtrl.subnqn + SUBNQN.length), SUBNQN);
  assert.equal(b.readUInt16LE(IdCtrl.cntlid), q.ctrl!.cntlid);
  assert.equal(b[IdCtrl.cntrltype], 1);
  assert.equal(b.readUInt32LE(IdCtrl.ioccsz), (64 + 8192) / 16);
  const idn = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.Identify;
    sqe.writeUInt32LE(2, 4);
  });
  const n = Buffer.from(idn.outData!);
  assert.equal(n.readBigUInt64LE(IdNs.nsze), BigInt((1 << 20) / 4096));
  assert.equal(n[IdNs.lbaf0 + 2], 12);
  assert.equal(n[IdNs.nsattr], 1, 'read-only namespace');
  const list = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.Identify;
    sqe.writeUInt32LE(2, 40);
  });
  const l = Buffer.from(list.outData!);
  assert.deepEqual([l.readUInt32LE(0), l.readUInt32LE(4), l.readUInt32LE(8)], [1, 2, 0]);
  const unknownNs = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.Identify;
    sqe.writeUInt32LE(3, 40);
    sqe.writeUInt32LE(9, 4);
  });
  assert.equal(code(unknownNs.status), Generic.INVALID_NAMESPACE);
  q.ctrl!.teardown('test over');
});

test('unknown admin opcode: Invalid Command Opcode, recorded in the error log', () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  const c = admin(q, ctx, (sqe) => (sqe[0] = 0x55));
  assert.equal(code(c.status), Generic.INVALID_OPCODE);
  const log = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.GetLogPage;
    sqe.writeUInt32LE(LogId.ErrorInformation | ((64 / 4 - 1) << 16), 40);
  }, 64);
  const e = Buffer.from(log.outData!);
  assert.equal(e.readBigUInt64LE(0), 1n);
  assert.equal((e.readUInt16LE(12) >> 1) & 0xff, Generic.INVALID_OPCODE);
  q.ctrl!.teardown('test over');
});

test('AER completes on a namespace change, then is masked until the log page is read', () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.SetFeatures;
    sqe.writeUInt32LE(FeatureId.AsyncEventConfig, 40);
    sqe.writeUInt32LE(1 << 8, 44);
  }, 0);
  const aers = [0, 1, 2, 3].map(() => admin(q, ctx, (sqe) => (sqe[0] = AdminOpc.AsyncEventRequest), 0));
  assert.ok(aers.every((a) => a.completed === 0));
  const fifth = admin(q, ctx, (sqe) => (sqe[0] = AdminOpc.AsyncEventRequest), 0);
  assert.equal(code(fifth.status), status(SCT.COMMAND_SPECIFIC, CmdSpecific.ASYNC_EVENT_LIMIT_EXCEEDED));
  const subsys = ctx.subsystems.get(SUBNQN)!;
  subsys.removeNamespace(2);
  assert.equal(aers[0]!.completed, 1);
  assert.equal(aers[0]!.dw0, 2 | (0 << 8) | (LogId.ChangedNsList << 16));
  subsys.removeNamespace(1);
  assert.equal(aers[1]!.completed, 0, 'masked until the log is read');
  const log = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.GetLogPage;
    sqe.writeUInt32LE(LogId.ChangedNsList | ((4096 / 4 - 1) << 16), 40);
  });
  const l = Buffer.from(log.outData!);
  assert.deepEqual([l.readUInt32LE(0), l.readUInt32LE(4), l.readUInt32LE(8)], [2, 1, 0]);
  q.ctrl!.teardown('test over');
});

test('SMART log counts host reads and writes', () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  const ioq = new FakeQueue(ctx.config.ports[0]!);
  executeAdmin(connectCommand(ioq, { qid: 1, cntlid: q.ctrl!.cntlid, sqsize: 31 }), ctx);
  const w = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Write;
    sqe.writeUInt32LE(1, 4);
    sqe.writeUInt32LE(7, 48); // 8 blocks
  }, 4096, Buffer.alloc(4096, 1));
  assert.equal(w.status, 0);
  const r = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Read;
    sqe.writeUInt32LE(1, 4);
    sqe.writeUInt32LE(7, 48);
  }, 4096);
  assert.equal(Buffer.from(r.outData!).equals(Buffer.alloc(4096, 1)), true);
  const smart = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.GetLogPage;
    sqe.writeUInt32LE(0xffffffff, 4);
    sqe.writeUInt32LE(LogId.SmartHealth | ((512 / 4 - 1) << 16), 40);
  }, 512);
  const s = Buffer.from(smart.outData!);
  assert.equal(s.readBigUInt64LE(64), 1n, 'host read commands');
  assert.equal(s.readBigUInt64LE(80), 1n, 'host write commands');
  assert.equal(s.readBigUInt64LE(48), 1n, 'data units written (rounded up)');
  q.ctrl!.teardown('test over');
});

test('I/O checks: LBA range, unknown NSID, read-only namespace, unknown opcode, compare', () => {
  const ctx = makeContext();
  const q = enabledAdmin(ctx);
  const ioq = new FakeQueue(ctx.config.ports[0]!);
  executeAdmin(connectCommand(ioq, { qid: 1, cntlid: q.ctrl!.cntlid, sqsize: 31 }), ctx);
  const oor = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Read;
    sqe.writeUInt32LE(1, 4);
    sqe.writeBigUInt64LE(2047n, 40);
    sqe.writeUInt32LE(1, 48); // 2 blocks from the last one
  }, 1024);
  assert.equal(code(oor.status), Generic.LBA_OUT_OF_RANGE);
  for (const nsid of [0, 7]) {
    const bad = io(ioq, ctx, (sqe) => {
      sqe[0] = IoOpc.Read;
      sqe.writeUInt32LE(nsid, 4);
    }, 512);
    assert.equal(code(bad.status), Generic.INVALID_NAMESPACE);
  }
  const ro = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Write;
    sqe.writeUInt32LE(2, 4);
  }, 4096, Buffer.alloc(4096));
  assert.equal(code(ro.status), Generic.NS_WRITE_PROTECTED);
  const unk = io(ioq, ctx, (sqe) => {
    sqe[0] = 0x7e;
    sqe.writeUInt32LE(1, 4);
  });
  assert.equal(code(unk.status), Generic.INVALID_OPCODE);
  const data = Buffer.alloc(512, 9);
  io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Write;
    sqe.writeUInt32LE(1, 4);
  }, 512, data);
  const same = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Compare;
    sqe.writeUInt32LE(1, 4);
  }, 512, data);
  assert.equal(same.status, 0);
  const diff = io(ioq, ctx, (sqe) => {
    sqe[0] = IoOpc.Compare;
    sqe.writeUInt32LE(1, 4);
  }, 512, Buffer.alloc(512, 8));
  assert.equal(code(diff.status), status(SCT.MEDIA, 0x85));
  q.ctrl!.teardown('test over');
});

test('discovery log lists the subsystem for allowed hosts only, and referrals', () => {
  const config = makeConfig({
    ports: [
      {
        id: 1,
        address: '0.0.0.0',
        port: 4420,
        advertiseAddress: '10.0.2.2',
        subsystems: [SUBNQN],
        referrals: [{ address: '192.0.2.10', port: 4420 }],
      },
    ],
  });
  const ctx = makeContext(config);
  const discover = (hostnqn: string): Buffer => {
    const q = new FakeQueue(ctx.config.ports[0]!);
    executeAdmin(connectCommand(q, { subnqn: 'nqn.2014-08.org.nvmexpress.discovery', hostnqn }), ctx);
    propertySet(q, ctx, 0x14, 1);
    const log = admin(q, ctx, (sqe) => {
      sqe[0] = AdminOpc.GetLogPage;
      sqe.writeUInt32LE(LogId.Discovery | ((4096 / 4 - 1) << 16), 40);
    });
    q.ctrl!.teardown('done');
    return Buffer.from(log.outData!);
  };
  const all = discover(HOSTNQN);
  assert.equal(all.readBigUInt64LE(DiscLog.numrec), 3n);
  const e1 = DiscLog.headerSize + DiscLog.entrySize;
  assert.equal(all[e1 + DiscEntry.subtype], 2);
  assert.equal(all.toString('ascii', e1 + DiscEntry.traddr, e1 + DiscEntry.traddr + 8), '10.0.2.2');
  assert.equal(all.toString('utf8', e1 + DiscEntry.subnqn, e1 + DiscEntry.subnqn + SUBNQN.length), SUBNQN);
  const e2 = DiscLog.headerSize + 2 * DiscLog.entrySize;
  assert.equal(all[e2 + DiscEntry.subtype], 1, 'referral');

  ctx.subsystems.get(SUBNQN)!.config.allowAnyHost = false;
  const filtered = discover(HOSTNQN);
  assert.equal(filtered.readBigUInt64LE(DiscLog.numrec), 2n, 'current discovery entry + referral only');
});

test('a discovery controller also serves the supported-pages, error and command-effects logs', () => {
  const ctx = makeContext();
  const q = new FakeQueue(ctx.config.ports[0]!);
  executeAdmin(connectCommand(q, { subnqn: 'nqn.2014-08.org.nvmexpress.discovery' }), ctx);
  propertySet(q, ctx, 0x14, 1);
  for (const lid of [LogId.SupportedLogPages, LogId.ErrorInformation, LogId.CommandsSupportedEffects]) {
    const c = admin(q, ctx, (sqe) => {
      sqe[0] = AdminOpc.GetLogPage;
      sqe.writeUInt32LE(lid | ((64 / 4 - 1) << 16), 40);
    }, 64);
    assert.equal(c.status, 0, `log page 0x${lid.toString(16)}`);
  }
  const smart = admin(q, ctx, (sqe) => {
    sqe[0] = AdminOpc.GetLogPage;
    sqe.writeUInt32LE(LogId.SmartHealth | ((512 / 4 - 1) << 16), 40);
  }, 512);
  assert.equal(code(smart.status), status(SCT.COMMAND_SPECIFIC, CmdSpecific.INVALID_LOG_PAGE));
  q.ctrl!.teardown('done');
});
