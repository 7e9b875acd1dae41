// Admin path against the real target: bring-up, identify, properties, features, log pages,
// keep alive, abort, asynchronous events, discovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, discover } from '../../src/initiator/controller.js';
import { parseIdentifyNamespace, parseNsDescriptors, parseNsList, uuidText } from '../../src/initiator/identify-parse.js';
import { Cns, Nidt } from '../../src/spec/identify.js';
import { FeatureId, LogId, SMART_LOG_SIZE } from '../../src/spec/log.js';
import { Cc, Csts, Prop } from '../../src/spec/properties.js';
import { AdrFam, DISCOVERY_NQN, SubType, TrType } from '../../src/spec/discovery.js';
import { Generic, SCT } from '../../src/spec/status.js';
import { MiB, SUBNQN, pattern, testConfig, withTarget } from './helpers.js';

test('admin: connect brings the controller up (CAP, VS, CC.EN -> CSTS.RDY, Identify, queues)', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 2, queueSize: 64 }));
    try {
      assert.ok(c.cntlid >= 1 && c.cntlid <= 0xffef, `CNTLID ${c.cntlid} in the subsystem's range`);
      assert.equal(Number(c.cap & 0xffffn) >= 63, true, 'CAP.MQES allows the 64-entry queues we made');
      assert.ok(c.vs >= 0x10300, `VS 0x${c.vs.toString(16)} is at least 1.3`);
      const csts = await c.propertyGetValue(Prop.CSTS, false);
      assert.equal(Number(csts) & Csts.RDY, Csts.RDY);
      const cc = Number(await c.propertyGetValue(Prop.CC, false));
      assert.equal(cc & Cc.EN, Cc.EN);
      const id = c.id!;
      assert.equal(id.cntlid, c.cntlid, 'Identify CNTLID matches the Connect response');
      assert.equal(id.subnqn, SUBNQN);
      assert.equal(id.ioccsz, (8192 + 64) / 16, 'IOCCSZ advertises 8 KiB of in-capsule data');
      assert.equal(id.iorcsz, 1);
      assert.ok(id.nn >= 1);
      assert.equal(id.sqes & 0x0f, 6);
      assert.equal(id.cqes & 0x0f, 4);
      assert.equal(c.io.length, 2);
      assert.equal(c.io[0]!.inCapsuleDataSize, 8192);
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: identify namespace, active namespace list, descriptors (UUID, NGUID, EUI-64)', async () => {
  const cfg = testConfig({ namespaces: [{ nsid: 1, blockSize: 512, size: 8 * MiB }, { nsid: 5, blockSize: 4096, size: 16 * MiB }] });
  await withTarget(cfg, async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const list = await c.identifyActiveNsList(0);
      assert.ok(list.ok, list.name);
      assert.deepEqual(parseNsList(list.data!), [1, 5]);
      const after1 = await c.identifyActiveNsList(1);
      assert.deepEqual(parseNsList(after1.data!), [5], 'the list starts above the given NSID');

      const ns1 = parseIdentifyNamespace((await c.identifyNamespace(1)).data!);
      assert.equal(ns1.blockSize, 512);
      assert.equal(ns1.nsze, BigInt((8 * MiB) / 512));
      const ns5 = await c.namespaceInfo(5);
      assert.equal(ns5.blockSize, 4096);
      assert.equal(ns5.nsze, BigInt((16 * MiB) / 4096));
      assert.equal(ns5.nguid, cfg.subsystems[0]!.namespaces[1]!.nguid);
      assert.equal(ns5.eui64, cfg.subsystems[0]!.namespaces[1]!.eui64);

      const d = await c.identifyNsDescriptors(5);
      assert.ok(d.ok, d.name);
      const descs = parseNsDescriptors(d.data!);
      const uuid = descs.find((x) => x.nidt === Nidt.UUID);
      assert.ok(uuid, 'a UUID descriptor');
      assert.equal(uuidText(uuid.nid), cfg.subsystems[0]!.namespaces[1]!.uuid);
      assert.equal(descs.find((x) => x.nidt === Nidt.NGUID)?.nid.toString('hex'), cfg.subsystems[0]!.namespaces[1]!.nguid);
      assert.equal(descs.find((x) => x.nidt === Nidt.EUI64)?.nid.toString('hex'), cfg.subsystems[0]!.namespaces[1]!.eui64);

      // Identify Namespace for an inactive NSID within NN returns zeroes (or Invalid Namespace).
      const inactive = await c.identifyNamespace(3);
      if (inactive.ok) assert.ok(inactive.data!.every((b) => b === 0), 'inactive namespace: all-zero data');
      else assert.equal(inactive.code, Generic.INVALID_NAMESPACE);
      // An unknown CNS is an invalid field.
      const bad = await c.identify(0x7e);
      assert.equal(bad.sct, SCT.GENERIC);
      assert.equal(bad.sc, Generic.INVALID_FIELD);
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: features (number of queues, keep alive timer, volatile write cache, async event config)', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ kato: 10000 }));
    try {
      const nq = await c.getFeatures(FeatureId.NumberOfQueues);
      assert.ok(nq.ok, nq.name);
      assert.ok((nq.dw0 & 0xffff) >= 0);
      const ka = await c.getFeatures(FeatureId.KeepAliveTimer);
      assert.ok(ka.ok, ka.name);
      assert.equal(ka.dw0, 10000, 'KATO reads back what Connect set');
      const setKa = await c.setFeatures(FeatureId.KeepAliveTimer, 15000);
      assert.ok(setKa.ok, setKa.name);
      assert.equal((await c.getFeatures(FeatureId.KeepAliveTimer)).dw0, 15000);
      const vwc = await c.getFeatures(FeatureId.VolatileWriteCache);
      assert.ok(vwc.ok, vwc.name);
      const aec = await c.setFeatures(FeatureId.AsyncEventConfig, 1 << 8);
      assert.ok(aec.ok, aec.name);
      assert.equal((await c.getFeatures(FeatureId.AsyncEventConfig)).dw0 & (1 << 8), 1 << 8);
      const ka2 = await c.keepAlive();
      assert.ok(ka2.ok, ka2.name);
      const unknown = await c.getFeatures(0x7d);
      assert.equal(unknown.code, Generic.INVALID_FIELD, `unknown FID: ${unknown.name}`);
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: log pages (error, SMART with real counters, firmware slot, effects, partial offset)', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const err = await c.getLogPage(LogId.ErrorInformation, 64);
      assert.ok(err.ok, err.name);
      const before = await c.getLogPage(LogId.SmartHealth, SMART_LOG_SIZE);
      assert.ok(before.ok, before.name);
      const data = pattern(1000 * 512, 3);
      assert.ok((await c.write(1, 0, 1000, data)).ok);
      assert.ok((await c.read(1, 0, 1000, Buffer.alloc(1000 * 512))).ok);
      const after = await c.getLogPage(LogId.SmartHealth, SMART_LOG_SIZE);
      // Data units are thousands of 512-byte units; host read/write commands are plain counts.
      const u128 = (b: Buffer, at: number): bigint => b.readBigUInt64LE(at) | (b.readBigUInt64LE(at + 8) << 64n);
      assert.equal(u128(after.data!, 32) - u128(before.data!, 32), 1n, 'data units read +1 (1000 blocks of 512)');
      assert.equal(u128(after.data!, 48) - u128(before.data!, 48), 1n, 'data units written +1');
      assert.equal(u128(after.data!, 64) - u128(before.data!, 64), 1n, 'host read commands +1');
      assert.equal(u128(after.data!, 80) - u128(before.data!, 80), 1n, 'host write commands +1');
      const fw = await c.getLogPage(LogId.FirmwareSlot, 512);
      assert.ok(fw.ok, fw.name);
      const eff = await c.getLogPage(LogId.CommandsSupportedEffects, 4096);
      assert.ok(eff.ok, eff.name);
      assert.equal(eff.data!.readUInt32LE(0x06 * 4) & 1, 1, 'Identify is supported');
      assert.equal(eff.data!.readUInt32LE(1024 + 0x02 * 4) & 1, 1, 'Read is supported');
      // Offset: the second half of the SMART log equals the second half read whole.
      const whole = await c.getLogPage(LogId.SmartHealth, 512);
      const half = await c.getLogPage(LogId.SmartHealth, 256, 256);
      assert.ok(half.ok, half.name);
      assert.ok(half.data!.subarray(0, 200).equals(whole.data!.subarray(256, 456)));
      const bad = await c.getLogPage(0x7b, 64);
      assert.equal(bad.sct, SCT.COMMAND_SPECIFIC);
      assert.equal(bad.sc, 0x09, `unknown log page: ${bad.name}`);
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: abort of a command that is not outstanding; an AER stays pending while other admin commands complete', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      const ab = await c.abort(1, 0x1234);
      assert.ok(ab.ok, ab.name);
      assert.equal(ab.dw0 & 1, 1, 'Abort dw0 bit 0 set: command not aborted');
      // An AER stays outstanding; other admin commands keep completing around it.
      let aerDone = false;
      const aer = c.asyncEventRequest().then((r) => ((aerDone = true), r), () => ((aerDone = true), null));
      const ka = await c.keepAlive();
      assert.ok(ka.ok);
      assert.equal(aerDone, false, 'the AER is held until an event');
      await c.disconnect();
      await aer;
    } finally {
      c.destroy();
    }
  });
});

