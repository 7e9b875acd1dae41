// Checks of the C load generator (bench/gen, `nvme_tcp_gen`) against nvmetd (RAM namespace) and the
// C floor: every workload kind, digests, in-capsule and R2T writes, several threads and connections,
// --verify (which must pass on nvmetd and must fail on the floor, which stores nothing), PDUs split
// at every byte (NVME_TCP_GEN_MAX_READ), no deadlock when both sides' sends block, unanswered
// commands reported as failed, the JSON report against `nvmetd perf`'s, exit codes, and CRC32C.
// Short runs (0.3 s each). `npm run bench:gen-check`, or `node --test dist/bench/gen-check.js`.
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import path from 'node:path';
import { BUILD_DIR, NQN, ROOT, buildFloor, buildGen, paths, startTarget, type RunningTarget } from './targets.js';

const SIZE = 64 * 1024 * 1024;
let gen = '';
let ram: RunningTarget;
let floor: RunningTarget;

interface Report {
  iops: number;
  ios: number;
  reads: number;
  writes: number;
  errors: number;
  firstError: string | null;
  verifiedBlocks: number;
  verifyErrors: number;
  firstVerifyError: string | null;
  [k: string]: unknown;
}

function run(bin: string, args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function genJson(t: RunningTarget, args: string[], env: Record<string, string> = {}): { code: number | null; r: Report; err: string } {
  const x = run(gen, ['-s', String(t.port), '-n', NQN, '-t', '0.3', '--warmup', '0.1', '--json', ...args], env);
  let r: Report;
  try {
    r = JSON.parse(x.out) as Report;
  } catch {
    throw new Error(`no JSON from nvme_tcp_gen ${args.join(' ')} (exit ${x.code}): ${x.err}`);
  }
  return { code: x.code, r, err: x.err };
}

function keys(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
  return Object.entries(v as Record<string, unknown>).flatMap(([k, c]) => [`${prefix}${k}`, ...keys(c, `${prefix}${k}.`)]);
}

before(async () => {
  gen = buildGen();
  const floorBin = buildFloor();
  ram = await startTarget({ name: 'ram', label: 'nvmetd RAM' }, { size: SIZE });
  floor = await startTarget({ name: 'floor', label: 'C floor' }, { size: SIZE, floorBin });
});

after(async () => {
  await Promise.allSettled([ram?.stop(), floor?.stop()]);
});

const CASES: [string, string[]][] = [
  ['4 KiB random reads', ['-w', 'randread']],
  ['4 KiB random writes (in-capsule)', ['-w', 'randwrite']],
  ['128 KiB sequential writes (R2T + H2CData)', ['-w', 'write', '-o', '128k', '-q', '8']],
  ['128 KiB sequential reads with digests', ['-w', 'read', '-o', '128k', '-q', '8', '--hdgst', '--ddgst']],
  // Without --verify the write data digests come from the connection's cache (send.c, data_digest):
  // nvmetd checks every one of them (the floor checks none).
  ['4 KiB random writes with digests (in-capsule)', ['-w', 'randwrite', '-q', '8', '--hdgst', '--ddgst']],
  ['1 MiB sequential writes with digests (H2CData split at MAXH2CDATA)', ['-w', 'write', '-o', '1m', '-q', '4', '--hdgst', '--ddgst']],
  ['1 MiB sequential writes with digests, payloads copied (--copy-sends)', ['-w', 'write', '-o', '1m', '-q', '4', '--hdgst', '--ddgst', '--copy-sends']],
  ['20 KiB random writes (the last H2CData piece below the by-reference size)', ['-w', 'randwrite', '-o', '20k', '-q', '8']],
  ['128 KiB random reads, payloads dropped in the kernel (MSG_TRUNC)', ['-w', 'randread', '-o', '128k', '-q', '8']],
  ['128 KiB random reads, payloads copied (--copy-data)', ['-w', 'randread', '-o', '128k', '-q', '8', '--copy-data']],
  // --verify keeps outstanding commands on disjoint blocks: nvmetd (at this commit) can send a read's
  // C2HData with a data digest that does not match its data when a write to the same blocks runs
  // at the same time (docs/perf.md), which is a target finding, not what this case checks.
  ['mixed 70% reads, 2 threads x 3 connections, digests', ['-w', 'randrw', '-M', '70', '--workers', '2', '--connections', '3', '-q', '4', '--hdgst', '--ddgst', '--verify', '--span', '16MiB']],
  ['sequential mix', ['-w', 'rw', '-o', '16k', '-q', '4']],
  ['SQ flow control disabled', ['--disable-sqflow', '-q', '4']],
];

for (const [name, args] of CASES) {
  test(`nvme_tcp_gen on nvmetd and the floor: ${name}`, () => {
    for (const t of [ram, floor]) {
      const { code, r } = genJson(t, args);
      assert.equal(r.errors, 0, `${t.spec.label}: ${r.firstError}`);
      // The floor stores nothing: --verify can only pass on nvmetd.
      if (args.includes('--verify')) assert.equal(r.verifyErrors > 0, t === floor, `${t.spec.label}: ${r.firstVerifyError}`);
      else assert.equal(code, 0);
      assert.ok(r.ios > 0, `${t.spec.label}: no I/O completed`);
      assert.equal(r.reads + r.writes, r.ios);
      // Payloads are dropped in the kernel only for large I/O whose data nothing checks.
      const g = r.generator as { discardData: boolean };
      const o = args.indexOf('-o');
      const size = o >= 0 ? parseInt(args[o + 1]!, 10) * (args[o + 1]!.endsWith('m') ? 1024 * 1024 : 1024) : 4096;
      const big = size >= 16 * 1024;
      assert.equal(g.discardData, big && !args.includes('--ddgst') && !args.includes('--verify') && !args.includes('--copy-data'), 'discardData');
      // Write payloads go by reference (vmsplice + splice) for the same sizes, unless something checks them.
      const g2 = r.generator as { dataByReference: boolean };
      assert.equal(g2.dataByReference, big && !args.includes('--verify') && !args.includes('--copy-sends'), 'dataByReference');
    }
  });
}

test('1 MiB reads and writes at QD127 on the floor: no deadlock when both sides have more to send than the sockets take', () => {
  // The floor stops reading while its own sends are blocked; a generator that did the same stalled
  // here for good (0 commands completed, and no error reported).
  const { code, r } = genJson(floor, ['-w', 'randrw', '-o', '1m', '-q', '127', '--connections', '2']);
  assert.equal(r.errors, 0, r.firstError ?? '');
  assert.ok(r.reads > 0 && r.writes > 0, `only ${r.reads} reads and ${r.writes} writes completed`);
  assert.equal(code, 0);
});

test('commands a stopped target never answers are reported as failed, not left out', async () => {
  const t = await startTarget({ name: 'floor', label: 'C floor (stopped)' }, { size: SIZE, floorBin: buildFloor() });
  try {
    const child = spawn(gen, ['-s', String(t.port), '-n', NQN, '-t', '0.6', '--warmup', '0', '--json', '-q', '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(t.pid, 'SIGSTOP');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    process.kill(t.pid, 'SIGCONT');
    const r = JSON.parse(out) as Report;
    assert.equal(r.errors, 8, r.firstError ?? '');
    assert.match(r.firstError ?? '', /8 command\(s\) not completed 5 s after the end/);
    assert.equal(code, 1);
  } finally {
    process.kill(t.pid, 'SIGCONT');
    await t.stop();
  }
});

test('a target that goes away mid-run: the report says when, why and how many commands were lost (dropped)', async () => {
  const t = await startTarget({ name: 'floor', label: 'C floor (killed)' }, { size: SIZE, floorBin: buildFloor() });
  try {
    const child = spawn(gen, ['-s', String(t.port), '-n', NQN, '-t', '2', '--warmup', '0', '--json', '-q', '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 400));
    process.kill(t.pid, 'SIGKILL');
    await new Promise<number | null>((r) => child.on('exit', r));
    const r = JSON.parse(out) as Report & { dropped: { atSec: number; reason: string; lost: number } | null };
    assert.ok(r.dropped, 'no dropped connection reported');
    assert.ok(r.dropped.atSec > 0.1 && r.dropped.atSec < 2, `dropped at ${r.dropped.atSec} s`);
    assert.match(r.dropped.reason, /I\/O queue 1: /);
    assert.ok(r.dropped.lost <= 8, `${r.dropped.lost} lost`);
    assert.ok(r.errors >= 1);
  } finally {
    await t.stop();
  }
});

test('--verify passes on nvmetd, with PDUs split at every byte and with digests', () => {
  for (const [args, env] of [
    [['-w', 'randrw', '--span', '8MiB', '-q', '8', '--connections', '2'], {}],
    [['-w', 'randrw', '--span', '8MiB', '-q', '4', '-o', '8k', '--hdgst', '--ddgst'], { NVME_TCP_GEN_MAX_READ: '1' }],
    [['-w', 'read', '--span', '8MiB', '-q', '4', '-o', '64k', '--hdgst', '--ddgst'], { NVME_TCP_GEN_MAX_READ: '13' }],
    [['-w', 'randwrite', '--span', '8MiB', '-q', '4', '-o', '128k'], { NVME_TCP_GEN_MAX_READ: '7' }],
  ] as [string[], Record<string, string>][]) {
    const { code, r } = genJson(ram, ['--verify', ...args], env);
    assert.equal(r.errors, 0, `${args.join(' ')}: ${r.firstError}`);
    assert.equal(r.verifyErrors, 0, `${args.join(' ')}: ${r.firstVerifyError}`);
    if (!args.includes('randwrite')) assert.ok(r.verifiedBlocks > 0, `${args.join(' ')}: nothing verified`);
    assert.equal(code, 0);
  }
});

test('--verify fails on the floor, which returns the same bytes for every read', () => {
  const { code, r } = genJson(floor, ['--verify', '-w', 'randrw', '--span', '8MiB', '-q', '4']);
  assert.equal(r.errors, 0);
  assert.ok(r.verifyErrors > 0, 'the floor stores nothing: reads after writes must fail verification');
  assert.match(r.firstVerifyError ?? '', /bad magic/);
  assert.equal(code, 1);
});

test('the JSON report has every field of nvmetd perf --json', async () => {
  const perf = await new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, [paths.nvmetd, 'perf', '-s', String(floor.port), '-n', NQN, '-t', '0.3', '--warmup', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`nvmetd perf exit ${code}`))));
  });
  const want = keys(JSON.parse(perf));
  const { r } = genJson(floor, []);
  const have = new Set(keys(r));
  assert.deepEqual(want.filter((k) => !have.has(k)), []);
  assert.equal((r.jobs as unknown[]).length, 1);
});

