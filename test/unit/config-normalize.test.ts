// normalizeConfig: defaults, derived identifiers, sizes, address families, port defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeConfig } from '../../src/config/normalize.js';
import { deriveEui64, deriveNguid, deriveSerial, deriveUuid, EUI64_PREFIX } from '../../src/config/ids.js';
import { formatSize, parseSize } from '../../src/config/units.js';
import { nqnProblem } from '../../src/config/nqn.js';
import { packageVersion } from '../../src/config/version.js';

const NQN = 'nqn.2026-11.io.nvmetd:test';

function minimal(extra: Record<string, unknown> = {}) {
  return { subsystems: [{ nqn: NQN, namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }], ...extra };
}

test('defaults fill every field', () => {
  const c = normalizeConfig(minimal(), 'config.json');
  assert.equal(c.logLevel, 'info');
  assert.equal(c.icreqTimeout, 10);
  assert.equal(c.mdts, 1048576);
  assert.deepEqual(c.hosts, []);
  assert.deepEqual(c.ports, [{
    id: 1, address: '127.0.0.1', port: 4420, family: 'ipv4', subsystems: [NQN], referrals: [],
    inlineDataSize: 8192, maxQueueSize: 128, maxH2CData: 131072, tls: 'none',
  }]);
  const s = c.subsystems[0]!;
  assert.equal(s.nqn, NQN);
  assert.equal(s.model, 'nvmetd');
  assert.equal(s.firmware, packageVersion().slice(0, 8));
  assert.ok(s.firmware.length <= 8);
  assert.equal(s.serial, deriveSerial(NQN));
  assert.match(s.serial, /^[0-9a-f]{20}$/);
  assert.equal(s.allowAnyHost, true);
  assert.deepEqual(s.allowedHosts, []);
  assert.equal(s.maxNamespaces, 1024);
  assert.equal(s.cntlidMin, 1);
  assert.equal(s.cntlidMax, 0xffef);
  const ns = s.namespaces[0]!;
  assert.equal(ns.nsid, 1);
  assert.deepEqual(ns.backing, { type: 'ram', size: 1048576 });
  assert.equal(ns.blockSize, 512);
  assert.equal(ns.readOnly, false);
  assert.equal(ns.enabled, true);
});

test('derived identifiers are stable, well-formed and distinct per namespace', () => {
  const a = normalizeConfig(minimal(), 'a.json').subsystems[0]!.namespaces[0]!;
  const b = normalizeConfig(minimal(), 'b.json').subsystems[0]!.namespaces[0]!;
  assert.equal(a.uuid, b.uuid);
  assert.equal(a.nguid, b.nguid);
  assert.equal(a.eui64, b.eui64);
  // Known values: a change here changes what hosts see after an upgrade.
  assert.equal(deriveUuid(NQN, 1), a.uuid);
  assert.match(a.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(a.nguid, /^[0-9a-f]{32}$/);
  assert.notEqual(a.nguid, '0'.repeat(32));
  assert.match(a.eui64, new RegExp(`^${EUI64_PREFIX}[0-9a-f]{10}$`));
  assert.notEqual(deriveUuid(NQN, 1), deriveUuid(NQN, 2));
  assert.notEqual(deriveUuid(NQN, 1), deriveUuid(`${NQN}x`, 1));
  assert.notEqual(deriveNguid(NQN, 1), deriveNguid(NQN, 2));
  assert.notEqual(deriveEui64(NQN, 1), deriveEui64(NQN, 2));
  assert.equal(deriveUuid('nqn.2026-11.io.nvmetd:default', 1), deriveUuid('nqn.2026-11.io.nvmetd:default', 1));
});

test('pinned derivation values (changing them breaks hosts after an upgrade)', () => {
  const snapshot = {
    serial: deriveSerial(NQN), uuid: deriveUuid(NQN, 1), nguid: deriveNguid(NQN, 1), eui64: deriveEui64(NQN, 1),
  };
  assert.deepEqual(snapshot, {
    serial: '088327785f5249727d63',
    uuid: 'cc841788-b8cb-8f9a-b358-391d31e23214',
    nguid: 'cbbbd4396117e7bb74997eb08bb00131',
    eui64: '026e76044f646f30',
  });
});

test('given identifiers are kept, normalized to lower case without separators', () => {
  const c = normalizeConfig({
    subsystems: [{
      nqn: NQN,
      serial: 'SN1',
      namespaces: [{
        nsid: 7,
        backing: { type: 'ram', size: 4096 },
        uuid: '6C6F6F70-6E76-6D65-7472-656630303031',
        nguid: '6c6f6f70-6e76-6d65-7472-656630303031',
        eui64: '00:11:22:33:44:55:66:77',
      }],
    }],
  }, 'config.json');
  const ns = c.subsystems[0]!.namespaces[0]!;
  assert.equal(c.subsystems[0]!.serial, 'SN1');
  assert.equal(ns.nsid, 7);
  assert.equal(ns.uuid, '6c6f6f70-6e76-6d65-7472-656630303031');
  assert.equal(ns.nguid, '6c6f6f706e766d657472656630303031');
  assert.equal(ns.eui64, '0011223344556677');
});

test('nsids: explicit ones are kept, the others take the lowest free ids', () => {
  const c = normalizeConfig({
    subsystems: [{
      nqn: NQN,
      namespaces: [
        { backing: { type: 'ram', size: 4096 } },
        { nsid: 1, backing: { type: 'ram', size: 4096 } },
        { backing: { type: 'ram', size: 4096 } },
        { nsid: 3, backing: { type: 'ram', size: 4096 } },
      ],
    }],
  }, 'config.json');
  assert.deepEqual(c.subsystems[0]!.namespaces.map((n) => n.nsid), [2, 1, 4, 3]);
});

test('sizes: numbers and strings, binary and decimal units', () => {
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize('512MiB'), 512 * 1024 * 1024);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('1g'), 1024 ** 3);
  assert.equal(parseSize('4k'), 4096);
  assert.equal(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('100MB'), 100e6);
  assert.equal(parseSize('2 TiB'), 2 * 1024 ** 4);
  assert.equal(parseSize('8192B'), 8192);
  assert.equal(typeof parseSize('1.3'), 'string');
  assert.equal(typeof parseSize('12x'), 'string');
  assert.equal(typeof parseSize(-1), 'string');
  assert.equal(typeof parseSize(1.5), 'string');
  assert.equal(formatSize(1024 ** 3), '1GiB');
  assert.equal(formatSize(1536), '1536');
  const c = normalizeConfig({
    mdts: '512KiB',
    ports: [{ inlineDataSize: '16KiB', maxH2CData: '64k' }],
    subsystems: [{ nqn: NQN, namespaces: [{ backing: { type: 'file', path: '/tmp/x.img', size: '1G' }, blockSize: 4096 }] }],
  }, 'config.json');
  assert.equal(c.mdts, 524288);
  assert.equal(c.ports[0]!.inlineDataSize, 16384);
  assert.equal(c.ports[0]!.maxH2CData, 65536);
  assert.deepEqual(c.subsystems[0]!.namespaces[0]!.backing, { type: 'file', path: '/tmp/x.img', size: 1024 ** 3 });
});

