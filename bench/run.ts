// `npm run bench`: the standard matrix against nvmetd (RAM namespace), nvmetd (file namespace) and
// the C null target (the floor), point by point so each ratio compares numbers taken moments apart.
// Writes bench/results/latest.{json,md,svg}.
//
// Each point runs --repeat times on each target (targets interleaved) and the best run counts: other
// work on the machine only ever slows a run down, so the best of a few is the least disturbed.
//
// Options (or environment): --time S (BENCH_TIME, default 2), --warmup S (BENCH_WARMUP, default 0.5),
// --repeat N (BENCH_REPEAT, default 2), --only TEXT (points whose id contains TEXT),
// --targets ram,file,file-direct,floor (default ram,file,floor), --no-profile, --out DIR (default bench/results).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PerfReport } from '../src/perf/run.js';
import { MATRIX, GOALS, type Point } from './matrix.js';
import { newestProfile, summarizeProfile } from './profile.js';
import { evaluateGoals, markdown, svg, type BenchResults, type PointResult } from './report.js';
import { BUILD_DIR, NQN, ROOT, buildFloor, makeBackingFile, paths, snapshotBuild, startTarget, type RunningTarget, type TargetSpec } from './targets.js';

const NS_SIZE = 256 * 1024 * 1024;

const ALL_TARGETS: TargetSpec[] = [
  { name: 'ram', label: 'nvmetd RAM' },
  // A fully written temp file, buffered: the page cache answers, so this is nvmetd + io_uring, not the disk.
  { name: 'file', label: 'nvmetd file' },
  // The same file with O_DIRECT (nvmetd's default for files): measures the disk under the temp dir.
  { name: 'file-direct', label: 'nvmetd file O_DIRECT' },
  { name: 'floor', label: 'C floor' },
];
const DEFAULT_TARGETS = ['ram', 'file', 'floor'];

/** Profiled after the matrix: what limits nvmetd at the goal points and at the slowest ratios. */
const PROFILES: { point: string; target: string }[] = [
  ...GOALS.map((g) => ({ point: g.point, target: 'ram' })),
  { point: 'write 128k qd16', target: 'ram' },
  { point: 'randread 4k qd1', target: 'file' },
  { point: 'randwrite 4k qd32', target: 'file' },
];

