// The rbd backing in the config file: defaults, paths relative to the config file, one namespace per
// image, and what the schema refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeConfig } from '../../src/config/normalize.js';

const NQN = 'nqn.2026-11.io.nvmetd:test';

function withBackings(...backings: Record<string, unknown>[]) {
  return { subsystems: [{ nqn: NQN, namespaces: backings.map((backing) => ({ backing })) }] };
}

test('rbd backing: user defaults to admin, cephConf is resolved against the config file, options are kept', () => {
  const c = normalizeConfig(withBackings({ type: 'rbd', pool: 'p', image: 'i', cephConf: 'ceph.conf', options: { rados_osd_op_timeout: '30' } }), '/etc/nvmetd/config.json', {
    baseDir: '/etc/nvmetd',
  });
  assert.deepEqual(c.subsystems[0]!.namespaces[0]!.backing, {
    type: 'rbd',
    pool: 'p',
    image: 'i',
    user: 'admin',
    cephConf: '/etc/nvmetd/ceph.conf',
    options: { rados_osd_op_timeout: '30' },
  });
});

test('rbd backing: two namespaces on one image are refused, two images are fine', () => {
  assert.throws(() => normalizeConfig(withBackings({ type: 'rbd', pool: 'p', image: 'i' }, { type: 'rbd', pool: 'p', image: 'i', user: 'other' }), 'c.json'), /two namespaces on one image/);
  const c = normalizeConfig(withBackings({ type: 'rbd', pool: 'p', image: 'i' }, { type: 'rbd', pool: 'p', image: 'j' }), 'c.json');
  assert.equal(c.subsystems[0]!.namespaces.length, 2);
});

test('rbd backing: the schema wants pool and image, a plain user name, string option values', () => {
  const load = (b: Record<string, unknown>) => normalizeConfig(withBackings(b), 'c.json');
  assert.throws(() => load({ type: 'rbd', image: 'i' }), /pool/);
  assert.throws(() => load({ type: 'rbd', pool: 'p' }), /image/);
  assert.throws(() => load({ type: 'rbd', pool: 'p', image: 'i', user: 'client admin' }), /user/);
  assert.throws(() => load({ type: 'rbd', pool: 'p', image: 'i', options: { a: 1 } }), /options/);
  assert.throws(() => load({ type: 'rbd', pool: 'p', image: 'i', path: '/x' }), /path/);
});