test('CRC32C (bench/gen/crc32c.h): known values, SSE4.2 three-lane loop against the table at every length and alignment', () => {
  const bin = path.join(BUILD_DIR, 'crc32c_test');
  const cc = run(process.env.CC ?? 'cc', ['-O2', '-Wall', '-o', bin, path.join(ROOT, 'bench', 'gen', 'test', 'crc32c_test.c')]);
  assert.equal(cc.code, 0, cc.err);
  for (const env of [{}, { CRC32C_FORCE_TABLE: '1' }] as Record<string, string>[]) {
    const x = run(bin, [], env);
    assert.equal(x.code, 0, x.out);
    assert.match(x.out, /\nok\n/);
  }
});

test('exit codes: 2 on bad usage, 1 when the target cannot be reached', () => {
  assert.equal(run(gen, ['-w', 'sideways']).code, 2);
  assert.equal(run(gen, ['-o', '1000']).code, 2);
  assert.equal(run(gen, ['-w', 'randread', '-M', '30']).code, 2);
  const x = run(gen, ['-s', '1', '-t', '0.2']);
  assert.equal(x.code, 1);
  assert.match(x.err, /connect 127\.0\.0\.1:1/);
});

test('a namespace the subsystem does not have is an error, not a run', () => {
  const x = run(gen, ['-s', String(ram.port), '-n', NQN, '--nsid', '7', '-t', '0.2']);
  assert.equal(x.code, 1);
  assert.match(x.err, /namespace 7|Identify namespace/);
});
