// The published schema file is the one the code validates with, and the docs' examples pass it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Ajv } from 'ajv';
import { configSchema, schemaText } from '../../src/config/schema.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { importNvmetcli } from '../../src/config/nvmetcli.js';

// Compiled to dist/test/unit: the repository root is three levels up.
const ROOT = new URL('../../../', import.meta.url);

test('schema/nvmetd.schema.json equals the schema in the code', () => {
  const published = fs.readFileSync(new URL('schema/nvmetd.schema.json', ROOT), 'utf8');
  assert.deepEqual(JSON.parse(published), JSON.parse(JSON.stringify(configSchema)));
  assert.equal(published, schemaText(), 'regenerate it with: node bin/nvmetd.js config schema > schema/nvmetd.schema.json');
});

test('the schema compiles on its own (any draft-07 validator can use it)', () => {
  const ajv = new Ajv({ allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(new URL('schema/nvmetd.schema.json', ROOT), 'utf8')));
  assert.equal(validate({ subsystems: [] }), true);
  assert.equal(validate({ subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'ram', size: '1G' } }] }] }), true);
  assert.equal(validate({ subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'ram' } }] }] }), false);
  assert.equal(validate({ subsystems: [], extra: 1 }), false);
});

test('every JSON example in docs/configuration.md is a valid config (or nvmetcli input that imports to one)', () => {
  const doc = fs.readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 3, 'examples found');
  for (const [i, text] of blocks.entries()) {
    const raw = JSON.parse(text) as Record<string, unknown>;
    const isNvmetcli = Array.isArray(raw.subsystems) && (raw.subsystems as Record<string, unknown>[]).some((s) => 'attr' in s || 'allowed_hosts' in s);
    const config = isNvmetcli ? importNvmetcli(raw, `example ${i}`, { blockDeviceBlockSize: () => 512 }).config : raw;
    assert.doesNotThrow(() => normalizeConfig(config, `docs example ${i}`), `example ${i}`);
  }
});
