// The friendly management subcommands (nvmetd subsystem|ns|host|listener, nvmetd config
// save|reload) and SIGHUP, end to end: `nvmetd serve --config FILE` in a child process, the
// subcommands as separate processes on its JSON-RPC socket, what a host sees through our initiator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { call } from '../../src/cli/rpc.js';
import { Controller } from '../../src/initiator/controller.js';
import { parseIdentifyController } from '../../src/initiator/identify-parse.js';
import { HOSTNQN } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/nvmetd.js');
const NQN_A = 'nqn.2026-11.io.nvmetd:cli-a';
const NQN_B = 'nqn.2026-11.io.nvmetd:cli-b';
const NQN_C = 'nqn.2026-11.io.nvmetd:cli-c';
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:0d4b3c2a-2222-4222-8333-944455566677';

interface Served {
  dir: string;
  file: string;
  sock: string;
  port: number;
  child: ChildProcessWithoutNullStreams;
  /** Everything the target wrote on stdout so far. */
  output(): string;
  /** Resolves once the output matches. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  exit: Promise<number | null>;
}

function fileFor(dir: string, extra: object[] = []): object {
  return {
    logLevel: 'info',
    rpcSocket: path.join(dir, 'rpc.sock'),
    ports: [{ address: '127.0.0.1', port: 0 }],
    subsystems: [{ nqn: NQN_A, allowedHosts: [HOSTNQN], namespaces: [{ backing: { type: 'ram', size: '4MiB' } }] }, ...extra],
  };
}

async function serve(fn: (s: Served) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-manage-'));
  const file = path.join(dir, 'nvmetd.json');
  fs.writeFileSync(file, JSON.stringify(fileFor(dir)));
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) if (w.re.test(out)) w.resolve();
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (re: RegExp, ms = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (re.test(out)) return resolve();
      const timer = setTimeout(() => reject(new Error(`not seen within ${ms} ms: ${re}\n${out}`)), ms);
      waiters.push({ re, resolve: () => (clearTimeout(timer), resolve()) });
      void exit.then((code) => reject(new Error(`serve exited ${code} before ${re}\n${out}`)));
    });
  try {
    await waitFor(/^nvme connect /m);
    const port = Number(/^nvme connect -t tcp -a 127\.0\.0\.1 -s (\d+)/m.exec(out)![1]);
    await fn({ dir, file, sock: path.join(dir, 'rpc.sock'), port, child, output: () => out, waitFor, exit });
  } finally {
    child.kill('SIGTERM');
    const code = await exit;
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `serve exits 0 on SIGTERM\n${out}`);
  }
}

function nvmetd(sock: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args, '-s', sock], { encoding: 'utf8', timeout: 20_000 });
}

function ok(r: { status: number | null; stdout: string; stderr: string }, out: RegExp): void {
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, out);
}

test('manage cli: subsystem, ns, listener and host subcommands change the running target; config save writes it', { timeout: 120_000 }, () =>
  serve(async (s) => {
    ok(nvmetd(s.sock, 'subsystem', 'create', NQN_B, '--allow-any-host', '--serial', 'CLI-B-1'), new RegExp(`^subsystem ${NQN_B} created\n$`));
    ok(nvmetd(s.sock, 'ns', 'add', NQN_B, '--ram', '4MiB'), new RegExp(`^namespace 1 added to ${NQN_B}\n$`));
    const img = path.join(s.dir, 'vol.img');
    fs.writeFileSync(img, Buffer.alloc(0));
    fs.truncateSync(img, 8 * 1024 * 1024);
    ok(nvmetd(s.sock, 'ns', 'add', NQN_B, '--file', img, '--nsid', '5', '--block-size', '4096'), /^namespace 5 added/);
    ok(nvmetd(s.sock, 'listener', 'add', NQN_B, `127.0.0.1:${s.port}`), new RegExp(`${NQN_B} listening on 127.0.0.1:${s.port}`));
    ok(nvmetd(s.sock, 'host', 'add', NQN_A, OTHER_HOST), new RegExp(`host ${OTHER_HOST} allowed on ${NQN_A}`));
    const list = nvmetd(s.sock, 'subsystem', 'list');
    ok(list, new RegExp(`^${NQN_B}\n  listeners:  127\\.0\\.0\\.1:${s.port}\n  hosts:      any\n  namespaces: \n    1  Malloc0`, 'm'));
    assert.match(list.stdout, new RegExp(`^${NQN_A}\n  listeners:  127\\.0\\.0\\.1:${s.port}\n  hosts:      ${HOSTNQN}, ${OTHER_HOST}\n`, 'm'));
    assert.match(list.stdout, /^ {4}5 {2}vol\.img-/m);

    // What a host sees.
    const c = await Controller.connect({ host: '127.0.0.1', port: s.port, subnqn: NQN_B, hostnqn: HOSTNQN, ioQueues: 1, commandTimeoutMs: 10_000 });
    try {
      assert.equal(parseIdentifyController((await c.identifyController()).data!).sn, 'CLI-B-1');
      assert.equal((await c.namespaceInfo(5)).blockSize, 4096);
      assert.equal((await c.namespaceInfo(5)).nsze, 2048n);
      ok(nvmetd(s.sock, 'ns', 'resize', NQN_B, '1', '8MiB'), new RegExp(`namespace 1 of ${NQN_B} resized to 8388608 bytes`));
      assert.equal((await c.namespaceInfo(1)).nsze, 16384n, 'the host sees the new size');
      ok(nvmetd(s.sock, 'ns', 'remove', NQN_B, '5'), new RegExp(`namespace 5 removed from ${NQN_B}`));
      assert.equal((await c.read(5, 0, 1, Buffer.alloc(4096))).ok, false, 'namespace 5 is gone');
    } finally {
      await c.disconnect();
    }
    // Its bdev went with it (the file is no longer held).
    const bdevs = (await call(s.sock, 'bdev_get_bdevs', undefined)).result as { name: string }[];
    assert.deepEqual(bdevs.map((b) => b.name).filter((n) => n.startsWith('vol.img')), []);

    ok(nvmetd(s.sock, 'host', 'remove', NQN_A, OTHER_HOST), /removed/);
    ok(nvmetd(s.sock, 'listener', 'remove', NQN_B, `127.0.0.1:${s.port}`), new RegExp(`${NQN_B} no longer listening`));
    ok(nvmetd(s.sock, 'config', 'save'), new RegExp(`^configuration saved to ${s.file.replace(/[.]/g, '\\.')}\n$`));
    const saved = JSON.parse(fs.readFileSync(s.file, 'utf8')) as { subsystems: { nqn: string; serial: string; namespaces: { nsid: number; backing: { size: number } }[] }[] };
    assert.deepEqual(saved.subsystems.map((x) => x.nqn), [NQN_A, NQN_B]);
    assert.equal(saved.subsystems[1]!.serial, 'CLI-B-1');
    assert.deepEqual(saved.subsystems[1]!.namespaces.map((n) => [n.nsid, n.backing.size]), [[1, 8 * 1024 * 1024]]);
    ok(nvmetd(s.sock, 'config', 'reload'), /nothing to change\n$/);
    // --socket, as `nvmetd rpc` names it, works too.
    const viaSocket = spawnSync(process.execPath, [BIN, 'config', 'reload', '--socket', s.sock], { encoding: 'utf8', timeout: 20_000 });
    ok(viaSocket, /nothing to change\n$/);
    const shown = nvmetd(s.sock, 'config', 'show');
    assert.deepEqual(JSON.parse(shown.stdout), saved);
    ok(nvmetd(s.sock, 'subsystem', 'delete', NQN_B), new RegExp(`subsystem ${NQN_B} deleted`));

    // Errors: one line on stderr and exit 1; bad arguments exit 2.
    const again = nvmetd(s.sock, 'subsystem', 'delete', NQN_B);
    assert.equal(again.status, 1);
    assert.equal(again.stdout, '');
    assert.equal(again.stderr, `nvmetd: nvmf_delete_subsystem: Subsystem with NQN '${NQN_B}' not found [code -32602]\n`);
    const noBacking = nvmetd(s.sock, 'ns', 'add', NQN_A);
    assert.equal(noBacking.status, 2);
    assert.match(noBacking.stderr, /give one of --ram SIZE or --file PATH/);
    const badSize = nvmetd(s.sock, 'ns', 'resize', NQN_A, '1', 'lots');
    assert.equal(badSize.status, 2);
    const unclaimed = async (): Promise<string[]> =>
      ((await call(s.sock, 'bdev_get_bdevs', undefined)).result as { name: string; claimed: boolean }[]).filter((b) => !b.claimed).map((b) => b.name);
    // Malloc0 stays after its subsystem's deletion, as with SPDK.
    assert.deepEqual(await unclaimed(), ['Malloc0']);
    const noNs = nvmetd(s.sock, 'ns', 'add', 'nqn.2026-11.io.nvmetd:nope', '--ram', '1MiB');
    assert.equal(noNs.status, 1);
    assert.match(noNs.stderr, /^nvmetd: nvmf_subsystem_add_ns: .*not found/m);
    assert.deepEqual(await unclaimed(), ['Malloc0'], 'the bdev made for a failed ns add is deleted again');
    const noSocket = nvmetd(path.join(s.dir, 'none.sock'), 'subsystem', 'list');
    assert.equal(noSocket.status, 1);
    assert.match(noSocket.stderr, /^nvmetd: RPC socket .*none\.sock: .*is a target running with --rpc-socket/);
  }));

test('manage cli: SIGHUP reloads the config file; a broken file is refused with one log line and the target keeps running', { timeout: 60_000 }, () =>
  serve(async (s) => {
    fs.writeFileSync(s.file, JSON.stringify(fileFor(s.dir, [{ nqn: NQN_C, namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }])));
    s.child.kill('SIGHUP');
    await s.waitFor(/"msg":"reload: 3 change\(s\) applied"/);
    assert.match(s.output(), new RegExp(`"subnqn":"${NQN_C}".*"msg":"reload: subsystem created"`));
    const subs = (await call(s.sock, 'nvmf_get_subsystems', undefined)).result as { nqn: string; namespaces?: unknown[] }[];
    assert.deepEqual(subs.find((x) => x.nqn === NQN_C)?.namespaces?.length, 1);

    fs.writeFileSync(s.file, '{ "subsystems": [');
    s.child.kill('SIGHUP');
    await s.waitFor(/"msg":"reload refused, nothing changed: [^"]*nvmetd\.json:1:\d+: invalid JSON/);
    assert.equal(s.output().match(/reload refused/g)!.length, 1, 'one log line');
    const still = (await call(s.sock, 'nvmf_get_subsystems', undefined)).result as { nqn: string }[];
    assert.ok(still.some((x) => x.nqn === NQN_C), 'nothing changed');
  }));

test('serve --rpc-socket alone starts an empty target (discovery only), configured over the socket as nvmf_tgt is', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-empty-'));
  const sock = path.join(dir, 'rpc.sock');
  const child = spawn(process.execPath, [BIN, 'serve', '--rpc-socket', sock, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on 127\.0\.0\.1:([0-9]+)/.exec(out);
        if (m && fs.existsSync(sock)) resolve(Number(m[1]));
      });
      void exit.then((code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    for (let i = 0; i < 50 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    const subs = (await call(sock, 'nvmf_get_subsystems', undefined, 10_000)).result as { subtype: string }[];
    assert.deepEqual(subs.map((s) => s.subtype), ['Discovery'], 'nothing but the discovery subsystem');
    ok(nvmetd(sock, 'subsystem', 'create', NQN_A), /created/);
    ok(nvmetd(sock, 'ns', 'add', NQN_A, '--ram', '8MiB'), /namespace 1 added/);
    ok(nvmetd(sock, 'listener', 'add', NQN_A, `127.0.0.1:${port}`), /./);
    ok(nvmetd(sock, 'host', 'add', NQN_A, HOSTNQN), /./);
    const c = await Controller.connect({ host: '127.0.0.1', port, subnqn: NQN_A, hostnqn: HOSTNQN, ioQueues: 1, commandTimeoutMs: 10_000 });
    try {
      const data = Buffer.alloc(4096, 0x5a);
      assert.ok((await c.write(1, 0, 8, data)).ok);
      const back = Buffer.alloc(4096);
      assert.ok((await c.read(1, 0, 8, back)).ok);
      assert.ok(back.equals(data));
    } finally {
      await c.disconnect();
    }
  } finally {
    child.kill('SIGTERM');
    await exit;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const bad = spawnSync(process.execPath, [BIN, 'serve', '--nqn', NQN_B], { encoding: 'utf8' });
  assert.equal(bad.status, 2, 'no config, no namespace, no socket: a usage error');
  assert.match(bad.stderr, /--rpc-socket PATH alone for an empty target/);
});
