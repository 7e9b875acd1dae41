// Import of a kernel target config saved by nvmetcli (test/fixtures/nvmetcli-config.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { importNvmetcli, importNvmetcliFile } from '../../src/config/nvmetcli.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { ConfigError } from '../../src/config/errors.js';
import { formatDhchapKey } from '../../src/keys/dhchap-key.js';
import { HashId } from '../../src/keys/hash.js';
import { formatTlsKey, generateTlsKey } from '../../src/keys/tls-key.js';

const ROOT = new URL('../../../', import.meta.url);
const FIXTURE = fileURLToPath(new URL('test/fixtures/nvmetcli-config.json', ROOT));
const opts = { blockDeviceBlockSize: () => 512 as const };
const REF = 'nqn.2014-08.org.nvmexpress:nvmet-ref';
const DB = 'nqn.2023-04.com.example.storage:db01';
const H1 = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
const H2 = 'nqn.2014-08.org.nvmexpress:uuid:9b7e4c10-1a2b-4c3d-8e4f-5a6b7c8d9e0f';

test('the fixture imports to the expected nvmetd config', async () => {
  const { config } = await importNvmetcliFile(FIXTURE, opts);
  assert.deepEqual(config, {
    hosts: [{ nqn: H1 }, { nqn: H2 }],
    ports: [
      {
        id: 1, address: '0.0.0.0', port: 4420, family: 'ipv4', subsystems: [REF, DB],
        referrals: [{ address: '192.168.10.21', port: 4420, family: 'ipv4', portId: 2 }],
        inlineDataSize: 16384, maxQueueSize: 1024,
      },
      { id: 3, address: 'fd00::5', port: 4421, family: 'ipv6', subsystems: [DB] },
    ],
    subsystems: [
      {
        nqn: REF, serial: '5eedf00d5eedf00d', model: 'Linux', firmware: '6.12.117', allowAnyHost: true,
        cntlidMin: 1, cntlidMax: 65519,
        namespaces: [{
          nsid: 1, backing: { type: 'block', path: '/dev/loop0' },
          uuid: '6c6f6f70-6e76-6d65-7472-656630303031', nguid: '6c6f6f70-6e76-6d65-7472-656630303031',
        }],
      },
      {
        nqn: DB, serial: 'a41f0b2c9e7d5531', model: 'db01 volume', allowAnyHost: false, allowedHosts: [H1, H2],
        cntlidMin: 10, cntlidMax: 1000,
        namespaces: [
          { nsid: 1, backing: { type: 'file', path: '/srv/nvmet/db01-data.img' }, blockSize: 4096, uuid: 'd592cdf3-5d1c-44e0-8412-3fcf7d99df27' },
          { nsid: 2, backing: { type: 'file', path: '/srv/nvmet/db01-log.img' }, blockSize: 4096, uuid: '0c8f6a3e-2b41-4d7a-9f1e-6a5b4c3d2e1f', enabled: false, anaGroup: 2 },
        ],
      },
    ],
  });
});

test('everything not carried over is reported', async () => {
  const { warnings } = await importNvmetcliFile(FIXTURE, opts);
  const expect = [
    '/subsystems/0/attr/qid_max: qid_max 128 ignored',
    '/subsystems/0/attr/version: NVMe version 1.3 ignored',
    '/subsystems/1/namespaces/0/device/path: file /srv/nvmet/db01-data.img: block size set to 4096',
    '/subsystems/1/namespaces/0/device/nguid: all-zero nguid means "none"',
    '/subsystems/1/namespaces/2/device/path: namespace 3 has no device path, skipped',
    '/ports/1: port 2 has transport "rdma": nvmetd serves TCP only, port skipped',
    '/ports/2/param/inline_data_size: -1 means the transport default',
    '/ports/2/param/max_queue_size: -1 means the transport default',
  ];
  for (const e of expect) {
    assert.ok(warnings.some((w) => w.startsWith(`${FIXTURE}: ${e}`)), `missing warning: ${e}\n${warnings.join('\n')}`);
  }
  assert.equal(warnings.length, 11);
  assert.ok(!warnings.some((w) => /\/ana/.test(w)), 'ANA groups are carried over, not warned about');
});

