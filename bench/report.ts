// Benchmark results as JSON, a Markdown table of ratios to the floor, and a hand-written SVG chart.
import type { Point } from './matrix.js';
import { GOALS } from './matrix.js';
import type { ProfileSummary } from './profile.js';

export interface PointResult {
  iops: number;
  mibps: number;
  latAvgUs: number;
  latP50Us: number;
  latP99Us: number;
  latP999Us: number;
  latMaxUs: number;
  errors: number;
  /** CPU of the perf process over its measured window, percent of one core. */
  perfCpuPct: number;
  /** Event loop utilization of the perf thread (near 1: the generator is saturated). */
  perfElu: number;
  /** CPU of the target process over perf's measured window, percent of one core (/proc, 10 ms ticks). */
  targetCpuPct: number;
  /** Target CPU time (user + system) per command in microseconds, over the measured window. */
  targetCpuUsPerIo: number;
  /** The target's busiest thread over the window (its name) and its CPU, percent of one core. */
  targetTopThread: string;
  targetTopThreadPct: number;
  /** Generator CPU time per command in microseconds. */
  genCpuUsPerIo: number;
  /** Time the target's threads (summed) and the generator's first thread spent runnable but waiting
   * for a CPU, percent of the window (schedstat): high values mean the machine, not the programs, set the pace. */
  targetRunDelayPct: number;
  genRunDelayPct: number;
  /** Which generator produced the load: c (nvme_tcp_gen) or node (nvmetd perf). */
  generator: 'c' | 'node';
  /** Set when the point could not run. */
  failed?: string;
  /** Every run that completed (the best of them is the result above), for medians. */
  runs?: RunFigures[];
}

export interface RunFigures {
  iops: number;
  mibps: number;
  latAvgUs: number;
  cpuUsPerIo: number;
}

export interface BenchResults {
  date: string;
  host: { cpus: number; cpuModel: string; node: string; kernel: string; loadavgStart: number[]; loadavgEnd: number[] };
  settings: {
    time: number;
    warmup: number;
    repeat: number;
    nsSize: number;
    generator: 'c' | 'node';
    compareGens: boolean;
    genCpus: string | null;
    floorPoll: boolean;
    /** The command line that reproduces the run. */
    command: string;
  };
  targets: { name: string; label: string }[];
  points: (Point & { results: Record<string, PointResult> })[];
  goals: GoalResult[];
  /** Generator headroom per point (see headroom()). */
  headroom: Headroom[];
  profiles: { point: string; target: string; summary: ProfileSummary }[];
  durationSec: number;
}

/**
 * The C null target's names, not nvmetd: the floor (data discarded, reads from a static buffer) and
 * floor-mem (the same with -m: a RAM namespace that stores the data). Ratios are to the floor; goals
 * and headroom are about nvmetd targets only.
 */
export const isFloor = (name: string): boolean => name === 'floor' || name === 'floor-mem';

/** Key of the floor's runs with the other generator in a point's results (--compare-gens). */
export const OTHER_GEN_KEY = 'floor-other-gen';

/** The generator must be able to issue at least this many times the commands nvmetd served. */
export const HEADROOM_GOAL = 1.5;
/** nvmetd at this share of the floor's IOPS or more, at a generator-limited point: the generator caps both. */
export const CAPS_BOTH = 0.9;
/**
 * nvmetd's busiest thread at this much of a core or more (percent), while the generator was busy at most
 * TARGET_BOUND_GEN_BUSY of the window: nvmetd's core was full and the generator's was not, so more load
 * could not have raised nvmetd's number ('target-bound').
 */
export const TARGET_SATURATED = 95;
export const TARGET_BOUND_GEN_BUSY = 0.9;

/**
 * How much harder the generator could have driven nvmetd at a point, from three measurements of the
 * same run; the headroom is the largest (each alone shows the generator was not the limit):
 * - `sameRatio`: it drove the floor at this very point this many times faster;
 * - `familyRatio`: the most it drove the floor at this workload and I/O size (any connection count:
 *   the generator's thread is the same) over nvmetd's figure here;
 * - `idleRatio`: 1 / the generator's busy share while it drove nvmetd (its thread's CPU time plus the
 *   time it waited for a CPU, over the window): the rest of the time it waited for nvmetd.
 */