test('discovery: log header then all entries; the subsystem on this port is listed', async () => {
  await withTarget(testConfig(), async (t) => {
    const log = await discover({ host: t.host, port: t.port, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001' });
    assert.ok(log.numrec >= 1n);
    assert.equal(log.entries.length, Number(log.numrec));
    const e = log.entries.find((x) => x.subnqn === SUBNQN);
    assert.ok(e, `entries: ${log.entries.map((x) => x.subnqn).join(', ')}`);
    assert.equal(e.trtype, TrType.TCP);
    assert.equal(e.adrfam, AdrFam.IPV4);
    assert.equal(e.subtype, SubType.NVME);
    assert.equal(e.traddr, '127.0.0.1');
    assert.equal(e.trsvcid, String(t.port));
    assert.equal(e.portid, 1);
    assert.equal(e.cntlid, 0xffff, 'dynamic controller model');
    assert.ok(log.entries.every((x) => x.subnqn !== DISCOVERY_NQN || x.subtype === SubType.CURRENT_DISCOVERY));
  });
});

test('discovery: a host not on the allow list does not see the subsystem', async () => {
  const allowed = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000aa';
  await withTarget(testConfig({ allowAnyHost: false, allowedHosts: [allowed] }), async (t) => {
    const seen = await discover({ host: t.host, port: t.port, hostnqn: allowed });
    assert.ok(seen.entries.some((x) => x.subnqn === SUBNQN));
    const other = await discover({ host: t.host, port: t.port, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-0000000000bb' });
    assert.ok(other.entries.every((x) => x.subnqn !== SUBNQN), 'filtered by the allow list');
  });
});

test('discovery: the discovery controller identifies with the discovery NQN and has no namespaces', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect({ host: t.host, port: t.port, subnqn: DISCOVERY_NQN, ioQueues: 0 });
    try {
      const id = c.id!;
      assert.equal(id.subnqn, DISCOVERY_NQN);
      const ns = await c.identifyNamespace(1);
      assert.ok(!ns.ok, 'no namespaces behind the discovery controller');
      void Cns;
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: CC.SHN normal shutdown -> CSTS.SHST shutdown complete', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 0 }));
    try {
      const cc = Number(await c.propertyGetValue(Prop.CC, false));
      const set = await c.propertySet(Prop.CC, (cc & ~Cc.shnMask) | (1 << Cc.shnShift));
      assert.ok(set.ok, set.name);
      let shst = -1;
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        shst = Number(await c.propertyGetValue(Prop.CSTS, false)) & Csts.shstMask;
        if (shst === Csts.SHST_COMPLETE) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(shst, Csts.SHST_COMPLETE, `CSTS.SHST 0x${shst.toString(16)}`);
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: KATO is enforced: a silent host loses its controller, a host sending keep alives keeps it', async () => {
  await withTarget(testConfig(), async (t) => {
    const silent = await Controller.connect(t.opts({ kato: 1000, sendKeepAlives: false }));
    const alive = await Controller.connect(t.opts({ kato: 1000 }));
    try {
      const start = Date.now();
      const closed = await Promise.race([
        Promise.all([silent.admin.closed, silent.io[0]!.closed]).then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 6000)),
      ]);
      assert.ok(closed, 'the silent host\'s admin and I/O connections were closed after KATO');
      assert.ok(Date.now() - start >= 900, 'not before KATO');
      await assert.rejects(silent.read(1, 0, 1, Buffer.alloc(512)));
      // The host that kept sending Keep Alive is still served.
      assert.equal(alive.admin.isClosed, false);
      assert.ok((await alive.read(1, 0, 1, Buffer.alloc(512))).ok);
    } finally {
      silent.destroy();
      await alive.disconnect();
    }
  });
});

test('admin: Asynchronous Event Requests beyond AERL+1 -> Asynchronous Event Request Limit Exceeded', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 0 }));
    try {
      const limit = c.id!.aerl + 1;
      const pending = Array.from({ length: limit }, () => c.asyncEventRequest().catch(() => null));
      const extra = await c.asyncEventRequest();
      assert.equal(extra.sct, SCT.COMMAND_SPECIFIC, extra.name);
      assert.equal(extra.sc, 0x05, `AER number ${limit + 1}: ${extra.name}`);
      assert.ok((await c.keepAlive()).ok, 'the admin queue keeps working with AERs held');
      await c.disconnect();
      await Promise.all(pending);
    } finally {
      c.destroy();
    }
  });
});

