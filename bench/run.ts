// `npm run bench`: the standard matrix against nvmetd (RAM namespace), nvmetd (file namespace) and
// the C null target (the floor; and floor-mem, the same with a RAM namespace that stores the data),
// point by point so each ratio compares numbers taken moments apart.
// Writes bench/results/latest.{json,md,svg}.
//
// Each point runs --repeat times on each target (targets interleaved) and the best run counts: other
// work on the machine only ever slows a run down, so the best of a few is the least disturbed.
//
// The load comes from the C generator (bench/gen, `nvme_tcp_gen`, built here with cc) or from
// `nvmetd perf`: both take the same options and print the same JSON report. Next to every IOPS
// number goes the target's CPU time per command (user + system from /proc over the measured window).
//
// Options (or environment): --time S (BENCH_TIME, default 2), --warmup S (BENCH_WARMUP, default 0.5),
// --repeat N (BENCH_REPEAT, default 3), --only TEXT (points whose id contains TEXT),
// --targets ram,file,file-direct,floor,floor-mem (default ram,file,floor,floor-mem), --no-profile, --out DIR (default bench/results),
// --gen c|node (BENCH_GEN, default c: the C generator; node: `nvmetd perf`), --gen-cpus LIST
// (BENCH_GEN_CPUS: pin the C generator's threads), --compare-gens (also drive the floor with the
// other generator, to show what each can push), --floor-poll (the floor busy-polls: takes a core).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PerfReport } from '../src/perf/run.js';
import { MATRIX, GOALS, type Point } from './matrix.js';
import { newestProfile, summarizeProfile } from './profile.js';
import { HEADROOM_GOAL, OTHER_GEN_KEY, evaluateGoals, headroom, isFloor, markdown, svg, type BenchResults, type PointResult } from './report.js';
import {
  BUILD_DIR, NQN, ROOT, buildFloor, buildGen, busiestThread, makeBackingFile, runLoad, runQueueWait, paths, snapshotBuild, startTarget,
  type RunningTarget, type TargetSpec, type ThreadCpu,
} from './targets.js';

const NS_SIZE = 256 * 1024 * 1024;

const ALL_TARGETS: TargetSpec[] = [
  { name: 'ram', label: 'nvmetd RAM' },
  // A fully written temp file, buffered: the page cache answers, so this is nvmetd + io_uring, not the disk.
  { name: 'file', label: 'nvmetd file' },
  // The same file with O_DIRECT (nvmetd's default for files): measures the disk under the temp dir.
  { name: 'file-direct', label: 'nvmetd file O_DIRECT' },
  { name: 'floor', label: 'C floor' },
  // The floor with -m: 256 MiB of memory that reads are sent from and writes copied into, as nvmetd's RAM
  // namespace does; its ratio to the floor is what storing the data costs a C target.
  { name: 'floor-mem', label: 'C floor, RAM-backed' },
];
const DEFAULT_TARGETS = ['ram', 'file', 'floor', 'floor-mem'];

/** Profiled after the matrix: what limits nvmetd at the goal points and at the slowest ratios. */
const PROFILES: { point: string; target: string }[] = [
  // The goal points (digests against none included: both are goal points).
  ...GOALS.map((g) => ({ point: g.point, target: 'ram' })),
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
  gen: Generator;
  genCpus: string | null;
  compareGens: boolean;
  floorPoll: boolean;
}

type Generator = 'c' | 'node';
/** Built C generator (set in main). */
let genBin = '';

