// What TLS costs (`npm run bench:tls`): the same `nvmetd perf` jobs against one nvmetd, plain NVMe/TCP
// and NVMe/TCP over TLS 1.3 (a port with `tls: optional` serves both), alternated job by job in one
// run. For each job: IOPS, MiB/s, the TLS/plain ratio, and the CPU time per I/O of the target and of
// the load generator (user + system over the perf run; the target's from /proc). The target runs
// without workers for both sides of the comparison (TLS I/O queues move to workers as plain ones do;
// without workers both kinds are measured on one thread).
// Options (environment): NVMETD_BENCH_SECONDS (default 3) per measurement, NVMETD_BENCH_REPEAT
// (default 1; the best run counts), NVMETD_BENCH_JOBS (default "4k-randread-qd32,128k-read-qd8").
// Results: bench/results/tls.json and tls.md. Numbers are only comparable within one run.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatTlsKey } from '../src/keys/tls-key.js';
import { NQN, ROOT, freePort, procCpuSeconds, stopChild, waitForPort } from './targets.js';

const NVMETD = path.join(ROOT, 'bin', 'nvmetd.js');
const SECONDS = Number(process.env.NVMETD_BENCH_SECONDS ?? 3);
const REPEAT = Math.max(1, Number(process.env.NVMETD_BENCH_REPEAT ?? 1));
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5b0c1e0a-3c39-4a77-9a7e-0d5f1e7c2b10';

interface Job {
  id: string;
  args: string[];
}

const JOBS: Record<string, Job> = {
  '4k-randread-qd32': { id: '4k-randread-qd32', args: ['-w', 'randread', '-o', '4k', '-q', '32'] },
  '4k-randwrite-qd32': { id: '4k-randwrite-qd32', args: ['-w', 'randwrite', '-o', '4k', '-q', '32'] },
  '128k-read-qd8': { id: '128k-read-qd8', args: ['-w', 'read', '-o', '128k', '-q', '8'] },
  '128k-write-qd8': { id: '128k-write-qd8', args: ['-w', 'write', '-o', '128k', '-q', '8'] },
};

interface PerfJson {
  ios: number;
  iops: number;
  mibps: number;
  errors: number;
  latencyUs: { p50: number; p99: number };
  cpu: { userSec: number; systemSec: number };
}

export interface Side {
  iops: number;
  mibps: number;
  p99Us: number;
  /** Target CPU microseconds per I/O. */
  targetCpuUsPerIo: number;
  /** Load generator CPU microseconds per I/O. */
  hostCpuUsPerIo: number;
}

export interface TlsRow {
  job: string;
  plain: Side;
  tls: Side;
  /** tls.iops / plain.iops. */
  iopsRatio: number;
  /** tls.targetCpuUsPerIo / plain.targetCpuUsPerIo. */
  targetCpuRatio: number;
}

function perf(port: number, args: string[]): Promise<PerfJson> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NVMETD, 'perf', '-s', String(port), '-n', NQN, '--hostnqn', HOSTNQN, '-t', String(SECONDS), '--warmup', '0', '--json', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`nvmetd perf exited with ${code}`));
      try {
        resolve(JSON.parse(out) as PerfJson);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

async function measure(port: number, pid: number, args: string[]): Promise<Side> {
  const c0 = procCpuSeconds(pid);
  const r = await perf(port, args);
  const targetSec = procCpuSeconds(pid) - c0;
  if (r.errors > 0 || r.ios === 0) throw new Error(`perf ${args.join(' ')}: ${r.errors} errors, ${r.ios} I/Os`);
  const us = (sec: number): number => Math.round((sec / r.ios) * 1e6 * 10) / 10;
  return { iops: Math.round(r.iops), mibps: Math.round(r.mibps * 10) / 10, p99Us: r.latencyUs.p99, targetCpuUsPerIo: us(targetSec), hostCpuUsPerIo: us(r.cpu.userSec + r.cpu.systemSec) };
}

const best = (a: Side | null, b: Side): Side => (a === null || b.iops > a.iops ? b : a);

export function tlsMarkdown(rows: TlsRow[]): string {
  const lines = [
    '# TLS cost (nvmetd perf, plain vs TLS 1.3 against the same target in one run)',
    '',
    '| job | plain IOPS | TLS IOPS | TLS/plain | plain MiB/s | TLS MiB/s | target CPU µs/IO plain → TLS | perf CPU µs/IO plain → TLS |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.job} | ${r.plain.iops} | ${r.tls.iops} | ${r.iopsRatio.toFixed(2)} | ${r.plain.mibps} | ${r.tls.mibps} | ${r.plain.targetCpuUsPerIo} → ${r.tls.targetCpuUsPerIo} (×${r.targetCpuRatio.toFixed(2)}) | ${r.plain.hostCpuUsPerIo} → ${r.tls.hostCpuUsPerIo} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const jobs = (process.env.NVMETD_BENCH_JOBS ?? '4k-randread-qd32,128k-read-qd8').split(',').map((j) => {
    const job = JOBS[j.trim()];
    if (!job) throw new Error(`unknown job ${j} (one of ${Object.keys(JOBS).join(', ')})`);
    return job;
  });
  const key = formatTlsKey({ transform: 1, key: crypto.randomBytes(32) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-bench-tls-'));
  const keyFile = path.join(dir, 'host.psk');
  fs.writeFileSync(keyFile, key, { mode: 0o600 });
  const port = await freePort();
  const config = {
    hosts: [{ nqn: HOSTNQN, tlsKey: `file:${keyFile}` }],
    ports: [{ address: '127.0.0.1', port, tls: 'optional' }],
    subsystems: [{ nqn: NQN, namespaces: [{ backing: { type: 'ram', size: '256MiB' } }] }],
  };
  const configFile = path.join(dir, 'nvmetd.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(process.execPath, [NVMETD, 'serve', '--config', configFile, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const rows: TlsRow[] = [];
  try {
    await waitForPort(port, child, 'nvmetd');
    for (const job of jobs) {
      let plain: Side | null = null;
      let secured: Side | null = null;
      for (let i = 0; i < REPEAT; i++) {
        plain = best(plain, await measure(port, child.pid!, job.args));
        secured = best(secured, await measure(port, child.pid!, [...job.args, '--tls-key', `file:${keyFile}`]));
      }
      const row: TlsRow = {
        job: job.id,
        plain: plain!,
        tls: secured!,
        iopsRatio: secured!.iops / plain!.iops,
        targetCpuRatio: secured!.targetCpuUsPerIo / plain!.targetCpuUsPerIo,
      };
      rows.push(row);
      process.stderr.write(`${job.id}: plain ${row.plain.iops} IOPS, TLS ${row.tls.iops} IOPS (×${row.iopsRatio.toFixed(2)}), target CPU/IO ×${row.targetCpuRatio.toFixed(2)}\n`);
    }
  } finally {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'tls.json'), `${JSON.stringify({ seconds: SECONDS, repeat: REPEAT, cpus: os.availableParallelism(), rows }, null, 2)}\n`);
  const md = tlsMarkdown(rows);
  fs.writeFileSync(path.join(out, 'tls.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:tls: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
