// The nvmetd command as scripts see it: exit codes, one-line errors on stderr without stack traces,
// output of the config commands. Runs `node bin/nvmetd.js` after the build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/unit: the repository root is three levels up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/nvmetd.js');
const FIXTURE = path.join(ROOT, 'test/fixtures/nvmetcli-config.json');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-cli-'));
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const GOOD = { subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }] };
const BAD = { subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:a', namespaces: [{ backing: { type: 'ram', size: 4096 }, blockSize: 1000 }] }] };

function assertOneLineError(r: { code: number | null; stderr: string }, expected: string): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, `nvmetd: ${expected}\n`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

test('a broken config: serve and validate exit 2 with one line naming file, field and reason', () => {
  const p = write('config.json', JSON.stringify(BAD, null, 2));
  const expected = `${p}: /subsystems/0/namespaces/0/blockSize: must be 512 or 4096`;
  assertOneLineError(run('serve', '--config', p), expected);
  assertOneLineError(run('config', 'validate', p), expected);
});

test('unreadable and non-JSON files exit 2', () => {
  assertOneLineError(run('serve', '--config', '/nonexistent/nvmetd.json'), '/nonexistent/nvmetd.json: cannot read: no such file');
  const p = write('broken.json', '{\n  "subsystems": [,]\n}\n');
  assertOneLineError(run('serve', '--config', p), `${p}:2:18: invalid JSON: Unexpected token ','`);
});

test('usage errors exit 2', () => {
  assertOneLineError(run('serve'), 'serve needs --config FILE, or --ram SIZE and/or --file PATH for a zero-config start, or --rpc-socket PATH alone for an empty target');
  assertOneLineError(run('serve', '--ram', '1000'), '--ram 1000: must be a positive multiple of the block size 512 (1000 is not)');
  assertOneLineError(run('serve', '--ram', '1M', '--listen', 'nowhere:1'), '--listen nowhere:1: "nowhere" is not an IP address (examples: 0.0.0.0:4420, [::1]:4420, 10.0.0.5)');
  const unknown = run('frobnicate');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.equal(run('serve', '--bogus').code, 2);
});

test('--version and --help exit 0', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = run('--version');
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), pkg.version);
  const h = run('serve', '--help');
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--ram <size>/);
});