export interface Headroom {
  point: string;
  /** Total commands outstanding (qd x connections): at 1 the ratios compare latencies, not capacity. */
  depth: number;
  floorIops: number;
  /** The fastest nvmetd target at this point. */
  target: string;
  targetIops: number;
  sameRatio: number;
  /** The family's fastest floor point and its IOPS. */
  familyPoint: string;
  familyIops: number;
  familyRatio: number;
  /** The generator's busy share on the floor here, and while driving the fastest nvmetd target. */
  genBusy: number;
  genBusyOnTarget: number;
  idleRatio: number;
  headroom: number;
  shownBy: 'same point' | 'same size' | 'generator idle';
  /**
   * 'free': headroom >= HEADROOM_GOAL (or QD1), nvmetd's number is nvmetd's; 'caps both': less, but
   * nvmetd kept within CAPS_BOTH of the floor at this point, so the generator limited both targets and
   * no gap of nvmetd's is hidden (compare CPU per command there); 'target-bound': less, but nvmetd's
   * busiest thread used its whole core (TARGET_SATURATED) while the generator had time to spare
   * (TARGET_BOUND_GEN_BUSY): nvmetd set the pace; 'low': none of these.
   */
  verdict: 'free' | 'caps both' | 'target-bound' | 'low';
  /** The busiest thread of that nvmetd target, percent of one core. */
  targetTopThreadPct: number;
  /** CPU microseconds per command of that nvmetd target, and of the generator driving it. */
  targetUsPerIo: number;
  genUsPerIo: number;
  /** targetUsPerIo / genUsPerIo: how many commands the generator can issue for each one nvmetd can serve, core for core. */
  cpuRatio: number;
}

const family = (id: string): string => id.replace(/ qd\d+( \d+conn)?/, '');

/** The generator's busy share of a run: CPU time and run-queue wait of its thread. */
const busyShare = (v: PointResult): number => Math.min(1, v.perfElu + (Number.isFinite(v.genRunDelayPct) ? v.genRunDelayPct / 100 : 0));

export function headroom(r: BenchResults): Headroom[] {
  const out: Headroom[] = [];
  for (const p of r.points) {
    const f = p.results.floor;
    if (!f || f.failed) continue;
    let best: [string, PointResult] | null = null;
    for (const t of r.targets) {
      const v = p.results[t.name];
      if (isFloor(t.name) || !v || v.failed) continue;
      if (best === null || v.iops > best[1].iops) best = [t.label, v];
    }
    if (best === null) continue;
    const v = best[1];
    let fam: [string, number] = [p.id, f.iops];
    // At QD1 the figures are latencies: only the same point says anything there.
    for (const q of p.qd * p.connections > 1 ? r.points : []) {
      const g = q.results.floor;
      if (q.id !== p.id && family(q.id) === family(p.id) && q.qd * q.connections > 1 && g && !g.failed && g.iops > fam[1]) fam = [q.id, g.iops];
    }
    const busy = busyShare(v);
    const sameRatio = ratio(f.iops, v.iops);
    const familyRatio = ratio(fam[1], v.iops);
    const idleRatio = busy > 0 ? Math.round((1 / busy) * 100) / 100 : NaN;
    const [h, shownBy] = ([[sameRatio, 'same point'], [familyRatio, 'same size'], [idleRatio, 'generator idle']] as const)
      .filter(([n]) => Number.isFinite(n))
      .reduce<[number, Headroom['shownBy']]>((m, [n, why]) => (n > m[0] ? [n, why] : m), [0, 'same point']);
    out.push({
      point: p.id, depth: p.qd * p.connections, floorIops: f.iops, target: best[0], targetIops: v.iops, sameRatio,
      familyPoint: fam[0], familyIops: fam[1], familyRatio, genBusy: busyShare(f), genBusyOnTarget: busy, idleRatio, headroom: h, shownBy,
      verdict: p.qd * p.connections === 1 || h >= HEADROOM_GOAL ? 'free'
        : v.iops >= CAPS_BOTH * f.iops ? 'caps both'
        : v.targetTopThreadPct >= TARGET_SATURATED && busy <= TARGET_BOUND_GEN_BUSY ? 'target-bound'
        : 'low',
      targetTopThreadPct: v.targetTopThreadPct,
      targetUsPerIo: v.targetCpuUsPerIo, genUsPerIo: v.genCpuUsPerIo, cpuRatio: ratio(v.targetCpuUsPerIo, v.genCpuUsPerIo),
    });
  }
  return out;
}