interface Args {
  time: number;
  repeat: number;
  warmup: number;
  only: string | null;
  targets: string[];
  profile: boolean;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    time: Number(process.env.BENCH_TIME ?? 2),
    repeat: Number(process.env.BENCH_REPEAT ?? 2),
    warmup: Number(process.env.BENCH_WARMUP ?? 0.5),
    only: null,
    targets: DEFAULT_TARGETS,
    profile: true,
    out: path.join(ROOT, 'bench', 'results'),
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--time':
        a.time = Number(v);
        i++;
        break;
      case '--repeat':
        a.repeat = Number(v);
        i++;
        break;
      case '--warmup':
        a.warmup = Number(v);
        i++;
        break;
      case '--only':
        a.only = v ?? null;
        i++;
        break;
      case '--targets':
        a.targets = (v ?? '').split(',').filter(Boolean);
        i++;
        break;
      case '--no-profile':
        a.profile = false;
        break;
      case '--out':
        a.out = path.resolve(v ?? a.out);
        i++;
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (see the head of bench/run.ts)`);
    }
  }
  if (!(a.time > 0) || !(a.warmup >= 0)) throw new Error('--time must be > 0 and --warmup >= 0');
  if (!Number.isInteger(a.repeat) || a.repeat < 1) throw new Error('--repeat must be a whole number >= 1');
  return a;
}

/**
 * Runs `nvmetd perf --json` as a child process and returns its report. `onWindow` runs when perf
 * opens and closes its measured window (markers on its stderr).
 */
function perf(port: number, p: Point, a: Args, onWindow: (edge: 'start' | 'end') => void): Promise<PerfReport> {
  const args = [
    paths.nvmetd, 'perf', '-a', '127.0.0.1', '-s', String(port), '-n', NQN,
    '-w', p.workload, '-o', String(p.ioSize), '-q', String(p.qd), '--connections', String(p.connections),
    '-t', String(a.time), '--warmup', String(a.warmup), '--json',
    ...(p.digests ? ['--hdgst', '--ddgst'] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NVMETD_PERF_MARKERS: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const s = d.toString();
      if (s.includes('@window-start')) onWindow('start');
      if (s.includes('@window-end')) onWindow('end');
      err += s.replace(/@window-(start|end)\n/g, '');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (a.time + a.warmup + 30) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(out) as PerfReport;
        if (code !== 0 && r.errors === 0) throw new Error(`exit code ${code}`);
        resolve(r);
      } catch (e) {
        reject(new Error(`nvmetd perf failed (exit ${code}): ${brief(err) || (e as Error).message}`));
      }
    });
  });
}

/** The line of a child's stderr that says what went wrong (not the whole stack trace). */
function brief(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^(\w*Error\b|nvmetd:)/.test(l)) ?? lines[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** One run of a point; a run that could not start (not an I/O error) is tried again, up to 3 times. */
async function measure(t: RunningTarget, p: Point, a: Args, windowEnd?: { at: number }): Promise<PointResult> {
  let r = await measureOnce(t, p, a, windowEnd);
  for (const waitMs of [2000, 5000]) {
    if (r.failed === undefined || r.errors > 0) return r;
    await new Promise((res) => setTimeout(res, waitMs));
    r = await measureOnce(t, p, a, windowEnd);
  }
  return r;
}

/** The better of two runs: higher IOPS (for QD1, the same thing as lower latency). */
function better(x: PointResult | undefined, y: PointResult): PointResult {
  if (x === undefined || x.failed) return y;
  if (y.failed) return x;
  return y.iops > x.iops ? y : x;
}

async function measureOnce(t: RunningTarget, p: Point, a: Args, windowEnd?: { at: number }): Promise<PointResult> {
  // The target's CPU over perf's measured window, sampled from /proc at the window's edges.
  let cpu0 = NaN;
  let t0 = 0;
  let cpu = NaN;
  let wall = 0;
  try {
    const r = await perf(t.port, p, a, (edge) => {
      if (edge === 'start') {
        cpu0 = t.cpuSeconds();
        t0 = performance.now();
      } else {
        cpu = t.cpuSeconds() - cpu0;
        wall = (performance.now() - t0) / 1000;
        if (windowEnd) windowEnd.at = performance.now();
      }
    });
    const res: PointResult = {
      iops: r.iops,
      mibps: r.mibps,
      latAvgUs: r.latencyUs.avg,
      latP50Us: r.latencyUs.p50,
      latP99Us: r.latencyUs.p99,
      latP999Us: r.latencyUs.p999,
      latMaxUs: r.latencyUs.max,
      errors: r.errors,
      perfCpuPct: r.cpu.percent,
      perfElu: r.jobs[0]?.elu ?? 0,
      targetCpuPct: Number.isFinite(cpu) && wall > 0 ? Math.round((cpu / wall) * 1000) / 10 : NaN,
    };
    if (r.errors > 0) res.failed = `${r.errors} I/O errors: ${r.firstError}`;
    return res;
  } catch (e) {
    return { iops: 0, mibps: 0, latAvgUs: 0, latP50Us: 0, latP99Us: 0, latP999Us: 0, latMaxUs: 0, errors: 0, perfCpuPct: 0, perfElu: 0, targetCpuPct: 0, failed: (e as Error).message };
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const log = (s: string): boolean => process.stderr.write(`${s}\n`);
  const specs = ALL_TARGETS.filter((t) => a.targets.includes(t.name));
  const points = MATRIX.filter((p) => a.only === null || p.id.includes(a.only));
  log(`bench: ${points.length} points x ${specs.length} targets x ${a.repeat} run(s), ${a.warmup} s warmup + ${a.time} s each`);

  if (process.env.BENCH_NO_SNAPSHOT !== '1') snapshotBuild();
  let floorBin: string | undefined;
  if (specs.some((s) => s.name === 'floor')) {
    floorBin = buildFloor();
    log(`built ${path.relative(ROOT, floorBin)}`);
  }
  const needFile = specs.some((s) => s.name.startsWith('file')) || (a.profile && PROFILES.some((p) => p.target.startsWith('file')));
  const file = needFile ? makeBackingFile(NS_SIZE) : undefined;

  const results: BenchResults = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown', node: process.version, kernel: os.release(), loadavgStart: os.loadavg(), loadavgEnd: [] },
    settings: { time: a.time, warmup: a.warmup, repeat: a.repeat, nsSize: NS_SIZE },
    targets: specs.map((s) => ({ name: s.name, label: s.label })),
    points: [],
    goals: [],
    profiles: [],
    durationSec: 0,
  };

  const running: RunningTarget[] = [];
  try {
    for (const s of specs) running.push(await startTarget(s, { size: NS_SIZE, ...(file ? { file } : {}), ...(floorBin ? { floorBin } : {}) }));
    for (const p of points) {
      const row: Record<string, PointResult> = {};
      for (let rep = 0; rep < a.repeat; rep++) {
        for (const t of running) {
          const r = await measure(t, p, a);
          row[t.spec.name] = better(row[t.spec.name], r);
          log(`${p.id.padEnd(28)} ${t.spec.label.padEnd(12)} ${r.failed ? `FAILED ${r.failed}` : `${String(r.iops).padStart(7)} IOPS ${r.mibps.toFixed(1).padStart(8)} MiB/s  lat avg ${r.latAvgUs.toFixed(1)} p99 ${r.latP99Us.toFixed(0)} us  cpu target ${r.targetCpuPct}% perf ${r.perfCpuPct}%`}`);
        }
      }
      results.points.push({ ...p, results: row });
    }
  } finally {
    await Promise.allSettled(running.map((t) => t.stop()));
  }

  // CPU profiles of nvmetd at the goal points and the worst ratios: what limits each number.
  try {
    if (a.profile) {
      for (const pr of PROFILES) {
        const p = points.find((q) => q.id === pr.point);
        const spec = ALL_TARGETS.find((t) => t.name === pr.target)!;
        if (!p || !a.targets.includes(pr.target)) continue;
        const dir = path.join(BUILD_DIR, 'prof', `${pr.target}-${p.id.replace(/\W+/g, '-')}`);
        fs.rmSync(dir, { recursive: true, force: true });
        const t = await startTarget({ ...spec, profileDir: dir }, { size: NS_SIZE, ...(file ? { file } : {}) });
        const end = { at: 0 };
        try {
          await measure(t, p, a, end);
        } finally {
          await t.stop();
        }
        // Keep the samples of perf's measured window only: not start-up, connect, warmup or shutdown.
        const tailMs = end.at > 0 ? performance.now() - end.at : 0;
        const prof = newestProfile(dir);
        if (prof) {
          const summary = summarizeProfile(prof, 15, { lengthMs: a.time * 1000, tailMs });
          summary.file = path.relative(ROOT, prof);
          results.profiles.push({ point: p.id, target: spec.label, summary });
          log(`profile ${spec.label}, ${p.id}: ${summary.busyMs} ms busy; ${summary.functions.slice(0, 5).map((f) => `${f.name} ${f.selfPct}%`).join(', ')}`);
        } else {
          log(`profile ${p.id}: no .cpuprofile written`);
        }
      }
    }
  } finally {
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }

  results.host.loadavgEnd = os.loadavg();
  results.goals = evaluateGoals(results);
  results.durationSec = Math.round((performance.now() - started) / 1000);
  fs.mkdirSync(a.out, { recursive: true });
  fs.writeFileSync(path.join(a.out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(path.join(a.out, 'latest.md'), markdown(results));
  fs.writeFileSync(path.join(a.out, 'latest.svg'), svg(results));
  for (const g of results.goals) {
    log(`goal: ${g.text}: ${Object.entries(g.results).map(([t, v]) => `${t} ${v ? `${v.ratio}x ${v.pass ? 'met' : 'MISSED'}` : 'n/a'}`).join(', ')}`);
  }
  log(`wrote ${path.relative(ROOT, a.out)}/latest.{json,md,svg} in ${results.durationSec} s`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