test('the imported config is valid and keeps the identifiers hosts already know', async () => {
  const { config } = await importNvmetcliFile(FIXTURE, opts);
  const c = normalizeConfig(config, 'imported');
  const ref = c.subsystems.find((s) => s.nqn === REF)!;
  assert.equal(ref.namespaces[0]!.uuid, '6c6f6f70-6e76-6d65-7472-656630303031');
  assert.equal(ref.namespaces[0]!.nguid, '6c6f6f706e766d657472656630303031');
  const db = c.subsystems.find((s) => s.nqn === DB)!;
  assert.match(db.namespaces[0]!.nguid, /^[0-9a-f]{32}$/);
  assert.notEqual(db.namespaces[0]!.nguid, '0'.repeat(32));
  assert.deepEqual(c.hosts.map((h) => h.nqn), [H1, H2]);
  assert.deepEqual(c.ports.map((p) => `${p.id} ${p.address}:${p.port} ${p.family}`), ['1 0.0.0.0:4420 ipv4', '3 fd00::5:4421 ipv6']);
});

test('unsupported attributes warn, never silently', () => {
  const { config, warnings } = importNvmetcli({
    hosts: [{ nqn: H1, tls_psk: 'x' }],
    ports: [{
      portid: 7,
      addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '10.0.0.1', trsvcid: '4420', treq: 'required', tsas: 'tls1.3' },
      param: { inline_data_size: '8192', pi_enable: '1', frobnicate: '1' },
      subsystems: ['nqn.2026-11.io.example:missing'],
      referrals: [{ name: 'r1', addr: { trtype: 'rdma', traddr: '10.0.0.9' } }],
      ana_groups: [{ grpid: 2, ana: { state: 'inaccessible' } }],
    }],
    subsystems: [{
      nqn: 'testnqn',
      attr: { allow_any_host: '1', pi_enable: '1', ieee_oui: '0x123456', serial: 'x'.repeat(25), zoned: '1' },
      allowed_hosts: [H1],
      passthru: [{ device: { path: '/dev/nvme0' } }],
      namespaces: [{ nsid: 1, enable: 1, device: { path: '/dev/sdz', p2pmem: '1', uuid: '00000000-0000-0000-0000-000000000000' }, resv: { enable: '1' } }],
    }],
    extra: {},
  }, 'config.json', { blockDeviceBlockSize: () => undefined });
  const find = (s: string) => assert.ok(warnings.some((w) => w.includes(s)), `missing: ${s}\n${warnings.join('\n')}`);
  find('config.json: /extra: section "extra" is not supported');
  find('/hosts/0/tls_psk: host attribute "tls_psk" is not supported by nvmetd, ignored');
  find('/ports/0/param/pi_enable: protection information is not supported');
  find('/ports/0/param/frobnicate: port parameter "frobnicate" is not supported');
  find('/ports/0/subsystems/0: no imported subsystem "nqn.2026-11.io.example:missing", link skipped');
  find('/ports/0/referrals/0: referral r1 has transport "rdma"');
  find('/subsystems/0/attr/allow_any_host: is 1 but allowed_hosts lists hosts');
  find('/subsystems/0/attr/pi_enable: protection information is not supported');
  find('/subsystems/0/attr/ieee_oui: ieee_oui 0x123456 is not supported');
  find(`/subsystems/0/attr/serial: "${'x'.repeat(25)}" is longer than 20 characters, truncated`);
  find('/subsystems/0/attr/zoned: subsystem attribute "zoned" is not supported');
  find('/subsystems/0/passthru: subsystem entry "passthru" is not supported');
  find('/subsystems/0/namespaces/0/device/path: cannot read the logical block size of /dev/sdz');
  find('/subsystems/0/namespaces/0/device/p2pmem: peer-to-peer memory is not supported');
  find('/subsystems/0/namespaces/0/device/uuid: all-zero uuid means "none"');
  find('/subsystems/0/namespaces/0/resv/enable: reservations are not supported');
  find('"testnqn" is not a valid NQN');
  const s = config.subsystems[0]!;
  assert.equal(s.allowAnyHost, false);
  assert.deepEqual(s.allowedHosts, [H1]);
  assert.equal(s.serial, 'x'.repeat(20));
  assert.deepEqual(s.namespaces, [{ nsid: 1, backing: { type: 'block', path: '/dev/sdz' } }]);
  assert.deepEqual(config.ports, [{ id: 7, address: '10.0.0.1', port: 4420, family: 'ipv4', subsystems: [], inlineDataSize: 8192, ana: { '2': 'inaccessible' }, tls: 'required' }]);
  find('/ports: TLS imported as ports[].tls (port 7: required), but the PSKs stay in the kernel keyring: set hosts[].tlsKey by hand');
});

