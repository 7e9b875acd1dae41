// namespaces[].hosts (per-host namespace masking) in the config file: kept as given, validated like
// the subsystem's allowedHosts, one clear error for a bad entry, a warning for a host that the
// subsystem does not admit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeConfig } from '../../src/config/normalize.js';
import { ConfigError } from '../../src/config/errors.js';

const NQN = 'nqn.2026-11.io.nvmetd:test';
const HOST_A = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
const HOST_B = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-1111-4222-8333-944455566677';

function withHosts(hosts: unknown, sub: Record<string, unknown> = {}) {
  return {
    subsystems: [{ nqn: NQN, ...sub, namespaces: [{ backing: { type: 'ram', size: '1MiB' } }, { backing: { type: 'ram', size: '1MiB' }, hosts }] }],
  };
}

test('namespaces[].hosts: kept as given; absent means no list (every admitted host sees it); empty is kept', () => {
  const c = normalizeConfig(withHosts([HOST_A, HOST_B]), 'c.json');
  const [ns1, ns2] = c.subsystems[0]!.namespaces;
  assert.equal('hosts' in ns1!, false, 'no hosts field when the file has none');
  assert.deepEqual(ns2!.hosts, [HOST_A, HOST_B]);
  assert.deepEqual(normalizeConfig(withHosts([]), 'c.json').subsystems[0]!.namespaces[1]!.hosts, []);
  const twice = normalizeConfig(JSON.parse(JSON.stringify(c)), 'again.json');
  assert.deepEqual(twice, c, 'a normalized config with hosts normalizes to itself');
});

test('namespaces[].hosts: a host listed twice is one error naming both places', () => {
  assert.throws(
    () => normalizeConfig(withHosts([HOST_A, HOST_B, HOST_A]), 'c.json'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, 'c.json: /subsystems/0/namespaces/1/hosts/2: duplicate host NQN (also at /subsystems/0/namespaces/1/hosts/0)');
      return true;
    },
  );
});

test('namespaces[].hosts: not a list of names is refused at that place', () => {
  assert.throws(() => normalizeConfig(withHosts(HOST_A), 'c.json'), /\/subsystems\/0\/namespaces\/1\/hosts/);
  assert.throws(() => normalizeConfig(withHosts([HOST_A, '']), 'c.json'), /\/subsystems\/0\/namespaces\/1\/hosts\/1/);
  assert.throws(() => normalizeConfig(withHosts([42]), 'c.json'), /\/subsystems\/0\/namespaces\/1\/hosts\/0/);
});

test('namespaces[].hosts: a host the subsystem does not admit is accepted with a warning (it may be allowed later, by RPC)', () => {
  const warnings: string[] = [];
  const c = normalizeConfig(withHosts([HOST_A, HOST_B], { allowedHosts: [HOST_A] }), 'c.json', { warnings });
  assert.deepEqual(c.subsystems[0]!.namespaces[1]!.hosts, [HOST_A, HOST_B]);
  assert.deepEqual(warnings, [`c.json: /subsystems/0/namespaces/1/hosts/1: host "${HOST_B}" is not in allowedHosts: it cannot connect to see the namespace`]);
  const none: string[] = [];
  normalizeConfig(withHosts([HOST_A, HOST_B]), 'c.json', { warnings: none });
  assert.deepEqual(none, [], 'a subsystem that admits any host: nothing to warn about');
});
