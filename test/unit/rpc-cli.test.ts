// `nvmetd rpc`: --name value parameters typed by the method's schema, and the command end to end
// against `nvmetd serve --rpc-socket`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { paramsFromArgs } from '../../src/cli/rpc.js';
import { UsageError } from '../../src/util/exit.js';
import { normalizeConfig } from '../../src/config/normalize.js';
import { ConfigError } from '../../src/config/errors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/nvmetd.js');

test('rpc cli: values typed by the schema, dashes for underscores, dotted names for object members', () => {
  assert.deepEqual(
    paramsFromArgs('nvmf_subsystem_add_listener', ['--nqn', 'nqn.2026-11.io.x:a', '--listen-address.trtype', 'tcp', '--listen-address.traddr', '127.0.0.1', '--listen-address.trsvcid', '4420', '--secure-channel']),
    { nqn: 'nqn.2026-11.io.x:a', listen_address: { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420' }, secure_channel: true },
  );
  assert.deepEqual(paramsFromArgs('bdev_malloc_create', ['--num-blocks', '2048', '--block_size=512', '--name', '123']), { num_blocks: 2048, block_size: 512, name: '123' });
  assert.deepEqual(paramsFromArgs('nvmf_subsystem_allow_any_host', ['--nqn', 'n', '--allow-any-host', 'false']), { nqn: 'n', allow_any_host: false });
  assert.deepEqual(paramsFromArgs('some_other_method', ['--a', '5', '--b', 'text', '--c', '{"x":1}']), { a: 5, b: 'text', c: { x: 1 } });
  assert.throws(() => paramsFromArgs('bdev_malloc_create', ['--num-blocks', 'many']), UsageError);
  assert.throws(() => paramsFromArgs('bdev_malloc_create', ['2048']), UsageError);
  assert.throws(() => paramsFromArgs('bdev_malloc_create', ['--name']), UsageError);
});

test('rpc config: rpcSocket is a path, relative to the config file\'s folder; empty is refused', () => {
  const sub = { nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] };
  assert.equal(normalizeConfig({ rpcSocket: 'run/rpc.sock', subsystems: [sub] }, 'x.json', { baseDir: '/etc/nvmetd' }).rpcSocket, '/etc/nvmetd/run/rpc.sock');
  assert.equal(normalizeConfig({ rpcSocket: '/run/rpc.sock', subsystems: [sub] }, 'x.json', { baseDir: '/etc/nvmetd' }).rpcSocket, '/run/rpc.sock');
  assert.equal(normalizeConfig({ subsystems: [sub] }, 'x.json').rpcSocket, undefined);
  assert.throws(() => normalizeConfig({ rpcSocket: '', subsystems: [sub] }, 'x.json'), ConfigError);
});

test('rpc cli: nvmetd rpc against serve --rpc-socket prints results, and an error with exit 1', { timeout: 30000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-cli-'));
  const sock = path.join(dir, 'rpc.sock');
  const child = spawn(process.execPath, [BIN, 'serve', '--ram', '4MiB', '--listen', '127.0.0.1:0', '--rpc-socket', sock, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^nvme connect /m.test(out)) resolve();
      });
      void exit.then((code) => reject(new Error(`serve exited ${code}`)));
    });
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    const rpc = (...args: string[]) => spawnSync(process.execPath, [BIN, 'rpc', '-s', sock, ...args], { encoding: 'utf8', timeout: 20000 });
    const created = rpc('bdev_malloc_create', '--num-blocks', '16', '--block-size', '512', '--name', 'Cli0');
    assert.equal(created.status, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout), 'Cli0');
    const listed = rpc('bdev_get_bdevs', '--json', '{"name":"Cli0"}');
    assert.equal(listed.status, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as { num_blocks: number }[])[0]!.num_blocks, 16);
    const bad = rpc('nvmf_get_subsystems', '--nqn', 'nqn.2026-11.io.x:missing');
    assert.equal(bad.status, 1);
    assert.deepEqual((JSON.parse(bad.stderr) as { error: unknown }).error, { code: -32602, message: "Subsystem with NQN 'nqn.2026-11.io.x:missing' not found" });
    const usage = rpc('bdev_malloc_create', 'oops');
    assert.equal(usage.status, 2);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.equal(fs.existsSync(sock), false, 'the socket file is gone after shutdown');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