test('ANA groups: port states and namespace groups carried over; bad ones warned about', () => {
  const { config, warnings } = importNvmetcli({
    ports: [{
      portid: 1,
      addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '10.0.0.1', trsvcid: '4420' },
      subsystems: [REF],
      ana_groups: [
        { grpid: 1, ana: { state: 'optimized' } },
        { grpid: 3, ana: { state: 'non-optimized' } },
        { grpid: 4, ana: { state: 'persistent-loss' } },
        { grpid: 5, ana: { state: 'sleepy' } },
        { grpid: 999, ana: { state: 'inaccessible' } },
      ],
    }],
    subsystems: [{
      nqn: REF,
      namespaces: [
        { nsid: 1, device: { path: '/dev/sda' }, ana_grpid: 3 },
        { nsid: 2, device: { path: '/dev/sdb' }, ana: { grpid: '4' } },
        { nsid: 3, device: { path: '/dev/sdc' }, ana_grpid: 0 },
      ],
    }],
  }, 'c.json', { blockDeviceBlockSize: () => 512 });
  assert.deepEqual(config.ports![0]!.ana, { '3': 'non-optimized', '4': 'persistent-loss' });
  assert.deepEqual(config.subsystems![0]!.namespaces!.map((n) => n.anaGroup), [3, 4, undefined]);
  const find = (s: string) => assert.ok(warnings.some((w) => w.includes(s)), `missing: ${s}\n${warnings.join('\n')}`);
  find('/ports/0/ana_groups/3/ana/state: "sleepy" is not an ANA state, group 5 stays optimized');
  find('/ports/0/ana_groups/4: ANA group 999 is out of range (1 to 128), skipped');
  find('/subsystems/0/namespaces/2/ana_grpid: ANA group 0 is out of range (1 to 128): group 1 is used');
  const c = normalizeConfig(config, 'imported');
  assert.equal(c.ports[0]!.ana!['3'], 'non-optimized');
  assert.equal(c.subsystems[0]!.namespaces[0]!.anaGroup, 3);
});

test('a block device reported with 4096-byte blocks keeps them', () => {
  const { config } = importNvmetcli({
    subsystems: [{ nqn: REF, namespaces: [{ nsid: 1, device: { path: '/dev/nvme1n1' } }] }],
  }, 'c.json', { blockDeviceBlockSize: () => 4096 });
  assert.equal(config.subsystems[0]!.namespaces![0]!.blockSize, 4096);
});

test('no TCP port: warned, nvmetd falls back to its default port', () => {
  const { config, warnings } = importNvmetcli({ subsystems: [] }, 'c.json');
  assert.equal(config.ports, undefined);
  assert.ok(warnings.some((w) => w.includes('no TCP port to import')));
});

test('not an nvmetcli file', async () => {
  assert.throws(() => importNvmetcli([1, 2], 'c.json'), (e: unknown) => e instanceof ConfigError && e.message === 'c.json: /: not an nvmetcli configuration (expected a JSON object)');
  await assert.rejects(importNvmetcliFile('/nonexistent.json'), /^ConfigError: \/nonexistent\.json: cannot read: no such file$/);
});

