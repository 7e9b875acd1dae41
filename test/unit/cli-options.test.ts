// Zero-config options of `nvmetd serve`: --listen parsing and the config they build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseListen } from '../../src/cli/listen.js';
import { DEFAULT_NQN, zeroConfig, type ZeroConfigOptions } from '../../src/cli/zero-config.js';
import { serveConfig } from '../../src/cli/serve.js';
import { UsageError } from '../../src/util/exit.js';
import { connectHints } from '../../src/cli/connect-hint.js';

const opts = (o: Partial<ZeroConfigOptions>): ZeroConfigOptions => ({ file: [], listen: [], allowHost: [], ...o });

test('--listen forms', () => {
  assert.deepEqual(parseListen('127.0.0.1:4420'), { address: '127.0.0.1', port: 4420 });
  assert.deepEqual(parseListen('0.0.0.0:4421'), { address: '0.0.0.0', port: 4421 });
  assert.deepEqual(parseListen('[::1]:4420'), { address: '::1', port: 4420 });
  assert.deepEqual(parseListen('[::]'), { address: '::', port: 4420 });
  assert.deepEqual(parseListen('::1'), { address: '::1', port: 4420 });
  assert.deepEqual(parseListen('10.1.2.3'), { address: '10.1.2.3', port: 4420 });
  assert.deepEqual(parseListen('4430'), { address: '127.0.0.1', port: 4430 });
  assert.deepEqual(parseListen('127.0.0.1:0'), { address: '127.0.0.1', port: 0 });
  for (const bad of ['localhost:4420', '1.2.3.4:70000', '[1.2.3.4]:4420', '1.2.3.4:x', 'fe80::1:4420x', '']) {
    assert.throws(() => parseListen(bad), UsageError, bad);
  }
  assert.throws(() => parseListen('1.2.3.4:99999'), /^UsageError: --listen 1\.2\.3\.4:99999: "99999" is not a TCP port/);
});

test('--ram alone: one subsystem, nsid 1, 127.0.0.1:4420, any host', () => {
  const c = zeroConfig(opts({ ram: '64MiB' }));
  assert.equal(c.subsystems.length, 1);
  const s = c.subsystems[0]!;
  assert.equal(s.nqn, DEFAULT_NQN);
  assert.equal(s.allowAnyHost, true);
  assert.deepEqual(s.namespaces.map((n) => [n.nsid, n.backing, n.blockSize]), [[1, { type: 'ram', size: 64 * 1024 * 1024 }, 512]]);
  assert.deepEqual(c.ports.map((p) => [p.address, p.port, p.family, p.subsystems]), [['127.0.0.1', 4420, 'ipv4', [DEFAULT_NQN]]]);
});

test('--ram, --file ..., --listen, --nqn, --block-size, --allow-host, --advertise, --log-level', () => {
  const host = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
  const c = zeroConfig(opts({
    ram: '1G', file: ['a.img', '/dev/nvme0n1'], listen: ['[::1]:4420', '0.0.0.0:4421'], nqn: 'nqn.2026-11.io.example:x',
    blockSize: '4096', allowHost: [host], advertise: '192.0.2.1', logLevel: 'debug',
  }));
  const s = c.subsystems[0]!;
  assert.equal(s.nqn, 'nqn.2026-11.io.example:x');
  assert.equal(s.allowAnyHost, false);
  assert.deepEqual(s.allowedHosts, [host]);
  assert.deepEqual(s.namespaces.map((n) => [n.nsid, n.backing, n.blockSize]), [
    [1, { type: 'ram', size: 1024 ** 3 }, 4096],
    [2, { type: 'file', path: path.resolve('a.img') }, 4096],
    [3, { type: 'block', path: '/dev/nvme0n1' }, 4096],
  ]);
  assert.deepEqual(c.ports.map((p) => [p.id, p.address, p.port, p.family, p.advertiseAddress]), [
    [1, '::1', 4420, 'ipv6', '192.0.2.1'], [2, '0.0.0.0', 4421, 'ipv4', '192.0.2.1'],
  ]);
  assert.equal(c.logLevel, 'debug');
  assert.deepEqual(c.hosts, [{ nqn: host }]);
});

test('bad zero-config options are usage errors naming the option', () => {
  const bad: [Partial<ZeroConfigOptions>, RegExp][] = [
    [{ ram: 'lots' }, /^--ram: "lots" is not a size/],
    [{ ram: '1000' }, /^--ram 1000: must be a positive multiple of the block size 512/],
    [{ ram: '1M', blockSize: '1024' }, /^--block-size 1024: must be 512 or 4096$/],
    [{ ram: '1M', nqn: '' }, /^--nqn: must not be empty$/],
    [{ ram: '1M', allowHost: ['x'.repeat(224)] }, /^--allow-host: NQN is 224 bytes long, the limit is 223$/],
    [{ ram: '1M', advertise: 'example.com' }, /^--advertise example\.com: not an IP address$/],
    [{ ram: '1M', logLevel: 'loud' }, /^--log-level loud: must be one of fatal, error, warn, info, debug, trace$/],
    [{ file: [''] }, /^--file: empty path$/],
  ];
  for (const [o, re] of bad) {
    assert.throws(() => zeroConfig(opts(o)), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(o));
  }
});

test('serve needs --config or --ram/--file, not both', async () => {
  await assert.rejects(serveConfig(opts({})), /^UsageError: serve needs --config FILE, or --ram SIZE/);
  await assert.rejects(serveConfig({ ...opts({ ram: '1M' }), config: 'x.json' }), /^UsageError: --config cannot be combined/);
});

test('connect hints: discover and connect lines per port and subsystem', () => {
  const host = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
  const c = zeroConfig(opts({ ram: '1M', listen: ['127.0.0.1:0', '[::1]:4420'] }));
  assert.deepEqual(connectHints(c, [{ address: '127.0.0.1', port: 40001 }, { address: '::1', port: 4420 }]), [
    'nvmetd: port 1 listening on 127.0.0.1:40001',
    'nvme discover -t tcp -a 127.0.0.1 -s 40001',
    `nvme connect -t tcp -a 127.0.0.1 -s 40001 -n ${DEFAULT_NQN}`,
    'nvmetd: port 2 listening on [::1]:4420',
    'nvme discover -t tcp -a ::1 -s 4420',
    `nvme connect -t tcp -a ::1 -s 4420 -n ${DEFAULT_NQN}`,
  ]);
  const r = zeroConfig(opts({ ram: '1M', allowHost: [host], advertise: '192.0.2.1', listen: ['0.0.0.0'] }));
  assert.deepEqual(connectHints(r, [{ address: '0.0.0.0', port: 4420 }]).slice(1), [
    'nvme discover -t tcp -a 192.0.2.1 -s 4420',
    `nvme connect -t tcp -a 192.0.2.1 -s 4420 -n ${DEFAULT_NQN} --hostnqn ${host}`,
  ]);
});

test('--nqn and --allow-host names that are not NQNs are served, with one warning each', () => {
  const warnings: string[] = [];
  const c = zeroConfig(opts({ ram: '1M', nqn: 'mydisk', allowHost: ['me'] }), warnings);
  assert.equal(c.subsystems[0]!.nqn, 'mydisk');
  assert.deepEqual(c.subsystems[0]!.allowedHosts, ['me']);
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0]!, /^command line: \/subsystems\/0\/nqn: "mydisk" is not a valid NQN .*; served anyway, as the Linux kernel target does/);
  assert.match(warnings[1]!, /"me" is not a valid NQN/);
});
