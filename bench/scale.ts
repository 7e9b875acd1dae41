// `npm run bench:scale`: how nvmetd scales with I/O workers. The C load generator (bench/gen) and
// nvmetd's I/O workers are pinned to disjoint CPUs (`nvme_tcp_gen --cpus`, `nvmetd serve --cores
// --main-core`), and the run goes 1, 2, 4, 8 ... workers for as many as the machine's CPUs hold,
// with two connections per worker so every worker has queues. Per step: IOPS, the target's CPU
// time per command (whole process, the I/O threads, the main thread; /proc per thread over the
// generator's measured window), the generator's CPU per command and thread load, and the scaling
// efficiency against linear (IOPS of W workers / (W x IOPS of 1 worker)). The namespace is written
// once before each run (every mode reads written memory). A reference row runs all
// I/O on the main thread (no workers), pinned the same way, to compare worker mode per core.
//
// CPU layout for W workers: the generator gets G = ceil(W / 2) threads (it costs a third of the
// target per command, bench/results/latest.md); the main thread gets its own CPU when W + G + 1 fit,
// otherwise it shares worker 0's (it holds admin queues only, nothing on the I/O path). Steps that
// do not fit are listed as skipped, with the CPUs they need; a 2-CPU machine runs 1 worker.
//
// Options (or environment): --time S (SCALE_TIME, default 3), --warmup S (default 0.5), --repeat N
// (SCALE_REPEAT, default 3, best run counts), --max-workers N (default: as many as fit), --cpus LIST
// (the CPUs to use, default the ones this process may run on), --qd N (per connection, default 32),
// --conns-per-worker N (default 2), --io-size (default 4k), --workload (default randread),
// --out DIR (default bench/results). Writes scale.json, scale.md, scale.svg.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { esc, k } from './report.js';
import { NQN, ROOT, buildGen, freePort, paths, procThreadCpu, runLoad, snapshotBuild, stopChild, waitForPort, type ThreadCpu } from './targets.js';

interface Args {
  time: number;
  warmup: number;
  repeat: number;
  maxWorkers: number;
  cpus: number[];
  qd: number;
  connsPerWorker: number;
  ioSize: string;
  workload: string;
  out: string;
}

interface Layout {
  workers: number;
  mainCore: number;
  workerCores: number[];
  genCores: number[];
  mainShared: boolean;
}

interface GenReport {
  iops: number;
  ios: number;
  mibps: number;
  elapsedSec: number;
  errors: number;
  firstError?: string;
  latencyUs: { avg: number; p50: number; p99: number };
  cpu: { userSec: number; systemSec: number };
  jobs: { elu: number; runDelay?: number }[];
}

export interface ScaleRow {
  workers: number;
  layout: { mainCore: number; workerCores: number[]; genCores: number[]; mainShared: boolean };
  connections: number;
  iops: number;
  mibps: number;
  latAvgUs: number;
  latP99Us: number;
  /** Target CPU microseconds per command: the whole process, the I/O threads, the main thread. */
  cpuUsPerIo: number;
  ioThreadsCpuUsPerIo: number;
  mainCpuUsPerIo: number;
  /** Each I/O thread's CPU over the window, percent of one core (busiest first). */
  ioThreadPct: number[];
  /** The target's threads' run-queue wait, percent of the window (summed over threads). */
  targetRunDelayPct: number;
  genCpuUsPerIo: number;
  /** The busiest generator thread's CPU share of the window (near 1: the generator sets the pace). */
  genMaxElu: number;
  genBound: boolean;
  /** IOPS / (workers x IOPS of 1 worker); null for the main-thread row. */
  efficiency: number | null;
  errors: number;
  failed?: string;
}