test('discovery and I/O over IPv6 loopback: the entry says ADRFAM IPv6 and traddr ::1', async () => {
  const cfg = testConfig();
  cfg.ports[0]!.address = '::1';
  cfg.ports[0]!.family = 'ipv6';
  await withTarget(cfg, async (t) => {
    assert.equal(t.host, '::1');
    const log = await discover({ host: t.host, port: t.port });
    const e = log.entries.find((x) => x.subnqn === SUBNQN);
    assert.ok(e);
    assert.equal(e.adrfam, AdrFam.IPV6);
    assert.equal(e.traddr, '::1');
    assert.equal(e.trsvcid, String(t.port));
    const c = await Controller.connect(t.opts());
    try {
      const data = pattern(4096, 6);
      assert.ok((await c.write(1, 0, 8, data)).ok);
      const back = Buffer.alloc(4096);
      assert.ok((await c.read(1, 0, 8, back)).ok);
      assert.ok(back.equals(data));
    } finally {
      await c.disconnect();
    }
  });
});

test('admin: Abort of an outstanding AER: either it is aborted (Command Abort Requested) or Abort says not aborted', async () => {
  await withTarget(testConfig(), async (t) => {
    const c = await Controller.connect(t.opts({ ioQueues: 0 }));
    try {
      const { asyncEventRequest } = await import('../../src/initiator/sqe-build.js');
      const slot = c.admin.acquire()!;
      asyncEventRequest(slot.sqe);
      const cid = slot.cid;
      const aer = new Promise<{ status: number; error: boolean }>((resolve) => c.admin.send(slot, (s) => resolve({ status: s.status, error: s.error !== null }), 0));
      const ab = await c.abort(0, cid);
      assert.ok(ab.ok, ab.name);
      if ((ab.dw0 & 1) === 0) {
        const r = await Promise.race([aer, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
        assert.ok(r !== null, 'Abort said the AER was aborted, so it must complete');
        assert.equal(r.error, false);
        assert.equal(r.status & 0x7ff, Generic.ABORT_REQUESTED, `aborted AER status 0x${r.status.toString(16)}`);
      } else {
        assert.ok((await c.keepAlive()).ok, 'AER not aborted; the queue goes on');
      }
    } finally {
      await c.disconnect();
    }
  });
});
