// What a backing path is, said when it does not fit the configured type; CPU lists checked before serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openBackend } from '../../src/backend/open.js';
import { checkShardCpus, DEFAULT_SHARD } from '../../src/cli/shard-options.js';
import { formatCpuList } from '../../src/config/cpus.js';
import type { NamespaceConfig, TargetConfig } from '../../src/config/types.js';
import { UsageError } from '../../src/util/exit.js';
import { createLogger } from '../../src/util/log.js';

function ns(backing: NamespaceConfig['backing']): NamespaceConfig {
  return { nsid: 3, backing, blockSize: 512, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true };
}

test('a backing path that is not what its type needs: the message says what the path is', async () => {
  const log = createLogger('silent');
  await assert.rejects(openBackend(ns({ type: 'block', path: '/dev/null' }), log), {
    message: 'namespace 3: /dev/null is a character device, but its backing is configured as type "block" (a block device)',
  });
  await assert.rejects(openBackend(ns({ type: 'file', path: '/dev/null' }), log), {
    message: 'namespace 3: /dev/null is a character device; a file namespace needs a regular file or a block device',
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-kind-'));
  await assert.rejects(openBackend(ns({ type: 'block', path: dir }), log), {
    message: `namespace 3: ${dir} is a directory, but its backing is configured as type "block" (a block device)`,
  });
  fs.rmSync(dir, { recursive: true });
});

test('CPU lists: cores and main core outside the allowed CPUs are usage errors naming the CPUs there are', () => {
  const config = (cores: number[], mainCore: number) => ({ shard: { ...DEFAULT_SHARD, workers: cores.length, cores, mainCore } }) as unknown as TargetConfig;
  const cpus = [0, 1, 2, 3, 8];
  assert.equal(formatCpuList(cpus), '0-3,8');
  checkShardCpus(config([0, 8], 2), { cores: '0,8', mainCore: '2' }, cpus);
  checkShardCpus({} as TargetConfig, {}, cpus);
  const refused = (c: TargetConfig, args: object, message: string) =>
    assert.throws(() => checkShardCpus(c, args, cpus), (e: unknown) => e instanceof UsageError && e.message === message);
  refused(config([2, 99], -1), { cores: '2,99' }, '--cores 2,99: no CPU 99; this machine lets nvmetd use CPUs 0-3,8');
  refused(config([4, 5], -1), {}, 'shard.cores (4-5): no CPUs 4-5; this machine lets nvmetd use CPUs 0-3,8');
  refused(config([], 99), { mainCore: '99' }, '--main-core 99: no CPU 99; this machine lets nvmetd use CPUs 0-3,8');
  refused(config([], 9), {}, 'shard.mainCore (9): no CPU 9; this machine lets nvmetd use CPUs 0-3,8');
});

test('control socket in a missing directory: the error names the directory', async () => {
  const { ControlServer } = await import('../../src/control/server.js');
  await assert.rejects(ControlServer.listen('/nonexistent-nvmetd/dir/sock', {} as never, () => ({}), createLogger('silent')), {
    message: 'control socket /nonexistent-nvmetd/dir/sock: the directory /nonexistent-nvmetd/dir does not exist',
  });
});
