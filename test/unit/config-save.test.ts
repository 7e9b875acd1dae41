// The running config written back as a config file (serialize.ts, save.ts) and the reload plan
// (rpc/reload/plan.ts): normalize(serialize(c)) is c again; the atomic write; the planned changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { normalizeConfig } from '../../src/config/normalize.js';
import { toConfigFile } from '../../src/config/serialize.js';
import { writeConfigFileAtomic } from '../../src/config/save.js';
import type { ConfigFile } from '../../src/config/file-format.js';
import type { AnaStateName, TargetConfig } from '../../src/config/types.js';
import { formatDhchapKey } from '../../src/keys/dhchap-key.js';
import { planReload, describe } from '../../src/rpc/reload/plan.js';

const A = 'nqn.2026-11.io.nvmetd:a';
const B = 'nqn.2026-11.io.nvmetd:b';
const H1 = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001';
const H2 = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000002';
const KEY = formatDhchapKey({ transform: 0, key: crypto.randomBytes(32) });
const MEMORY = { physical: 64 * 2 ** 30, swap: 0 };

function rich(): unknown {
  return {
    logLevel: 'warn',
    icreqTimeout: 7,
    mdts: '256KiB',
    memoryBudget: '64MiB',
    metrics: '127.0.0.1:9464',
    shard: { workers: 2, policy: 'per-controller', mode: 'adaptive' },
    hosts: [{ nqn: H1, dhchap: { key: KEY, hash: ['sha384', 'sha256'], dhgroup: 'ffdhe3072' } }],
    ports: [
      { address: '127.0.0.1', port: 4420, subsystems: [A], ana: { '2': 'inaccessible' }, referrals: [{ address: '10.0.0.9', port: 4430, portId: 3 }] },
      { id: 7, address: '::1', port: 4421, advertiseAddress: '::2', advertisePort: 4431, inlineDataSize: '16KiB', maxQueueSize: 64 },
    ],
    subsystems: [
      {
        nqn: A,
        allowedHosts: [H1, H2],
        model: 'm',
        cntlidMin: 5,
        namespaces: [
          { backing: { type: 'ram', size: '4MiB', delayUs: 3 }, anaGroup: 2 },
          { nsid: 9, backing: { type: 'file', path: 'vol.img', size: '1MiB', buffered: true }, blockSize: 4096, readOnly: true },
          { nsid: 4, backing: { type: 'ram', size: '1MiB' }, enabled: false, nguid: '00112233445566778899aabbccddeeff' },
        ],
      },
      { nqn: B, serial: 'S1', firmware: 'fw1', maxNamespaces: 8 },
    ],
  };
}

test('save: normalizing the serialized config gives the same config (identifiers, hosts, ports, shard, disabled namespaces)', () => {
  const c = normalizeConfig(rich(), 'c.json', { baseDir: '/srv', memory: MEMORY });
  const file = toConfigFile(c);
  const again = normalizeConfig(JSON.parse(JSON.stringify(file)), 'saved.json', { baseDir: '/elsewhere', memory: MEMORY });
  assert.deepEqual(again, c);
  assert.equal((file.subsystems[0]!.namespaces![1]!.backing as { path: string }).path, '/srv/vol.img', 'paths are written absolute');
});

test('save: the running ANA states replace the start ones; "any host" drops the list with a warning', () => {
  const c = normalizeConfig(rich(), 'c.json', { baseDir: '/srv', memory: MEMORY });
  c.subsystems[1]!.allowAnyHost = true;
  c.subsystems[1]!.allowedHosts.push(H2);
  const warnings: string[] = [];
  const states: Record<number, Record<string, AnaStateName>> = { 1: { '3': 'non-optimized' }, 7: {} };
  const file = toConfigFile(c, { anaStates: (id) => states[id]!, warnings });
  assert.deepEqual(file.ports![0]!.ana, { '3': 'non-optimized' });
  assert.equal(file.ports![1]!.ana, undefined);
  assert.deepEqual(file.subsystems[1]!.allowedHosts, []);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, new RegExp(`${B}: allows any host`));
  normalizeConfig(JSON.parse(JSON.stringify(file)), 'saved.json', { memory: MEMORY });
});