export function ratio(a: number, b: number): number {
  return b > 0 && Number.isFinite(a) ? Math.round((a / b) * 100) / 100 : NaN;
}

export interface GoalResult {
  text: string;
  point: string;
  base?: string;
  metric: string;
  limit: number;
  /** Per nvmetd target: best against best and median against median; pass is judged on the best. */
  results: Record<string, { ratio: number; median: number; pass: boolean } | null>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

/** A run's figure for a goal metric (latency: lower is better). */
const figure = (v: { iops: number; mibps: number; latAvgUs: number }, metric: string): number =>
  metric === 'latency' ? v.latAvgUs : metric === 'iops' ? v.iops : v.mibps;

export function evaluateGoals(r: BenchResults): GoalResult[] {
  return GOALS.map((g) => {
    const pt = r.points.find((p) => p.id === g.point);
    const basePt = g.base === undefined ? pt : r.points.find((p) => p.id === g.base);
    const results: GoalResult['results'] = {};
    for (const t of r.targets) {
      if (isFloor(t.name)) continue;
      const a = pt?.results[t.name];
      const f = g.base === undefined ? basePt?.results.floor : basePt?.results[t.name];
      if (!a || !f || a.failed || f.failed) {
        results[t.name] = null;
        continue;
      }
      const v = ratio(figure(a, g.metric), figure(f, g.metric));
      const med = ratio(median((a.runs ?? [a]).map((x) => figure(x, g.metric))), median((f.runs ?? [f]).map((x) => figure(x, g.metric))));
      results[t.name] = { ratio: v, median: med, pass: g.metric === 'latency' ? v <= g.limit : v >= g.limit };
    }
    return { text: g.text, point: g.point, ...(g.base === undefined ? {} : { base: g.base }), metric: g.metric, limit: g.limit, results };
  });
}

export const k = (n: number): string => (n >= 10000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n)));
/** Microseconds of CPU per I/O: two decimals below 10. */
const cus = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const genName = (g: 'c' | 'node' | undefined): string => (g === 'node' ? '`nvmetd perf`' : '`nvme_tcp_gen` (bench/gen, C)');
const x = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');