test('hosts: DH-HMAC-CHAP attributes carry over (the "dhchap" group nvmetcli saves, and flat dhchap_* names); secrets never in warnings', () => {
  const key = formatDhchapKey({ transform: 1, key: Buffer.alloc(32, 0x5a) });
  const ctrlKey = formatDhchapKey({ transform: 2, key: Buffer.alloc(48, 0x3c) });
  const H3 = 'nqn.2014-08.org.nvmexpress:uuid:3c3c3c3c-1a2b-4c3d-8e4f-5a6b7c8d9e0f';
  const { config, warnings } = importNvmetcli({
    hosts: [
      { nqn: H1, dhchap: { key, ctrl_key: ctrlKey, hash: 'hmac(sha512)', dhgroup: 'ffdhe3072', frob: '1' } },
      { nqn: H2, dhchap: { key: '', ctrl_key: ctrlKey, hash: 'hmac(sha256)', dhgroup: 'null' } },
      { nqn: H3, dhchap_key: key, dhchap_hash: 'hmac(sha256)', dhchap_dhgroup: 'null' },
    ],
    subsystems: [{ nqn: 'nqn.2026-11.io.example:auth', allowed_hosts: [H1, H2, H3], namespaces: [{ nsid: 1, device: { path: '/srv/a.img' } }] }],
  }, 'config.json', opts);
  assert.deepEqual(config.hosts, [
    { nqn: H1, dhchap: { key, ctrlKey, hash: 'sha512', dhgroup: 'ffdhe3072' } },
    { nqn: H2 },
    { nqn: H3, dhchap: { key, hash: 'sha256', dhgroup: 'null' } },
  ]);
  const find = (s: string) => assert.ok(warnings.some((w) => w.includes(s)), `missing: ${s}\n${warnings.join('\n')}`);
  find('/hosts/0/dhchap/frob: DH-HMAC-CHAP attribute "frob" is not supported');
  find('/hosts/1/dhchap/ctrl_key: a controller key without a host key');
  assert.ok(!warnings.some((w) => w.includes(key.slice(10, 30)) || w.includes(ctrlKey.slice(10, 30))), 'no secret in the warnings');
  const c = normalizeConfig(config, 'imported');
  assert.deepEqual(c.hosts[0]!.dhchap, { key, ctrlKey, hashes: ['sha512'], dhgroups: ['ffdhe3072'] });
});

test('ports: addr.treq / addr.tsas become ports[].tls; one warning says the PSKs (hosts[].tlsKey) must be set by hand', () => {
  const port = (portid: number, trsvcid: string, extra: Record<string, string>) => ({
    portid, addr: { trtype: 'tcp', adrfam: 'ipv4', traddr: '10.0.0.1', trsvcid, ...extra }, subsystems: [REF],
  });
  const { config, warnings } = importNvmetcli({
    hosts: [{ nqn: H1 }],
    ports: [
      port(1, '4420', { treq: 'required', tsas: 'tls1.3' }),
      port(2, '4421', { treq: 'not required', tsas: 'tls1.3' }),
      port(3, '4422', { treq: 'not specified', tsas: 'none' }),
      port(4, '4423', { tsas: 'tls1.3' }),
      port(5, '4424', {}),
    ],
    subsystems: [{ nqn: REF, allowed_hosts: [H1], namespaces: [] }],
  }, 'config.json', opts);
  assert.deepEqual(config.ports!.map((p) => [p.id, p.tls]), [[1, 'required'], [2, 'optional'], [3, undefined], [4, 'optional'], [5, undefined]]);
  assert.ok(!warnings.some((w) => /addr\/(treq|tsas)/.test(w)), warnings.join('\n'));
  const tlsWarnings = warnings.filter((w) => w.includes('tlsKey'));
  assert.equal(tlsWarnings.length, 1, warnings.join('\n'));
  assert.match(tlsWarnings[0]!, /port 1: required, port 2: optional, port 4: optional/);
  assert.match(tlsWarnings[0]!, /kernel keyring/);
  // As the warning says: usable once a host has its PSK.
  assert.throws(() => normalizeConfig(config, 'imported'), /\/ports\/0\/tls: requires TLS but no host has a tlsKey/);
  config.hosts![0]!.tlsKey = formatTlsKey(generateTlsKey(HashId.SHA256));
  const c = normalizeConfig(config, 'imported');
  assert.deepEqual(c.ports.map((p) => p.tls), ['required', 'optional', 'none', 'optional', 'none']);
});

test('ports: an unknown treq or tsas value is warned about, and no TLS is made of it', () => {
  const { config, warnings } = importNvmetcli({
    ports: [{ portid: 1, addr: { trtype: 'tcp', traddr: '10.0.0.1', trsvcid: '4420', treq: 'sometimes', tsas: 'ipsec' } }],
    subsystems: [],
  }, 'config.json', opts);
  assert.equal(config.ports![0]!.tls, undefined);
  assert.ok(warnings.some((w) => w.includes('/ports/0/addr/treq: "sometimes" is not a treq value')), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.includes('/ports/0/addr/tsas: security type "ipsec" is not supported')), warnings.join('\n'));
  assert.ok(!warnings.some((w) => w.includes('tlsKey')), warnings.join('\n'));
});
