// The bench report's judgements: goal ratios (best and median, against the floor or against the
// same target's own point) and the generator headroom taken from three measurements.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateGoals, headroom, markdown, svg, type BenchResults, type PointResult } from '../../bench/report.js';
import { MATRIX } from '../../bench/matrix.js';

function res(iops: number, extra: Partial<PointResult> = {}): PointResult {
  return {
    iops, mibps: iops / 256, latAvgUs: 1e6 / iops, latP50Us: 1, latP99Us: 1, latP999Us: 1, latMaxUs: 1, errors: 0,
    perfCpuPct: 30, perfElu: 0.3, targetCpuPct: 90, targetCpuUsPerIo: 3, targetTopThread: 'node', targetTopThreadPct: 90,
    genCpuUsPerIo: 1, targetRunDelayPct: 0, genRunDelayPct: 0, generator: 'c', ...extra,
  };
}

function results(points: Record<string, Record<string, PointResult>>, targets = [{ name: 'ram', label: 'nvmetd RAM' }, { name: 'floor', label: 'C floor' }]): BenchResults {
  return {
    date: '2026-11-30T00:00:00Z',
    host: { cpus: 2, cpuModel: 'x', node: 'v20', kernel: '6', loadavgStart: [0, 0, 0], loadavgEnd: [0, 0, 0] },
    settings: { time: 2, warmup: 0.5, repeat: 3, nsSize: 1 << 28, generator: 'c', compareGens: false, genCpus: null, floorPoll: false, command: 'npm run bench' },
    targets,
    points: MATRIX.filter((p) => points[p.id]).map((p) => ({ ...p, results: points[p.id]! })),
    goals: [],
    headroom: [],
    profiles: [],
    durationSec: 1,
  };
}

const runs = (...iops: number[]): PointResult['runs'] => iops.map((i) => ({ iops: i, mibps: i / 256, latAvgUs: 1e6 / i, cpuUsPerIo: 3 }));

test('goals: best against best, median against median, digests against the same target without', () => {
  const r = results({
    'randread 4k qd32': { ram: res(300, { runs: runs(300, 200, 250) }), floor: res(400, { runs: runs(400, 380, 300) }) },
    'randread 4k qd32 dgst': { ram: res(270, { runs: runs(270, 100, 200) }), floor: res(390) },
  });
  const goals = evaluateGoals(r);
  const qd32 = goals.find((g) => g.point === 'randread 4k qd32')!.results.ram!;
  assert.deepEqual(qd32, { ratio: 0.75, median: 0.66, pass: false });
  const dg = goals.find((g) => g.base === 'randread 4k qd32')!.results.ram!;
  // 270 / 300 best (the floor's 390 plays no part), 200 / 250 median.
  assert.deepEqual(dg, { ratio: 0.9, median: 0.8, pass: true });
  // Points not run leave their goals without a verdict.
  assert.equal(goals.find((g) => g.point === 'write 128k qd16')!.results.ram, null);
  assert.match(markdown({ ...r, goals }), /0\.90x \/ 0\.80x met/);
});

test('headroom: the largest of same point, same size and generator idle; QD1 only from its own point', () => {
  const r = results({
    // Same point 1.2x, but the generator drove 4 connections of 128 KiB reads at 2x nvmetd's figure.
    'read 128k qd16': { ram: res(100, { perfElu: 0.9, genRunDelayPct: 5 }), floor: res(120) },
    'read 128k qd16 4conn': { ram: res(90, { perfElu: 0.9 }), floor: res(200) },
    // Floor hardly faster, but the generator sat idle most of the time driving nvmetd.
    'randwrite 4k qd32 dgst': { ram: res(100, { perfElu: 0.3, genRunDelayPct: 10 }), floor: res(110) },
    // Nothing shows headroom: flagged.
    'write 128k qd16 dgst': { ram: res(100, { perfElu: 0.8 }), floor: res(120) },
    'randread 4k qd1': { ram: res(10, { perfElu: 0.9 }), floor: res(11) },
    'randread 4k qd32 4conn': { ram: res(500), floor: res(600) },
  });
  const h = new Map(headroom(r).map((x) => [x.point, x]));
  assert.equal(h.get('read 128k qd16')!.headroom, 2);
  assert.equal(h.get('read 128k qd16')!.shownBy, 'same size');
  assert.ok(Math.abs(h.get('read 128k qd16')!.genBusyOnTarget - 0.95) < 1e-9);
  assert.equal(h.get('randwrite 4k qd32 dgst')!.headroom, 2.5);
  assert.equal(h.get('randwrite 4k qd32 dgst')!.shownBy, 'generator idle');
  assert.equal(h.get('write 128k qd16 dgst')!.headroom, 1.25);
  // A deep point of another size is no evidence for QD1.
  assert.equal(h.get('randread 4k qd1')!.familyPoint, 'randread 4k qd1');
  assert.equal(h.get('randread 4k qd1')!.headroom, 1.11);
  assert.equal(h.get('write 128k qd16 dgst')!.verdict, 'low');
  const md = markdown({ ...r, headroom: headroom(r) });
  assert.match(md, /Of 5 points with more than one command outstanding: 4 at >= 1\.5x, 0 where the generator caps both, 0 target-bound, 1 low \(lowest 1\.25x, write 128k qd16 dgst\)/);
  assert.match(md, /\| write 128k qd16 dgst \|.*1\.25x \*\*low\*\*/);
});