export function markdown(r: BenchResults): string {
  // Columns with a ratio to the floor: nvmetd's targets and the RAM-backed floor (what storing the data costs a C target).
  const others = r.targets.filter((t) => t.name !== 'floor');
  const nvmetd = r.targets.filter((t) => !isFloor(t.name));
  const out: string[] = [];
  out.push(`# nvmetd benchmark, ${r.date.slice(0, 10)}`);
  out.push('');
  out.push(
    `${r.host.cpus} CPU(s) (${r.host.cpuModel}), Linux ${r.host.kernel}, Node ${r.host.node}; loopback only. ` +
      `Each point: ${r.settings.warmup} s warmup + ${r.settings.time} s measured with ${genName(r.settings.generator)}, best of ${r.settings.repeat} run(s) per target, ` +
      `namespace ${r.settings.nsSize / 1048576} MiB. Load average at start ${r.host.loadavgStart.map((v) => v.toFixed(2)).join(' ')} ` +
      `(other work on the machine shows up as noise). Ratios are nvmetd / floor, measured in the same run, point by point` +
      `${r.targets.some((t) => t.name === 'floor-mem') ? '; the RAM-backed floor\'s ratio to the floor (its namespace is memory that keeps the data: reads are sent from it, writes copied into it, as in nvmetd\'s RAM namespace) is what storing the data costs a C target' : ''}.`,
  );
  out.push('');
  out.push(`Reproduce: \`${r.settings.command}\``);
  out.push('');
  out.push('## Goals');
  out.push('');
  out.push(`Ratios best against best, then median against median (${r.settings.repeat} run(s) per target and point); met or missed by the best.`);
  out.push('');
  out.push(`| goal | ${nvmetd.map((t) => t.label).join(' | ')} |`);
  out.push(`|---|${nvmetd.map(() => '---').join('|')}|`);
  const verdicts = new Map(headroom(r).map((h) => [h.point, h.verdict]));
  for (const g of r.goals) {
    // At a point the generator capped, "met" holds at the generator's pace: CPU per command says more.
    const capped = verdicts.get(g.point) === 'caps both' ? ' (generator-capped point)' : '';
    const cell = (v: GoalResult['results'][string]): string => (v ? `${x(v.ratio)} / ${x(v.median)} ${v.pass ? `met${capped}` : '**missed**'}` : '-');
    out.push(`| ${g.text} | ${nvmetd.map((t) => cell(g.results[t.name] ?? null)).join(' | ')} |`);
  }
  out.push('');
  const hr = headroom(r);
  if (hr.length) {
    const deep = hr.filter((h) => h.depth > 1);
    const low = deep.filter((h) => h.verdict === 'low');
    const capped = deep.filter((h) => h.verdict === 'caps both');
    const bound = deep.filter((h) => h.verdict === 'target-bound');
    const worst = low.reduce<Headroom | null>((w, h) => (w === null || h.headroom < w.headroom ? h : w), null);
    const held = deep.filter((h) => h.verdict === 'free').length;
    out.push('## Generator headroom: how much harder the generator could have driven nvmetd');
    out.push('');
    out.push(
      `Three measurements of this run, per point, for the fastest nvmetd target; the headroom is the largest, and any one ` +
        `at >= ${HEADROOM_GOAL}x shows the generator was not what limited nvmetd's number: the generator drove the C floor ` +
        `that many times faster at the same point; or at the same workload and I/O size with another connection count (the same ` +
        `generator thread); or its thread was busy (on a CPU or waiting for one) only 1/x of the window while it drove nvmetd, ` +
        `waiting for nvmetd the rest. At QD1 the ratios compare latencies, not capacity. Below ${HEADROOM_GOAL}x, where nvmetd ` +
        `still reached ${CAPS_BOTH}x of the floor or more, the generator capped both targets ("caps both"): no gap of nvmetd's is ` +
        `hidden there, and CPU per command is the comparison. Below ${HEADROOM_GOAL}x, where nvmetd's busiest thread used ` +
        `${TARGET_SATURATED}% of its core or more while the generator was busy at most ${Math.round(TARGET_BOUND_GEN_BUSY * 100)}% of the window, ` +
        `nvmetd set the pace ("target-bound"): more load could not have raised its number. ` +
        `**Of ${deep.length} points with more than one command outstanding: ${held} at >= ${HEADROOM_GOAL}x, ${capped.length} where the generator caps both` +
        `${capped.length ? ` (${capped.map((h) => h.point).join(', ')})` : ''}, ${bound.length} target-bound` +
        `${bound.length ? ` (${bound.map((h) => h.point).join(', ')})` : ''}, ${low.length} low${worst ? ` (lowest ${x(worst.headroom)}, ${worst.point})` : ''}.**`,
    );
    out.push('');
    const cmp = r.settings.compareGens;
    const otherName = r.settings.generator === 'c' ? 'nvmetd perf' : 'nvme_tcp_gen';
    out.push(
      `| point | fastest nvmetd | IOPS | floor, same point | ratio | floor, same size (point) | ratio | gen busy on nvmetd | 1/busy | nvmetd busiest thread | headroom | CPU us/cmd nvmetd / gen |` +
        `${cmp ? ` floor with ${otherName} | busy | ${r.settings.generator === 'c' ? 'C gen / perf' : 'perf / C gen'} |` : ''}`,
    );
    out.push(`|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|${cmp ? '---:|---:|---:|' : ''}`);
    for (const h of hr) {
      const o = r.points.find((p) => p.id === h.point)?.results[OTHER_GEN_KEY];
      const extra = cmp ? (o && !o.failed ? ` ${k(o.iops)} | ${Math.round(o.perfElu * 100)}% | ${x(ratio(h.floorIops, o.iops))} |` : ' - | - | - |') : '';
      const fam = h.familyPoint === h.point ? '(same)' : `${k(h.familyIops)} (${h.familyPoint})`;
      const mark = h.verdict === 'low' ? ' **low**' : h.verdict === 'free' ? '' : ` ${h.verdict}`;
      out.push(
        `| ${h.point} | ${h.target} | ${k(h.targetIops)} | ${k(h.floorIops)} | ${x(h.sameRatio)} | ${fam} | ${x(h.familyRatio)} | ` +
          `${Math.round(h.genBusyOnTarget * 100)}% | ${x(h.idleRatio)} | ${Math.round(h.targetTopThreadPct)}% | ${x(h.headroom)}${mark} | ${cus(h.targetUsPerIo)} / ${cus(h.genUsPerIo)} |${extra}`,
      );
    }
    out.push('');
  }
  out.push('## Throughput (IOPS / MiB/s, target CPU microseconds per command in brackets; IOPS ratio to the floor)');
  out.push('');
  out.push(`| point | floor | ${others.map((t) => `${t.label} | ratio`).join(' | ')} |`);
  out.push(`|---|---:|${others.map(() => '---:|---:').join('|')}|`);
  for (const p of r.points) {
    const f = p.results.floor;
    const cell = (v?: PointResult): string => (!v ? '-' : v.failed ? 'failed' : `${k(v.iops)} / ${v.mibps.toFixed(0)} (${cus(v.targetCpuUsPerIo)} us)`);
    const ratios = others.map((t) => {
      const v = p.results[t.name];
      return `${cell(v)} | ${v && f && !v.failed && !f.failed ? x(ratio(v.iops, f.iops)) : '-'}`;
    });
    out.push(`| ${p.id} | ${cell(f)} | ${ratios.join(' | ')} |`);
  }
  out.push('');
  out.push('## Latency (mean / p99 in microseconds; ratio of the means to the floor)');
  out.push('');
  out.push(`| point | floor | ${others.map((t) => `${t.label} | ratio`).join(' | ')} |`);
  out.push(`|---|---:|${others.map(() => '---:|---:').join('|')}|`);
  for (const p of r.points) {
    const f = p.results.floor;
    const cell = (v?: PointResult): string => (!v ? '-' : v.failed ? 'failed' : `${v.latAvgUs.toFixed(1)} / ${v.latP99Us.toFixed(0)}`);
    const ratios = others.map((t) => {
      const v = p.results[t.name];
      return `${cell(v)} | ${v && f && !v.failed && !f.failed ? x(ratio(v.latAvgUs, f.latAvgUs)) : '-'}`;
    });
    out.push(`| ${p.id} | ${cell(f)} | ${ratios.join(' | ')} |`);
  }
  out.push('');
  out.push('## CPU cost per command (target CPU microseconds, user + system over the measured window; ratio to the floor)');
  out.push('');
  out.push(`| point | floor | ${others.map((t) => `${t.label} | ratio`).join(' | ')} |`);
  out.push(`|---|---:|${others.map(() => '---:|---:').join('|')}|`);
  for (const p of r.points) {
    const f = p.results.floor;
    const cell = (v?: PointResult): string => (!v ? '-' : v.failed ? 'failed' : cus(v.targetCpuUsPerIo));
    const ratios = others.map((t) => {
      const v = p.results[t.name];
      return `${cell(v)} | ${v && f && !v.failed && !f.failed ? x(ratio(v.targetCpuUsPerIo, f.targetCpuUsPerIo)) : '-'}`;
    });
    out.push(`| ${p.id} | ${cell(f)} | ${ratios.join(' | ')} |`);
  }
  out.push('');
  out.push(
    '## CPU (percent of one core over the measured window: target (its busiest thread) / generator, the generator\'s busy share, ' +
      'its CPU microseconds per command; then the time target and generator waited for a CPU, percent of the window)',
  );
  out.push('');
  out.push(`| point | ${r.targets.map((t) => t.label).join(' | ')} |`);
  out.push(`|---|${r.targets.map(() => '---:').join('|')}|`);
  for (const p of r.points) {
    out.push(
      `| ${p.id} | ${r.targets
        .map((t) => {
          const v = p.results[t.name];
          if (!v || v.failed) return '-';
          // The busiest thread's name when it is not the main thread (an io_uring worker, say).
          const name = v.targetTopThread && !['node', 'null_target', '-'].includes(v.targetTopThread) ? ` ${v.targetTopThread.replace(/-\d+$/, '')}` : '';
          const top = Number.isFinite(v.targetTopThreadPct) ? ` (${v.targetTopThreadPct.toFixed(0)}${name})` : '';
          const w = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(0));
          return `${v.targetCpuPct.toFixed(0)}${top} / ${v.perfCpuPct.toFixed(0)}, ${Math.round(v.perfElu * 100)}%, ${cus(v.genCpuUsPerIo)} us; wait ${w(v.targetRunDelayPct)} / ${w(v.genRunDelayPct)}`;
        })
        .join(' | ')} |`,
    );
  }
  for (const pr of r.profiles) {
    out.push('');
    out.push(`## Profile: ${pr.target}, ${pr.point} (self time, share of busy time; ${pr.summary.busyMs} ms busy, ${pr.summary.idleMs} ms idle)`);
    out.push('');
    out.push('| function | self |');
    out.push('|---|---:|');
    for (const f of pr.summary.functions.slice(0, 12)) out.push(`| \`${f.name}\` | ${f.selfPct.toFixed(1)}% |`);
    out.push('');
    out.push(`By file: ${pr.summary.files.slice(0, 8).map((f) => `${f.name} ${f.selfPct.toFixed(1)}%`).join(', ')}`);
  }
  const failed = r.points.flatMap((p) => Object.entries(p.results).filter(([, v]) => v.failed).map(([t, v]) => `${p.id} on ${t}: ${v.failed}`));
  if (failed.length) {
    out.push('');
    out.push('## Failures');
    out.push('');
    for (const f of failed) out.push(`- ${f}`);
  }
  out.push('');
  out.push(`Run time ${Math.round(r.durationSec)} s. Raw numbers: latest.json; chart: latest.svg.`);
  out.push('');
  return out.join('\n');
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const COLORS: Record<string, string> = { ram: '#2f6fb0', file: '#6aa84f', 'file-direct': '#b5651d', floor: '#999999', 'floor-mem': '#5b5b5b' };

/**
 * Two panels side by side: IOPS and mean latency per point, one bar per target. Bars are scaled to
 * the largest value of their row (the points differ by orders of magnitude); labels give the values.
 */
export function svg(r: BenchResults): string {
  const targets = r.targets;
  const rowH = 12 * targets.length + 10;
  const top = 64;
  const labelW = 190;
  const panelW = 330;
  const gap = 30;
  const width = labelW + 2 * panelW + gap + 20;
  const height = top + rowH * r.points.length + 30;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  o.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  o.push(`<text x="10" y="20" font-size="14" font-weight="bold">nvmetd vs the C floor, ${esc(r.date.slice(0, 10))} (${r.host.cpus} CPUs, loopback, ${r.settings.time} s per point)</text>`);
  const panels = [
    { title: 'IOPS (longer is better)', x0: labelW, get: (v: PointResult) => v.iops, fmt: (v: PointResult) => k(v.iops) },
    { title: 'mean latency, us (shorter is better)', x0: labelW + panelW + gap, get: (v: PointResult) => v.latAvgUs, fmt: (v: PointResult) => v.latAvgUs.toFixed(1) },
  ];
  let lx = 10;
  for (const t of targets) {
    o.push(`<rect x="${lx}" y="32" width="10" height="10" fill="${COLORS[t.name] ?? '#444'}"/><text x="${lx + 14}" y="41">${esc(t.label)}</text>`);
    lx += 24 + t.label.length * 6.5;
  }
  for (const pn of panels) o.push(`<text x="${pn.x0}" y="${top - 8}" font-weight="bold">${esc(pn.title)}</text>`);
  r.points.forEach((p, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0) o.push(`<rect x="0" y="${y - 2}" width="${width}" height="${rowH}" fill="#f4f4f4"/>`);
    o.push(`<text x="10" y="${y + rowH / 2 + 2}">${esc(p.id)}</text>`);
    for (const pn of panels) {
      const vals = targets.map((t) => p.results[t.name]).filter((v): v is PointResult => !!v && !v.failed);
      const max = Math.max(1e-9, ...vals.map(pn.get));
      targets.forEach((t, j) => {
        const v = p.results[t.name];
        const by = y + 3 + j * 12;
        if (!v || v.failed) {
          o.push(`<text x="${pn.x0}" y="${by + 9}" fill="#b00">${v?.failed ? 'failed' : 'n/a'}</text>`);
          return;
        }
        const w = Math.max(1, (pn.get(v) / max) * (panelW - 70));
        o.push(`<rect x="${pn.x0}" y="${by}" width="${w.toFixed(1)}" height="10" fill="${COLORS[t.name] ?? '#444'}"/>`);
        o.push(`<text x="${(pn.x0 + w + 4).toFixed(1)}" y="${by + 9}">${esc(pn.fmt(v))}</text>`);
      });
    }
  });
  o.push(`<text x="10" y="${height - 10}" fill="#555">Bars are scaled per row. Numbers from bench/results/latest.json.</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}
