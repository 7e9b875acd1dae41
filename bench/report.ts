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
  /** Set when the point could not run. */
  failed?: string;
}

export interface BenchResults {
  date: string;
  host: { cpus: number; cpuModel: string; node: string; kernel: string; loadavgStart: number[]; loadavgEnd: number[] };
  settings: { time: number; warmup: number; repeat: number; nsSize: number };
  targets: { name: string; label: string }[];
  points: (Point & { results: Record<string, PointResult> })[];
  goals: { text: string; point: string; metric: string; limit: number; results: Record<string, { ratio: number; pass: boolean } | null> }[];
  profiles: { point: string; target: string; summary: ProfileSummary }[];
  durationSec: number;
}

export function ratio(a: number, b: number): number {
  return b > 0 && Number.isFinite(a) ? Math.round((a / b) * 100) / 100 : NaN;
}

export function evaluateGoals(r: BenchResults): BenchResults['goals'] {
  return GOALS.map((g) => {
    const pt = r.points.find((p) => p.id === g.point);
    const results: Record<string, { ratio: number; pass: boolean } | null> = {};
    for (const t of r.targets) {
      if (t.name === 'floor') continue;
      const a = pt?.results[t.name];
      const f = pt?.results.floor;
      if (!a || !f || a.failed || f.failed) {
        results[t.name] = null;
        continue;
      }
      const v = g.metric === 'latency' ? ratio(a.latAvgUs, f.latAvgUs) : g.metric === 'iops' ? ratio(a.iops, f.iops) : ratio(a.mibps, f.mibps);
      results[t.name] = { ratio: v, pass: g.metric === 'latency' ? v <= g.limit : v >= g.limit };
    }
    return { text: g.text, point: g.point, metric: g.metric, limit: g.limit, results };
  });
}

const k = (n: number): string => (n >= 10000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n)));
const x = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');

export function markdown(r: BenchResults): string {
  const others = r.targets.filter((t) => t.name !== 'floor');
  const out: string[] = [];
  out.push(`# nvmetd benchmark, ${r.date.slice(0, 10)}`);
  out.push('');
  out.push(
    `${r.host.cpus} CPU(s) (${r.host.cpuModel}), Linux ${r.host.kernel}, Node ${r.host.node}; loopback only. ` +
      `Each point: ${r.settings.warmup} s warmup + ${r.settings.time} s measured with \`nvmetd perf\`, best of ${r.settings.repeat} run(s) per target, ` +
      `namespace ${r.settings.nsSize / 1048576} MiB. Load average at start ${r.host.loadavgStart.map((v) => v.toFixed(2)).join(' ')} ` +
      `(other work on the machine shows up as noise). Ratios are nvmetd / floor, measured in the same run, point by point.`,
  );
  out.push('');
  out.push('## Goals');
  out.push('');
  out.push(`| goal | ${others.map((t) => t.label).join(' | ')} |`);
  out.push(`|---|${others.map(() => '---').join('|')}|`);
  for (const g of r.goals) {
    out.push(`| ${g.text} | ${others.map((t) => { const v = g.results[t.name]; return v ? `${x(v.ratio)} ${v.pass ? 'met' : '**missed**'}` : '-'; }).join(' | ')} |`);
  }
  out.push('');
  out.push('## Throughput (IOPS, MiB/s; ratio to the floor)');
  out.push('');
  out.push(`| point | floor | ${others.map((t) => `${t.label} | ratio`).join(' | ')} |`);
  out.push(`|---|---:|${others.map(() => '---:|---:').join('|')}|`);
  for (const p of r.points) {
    const f = p.results.floor;
    const cell = (v?: PointResult): string => (!v ? '-' : v.failed ? 'failed' : `${k(v.iops)} / ${v.mibps.toFixed(0)}`);
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
  out.push('## CPU (percent of one core over the measured window: target / perf, and the event loop utilization of perf)');
  out.push('');
  out.push(`| point | ${r.targets.map((t) => t.label).join(' | ')} |`);
  out.push(`|---|${r.targets.map(() => '---:').join('|')}|`);
  for (const p of r.points) {
    out.push(
      `| ${p.id} | ${r.targets
        .map((t) => {
          const v = p.results[t.name];
          return !v || v.failed ? '-' : `${v.targetCpuPct.toFixed(0)} / ${v.perfCpuPct.toFixed(0)}, ${Math.round(v.perfElu * 100)}%`;
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

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const COLORS: Record<string, string> = { ram: '#2f6fb0', file: '#6aa84f', 'file-direct': '#b5651d', floor: '#999999' };

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
