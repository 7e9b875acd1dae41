// A kernel target config saved by nvmetcli with the names its guides use (subsystem "testnqn", host
// "hostnqn") imports, validates and serves: a host connects with exactly those names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importNvmetcliFile } from '../../src/config/nvmetcli.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { Controller } from '../../src/initiator/controller.js';
import { startTarget } from '../../src/server/target.js';
import { createLogger } from '../../src/util/log.js';
import { CmdSpecific, SCT, status } from '../../src/spec/status.js';
import { assertHealthy } from './helpers.js';

test('nvmetcli config with subsystem "testnqn" and host "hostnqn": imports, serves, and a Connect with those names works', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-names-'));
  const image = path.join(dir, 'disk.img');
  fs.writeFileSync(image, Buffer.alloc(0));
  fs.truncateSync(image, 8 * 1024 * 1024);
  const saved = path.join(dir, 'config.json');
  fs.writeFileSync(saved, JSON.stringify({
    hosts: [{ nqn: 'hostnqn' }],
    ports: [{
      portid: 1,
      addr: { adrfam: 'ipv4', traddr: '127.0.0.1', treq: 'not specified', trsvcid: '4420', trtype: 'tcp' },
      param: {},
      referrals: [],
      subsystems: ['testnqn'],
    }],
    subsystems: [{
      nqn: 'testnqn',
      attr: { allow_any_host: '0' },
      allowed_hosts: ['hostnqn'],
      namespaces: [{ nsid: 1, enable: 1, device: { path: image, uuid: '6c6f6f70-6e76-6d65-7472-656630303031' } }],
    }],
  }, null, 2));
  const { config: file, warnings } = await importNvmetcliFile(saved);
  assert.ok(warnings.some((w) => w.includes('"testnqn" is not a valid NQN')), warnings.join('\n'));
  const normalizeWarnings: string[] = [];
  const config = { ...normalizeConfig(file, saved, { warnings: normalizeWarnings }), logLevel: 'error' as const };
  assert.equal(normalizeWarnings.length, 2, normalizeWarnings.join('\n'));
  assert.deepEqual(config.ports.map((p) => [p.address, p.port, p.subsystems]), [['127.0.0.1', 4420, ['testnqn']]]);
  config.ports[0]!.port = 0; // an ephemeral port instead of 4420, which may be in use on a test machine
  const target = await startTarget(config, createLogger(process.env.NVMETD_TEST_LOG ?? 'silent'));
  try {
    const { address: host, port } = target.addresses[0]!;
    const c = await Controller.connect({ host, port, subnqn: 'testnqn', hostnqn: 'hostnqn', commandTimeoutMs: 10000 });
    try {
      await assertHealthy(c, 1, 100);
    } finally {
      await c.disconnect();
    }
    // The allow list still applies to such names.
    await assert.rejects(
      Controller.connect({ host, port, subnqn: 'testnqn', hostnqn: 'otherhost', commandTimeoutMs: 10000 }),
      (e: Error) => e.message.includes(`sc=0x${(status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INVALID_HOST) & 0xff).toString(16)}`),
    );
  } finally {
    await target.close();
    fs.rmSync(dir, { recursive: true });
  }
});
