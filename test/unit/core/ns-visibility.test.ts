// Per-host namespace masking in the core: what a host's view holds, and which controllers are told
// (Namespace Attribute Changed) when a namespace is added, removed, resized or re-masked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NamespaceConfig, SubsystemConfig } from '../../../src/config/types.js';
import { Namespace } from '../../../src/core/namespace.js';
import { Subsystem } from '../../../src/core/subsystem.js';
import { VisibleNamespaces } from '../../../src/core/visible-namespaces.js';
import { RamBackend } from '../../../src/backend/ram.js';

const HOST_A = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
const HOST_B = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-1111-4222-8333-944455566677';

function nsConfig(nsid: number, hosts?: string[]): NamespaceConfig {
  return {
    nsid,
    backing: { type: 'ram', size: 65536 },
    blockSize: 512,
    uuid: `00000000-0000-4000-8000-${String(nsid).padStart(12, '0')}`,
    nguid: String(nsid).padStart(32, '0'),
    eui64: String(nsid).padStart(16, '0'),
    readOnly: false,
    enabled: true,
    ...(hosts ? { hosts } : {}),
  };
}

function ns(nsid: number, hosts?: string[]): Namespace {
  return new Namespace(nsConfig(nsid, hosts), new RamBackend(65536));
}

class FakeCtrl {
  readonly told: number[] = [];
  constructor(
    readonly cntlid: number,
    readonly hostnqn: string,
  ) {}
  namespaceChanged(nsid: number): void {
    this.told.push(nsid);
  }
}

function subsystem(): { s: Subsystem<FakeCtrl>; a: FakeCtrl; b: FakeCtrl } {
  const config: SubsystemConfig = {
    nqn: 'nqn.2026-11.io.nvmetd:test', serial: 'S', model: 'M', firmware: 'F', allowAnyHost: true, allowedHosts: [],
    maxNamespaces: 32, cntlidMin: 1, cntlidMax: 10, namespaces: [],
  };
  const s = new Subsystem<FakeCtrl>(config);
  const a = new FakeCtrl(1, HOST_A);
  const b = new FakeCtrl(2, HOST_B);
  s.controllers.set(1, a);
  s.controllers.set(2, b);
  return { s, a, b };
}

test('a host\'s view leaves out the namespaces masked from it, and follows changes live', () => {
  const { s } = subsystem();
  s.namespaces.set(1, ns(1));
  s.namespaces.set(3, ns(3, [HOST_A]));
  s.namespaces.set(2, ns(2, []));
  const viewA = new VisibleNamespaces(s.namespaces, HOST_A);
  const viewB = new VisibleNamespaces(s.namespaces, HOST_B);
  assert.deepEqual(viewA.activeNsids(), [1, 3]);
  assert.deepEqual(viewB.activeNsids(), [1]);
  assert.equal(viewA.get(3)?.nsid, 3);
  assert.equal(viewB.get(3), undefined);
  assert.equal(viewB.has(2), false);
  assert.equal(viewB.size, 1);
  assert.deepEqual([...viewA.values()].map((n) => n.nsid).sort(), [1, 3]);
  s.setNamespaceHosts(2, [HOST_B]);
  assert.deepEqual(viewB.activeNsids(), [1, 2], 'the view is live');
  s.setNamespaceHosts(2, null);
  assert.deepEqual(viewA.activeNsids(), [1, 2, 3], 'no list: every host sees it');
  assert.equal(s.namespaces.get(2)!.config.hosts, undefined, 'the config follows (no list)');
});

test('re-masking tells exactly the controllers whose view changed; add, remove and resize tell only those that see the namespace', () => {
  const { s, a, b } = subsystem();
  s.addNamespace(ns(1));
  assert.deepEqual([a.told, b.told], [[1], [1]], 'an auto-visible namespace: everyone');
  s.addNamespace(ns(2, [HOST_A]));
  assert.deepEqual([a.told, b.told], [[1, 2], [1]], 'a masked one: only its host');
  assert.equal(s.setNamespaceHosts(2, [HOST_A]), 0, 'no change: nobody told');
  assert.equal(s.setNamespaceHosts(2, [HOST_A, HOST_B]), 1);
  assert.deepEqual(b.told, [1, 2], 'B now sees nsid 2 and is told');
  assert.deepEqual(s.namespaces.get(2)!.config.hosts, [HOST_A, HOST_B]);
  assert.equal(s.setNamespaceHosts(2, [HOST_B]), 1);
  assert.deepEqual([a.told, b.told], [[1, 2, 2], [1, 2]], 'A lost it and is told; B is not');
  s.namespaceChanged(2);
  assert.deepEqual([a.told, b.told], [[1, 2, 2], [1, 2, 2]], 'a resize of nsid 2: only B, who sees it');
  s.removeNamespace(2);
  assert.deepEqual([a.told, b.told], [[1, 2, 2], [1, 2, 2, 2]], 'its removal: only B');
  assert.equal(s.setNamespaceHosts(2, []), undefined, 'no such namespace');
});