test('save: the file is replaced atomically, mode 0600; a config that would not load is not written', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-save-'));
  try {
    const target = path.join(dir, 'c.json');
    fs.writeFileSync(target, 'old', { mode: 0o644 });
    const c = normalizeConfig({ subsystems: [{ nqn: A, namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }] }, 'c.json');
    const file = toConfigFile(c);
    await writeConfigFileAtomic(target, file);
    assert.deepEqual(normalizeConfig(JSON.parse(fs.readFileSync(target, 'utf8')), target), c);
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), ['c.json'], 'no temporary file is left');
    // Two namespaces with one NGUID would not start: refused, the file is left as it was.
    const bad: ConfigFile = JSON.parse(JSON.stringify(file));
    bad.subsystems[0]!.namespaces!.push({ ...bad.subsystems[0]!.namespaces![0]!, nsid: 2, uuid: crypto.randomUUID(), eui64: '0011223344556677' });
    const before = fs.readFileSync(target, 'utf8');
    await assert.rejects(writeConfigFileAtomic(target, bad), /would not load back: .*\/subsystems\/0\/namespaces\/1\/nguid: duplicate NGUID/);
    assert.equal(fs.readFileSync(target, 'utf8'), before);
    assert.deepEqual(fs.readdirSync(dir), ['c.json']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function base(): TargetConfig {
  return normalizeConfig(
    {
      ports: [{ address: '127.0.0.1', port: 0, id: 1 }],
      subsystems: [{ nqn: A, allowedHosts: [H1, H2], namespaces: [{ backing: { type: 'ram', size: '4MiB' } }, { backing: { type: 'ram', size: '4MiB' } }] }],
    },
    'c.json',
    { memory: MEMORY },
  );
}

const optimized = (): AnaStateName => 'optimized';

test('reload plan: the same file plans nothing (a port asking for any TCP port matches the bound one by id)', () => {
  const running = base();
  running.ports[0]!.port = 40123; // bound at start
  const plan = planReload(running, base(), optimized);
  assert.deepEqual(plan, { changes: [], warnings: [] });
});

test('reload plan: removals before additions, a resize, a new subsystem on a new port, ANA; what cannot change live is a warning', () => {
  const running = base();
  const next = base();
  const s = next.subsystems[0]!;
  s.allowedHosts = [H2];
  s.namespaces.splice(0, 1); // nsid 1 removed
  (s.namespaces[0]!.backing as { size: number }).size = 8 * 2 ** 20; // nsid 2 grown
  s.namespaces.push({ ...s.namespaces[0]!, nsid: 3, uuid: crypto.randomUUID(), nguid: 'aa'.repeat(16), eui64: 'bb'.repeat(8) });
  s.serial = 'other';
  next.subsystems.push({ ...s, nqn: B, allowedHosts: [], allowAnyHost: true, namespaces: [] });
  next.ports.push({ ...next.ports[0]!, id: 2, port: 4999, subsystems: [B], ana: { '1': 'inaccessible' } });
  next.ports[0]!.ana = { '1': 'non-optimized' };
  next.shard = { workers: 2, cores: [], mainCore: -1, policy: 'round-robin', map: {}, mode: 'event' };
  const plan = planReload(running, next, optimized);
  assert.deepEqual(plan.changes.map(describe), [
    `remove host ${H1} from ${A}`,
    `remove namespace 1 of ${A}`,
    `resize namespace 2 of ${A} from 4194304 to 8388608 bytes`,
    `add namespace 3 to ${A}`,
    `create subsystem ${B}`,
    'listen on 127.0.0.1:4999',
    `add ${B} to listener 127.0.0.1:4999`,
    'ANA group 1 on 127.0.0.1:0: non-optimized',
    'ANA group 1 on 127.0.0.1:4999: inaccessible',
  ]);
  assert.deepEqual(plan.warnings, [
    'shard cannot change while the target runs (restart to apply)',
    `subsystems ${A}: serial cannot change while the target runs (restart to apply)`,
  ]);
});

test('reload plan: another namespace under the same nsid is removed and added; a removed port goes first', () => {
  const running = base();
  running.ports[0]!.port = 40123;
  const next = base();
  next.subsystems[0]!.namespaces[1]!.uuid = crypto.randomUUID();
  next.ports[0]!.port = 4420;
  next.ports[0]!.id = 3;
  const plan = planReload(running, next, optimized);
  assert.deepEqual(plan.changes.map(describe), [
    'stop listening on 127.0.0.1:40123',
    `remove namespace 2 of ${A}`,
    `add namespace 2 to ${A}`,
    'listen on 127.0.0.1:4420',
    `add ${A} to listener 127.0.0.1:4420`,
  ]);
});
