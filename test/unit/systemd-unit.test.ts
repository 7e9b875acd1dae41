// contrib/systemd/nvmetd.service: systemd-analyze verify accepts it (warnings count as failures), it has
// what running nvmetd as a service needs, and the command it starts is one our CLI accepts and runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { haveTool } from './needs-tool.js';

const UNIT_PATH = 'contrib/systemd/nvmetd.service';
const UNIT = fs.readFileSync(UNIT_PATH, 'utf8');
const BIN = path.resolve('bin/nvmetd.js');

/** The value of every `Key=value` line of the unit (comments skipped), in order. */
function values(key: string): string[] {
  return [...UNIT.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
}

/** ExecStart split into words: the program and its arguments (the unit quotes nothing). */
function execStart(): { program: string; args: string[] } {
  const lines = values('ExecStart');
  assert.equal(lines.length, 1, 'one ExecStart');
  const [program, ...args] = lines[0]!.split(/\s+/);
  return { program: program!, args };
}

function option(args: string[], name: string): string {
  const i = args.indexOf(name);
  assert.ok(i >= 0 && i + 1 < args.length, `ExecStart has ${name} VALUE`);
  return args[i + 1]!;
}

test('systemd unit: systemd-analyze verify accepts it without a warning', (t) => {
  if (!haveTool(t, 'systemd-analyze', 'systemd')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-unit-'));
  try {
    // verify checks that ExecStart's program exists: point it at this checkout's nvmetd.
    const unit = path.join(dir, 'nvmetd.service');
    fs.writeFileSync(unit, UNIT.replace(/^ExecStart=\S+/m, `ExecStart=${BIN}`));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
    const about = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('nvmetd.service'));
    assert.deepEqual(about, [], 'no complaint about the unit');
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('systemd unit: reload sends SIGHUP, restarts on failure, io_uring memlock, socket directory writable', () => {
  assert.deepEqual(values('Type'), ['exec'], 'Type=exec: nvmetd does not send sd_notify');
  assert.deepEqual(values('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.deepEqual(values('Restart'), ['on-failure']);
  assert.deepEqual(values('LimitMEMLOCK'), ['infinity']);
  const { args } = execStart();
  assert.deepEqual(args.slice(0, 1), ['serve']);
  assert.equal(option(args, '--config'), '/etc/nvmetd/nvmetd.json');
  const socketDir = path.dirname(option(args, '--rpc-socket'));
  assert.equal(socketDir, '/run/nvmetd');
  assert.ok(values('RuntimeDirectory').includes('nvmetd'), 'systemd creates /run/nvmetd');
  assert.ok(values('ReadWritePaths').some((v) => v.split(/\s+/).includes(socketDir)), 'the socket directory is writable under ProtectSystem=strict');
  assert.ok(values('ProtectSystem').includes('strict'));
  assert.deepEqual(values('MemoryDenyWriteExecute'), [], 'the JIT needs writable code pages');
  assert.match(UNIT, /^#CPUAffinity=/m, 'a commented CPUAffinity example for dedicated cores');
});

/** Runs ExecStart's arguments (paths moved into a temp dir) with this checkout's nvmetd until it serves. */
function runExecStart(extra: string[] = []): Promise<{ code: number | null; out: string; rpcSocketSeen: boolean }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-unit-run-'));
  const { args } = execStart();
  const config = path.join(dir, 'nvmetd.json');
  const socket = path.join(dir, 'rpc.sock');
  fs.writeFileSync(config, JSON.stringify({
    ports: [{ address: '127.0.0.1', port: 0 }],
    subsystems: [{ nqn: 'nqn.2026-11.io.nvmetd:unit', allowAnyHost: true, namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }],
  }));
  const moved = args.map((a) => (a === option(args, '--config') ? config : a === option(args, '--rpc-socket') ? socket : a));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...moved, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NVMETD_LOG_FORMAT: 'json' } });
    let out = '';
    let rpcSocketSeen = false;
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('nvme connect') && !rpcSocketSeen) {
        rpcSocketSeen = fs.statSync(socket, { throwIfNoEntry: false })?.isSocket() === true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, out, rpcSocketSeen });
    });
  });
}

test('systemd unit: our CLI accepts ExecStart\'s options and serves with them', async () => {
  const r = await runExecStart();
  assert.equal(r.code, 0, r.out);
  assert.ok(r.rpcSocketSeen, 'the RPC socket was created where --rpc-socket says');
});

test('systemd unit: the same check refuses an option the CLI does not know', async () => {
  const r = await runExecStart(['--no-such-option']);
  assert.equal(r.code, 2);
  assert.match(r.out, /unknown option '--no-such-option'/);
});