function parseCpuList(s: string): number[] {
  const out: number[] = [];
  for (const part of s.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) throw new Error(`bad CPU list: ${s}`);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

/** The CPUs this process may run on (Cpus_allowed_list), or 0..N-1. */
function allowedCpus(): number[] {
  try {
    const m = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return parseCpuList(m[1]!);
  } catch {
    // No /proc: fall through.
  }
  return [...Array(os.availableParallelism()).keys()];
}

function parseArgs(argv: string[]): Args {
  const env = process.env;
  const a: Args = {
    time: Number(env.SCALE_TIME ?? 3),
    warmup: 0.5,
    repeat: Number(env.SCALE_REPEAT ?? 3),
    maxWorkers: Infinity,
    cpus: allowedCpus(),
    qd: 32,
    connsPerWorker: 2,
    ioSize: '4k',
    workload: 'randread',
    out: path.join(ROOT, 'bench', 'results'),
  };
  for (let i = 0; i < argv.length; i++) {
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case '--time': a.time = Number(v()); break;
      case '--warmup': a.warmup = Number(v()); break;
      case '--repeat': a.repeat = Number(v()); break;
      case '--max-workers': a.maxWorkers = Number(v()); break;
      case '--cpus': a.cpus = parseCpuList(v()); break;
      case '--qd': a.qd = Number(v()); break;
      case '--conns-per-worker': a.connsPerWorker = Number(v()); break;
      case '--io-size': a.ioSize = v(); break;
      case '--workload': a.workload = v(); break;
      case '--out': a.out = path.resolve(v()); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!(a.time > 0) || !(a.warmup >= 0)) throw new Error('--time must be > 0 and --warmup >= 0');
  if (!Number.isInteger(a.repeat) || a.repeat < 1) throw new Error('--repeat must be a whole number >= 1');
  if (!(a.maxWorkers >= 1)) throw new Error('--max-workers must be >= 1');
  if (a.cpus.length < 2) throw new Error('bench:scale needs at least 2 CPUs (one for the target, one for the generator)');
  return a;
}

/** Generator threads for W workers. */
export function genThreads(workers: number): number {
  return Math.max(1, Math.ceil(workers / 2));
}

/**
 * Disjoint CPUs for W workers (0: I/O on the main thread) and the generator, or null when they do
 * not fit. The main thread gets its own CPU when one is left, otherwise worker 0's.
 */
export function layout(workers: number, cpus: number[]): Layout | null {
  const g = genThreads(workers);
  const w = Math.max(1, workers); // the main-thread row uses one CPU for I/O
  if (w + g > cpus.length) return null;
  const own = workers > 0 && w + g + 1 <= cpus.length;
  const mainCore = cpus[0]!;
  const workerCores = workers === 0 ? [] : cpus.slice(own ? 1 : 0, (own ? 1 : 0) + workers);
  const used = own ? 1 + workers : w;
  return { workers, mainCore, workerCores, genCores: cpus.slice(used, used + g), mainShared: workers > 0 && !own };
}

function runGen(genBin: string, port: number, a: Args, l: Layout, onWindow: (edge: 'start' | 'end') => void): Promise<GenReport> {
  const g = l.genCores.length;
  const conns = Math.max(1, Math.ceil((Math.max(1, l.workers) * a.connsPerWorker) / g));
  const args = [
    '-a', '127.0.0.1', '-s', String(port), '-n', NQN, '-w', a.workload, '-o', a.ioSize, '-q', String(a.qd),
    '--workers', String(g), '--connections', String(conns), '--cpus', l.genCores.join(','),
    '-t', String(a.time), '--warmup', String(a.warmup), '--json',
  ];
  return runLoad<GenReport>(genBin, args, 'nvme_tcp_gen', a.time + a.warmup + 30, onWindow);
}

/**
 * Writes the whole namespace once (sequential 128 KiB writes for 1 s, several passes over 256 MiB)
 * before a step is measured, so that every mode reads written memory: a RAM namespace answers
 * never-written ranges from one cached buffer of zeroes on the main thread, while workers read the
 * shared memory (the kernel's zero page), which would make the modes differ in what they read.
 */
async function fillNamespace(genBin: string, port: number, l: Layout): Promise<void> {
  const args = ['-a', '127.0.0.1', '-s', String(port), '-n', NQN, '-w', 'write', '-o', '128k', '-q', '16', '--cpus', String(l.genCores[0]), '-t', '1', '--warmup', '0', '--json'];
  const r = await runLoad<GenReport>(genBin, args, 'nvme_tcp_gen (fill)', 40, () => undefined);
  if (r.errors > 0) throw new Error(`filling the namespace: ${r.errors} I/O errors: ${r.firstError}`);
}

const r1 = (v: number): number => Math.round(v * 10) / 10;
const r2 = (v: number): number => Math.round(v * 100) / 100;

async function measureOnce(genBin: string, a: Args, l: Layout): Promise<ScaleRow> {
  const port = await freePort();
  const shard = l.workers === 0 ? ['--main-core', String(l.mainCore)] : ['--cores', l.workerCores.join(','), '--main-core', String(l.mainCore)];
  const child = spawn(process.execPath, [paths.nvmetd, 'serve', '--ram', '256MiB', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...shard], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const pid = child.pid!;
  const conns = Math.max(1, Math.ceil((Math.max(1, l.workers) * a.connsPerWorker) / l.genCores.length)) * l.genCores.length;
  const base: Omit<ScaleRow, 'iops' | 'mibps' | 'latAvgUs' | 'latP99Us' | 'cpuUsPerIo' | 'ioThreadsCpuUsPerIo' | 'mainCpuUsPerIo' | 'ioThreadPct' | 'targetRunDelayPct' | 'genCpuUsPerIo' | 'genMaxElu' | 'genBound' | 'errors'> = {
    workers: l.workers,
    layout: { mainCore: l.mainCore, workerCores: l.workerCores, genCores: l.genCores, mainShared: l.mainShared },
    connections: conns,
    efficiency: null,
  };
  try {
    await waitForPort(port, child, 'nvmetd');
    await fillNamespace(genBin, port, l);
    let t0 = 0;
    let wall = 0;
    let th0 = new Map<number, ThreadCpu>();
    let th1 = new Map<number, ThreadCpu>();
    const r = await runGen(genBin, port, a, l, (edge) => {
      if (edge === 'start') {
        th0 = procThreadCpu(pid);
        t0 = performance.now();
      } else {
        th1 = procThreadCpu(pid);
        wall = (performance.now() - t0) / 1000;
      }
    });
    // Per-thread CPU over the window; the main thread is tid == pid, the I/O threads are the W
    // busiest others (worker threads; libuv and V8 helpers are near idle).
    const delta = [...th1].map(([tid, t]) => ({ tid, sec: t.sec - (th0.get(tid)?.sec ?? 0), wait: t.waitSec - (th0.get(tid)?.waitSec ?? 0) }));
    const total = delta.reduce((s, d) => s + d.sec, 0);
    const wait = delta.reduce((s, d) => s + d.wait, 0);
    const main = delta.find((d) => d.tid === pid)?.sec ?? 0;
    const others = delta.filter((d) => d.tid !== pid).sort((x, y) => y.sec - x.sec);
    const io = l.workers === 0 ? [{ sec: main }] : others.slice(0, l.workers);
    const ioSec = io.reduce((s, d) => s + d.sec, 0);
    // Commands over the generator's window; CPU over the same window seen from here.
    const ios = r.ios * (r.elapsedSec > 0 && wall > 0 ? wall / r.elapsedSec : 1);
    const per = (sec: number): number => (ios > 0 ? r2((sec * 1e6) / ios) : NaN);
    const genElu = Math.max(0, ...r.jobs.map((j) => j.elu));
    const row: ScaleRow = {
      ...base,
      iops: r.iops,
      mibps: r.mibps,
      latAvgUs: r.latencyUs.avg,
      latP99Us: r.latencyUs.p99,
      cpuUsPerIo: per(total),
      ioThreadsCpuUsPerIo: per(ioSec),
      mainCpuUsPerIo: per(main),
      ioThreadPct: io.map((d) => r1((d.sec / wall) * 100)),
      targetRunDelayPct: r1((wait / wall) * 100),
      genCpuUsPerIo: r.ios > 0 ? r2(((r.cpu.userSec + r.cpu.systemSec) * 1e6) / r.ios) : NaN,
      genMaxElu: r2(genElu),
      genBound: genElu >= 0.9,
      errors: r.errors,
    };
    if (r.errors > 0) row.failed = `${r.errors} I/O errors: ${r.firstError}`;
    return row;
  } catch (e) {
    return {
      ...base, iops: 0, mibps: 0, latAvgUs: 0, latP99Us: 0, cpuUsPerIo: NaN, ioThreadsCpuUsPerIo: NaN, mainCpuUsPerIo: NaN, ioThreadPct: [],
      targetRunDelayPct: NaN, genCpuUsPerIo: NaN, genMaxElu: NaN, genBound: false, errors: 0,
      failed: `${(e as Error).message}${stderr ? `: ${stderr.trim().split('\n')[0]}` : ''}`,
    };
  } finally {
    await stopChild(child);
  }
}

function steps(a: Args): { run: Layout[]; skipped: { workers: number; needCpus: number }[] } {
  const run: Layout[] = [];
  const skipped: { workers: number; needCpus: number }[] = [];
  const ref = layout(0, a.cpus);
  if (ref) run.push(ref);
  for (let w = 1; w <= Math.min(a.maxWorkers, 64); w *= 2) {
    const l = layout(w, a.cpus);
    if (l) run.push(l);
    else {
      skipped.push({ workers: w, needCpus: w + genThreads(w) });
      if (w > a.cpus.length) break;
    }
  }
  return { run, skipped };
}

function fmtCpus(c: number[]): string {
  return c.join(',');
}

function markdown(res: ScaleResults): string {
  const o: string[] = [];
  o.push(`# Scaling with I/O workers, ${res.date.slice(0, 10)}`, '');
  o.push(`${res.host.cpus} CPU(s) used (${fmtCpus(res.settings.cpus)}; ${res.host.cpuModel}), Node ${res.host.node}, load average ${res.host.loadavgStart.join(' ')} at the start, ${res.host.loadavgEnd.join(' ')} at the end.`);
  o.push(`Load: nvme_tcp_gen (bench/gen), ${res.settings.workload} ${res.settings.ioSize} at QD ${res.settings.qd} per connection, ${res.settings.connsPerWorker} connections per worker, RAM namespace (written once before each run), best of ${res.settings.repeat} runs of ${res.settings.warmup} s warmup + ${res.settings.time} s per step; generator threads and nvmetd's threads pinned to disjoint CPUs.`);
  o.push(`Command: \`${res.settings.command}\``, '');
  if (res.skipped.length > 0) {
    o.push(`**This machine has ${res.host.cpus} CPU(s): ${res.skipped.map((s) => `${s.workers} worker(s) need ${s.needCpus}`).join(', ')} (workers + generator threads), so ${res.skipped.length === 1 ? 'that step was' : 'those steps were'} not run.**${res.host.cpus <= 2 ? ' With 2 CPUs the main thread shares worker 0\'s CPU and the generator has the other one; the scaling efficiency needs a machine with more cores (a 16-CPU machine runs 1, 2, 4 and 8 workers).' : ''}`, '');
  }
  o.push('| I/O workers | CPUs: main / workers / generator | conns | IOPS | efficiency vs linear | target CPU us/IO (all / I/O threads / main) | I/O threads busy % | target run-queue wait % | generator us/IO | generator busiest thread | mean / p99 latency us |');
  o.push('|---|---|---:|---:|---:|---|---|---:|---:|---:|---|');
  for (const r of res.rows) {
    const name = r.workers === 0 ? '0 (all on main thread)' : String(r.workers);
    const cpus = `${r.layout.mainCore}${r.layout.mainShared ? ' (shared)' : ''} / ${fmtCpus(r.layout.workerCores) || '-'} / ${fmtCpus(r.layout.genCores)}`;
    if (r.failed && r.iops === 0) {
      o.push(`| ${name} | ${cpus} | ${r.connections} | failed: ${esc(r.failed)} | | | | | | | |`);
      continue;
    }
    o.push(`| ${name} | ${cpus} | ${r.connections} | ${r.iops} | ${r.efficiency === null ? '-' : r.efficiency.toFixed(2)} | ${r.cpuUsPerIo} / ${r.ioThreadsCpuUsPerIo} / ${r.mainCpuUsPerIo} | ${r.ioThreadPct.join(', ')} | ${r.targetRunDelayPct} | ${r.genCpuUsPerIo} | ${(r.genMaxElu * 100).toFixed(0)}%${r.genBound ? ' (generator-bound)' : ''} | ${r.latAvgUs} / ${r.latP99Us} |`);
  }
  o.push('');
  const m0 = res.rows.find((r) => r.workers === 0 && !r.failed);
  const w1 = res.rows.find((r) => r.workers === 1 && !r.failed);
  if (m0 && w1) {
    const x = w1.ioThreadsCpuUsPerIo / m0.ioThreadsCpuUsPerIo;
    o.push(`Worker mode per core: the I/O thread of 1 worker spends ${w1.ioThreadsCpuUsPerIo} us of CPU per command, the main thread doing all I/O ${m0.ioThreadsCpuUsPerIo} us: ${x.toFixed(2)}x (goal: at most 5% more, ${x <= 1.05 ? 'met' : 'missed'}).`, '');
  }
  const gb = res.rows.filter((r) => r.genBound);
  o.push(gb.length ? `**Generator-bound steps: ${gb.map((r) => r.workers).join(', ')}** (their IOPS are lower bounds).` : `The generator was not the limit of any step (its busiest thread at most ${Math.round(Math.max(0, ...res.rows.map((r) => r.genMaxElu || 0)) * 100)}% busy).`, '');
  const slow = res.rows.filter((r) => r.targetRunDelayPct > 20);
  if (slow.length) o.push(`In ${slow.map((r) => `the ${r.workers}-worker step`).join(' and ')} nvmetd's threads waited over 20% of the window for a CPU: other work on the machine set the pace there; compare CPU per command, not IOPS.`, '');
  o.push('- Efficiency: IOPS of W workers / (W x IOPS of 1 worker); 1.00 is linear. CPU per I/O is the figure to trust on a shared machine: IOPS follow the scheduler.');
  o.push('- "I/O threads" are the W busiest threads other than the main one (the workers); "main" is the main thread (controllers, admin queues). The main-thread row runs I/O on the main thread pinned to one CPU, for comparing worker mode per core.');
  o.push('- The generator is the limit of a step when its busiest thread is near 100% (marked generator-bound); then that step\'s IOPS are a lower bound.');
  o.push('');
  return o.join('\n');
}

function svg(res: ScaleResults): string {
  const rows = res.rows.filter((r) => !(r.failed && r.iops === 0));
  const labelW = 170;
  const panelW = 300;
  const gap = 30;
  const rowH = 26;
  const top = 56;
  const width = labelW + 2 * panelW + gap + 20;
  const height = top + rowH * Math.max(1, rows.length) + 46;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  o.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  o.push(`<text x="10" y="20" font-size="14" font-weight="bold">nvmetd I/O workers, ${esc(res.date.slice(0, 10))} (${res.host.cpus} CPUs, ${esc(res.settings.workload)} ${esc(res.settings.ioSize)}, pinned)</text>`);
  const base = rows.find((r) => r.workers === 1)?.iops ?? 0;
  const panels = [
    { title: 'IOPS (dashes: linear from 1 worker)', x0: labelW, get: (r: ScaleRow) => r.iops, lin: (r: ScaleRow) => (r.workers > 0 ? base * r.workers : NaN), fmt: (r: ScaleRow) => k(r.iops) },
    { title: 'target CPU us per I/O (shorter is better)', x0: labelW + panelW + gap, get: (r: ScaleRow) => r.cpuUsPerIo, lin: () => NaN, fmt: (r: ScaleRow) => r.cpuUsPerIo.toFixed(2) },
  ];
  for (const pn of panels) o.push(`<text x="${pn.x0}" y="${top - 10}" font-weight="bold">${esc(pn.title)}</text>`);
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0) o.push(`<rect x="0" y="${y - 4}" width="${width}" height="${rowH}" fill="#f4f4f4"/>`);
    o.push(`<text x="10" y="${y + 12}">${r.workers === 0 ? 'main thread only' : `${r.workers} worker${r.workers > 1 ? 's' : ''}`}${r.genBound ? ' (gen-bound)' : ''}</text>`);
    for (const pn of panels) {
      const max = Math.max(1e-9, ...rows.map((x) => Math.max(pn.get(x), Number.isFinite(pn.lin(x)) ? pn.lin(x) : 0)));
      const scale = (v: number): number => Math.max(1, (v / max) * (panelW - 70));
      const w = Number.isFinite(pn.get(r)) ? scale(pn.get(r)) : 1;
      o.push(`<rect x="${pn.x0}" y="${y}" width="${w.toFixed(1)}" height="14" fill="${r.workers === 0 ? '#999999' : '#2f6fb0'}"/>`);
      o.push(`<text x="${(pn.x0 + w + 4).toFixed(1)}" y="${y + 11}">${esc(pn.fmt(r))}</text>`);
      const lin = pn.lin(r);
      if (Number.isFinite(lin) && r.workers > 1) {
        const lx = (pn.x0 + scale(lin)).toFixed(1);
        o.push(`<line x1="${lx}" y1="${y - 2}" x2="${lx}" y2="${y + 16}" stroke="#b00" stroke-dasharray="3,2"/>`);
      }
    }
  });
  const note = res.skipped.length > 0 ? `Not run here (too few CPUs): ${res.skipped.map((s) => `${s.workers} workers`).join(', ')}. ` : '';
  o.push(`<text x="10" y="${height - 12}" fill="#555">${esc(note)}Numbers from bench/results/scale.json.</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

interface ScaleResults {
  date: string;
  host: { cpus: number; cpuModel: string; node: string; kernel: string; loadavgStart: number[]; loadavgEnd: number[] };
  settings: { time: number; warmup: number; repeat: number; cpus: number[]; qd: number; connsPerWorker: number; ioSize: string; workload: string; command: string };
  rows: ScaleRow[];
  skipped: { workers: number; needCpus: number }[];
  durationSec: number;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  const started = performance.now();
  const genBin = buildGen();
  snapshotBuild();
  const loadStart = os.loadavg().map((l) => r2(l));
  const { run, skipped } = steps(a);
  process.stderr.write(`bench:scale: ${a.cpus.length} CPU(s) (${fmtCpus(a.cpus)}); steps: ${run.map((l) => l.workers).join(', ')} worker(s)${skipped.length ? `; not run (too few CPUs): ${skipped.map((s) => `${s.workers} (needs ${s.needCpus})`).join(', ')}` : ''}\n`);
  const rows: ScaleRow[] = [];
  for (const l of run) {
    let best: ScaleRow | undefined;
    for (let i = 0; i < a.repeat; i++) {
      const r = await measureOnce(genBin, a, l);
      process.stderr.write(`  workers ${l.workers} run ${i + 1}: ${r.failed ? `FAILED ${r.failed}` : `${r.iops} IOPS, target ${r.cpuUsPerIo} us/IO (I/O threads ${r.ioThreadsCpuUsPerIo}), generator busiest thread ${(r.genMaxElu * 100).toFixed(0)}%`}\n`);
      if (best === undefined || (best.failed && !r.failed) || (!r.failed && r.iops > best.iops)) best = r;
    }
    rows.push(best!);
  }
  const one = rows.find((r) => r.workers === 1 && !r.failed);
  for (const r of rows) if (r.workers > 0 && one && !r.failed) r.efficiency = r2(r.iops / (r.workers * one.iops));
  const res: ScaleResults = {
    date: new Date().toISOString(),
    host: { cpus: a.cpus.length, cpuModel: os.cpus()[0]?.model ?? '?', node: process.version, kernel: os.release(), loadavgStart: loadStart, loadavgEnd: os.loadavg().map((l) => r2(l)) },
    settings: { time: a.time, warmup: a.warmup, repeat: a.repeat, cpus: a.cpus, qd: a.qd, connsPerWorker: a.connsPerWorker, ioSize: a.ioSize, workload: a.workload, command: `npm run bench:scale${argv.length ? ` -- ${argv.join(' ')}` : ''}` },
    rows,
    skipped,
    durationSec: Math.round((performance.now() - started) / 1000),
  };
  fs.mkdirSync(a.out, { recursive: true });
  fs.writeFileSync(path.join(a.out, 'scale.json'), `${JSON.stringify(res, null, 2)}\n`);
  const md = markdown(res);
  fs.writeFileSync(path.join(a.out, 'scale.md'), md);
  fs.writeFileSync(path.join(a.out, 'scale.svg'), svg(res));
  process.stdout.write(md);
  if (rows.some((r) => r.failed)) process.exitCode = 1;
}

// Run when executed (not when imported, e.g. to check layout()).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