test('address family is inferred from the address', () => {
  const c = normalizeConfig(minimal({
    ports: [
      { address: '::1', port: 4420, referrals: [{ address: 'fd00::1' }, { address: '10.0.0.1', port: 8009, portId: 4 }] },
      { address: '0.0.0.0', port: 4421, family: 'ipv4' },
    ],
  }), 'config.json');
  assert.equal(c.ports[0]!.family, 'ipv6');
  assert.deepEqual(c.ports[0]!.referrals, [
    { address: 'fd00::1', port: 4420, family: 'ipv6', portId: 1 },
    { address: '10.0.0.1', port: 8009, family: 'ipv4', portId: 4 },
  ]);
  assert.equal(c.ports[1]!.family, 'ipv4');
  assert.deepEqual(c.ports.map((p) => p.id), [1, 2]);
});

test('allowAnyHost is false when allowedHosts lists hosts, and those hosts are known hosts', () => {
  const host = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
  const c = normalizeConfig({
    hosts: [{ nqn: 'nqn.2026-11.io.example:h0' }],
    subsystems: [{ nqn: NQN, allowedHosts: [host] }, { nqn: `${NQN}2`, allowedHosts: [] }],
  }, 'config.json');
  assert.equal(c.subsystems[0]!.allowAnyHost, false);
  assert.deepEqual(c.subsystems[0]!.allowedHosts, [host]);
  assert.equal(c.subsystems[1]!.allowAnyHost, true);
  assert.deepEqual(c.hosts, [{ nqn: 'nqn.2026-11.io.example:h0' }, { nqn: host }]);
});

test('port subsystems default to all, explicit lists are kept, advertise fields pass through', () => {
  const c = normalizeConfig({
    ports: [{ id: 5, subsystems: [`${NQN}b`], advertiseAddress: '192.0.2.7', advertisePort: 4430 }, { port: 4421 }],
    subsystems: [{ nqn: `${NQN}a` }, { nqn: `${NQN}b` }],
  }, 'config.json');
  assert.deepEqual(c.ports[0]!.subsystems, [`${NQN}b`]);
  assert.equal(c.ports[0]!.id, 5);
  assert.equal(c.ports[0]!.advertiseAddress, '192.0.2.7');
  assert.equal(c.ports[0]!.advertisePort, 4430);
  assert.deepEqual(c.ports[1]!.subsystems, [`${NQN}a`, `${NQN}b`]);
  assert.equal(c.ports[1]!.id, 1);
});

