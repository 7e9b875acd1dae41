// Worker threads and poll modes, measured side by side in one run (`npm run bench:shard`):
//   1. IOPS against the number of I/O workers (0 = everything on the main thread), 4 KiB random
//      reads at QD32 over several connections, RAM namespace;
//   2. event vs poll vs adaptive with one worker: QD1 4 KiB read latency, QD32 IOPS, and the target's
//      CPU use while idle.
// Each target is a child process; the load comes from `nvmetd perf` in other child processes.
// Results: bench/results/shard.json and shard.md. Numbers are only comparable within one run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, freePort, procCpuSeconds, stopChild, waitForPort } from './targets.js';

const NVMETD = path.join(ROOT, 'bin', 'nvmetd.js');
const SECONDS = Number(process.env.NVMETD_BENCH_SECONDS ?? 4);
const IDLE_SECONDS = 3;

interface PerfResult {
  iops: number;
  mibps: number;
  latencyUs: { avg: number; p50: number; p99: number };
  cpu: { percent: number };
  errors: number;
}

async function withTarget<T>(args: string[], fn: (port: number, pid: number) => Promise<T>): Promise<T> {
  const port = await freePort();
  const child = spawn(process.execPath, [NVMETD, 'serve', '--ram', '256MiB', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(port, child, 'nvmetd');
    return await fn(port, child.pid!);
  } finally {
    await stopChild(child);
  }
}

function perf(port: number, args: string[]): Promise<PerfResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NVMETD, 'perf', '-s', String(port), '-t', String(SECONDS), '--warmup', '1', '--json', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`nvmetd perf exited with ${code}`));
      try {
        resolve(JSON.parse(out) as PerfResult);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

async function measure(port: number, pid: number, args: string[]): Promise<PerfResult & { targetCpuPct: number }> {
  const c0 = procCpuSeconds(pid);
  const t0 = Date.now();
  const r = await perf(port, args);
  const pct = ((procCpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000)) * 100;
  return { ...r, targetCpuPct: Math.round(pct) };
}

async function idleCpu(pid: number): Promise<number> {
  const c0 = procCpuSeconds(pid);
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  return Math.round(((procCpuSeconds(pid) - c0) / IDLE_SECONDS) * 100);
}

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  const scaling: { workers: number; iops: number; p99Us: number; targetCpuPct: number }[] = [];
  const maxWorkers = Math.max(2, Math.min(4, cores));
  for (let workers = 0; workers <= maxWorkers; workers = workers === 0 ? 1 : workers * 2) {
    const r = await withTarget(workers ? ['--workers', String(workers)] : [], (port, pid) =>
      measure(port, pid, ['-q', '16', '--connections', '4', '--workers', String(Math.min(2, cores)), '-w', 'randread', '-o', '4k']),
    );
    scaling.push({ workers, iops: r.iops, p99Us: r.latencyUs.p99, targetCpuPct: r.targetCpuPct });
    process.stderr.write(`workers ${workers}: ${r.iops} IOPS, target CPU ${r.targetCpuPct}%\n`);
  }
  const modes: { mode: string; qd1AvgUs: number; qd1P50Us: number; qd1P99Us: number; qd32Iops: number; idleCpuPct: number }[] = [];
  for (const mode of ['event', 'poll', 'adaptive']) {
    const flag = mode === 'poll' ? ['--poll'] : mode === 'adaptive' ? ['--adaptive'] : [];
    const r = await withTarget(['--workers', '1', ...flag], async (port, pid) => {
      const idle = await idleCpu(pid);
      const qd1 = await measure(port, pid, ['-q', '1', '-w', 'randread', '-o', '4k']);
      const qd32 = await measure(port, pid, ['-q', '32', '-w', 'randread', '-o', '4k']);
      return { idle, qd1, qd32 };
    });
    modes.push({ mode, qd1AvgUs: r.qd1.latencyUs.avg, qd1P50Us: r.qd1.latencyUs.p50, qd1P99Us: r.qd1.latencyUs.p99, qd32Iops: r.qd32.iops, idleCpuPct: r.idle });
    process.stderr.write(`${mode}: QD1 avg ${r.qd1.latencyUs.avg} us, QD32 ${r.qd32.iops} IOPS, idle CPU ${r.idle}%\n`);
  }
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const result = { date: new Date().toISOString(), cores, load, seconds: SECONDS, scaling, modes };
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'shard.json'), `${JSON.stringify(result, null, 2)}\n`);
  const base = scaling[0]!.iops || 1;
  const md = [
    `# Workers and poll modes, ${result.date.slice(0, 10)}`,
    '',
    `${cores} CPU(s), Node ${process.version}, load average ${load} at the end. Load: \`nvmetd perf\` with 4 connections x QD16,`,
    `4 KiB random reads, RAM namespace, ${SECONDS} s per point; the load generator runs on the same machine.`,
    '',
    '| I/O workers | IOPS | vs main thread only | p99 us | target CPU % |',
    '|---:|---:|---:|---:|---:|',
    ...scaling.map((s) => `| ${s.workers} | ${s.iops} | ${(s.iops / base).toFixed(2)}x | ${s.p99Us} | ${s.targetCpuPct} |`),
    '',
    '| mode (1 worker) | QD1 avg us | QD1 p50 us | QD1 p99 us | QD32 IOPS | idle CPU % |',
    '|---|---:|---:|---:|---:|---:|',
    ...modes.map((m) => `| ${m.mode} | ${m.qd1AvgUs} | ${m.qd1P50Us} | ${m.qd1P99Us} | ${m.qd32Iops} | ${m.idleCpuPct} |`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'shard.md'), md);
  process.stdout.write(md);
}

await main();