function parseArgs(argv: string[]): Args {
  const a: Args = {
    time: Number(process.env.BENCH_TIME ?? 2),
    repeat: Number(process.env.BENCH_REPEAT ?? 3),
    warmup: Number(process.env.BENCH_WARMUP ?? 0.5),
    only: null,
    targets: DEFAULT_TARGETS,
    profile: true,
    out: path.join(ROOT, 'bench', 'results'),
    gen: (process.env.BENCH_GEN ?? 'c') as Generator,
    genCpus: process.env.BENCH_GEN_CPUS ?? null,
    compareGens: false,
    floorPoll: false,
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
      case '--gen':
        a.gen = v as Generator;
        i++;
        break;
      case '--gen-cpus':
        a.genCpus = v ?? null;
        i++;
        break;
      case '--compare-gens':
        a.compareGens = true;
        break;
      case '--floor-poll':
        a.floorPoll = true;
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
  if (a.gen !== 'c' && a.gen !== 'node') throw new Error('--gen must be c or node');
  return a;
}

/**
 * Runs the load generator (`nvme_tcp_gen` or `nvmetd perf`, --json) as a child process and returns
 * its report. `onWindow` runs when it opens and closes its measured window (markers on its stderr).
 */
function perf(port: number, p: Point, a: Args, gen: Generator, onWindow: (edge: 'start' | 'end') => void): Promise<PerfReport> {
  const args = [
    '-a', '127.0.0.1', '-s', String(port), '-n', NQN,
    '-w', p.workload, '-o', String(p.ioSize), '-q', String(p.qd), '--connections', String(p.connections),
    '-t', String(a.time), '--warmup', String(a.warmup), '--json',
    ...(p.digests ? ['--hdgst', '--ddgst'] : []),
    ...(gen === 'c' && a.genCpus ? ['--cpus', a.genCpus] : []),
  ];
  const [cmd, argv] = gen === 'c' ? [genBin, args] : [process.execPath, [paths.nvmetd, 'perf', ...args]];
  const what = gen === 'c' ? 'nvme_tcp_gen' : 'nvmetd perf';
  return runLoad<PerfReport>(cmd, argv, what, a.time + a.warmup + 30, onWindow);
}

/** One run of a point; a run that could not start (not an I/O error) is tried again, up to 3 times. */
async function measure(t: RunningTarget, p: Point, a: Args, gen: Generator, windowEnd?: { at: number }): Promise<PointResult> {
  let r = await measureOnce(t, p, a, gen, windowEnd);
  for (const waitMs of [2000, 5000]) {
    if (r.failed === undefined || r.errors > 0) return r;
    await new Promise((res) => setTimeout(res, waitMs));
    r = await measureOnce(t, p, a, gen, windowEnd);
  }
  return r;
}

/** The better of two runs: higher IOPS (for QD1, the same thing as lower latency). */
function better(x: PointResult | undefined, y: PointResult): PointResult {
  if (x === undefined || x.failed) return y;
  if (y.failed) return x;
  return y.iops > x.iops ? y : x;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const round2 = (v: number): number => Math.round(v * 100) / 100;

async function measureOnce(t: RunningTarget, p: Point, a: Args, gen: Generator, windowEnd?: { at: number }): Promise<PointResult> {
  // The target's CPU over the generator's measured window, sampled from /proc at the window's
  // edges: the whole process, and each thread (to find the busiest).
  let cpu0 = NaN;
  let threads0 = new Map<number, ThreadCpu>();
  let t0 = 0;
  let cpu = NaN;
  let busiest = { name: '-', sec: NaN };
  let wait = NaN;
  let wall = 0;
  try {
    const r = await perf(t.port, p, a, gen, (edge) => {
      if (edge === 'start') {
        cpu0 = t.cpuSeconds();
        threads0 = t.threadCpu();
        t0 = performance.now();
      } else {
        cpu = t.cpuSeconds() - cpu0;
        const threads1 = t.threadCpu();
        busiest = busiestThread(threads0, threads1);
        wait = runQueueWait(threads0, threads1);
        wall = (performance.now() - t0) / 1000;
        if (windowEnd) windowEnd.at = performance.now();
      }
    });
    const genCpu = r.cpu.userSec + r.cpu.systemSec;
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
      targetCpuPct: Number.isFinite(cpu) && wall > 0 ? round1((cpu / wall) * 100) : NaN,
      // Commands counted over the generator's window, CPU over the same window seen from here.
      targetCpuUsPerIo: Number.isFinite(cpu) && r.ios > 0 ? round2((cpu * 1e6 * (r.elapsedSec > 0 && wall > 0 ? r.elapsedSec / wall : 1)) / r.ios) : NaN,
      targetTopThread: busiest.name,
      targetTopThreadPct: Number.isFinite(busiest.sec) && wall > 0 ? round1((busiest.sec / wall) * 100) : NaN,
      genCpuUsPerIo: r.ios > 0 ? round2((genCpu * 1e6) / r.ios) : NaN,
      targetRunDelayPct: Number.isFinite(wait) && wall > 0 ? round1((wait / wall) * 100) : NaN,
      genRunDelayPct: round1(((r.jobs[0] as { runDelay?: number } | undefined)?.runDelay ?? NaN) * 100),
      generator: gen,
    };
    if (r.errors > 0) res.failed = `${r.errors} I/O errors: ${r.firstError}`;
    return res;
  } catch (e) {
    return {
      iops: 0, mibps: 0, latAvgUs: 0, latP50Us: 0, latP99Us: 0, latP999Us: 0, latMaxUs: 0, errors: 0, perfCpuPct: 0, perfElu: 0, targetCpuPct: 0,
      targetCpuUsPerIo: NaN, targetTopThread: '-', targetTopThreadPct: NaN, genCpuUsPerIo: NaN, targetRunDelayPct: NaN, genRunDelayPct: NaN,
      generator: gen, failed: (e as Error).message,
    };
  }
}

function logLine(id: string, label: string, r: PointResult): string {
  if (r.failed) return `${id.padEnd(28)} ${label.padEnd(20)} FAILED ${r.failed}`;
  return (
    `${id.padEnd(28)} ${label.padEnd(20)} ${String(r.iops).padStart(7)} IOPS ${r.mibps.toFixed(1).padStart(8)} MiB/s  ` +
    `${String(r.targetCpuUsPerIo).padStart(5)} us CPU/IO  lat avg ${r.latAvgUs.toFixed(1)} p99 ${r.latP99Us.toFixed(0)} us  ` +
    `cpu target ${r.targetCpuPct}% (top thread ${r.targetTopThreadPct}%, waited ${r.targetRunDelayPct}%) ` +
    `gen ${r.perfCpuPct}% busy ${Math.round(r.perfElu * 100)}%${Number.isFinite(r.genRunDelayPct) ? ` waited ${r.genRunDelayPct}%` : ''}`
  );
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const log = (s: string): boolean => process.stderr.write(`${s}\n`);
  const specs = ALL_TARGETS.filter((t) => a.targets.includes(t.name));
  const points = MATRIX.filter((p) => a.only === null || p.id.includes(a.only));
  const other: Generator = a.gen === 'c' ? 'node' : 'c';
  log(
    `bench: ${points.length} points x ${specs.length} targets x ${a.repeat} run(s), ${a.warmup} s warmup + ${a.time} s each, ` +
      `load from ${a.gen === 'c' ? 'nvme_tcp_gen (C)' : 'nvmetd perf'}${a.compareGens ? `, the floor also from ${other === 'c' ? 'nvme_tcp_gen' : 'nvmetd perf'}` : ''}`,
  );

  if (process.env.BENCH_NO_SNAPSHOT !== '1') snapshotBuild();
  let floorBin: string | undefined;
  if (specs.some((s) => isFloor(s.name))) {
    floorBin = buildFloor();
    log(`built ${path.relative(ROOT, floorBin)}`);
  }
  if (a.gen === 'c' || a.compareGens) {
    genBin = buildGen();
    log(`built ${path.relative(ROOT, genBin)}`);
  }
  const needFile = specs.some((s) => s.name.startsWith('file')) || (a.profile && PROFILES.some((p) => p.target.startsWith('file')));
  const file = needFile ? makeBackingFile(NS_SIZE) : undefined;

  const results: BenchResults = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown', node: process.version, kernel: os.release(), loadavgStart: os.loadavg(), loadavgEnd: [] },
    settings: {
      time: a.time, warmup: a.warmup, repeat: a.repeat, nsSize: NS_SIZE, generator: a.gen, compareGens: a.compareGens,
      genCpus: a.genCpus, floorPoll: a.floorPoll, command: ['npm run bench', ...(process.argv.length > 2 ? ['--'] : []), ...process.argv.slice(2).map((v) => (/^[\w.,=/-]+$/.test(v) ? v : `"${v}"`))].join(' '),
    },
    targets: specs.map((s) => ({ name: s.name, label: s.label })),
    points: [],
    goals: [],
    headroom: [],
    profiles: [],
    durationSec: 0,
  };

  const running: RunningTarget[] = [];
  try {
    for (const s of specs) running.push(await startTarget(s, { size: NS_SIZE, ...(file ? { file } : {}), ...(floorBin ? { floorBin, floorPoll: a.floorPoll } : {}) }));
    for (const p of points) {
      const row: Record<string, PointResult> = {};
      for (let rep = 0; rep < a.repeat; rep++) {
        for (const t of running) {
          const r = await measure(t, p, a, a.gen);
          const runs = [...(row[t.spec.name]?.runs ?? []), ...(r.failed ? [] : [{ iops: r.iops, mibps: r.mibps, latAvgUs: r.latAvgUs, cpuUsPerIo: r.targetCpuUsPerIo }])];
          row[t.spec.name] = { ...better(row[t.spec.name], r), runs };
          log(logLine(p.id, t.spec.label, r));
          if (a.compareGens && t.spec.name === 'floor') {
            const o = await measure(t, p, a, other);
            row[OTHER_GEN_KEY] = better(row[OTHER_GEN_KEY], o);
            log(logLine(p.id, `${t.spec.label} (${other === 'c' ? 'C gen' : 'perf'})`, o));
          }
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
          await measure(t, p, a, a.gen, end);
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
  results.headroom = headroom(results);
  results.durationSec = Math.round((performance.now() - started) / 1000);
  fs.mkdirSync(a.out, { recursive: true });
  fs.writeFileSync(path.join(a.out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(path.join(a.out, 'latest.md'), markdown(results));
  fs.writeFileSync(path.join(a.out, 'latest.svg'), svg(results));
  for (const g of results.goals) {
    log(`goal: ${g.text}: ${Object.entries(g.results).map(([t, v]) => `${t} ${v ? `${v.ratio}x ${v.pass ? 'met' : 'MISSED'}` : 'n/a'}`).join(', ')}`);
  }
  for (const h of results.headroom) {
    log(
      `headroom: ${h.point}: ${h.headroom}x (${h.shownBy})${h.verdict === 'low' ? ` BELOW ${HEADROOM_GOAL}x` : h.verdict === 'caps both' ? ` (the generator caps nvmetd and the floor alike)` : h.verdict === 'target-bound' ? ` (nvmetd's busiest thread ${h.targetTopThreadPct}% of a core: nvmetd set the pace)` : ''}: ` +
        `floor ${h.floorIops} IOPS / ${h.target} ${h.targetIops} = ${h.sameRatio}x, same size ${h.familyIops} (${h.familyPoint}) = ${h.familyRatio}x, ` +
        `generator busy ${Math.round(h.genBusyOnTarget * 100)}% driving nvmetd = ${h.idleRatio}x; CPU per command nvmetd ${h.targetUsPerIo} us / generator ${h.genUsPerIo} us`,
    );
  }
  log(`wrote ${path.relative(ROOT, a.out)}/latest.{json,md,svg} in ${results.durationSec} s`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
