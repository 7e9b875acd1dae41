// hosts[].dhchap in the config file: defaults, one name or a list, "file:PATH" secrets (read at load,
// refused when group or others may read them), errors at the field's JSON pointer without the secret,
// and `config validate --normalized` output without secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeConfig } from '../../src/config/normalize.js';
import { ConfigError } from '../../src/config/errors.js';
import { hideSecrets } from '../../src/config/dhchap.js';
import { formatDhchapKey } from '../../src/keys/dhchap-key.js';

const SUBNQN = 'nqn.2026-11.io.nvmetd:auth';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:0c0c0c0c-1111-2222-3333-444444444444';
const KEY = formatDhchapKey({ transform: 0, key: crypto.randomBytes(32) });
const CTRL_KEY = formatDhchapKey({ transform: 2, key: crypto.randomBytes(48) });

function config(dhchap: Record<string, unknown>) {
  return {
    hosts: [{ nqn: HOSTNQN, dhchap }],
    subsystems: [{ nqn: SUBNQN, allowedHosts: [HOSTNQN], namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }],
  };
}

function refused(raw: unknown, pointer: string, reason: RegExp, o: { baseDir?: string } = {}): ConfigError {
  try {
    normalizeConfig(raw, 'c.json', o);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.pointer, pointer, err.message);
    assert.match(err.message, reason);
    return err;
  }
  assert.fail('accepted');
}

test('dhchap: defaults offer sha256/384/512 and ffdhe2048..8192 then null; one name or a list', () => {
  const c = normalizeConfig(config({ key: KEY }), 'c.json');
  assert.deepEqual(c.hosts[0]!.dhchap, {
    key: KEY,
    hashes: ['sha256', 'sha384', 'sha512'],
    dhgroups: ['ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192', 'null'],
  });
  const d = normalizeConfig(config({ key: KEY, ctrlKey: CTRL_KEY, hash: 'sha512', dhgroup: ['null', 'ffdhe3072'] }), 'c.json').hosts[0]!.dhchap!;
  assert.equal(d.ctrlKey, CTRL_KEY);
  assert.deepEqual(d.hashes, ['sha512']);
  assert.deepEqual(d.dhgroups, ['null', 'ffdhe3072']);
  // A host only listed in allowedHosts does not authenticate.
  assert.equal(normalizeConfig(config({ key: KEY }), 'c.json').hosts.length, 1);
});

test('dhchap: bad keys and names are refused at the field, never echoing the secret', () => {
  const broken = KEY.slice(0, 20) + (KEY[20] === 'A' ? 'B' : 'A') + KEY.slice(21); // CRC no longer matches
  const e1 = refused(config({ key: broken }), `/hosts/0/dhchap/key`, /./);
  assert.ok(!e1.message.includes(broken.slice(10, 40)), e1.message);
  refused(config({ key: 'secret123' }), '/hosts/0/dhchap/key', /DHHC-1 format/);
  const e2 = refused(config({ key: KEY, ctrlKey: KEY }), '/hosts/0/dhchap/ctrlKey', /must differ from key/);
  assert.ok(!e2.message.includes(KEY.slice(10, 40)));
  refused(config({ key: KEY, hash: 'md5' }), '/hosts/0/dhchap/hash', /sha256/);
  refused(config({ key: KEY, dhgroup: ['null', 'null'] }), '/hosts/0/dhchap/dhgroup', /./);
  refused(config({ key: KEY, dhgroup: [] }), '/hosts/0/dhchap/dhgroup', /./);
  refused(config({ ctrlKey: CTRL_KEY }), '/hosts/0/dhchap/key', /required/);
});

test('dhchap: "file:PATH" secrets are read at load, relative to the config, and refused when others may read them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmetd-dhchap-'));
  const hostFile = join(dir, 'host.key');
  const ctrlFile = join(dir, 'ctrl.key');
  writeFileSync(hostFile, `${KEY}\n`);
  writeFileSync(ctrlFile, CTRL_KEY);
  chmodSync(hostFile, 0o600);
  chmodSync(ctrlFile, 0o400);
  const d = normalizeConfig(config({ key: 'file:host.key', ctrlKey: `file:${ctrlFile}` }), 'c.json', { baseDir: dir }).hosts[0]!.dhchap!;
  assert.equal(d.key, KEY);
  assert.equal(d.ctrlKey, CTRL_KEY);
  // What `config validate --normalized` prints.
  const printed = JSON.stringify({ hosts: [{ nqn: HOSTNQN, dhchap: d }] }, hideSecrets);
  assert.ok(!printed.includes(KEY) && !printed.includes(CTRL_KEY), printed);
  assert.match(printed, /"key":"\(secret\)"/);

  chmodSync(hostFile, 0o640);
  const e = refused(config({ key: 'file:host.key' }), '/hosts/0/dhchap/key', /readable by group or others \(mode 0640\): chmod 600/, { baseDir: dir });
  assert.ok(!e.message.includes(KEY.slice(10, 40)));
  chmodSync(hostFile, 0o604);
  refused(config({ key: 'file:host.key' }), '/hosts/0/dhchap/key', /readable by group or others/, { baseDir: dir });
  refused(config({ key: `file:${join(dir, 'missing.key')}` }), '/hosts/0/dhchap/key', /no such file/);
  writeFileSync(join(dir, 'empty.key'), '\n', { mode: 0o600 });
  chmodSync(join(dir, 'empty.key'), 0o600);
  refused(config({ key: 'file:empty.key' }), '/hosts/0/dhchap/key', /is empty/, { baseDir: dir });
  // A file that holds something else than a DHHC-1 secret: refused, its content not echoed.
  writeFileSync(join(dir, 'junk.key'), 'DHHC-1:00:notbase64!!secretjunk:', { mode: 0o600 });
  chmodSync(join(dir, 'junk.key'), 0o600);
  const j = refused(config({ key: 'file:junk.key' }), '/hosts/0/dhchap/key', /./, { baseDir: dir });
  assert.ok(!j.message.includes('secretjunk'), j.message);
});

test('hideSecrets leaves out the keys given at run time by RPC (SubsystemConfig.hostKeys)', () => {
  const key = 'DHHC-1:00:' + Buffer.alloc(36, 7).toString('base64') + ':';
  const printed = JSON.stringify({ subsystems: [{ nqn: 'nqn.2026-11.io.x:s', hostKeys: { [HOSTNQN]: { dhchap: { key, hashes: [], dhgroups: [] }, tlsKey: 'NVMeTLSkey-1:01:x:' } } }] }, hideSecrets);
  assert.ok(!printed.includes('hostKeys') && !printed.includes(key) && !printed.includes('NVMeTLSkey'), printed);
});