test('config validate: ok line, or the normalized config', () => {
  const p = write('good.json', JSON.stringify(GOOD));
  const r = run('config', 'validate', p);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${p}: ok (1 subsystem(s), 1 namespace(s), 1 port(s))\n`);
  const n = run('config', 'validate', '--normalized', p);
  assert.equal(n.code, 0, n.stderr);
  const config = JSON.parse(n.stdout) as { ports: { port: number }[]; subsystems: { namespaces: { uuid: string }[] }[] };
  assert.equal(config.ports[0]!.port, 4420);
  assert.match(config.subsystems[0]!.namespaces[0]!.uuid, /^[0-9a-f-]{36}$/);
});

test('config schema prints the published schema', () => {
  const r = run('config', 'schema');
  assert.equal(r.code, 0);
  assert.equal(r.stdout, fs.readFileSync(path.join(ROOT, 'schema/nvmetd.schema.json'), 'utf8'));
});

test('config import-nvmetcli prints a valid config on stdout and warnings on stderr', () => {
  const r = run('config', 'import-nvmetcli', FIXTURE);
  assert.equal(r.code, 0, r.stderr);
  const imported = JSON.parse(r.stdout) as { subsystems: { nqn: string }[] };
  assert.deepEqual(imported.subsystems.map((s) => s.nqn), ['nqn.2014-08.org.nvmexpress:nvmet-ref', 'nqn.2023-04.com.example.storage:db01']);
  assert.match(r.stderr, /^warning: .*port 2 has transport "rdma": nvmetd serves TCP only, port skipped$/m);
  const out = write('imported.json', r.stdout);
  assert.equal(run('config', 'validate', out).code, 0);
});

test('config import-nvmetcli of a config nvmetd cannot run exits 1 (output still printed)', () => {
  const device = { path: '/srv/disk.img' };
  const p = write('nvmet.json', JSON.stringify({ subsystems: [{ nqn: 'testnqn', attr: { allow_any_host: '1' }, namespaces: [{ nsid: 1, device }, { nsid: 2, device }] }] }));
  const r = run('config', 'import-nvmetcli', p);
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.stdout) as { subsystems: { nqn: string }[] }).subsystems[0]!.nqn, 'testnqn');
  assert.match(r.stderr, /the imported config does not validate, edit it before use: .*\/subsystems\/0\/namespaces\/1\/backing\/path: duplicate backing path/);
});

test('config import-nvmetcli and validate: subsystem "testnqn" and host "hostnqn" are accepted with a warning each', () => {
  const p = write('nvmet.json', JSON.stringify({
    hosts: [{ nqn: 'hostnqn' }],
    subsystems: [{ nqn: 'testnqn', attr: { allow_any_host: '0' }, allowed_hosts: ['hostnqn'], namespaces: [{ nsid: 1, enable: 1, device: { path: '/srv/disk.img' } }] }],
  }));
  const r = run('config', 'import-nvmetcli', p);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning: .*"testnqn" is not a valid NQN .*served anyway/m);
  assert.match(r.stderr, /^warning: .*"hostnqn" is not a valid NQN .*served anyway/m);
  const out = write('imported.json', r.stdout);
  const v = run('config', 'validate', out);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /: ok \(1 subsystem/);
  const lines = v.stderr.trim().split('\n');
  assert.equal(lines.length, 2, `one warning per name (hostnqn appears twice): ${v.stderr}`);
  assert.match(lines[0]!, /^warning: .*\/subsystems\/0\/nqn: "testnqn" is not a valid NQN/);
  assert.match(lines[1]!, /^warning: .*\/subsystems\/0\/allowedHosts\/0: "hostnqn" is not a valid NQN/);
});


test('serve --ram starts, prints the connect line, and exits 0 on SIGTERM', { timeout: 30000 }, async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--ram', '4MiB', '--listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/^nvme connect -t tcp -a 127\.0\.0\.1 -s [1-9][0-9]* -n nqn\.2026-11\.io\.nvmetd:default$/m.test(stdout)) resolve();
    });
    void exit.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  assert.match(stdout, /^nvme discover -t tcp -a 127\.0\.0\.1 -s [1-9][0-9]*$/m);
  child.kill('SIGTERM');
  assert.equal(await exit, 0, stderr);
});

test('serve --ram larger than the machine exits 2 with one line naming the size, the machine\'s memory and --ram-overcommit', () => {
  const r = run('serve', '--ram', '100TiB', '--listen', '127.0.0.1:0');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^nvmetd: --ram 100TiB can never fit: this machine has [0-9.]+(B|[KMGT]iB) of physical memory and [0-9.]+(B|[KMGT]iB) of swap \([^)]*\); add --ram-overcommit to start anyway [^\n]*\n$/);
});

test('serve --ram 64TiB --ram-overcommit starts quickly with a small footprint', { timeout: 30000 }, async () => {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, 'serve', '--ram', '64TiB', '--ram-overcommit', '--listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/^nvme connect /m.test(stdout)) resolve();
    });
    void exit.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  const seconds = (Date.now() - started) / 1000;
  // VmRSS of the target process: the start does not scale with 64 TiB (a loaded CI box is slow, hence the loose bounds).
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
  child.kill('SIGTERM');
  assert.equal(await exit, 0, stderr);
  assert.ok(seconds < 15, `started in ${seconds} s`);
  assert.ok(rssKiB < 256 * 1024, `RSS ${rssKiB} KiB`);
});

test('serve refuses CPUs this machine does not have, a control socket in a missing directory and a --file that is a character device: exit 2, one line', () => {
  const cpus = /this machine lets nvmetd use CPUs? [0-9,-]+$/;
  for (const args of [['--cores', '4000'], ['--main-core', '4000'], ['--workers', '2', '--cores', '0,4000-4001']]) {
    const r = run('serve', '--ram', '1MiB', '--listen', '127.0.0.1:0', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const line = r.stderr.replace(/\n$/, '');
    assert.doesNotMatch(line, /\n/, 'one line');
    assert.match(line, new RegExp(`^nvmetd: ${args[args.length - 2]} ${args[args.length - 1]}: no CPUs? 4000(-4001)?; `));
    assert.match(line, cpus);
  }
  assertOneLineError(run('serve', '--ram', '1MiB', '--listen', '127.0.0.1:0', '--control', '/nonexistent-nvmetd/dir/sock'), 'control socket /nonexistent-nvmetd/dir/sock: the directory /nonexistent-nvmetd/dir does not exist');
  assertOneLineError(run('serve', '--file', '/dev/null', '--listen', '127.0.0.1:0'), '--file /dev/null: /dev/null is a character device; a namespace needs a regular file or a block device');
});
