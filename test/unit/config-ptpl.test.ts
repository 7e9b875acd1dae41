// namespaces[].ptplFile in the config: kept (relative paths resolved against the config file's
// directory), refused when empty, when shared with another namespace or a backing file, or not a string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeConfig } from '../../src/config/normalize.js';

const NQN = 'nqn.2026-11.io.nvmetd:test';

function config(namespaces: Record<string, unknown>[]): unknown {
  return { subsystems: [{ nqn: NQN, namespaces }] };
}

test('ptplFile: absent by default, kept when given, relative to the config directory', () => {
  const c = normalizeConfig(config([{ backing: { type: 'ram', size: '1MiB' } }, { backing: { type: 'ram', size: '1MiB' }, ptplFile: 'state/ns2.json' }]), '/etc/nvmetd/config.json', { baseDir: '/etc/nvmetd' });
  assert.equal(c.subsystems[0]!.namespaces[0]!.ptplFile, undefined);
  assert.equal(c.subsystems[0]!.namespaces[1]!.ptplFile, '/etc/nvmetd/state/ns2.json');
});

test('ptplFile: empty, shared, a backing file, or not a string: refused, naming the field', () => {
  const ram = { type: 'ram', size: '1MiB' };
  const cases: [unknown, RegExp][] = [
    [config([{ backing: ram, ptplFile: '' }]), /\/subsystems\/0\/namespaces\/0\/ptplFile/],
    [config([{ backing: ram, ptplFile: ' ' }]), /ptplFile.*must not be empty/],
    [config([{ backing: ram, ptplFile: '/x/a' }, { backing: ram, ptplFile: '/x/a' }]), /namespaces\/1\/ptplFile.*a file of its own/],
    [config([{ backing: { type: 'file', path: '/x/b', size: '1MiB' } }, { backing: ram, ptplFile: '/x/b' }]), /namespaces\/1\/ptplFile/],
    [config([{ backing: ram, ptplFile: 5 }]), /ptplFile/],
  ];
  for (const [raw, re] of cases) assert.throws(() => normalizeConfig(raw, 'config.json'), re, JSON.stringify(raw));
});