test('relative backing paths resolve against baseDir', () => {
  const c = normalizeConfig({
    subsystems: [{ nqn: NQN, namespaces: [{ backing: { type: 'file', path: 'disk.img' } }, { backing: { type: 'block', path: '/dev/sdb', buffered: true } }] }],
  }, 'config.json', { baseDir: '/etc/nvmetd' });
  assert.deepEqual(c.subsystems[0]!.namespaces[0]!.backing, { type: 'file', path: '/etc/nvmetd/disk.img' });
  assert.deepEqual(c.subsystems[0]!.namespaces[1]!.backing, { type: 'block', path: '/dev/sdb', buffered: true });
});

test('a normalized config is a valid config file and normalizes to itself', () => {
  const once = normalizeConfig(minimal({ ports: [{ address: '::', referrals: [{ address: '10.1.1.1' }] }] }), 'config.json');
  const twice = normalizeConfig(JSON.parse(JSON.stringify(once)), 'normalized.json');
  assert.deepEqual(twice, once);
});

test('NQN syntax', () => {
  for (const ok of [
    'nqn.2014-08.org.nvmexpress:nvmet-ref',
    'nqn.2026-11.io.nvmetd:default',
    'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81',
    'nqn.2016-06.io.spdk:cnode1',
    'nqn.1992-01.com.example-corp.storage:vol 1/ünïcode',
  ]) assert.equal(nqnProblem(ok), null, ok);
  for (const bad of [
    'testnqn',
    'nqn.2014-13.org.example:x',
    'nqn.14-08.org.example:x',
    'nqn.2014-08.org.example',
    'nqn.2014-08.-org.example:x',
    'nqn.2014-08.org.example:',
    'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid',
    `nqn.2014-08.org.example:${'x'.repeat(200)}`,
    'nqn.2014-08.org.example:tab\there',
  ]) assert.notEqual(nqnProblem(bad), null, bad);
  assert.equal(nqnProblem(`nqn.2014-08.org.example:${'x'.repeat(223 - 24)}`), null);
  assert.match(nqnProblem(`nqn.2014-08.org.example:${'é'.repeat(100)}`)!, /bytes long, the limit is 223/);
});

test('RAM namespaces larger than physical memory plus swap are refused unless their backing says overcommit', () => {
  const GiB = 2 ** 30;
  const memory = { physical: 8 * GiB, swap: 2 * GiB };
  const cfg = (sizes: string[], overcommit = false) => ({
    subsystems: [{ nqn: NQN, namespaces: sizes.map((size) => ({ backing: { type: 'ram', size, ...(overcommit ? { overcommit: true } : {}) } })) }],
  });
  assert.throws(
    () => normalizeConfig(cfg(['16GiB']), 'c.json', { memory }),
    (e: Error) => e.message === 'c.json: /subsystems/0/namespaces/0/backing/size: a 16GiB RAM namespace can never fit: this machine has 8GiB of physical memory and 2GiB of swap (10GiB in all); set "overcommit": true on its RAM backing to start anyway (memory is then used only as blocks are written, and the target is killed if it runs out)',
  );
  // Together they exceed it: the one that tips it over is named.
  assert.throws(() => normalizeConfig(cfg(['6GiB', '6GiB']), 'c.json', { memory }), /\/namespaces\/1\/backing\/size: RAM namespaces adding up to 12GiB \(with this one\) can never fit/);
  assert.equal(normalizeConfig(cfg(['10GiB']), 'c.json', { memory }).subsystems[0]!.namespaces.length, 1);
  const big = normalizeConfig(cfg(['64TiB'], true), 'c.json', { memory }).subsystems[0]!.namespaces[0]!.backing;
  assert.deepEqual(big, { type: 'ram', size: 64 * 2 ** 40, overcommit: true });
});

test('names the Linux kernel target accepts are accepted; those that are not NQNs get one warning each', () => {
  const warnings: string[] = [];
  const c = normalizeConfig({
    hosts: [{ nqn: 'hostnqn' }],
    subsystems: [
      { nqn: 'testnqn', allowedHosts: ['hostnqn'], namespaces: [] },
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:1234', allowedHosts: ['hostnqn', 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81'], namespaces: [] },
      { nqn: 'x'.repeat(223), namespaces: [] },
    ],
  }, 'c.json', { warnings });
  assert.deepEqual(c.subsystems.map((s) => s.nqn.slice(0, 40)), ['testnqn', 'nqn.2014-08.org.nvmexpress:uuid:1234', 'x'.repeat(40)]);
  assert.deepEqual(c.hosts.map((h) => h.nqn), ['hostnqn', 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81']);
  assert.equal(warnings.length, 4, warnings.join('\n'));
  assert.match(warnings[0]!, /^c\.json: \/subsystems\/0\/nqn: "testnqn" is not a valid NQN \(nqn\.yyyy-mm\.reverse\.domain:name or .*\); served anyway, as the Linux kernel target does/);
  assert.ok(warnings.some((w) => w.startsWith('c.json: /subsystems/0/allowedHosts/0: "hostnqn" is not a valid NQN')), 'hostnqn warned once, where first seen');
  assert.equal(warnings.filter((w) => w.includes('"hostnqn"')).length, 1);
  assert.ok(warnings.some((w) => w.includes('uuid: must be followed by a UUID')));
});