test('headroom: a saturated generator with nvmetd at the floor\'s pace caps both; short of it, low', () => {
  const r = results({
    'write 128k qd16 4conn': { ram: res(372, { perfElu: 0.98 }), floor: res(365, { perfElu: 0.99 }) },
    'write 128k qd16': { ram: res(298, { perfElu: 0.91 }), floor: res(323, { perfElu: 0.97 }) },
    'randwrite 4k qd32 dgst': { ram: res(200, { perfElu: 0.95 }), floor: res(250) },
  });
  const h = new Map(headroom(r).map((x) => [x.point, x]));
  assert.equal(h.get('write 128k qd16 4conn')!.verdict, 'caps both');
  // 298 of 323 is 0.92 of the floor: capped; the family's 372 k is not the floor's and plays no part.
  assert.equal(h.get('write 128k qd16')!.verdict, 'caps both');
  assert.equal(h.get('randwrite 4k qd32 dgst')!.verdict, 'low');
  const md = markdown({ ...r, headroom: headroom(r) });
  assert.match(md, /0 at >= 1\.5x, 2 where the generator caps both \(write 128k qd16, write 128k qd16 4conn\), 0 target-bound, 1 low/);
});

test('headroom: nvmetd\'s core full while the generator had time to spare is target-bound; a busy generator is not', () => {
  const r = results({
    // nvmetd 0.84x of the floor on a full core, generator 82% busy: nvmetd set the pace.
    'write 128k qd16 4conn': { ram: res(414, { perfElu: 0.82, targetTopThreadPct: 99.5 }), floor: res(492, { perfElu: 0.99 }) },
    // The same, with the generator 95% busy: it may have been the limit too.
    'read 128k qd16': { ram: res(300, { perfElu: 0.95, targetTopThreadPct: 99 }), floor: res(400, { perfElu: 0.99 }) },
    // A generator with time to spare, but nvmetd's busiest thread at 90%: neither full, low.
    'randwrite 4k qd32 dgst': { ram: res(200, { perfElu: 0.8, targetTopThreadPct: 90 }), floor: res(250) },
  });
  const h = new Map(headroom(r).map((x) => [x.point, x]));
  assert.equal(h.get('write 128k qd16 4conn')!.verdict, 'target-bound');
  assert.equal(h.get('write 128k qd16 4conn')!.targetTopThreadPct, 99.5);
  assert.equal(h.get('read 128k qd16')!.verdict, 'low');
  assert.equal(h.get('randwrite 4k qd32 dgst')!.verdict, 'low');
  const md = markdown({ ...r, headroom: headroom(r) });
  assert.match(md, /0 at >= 1\.5x, 0 where the generator caps both, 1 target-bound \(write 128k qd16 4conn\), 2 low/);
  assert.match(md, /\| write 128k qd16 4conn \| nvmetd RAM \|.*\| 100% \| 1\.22x target-bound \|/);
});

test('the RAM-backed floor is a floor: never the fastest nvmetd, no goal verdicts; its ratio to the floor is shown', () => {
  const targets = [{ name: 'ram', label: 'nvmetd RAM' }, { name: 'floor', label: 'C floor' }, { name: 'floor-mem', label: 'C floor, RAM-backed' }];
  const r = results(
    {
      // floor-mem faster than nvmetd everywhere: were it taken for nvmetd, it would be "the fastest".
      'randwrite 4k qd32': { ram: res(100), floor: res(200), 'floor-mem': res(160) },
      'read 128k qd16': { ram: res(50), floor: res(100), 'floor-mem': res(80) },
    },
    targets,
  );
  const h = headroom(r);
  assert.equal(h.length, 2);
  for (const x of h) {
    assert.equal(x.target, 'nvmetd RAM');
    assert.equal(x.sameRatio, 2);
  }
  const goals = evaluateGoals(r);
  for (const g of goals) assert.deepEqual(Object.keys(g.results), ['ram']);
  assert.equal(goals.find((g) => g.point === 'randwrite 4k qd32')!.results.ram!.ratio, 0.5);
  const md = markdown({ ...r, goals, headroom: h });
  // Goals: nvmetd's columns only; throughput: the RAM-backed floor's ratio to the floor.
  assert.match(md, /\| goal \| nvmetd RAM \|\n/);
  assert.match(md, /\| randwrite 4k qd32 \| 200 .*\| 100 .*\| 0\.50x \| 160 .*\| 0\.80x \|/);
  // Only a floor at all: no nvmetd target, no headroom row.
  assert.equal(headroom(results({ 'randwrite 4k qd32': { floor: res(200), 'floor-mem': res(160) } }, targets.slice(1))).length, 0);
  const chart = svg(r);
  assert.match(chart, /C floor, RAM-backed/);
  assert.match(chart, /^<svg[\s\S]*<\/svg>\n$/);
});
