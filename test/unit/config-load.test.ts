// loadConfigFile: unreadable files, JSON syntax errors with line and column, relative paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigFile, parseJsonText, syntaxErrorOffset } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';

function write(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-config-'));
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

async function refused(p: string): Promise<string> {
  try {
    await loadConfigFile(p);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(!err.message.includes('\n'));
    return err.message;
  }
  assert.fail('accepted');
}

test('a good file loads; relative paths are relative to the file', async () => {
  const p = write('good.json', JSON.stringify({
    subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'file', path: 'disks/a.img', size: '1MiB' } }] }],
  }));
  const c = await loadConfigFile(p);
  assert.deepEqual(c.subsystems[0]!.namespaces[0]!.backing, {
    type: 'file', path: path.join(path.dirname(p), 'disks/a.img'), size: 1048576,
  });
});

test('missing file, directory', async () => {
  assert.equal(await refused('/nonexistent/nvmetd.json'), '/nonexistent/nvmetd.json: cannot read: no such file');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-config-'));
  assert.equal(await refused(dir), `${dir}: cannot read: is a directory`);
});

test('JSON syntax errors carry line and column', async () => {
  const trailingComma = write('c.json', '{\n  "subsystems": [\n    {"nqn": "x",}\n  ]\n}\n');
  assert.equal(await refused(trailingComma), `${trailingComma}:3:17: invalid JSON: Expected double-quoted property name`);
  const badLiteral = write('l.json', '{\n  "subsystems": tru\n}');
  assert.equal(await refused(badLiteral), `${badLiteral}:2:20: invalid JSON: Unexpected token '\\n'`);
  const truncated = write('t.json', '{\n  "subsystems": [\n');
  assert.equal(await refused(truncated), `${truncated}:3:1: invalid JSON: Unexpected end of JSON input`);
  const empty = write('e.json', '');
  assert.equal(await refused(empty), `${empty}:1:1: invalid JSON: Unexpected end of JSON input`);
});

test('schema errors name the file', async () => {
  const p = write('bad.json', JSON.stringify({ subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'ram', size: 4096 }, blockSize: 1024 }] }] }));
  assert.equal(await refused(p), `${p}: /subsystems/0/namespaces/0/blockSize: must be 512 or 4096`);
});

test('syntaxErrorOffset finds the first bad character', () => {
  assert.equal(syntaxErrorOffset('{"a": 1}'), 8);
  assert.equal(syntaxErrorOffset('{"a" 1}'), 5);
  assert.equal(syntaxErrorOffset('[1, 2,]'), 6);
  assert.equal(syntaxErrorOffset('{"a": "\\x"}'), 8);
  assert.equal(syntaxErrorOffset('{} x'), 3);
  assert.equal(syntaxErrorOffset('"abc'), 4);
  assert.throws(() => parseJsonText('{"a": nul}', 'f.json'), /^ConfigError: f\.json:1:10: invalid JSON: /);
  // A byte order mark is not an error.
  assert.deepEqual(parseJsonText('\ufeff{"a": 1}', 'f.json'), { a: 1 });
});
